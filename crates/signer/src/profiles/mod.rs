//! Signing profiles at run time: the ones the configuration file defines,
//! and the ones admins make through the API (`PUT /v1/profiles/{name}`),
//! which live in the database ([`crate::store::profiles`]).
//!
//! * **The file is authoritative.** A name the file defines cannot be
//!   changed or deleted through the API (409: edit the file). A stored
//!   profile whose name the file defines as well is ignored, with a warning.
//! * **Validated like the file's.** A definition has the shape of a profile
//!   in the configuration file (camelCase, unknown fields refused), and is
//!   checked by opening it: the key is opened and checked against its
//!   chain, the same [`Profile::assemble`] the file's profiles go through.
//!   A bad definition is a 400 and nothing is stored. Paths are absolute
//!   (they name files on the service's host); the chain may be sent inline
//!   (`certificateChainPem`) and is always stored inline. Messages name
//!   files but never quote what is in them.
//! * **No foreign code.** A PKCS#11 module is a shared library loaded into
//!   the service's process: an API-made profile may use only a module the
//!   file's own keys use or `pkcs11Modules:` lists ([`Catalog`]). The same
//!   check runs before a stored profile is opened at start-up.
//! * **Versions only grow.** The service numbers an API-made profile's
//!   versions: one more than any version the name ever had, from the file
//!   or the API (the audit log remembers), so a signature's
//!   `dev.signet.signer.profileVersion` never goes back.
//! * **Delete retires.** A deleted profile signs nothing more, but stays
//!   loaded so its CRL and OCSP responder keep answering for the
//!   certificates it issued (signatures already made keep verifying).
//!   PUT on it makes it sign again. And a per-job profile that has issued
//!   certificates keeps its CA: its mode and CA certificate cannot change
//!   (409), since CRL and OCSP must still answer for what the old CA issued.
//! * **Replicas follow.** Every replica polls the stored profiles'
//!   generation (one cheap query every [`PROFILE_REFRESH`]) and re-reads
//!   them when it moved. A stored profile that cannot be opened on a
//!   replica (a key file missing on that host, an HSM down) is logged as an
//!   error and not served there — sign requests get a 503 naming it — rather
//!   than stopping the replica and every other profile with it; it is tried
//!   again when it changes.
//! * **The sign path stays cheap.** The live profiles are one immutable
//!   [`ProfileSet`] behind an `RwLock<Arc<_>>`: a request takes the read
//!   lock only to clone the `Arc`; a change builds a new set and swaps it.

use std::{
    collections::BTreeMap,
    sync::{Arc, PoisonError},
    time::Duration,
};

use serde_json::Value;
use time::OffsetDateTime;
use tracing::{error, info, warn};

use crate::{
    Error,
    auth::{Identity, RuleConfig, rules::star_match},
    config::{Mode, valid_profile_name},
    service::{ApiError, Profile, Service, profile_fingerprint, rfc3339},
    store::{ProfileWrite, Receipt, StoredProfile, Write},
};

mod definition;

use definition::stored_definition;
pub use definition::{Catalog, parse_definition};

/// How often a replica checks whether the stored profiles changed (other
/// replicas' PUT and DELETE reach it within this).
pub const PROFILE_REFRESH: Duration = Duration::from_secs(2);

/// Where a profile's definition comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The configuration file.
    Configuration,
    /// Made through the API and kept in the database.
    Api {
        /// The audit entry of its last change.
        audit_seq: u64,
        /// When it was deleted: it signs nothing more.
        deleted_at: Option<OffsetDateTime>,
    },
}

/// The profiles a replica serves: an immutable snapshot, replaced whole.
#[derive(Clone, Default)]
pub struct ProfileSet {
    /// Every profile this replica has open, by name — deleted API-made ones
    /// too (their CRL and OCSP keep answering).
    pub by_name: BTreeMap<String, Arc<Profile>>,
    /// API-made profiles this replica could not open: name → (the audit seq
    /// of the change tried, why).
    pub unavailable: BTreeMap<String, (u64, String)>,
}

impl ProfileSet {
    /// The configuration file's profiles.
    pub fn new(by_name: BTreeMap<String, Arc<Profile>>) -> Self {
        Self {
            by_name,
            unavailable: BTreeMap::new(),
        }
    }

    /// The profile `name` if it may sign now, or why not.
    pub fn signing(&self, name: &str) -> Result<Arc<Profile>, ApiError> {
        match self.by_name.get(name) {
            Some(p) => match &p.source {
                Source::Api {
                    deleted_at: Some(at), ..
                } => Err(ApiError::not_found(format!(
                    "signing profile {name:?} was deleted at {}: it signs nothing more (its CRL and OCSP responder still answer for the certificates it issued)",
                    rfc3339(*at)
                ))),
                _ => Ok(p.clone()),
            },
            None if self.unavailable.contains_key(name) => Err(ApiError::unavailable(format!(
                "signing profile {name:?} exists but could not be opened on this replica (its log says why): retry later or on another replica"
            ))),
            None => {
                let known: Vec<&str> = self
                    .by_name
                    .iter()
                    .filter(|(_, p)| !p.is_deleted())
                    .map(|(n, _)| n.as_str())
                    .collect();
                Err(ApiError::not_found(format!(
                    "no signing profile {name:?} (profiles: {})",
                    known.join(", ")
                )))
            }
        }
    }
}

impl Profile {
    /// Whether it was deleted (made through the API, then deleted).
    pub fn is_deleted(&self) -> bool {
        matches!(
            self.source,
            Source::Api {
                deleted_at: Some(_),
                ..
            }
        )
    }
}

/// What a `PUT /v1/profiles/{name}` did.
pub struct Put {
    /// Whether the profile is new (no API-made profile had the name).
    pub created: bool,
    /// The profile as now served.
    pub profile: Arc<Profile>,
    /// The `profile.change` audit entry.
    pub audit_seq: u64,
}

impl std::fmt::Debug for Put {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Put")
            .field("created", &self.created)
            .field("profile", &self.profile.config.name)
            .field("version", &self.profile.config.version)
            .field("audit_seq", &self.audit_seq)
            .finish()
    }
}

impl Service {
    /// The profiles now: a snapshot (the read lock is held only to clone
    /// the `Arc`, never across an await).
    pub fn profiles(&self) -> Arc<ProfileSet> {
        self.profiles
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts `entry` in place of profile `name`, unless what is there comes
    /// from the file or from a change at or after `seq` (replies and polls
    /// may arrive out of order).
    fn install(&self, name: &str, seq: u64, entry: Result<Arc<Profile>, String>) {
        let mut live = self.profiles.write().unwrap_or_else(PoisonError::into_inner);
        let newer = match live.by_name.get(name).map(|p| &p.source) {
            Some(Source::Configuration) => true,
            Some(Source::Api { audit_seq, .. }) => *audit_seq >= seq,
            None => live.unavailable.get(name).is_some_and(|(s, _)| *s >= seq),
        };
        if newer {
            return;
        }
        let mut next = ProfileSet::clone(&live);
        match entry {
            Ok(p) => {
                next.unavailable.remove(name);
                next.by_name.insert(name.to_owned(), p);
            }
            Err(why) => {
                next.by_name.remove(name);
                next.unavailable.insert(name.to_owned(), (seq, why));
            }
        }
        *live = Arc::new(next);
    }

    /// Brings profile `row.name` in line with its stored row: only its
    /// state when its definition is already open, else opens it.
    async fn apply_row(&self, row: &StoredProfile) {
        if self.catalog.is_file_profile(&row.name) {
            return;
        }
        let source = Source::Api {
            audit_seq: row.audit_seq,
            deleted_at: row.deleted_at,
        };
        let live = self.profiles();
        if let Some(p) = live.by_name.get(&row.name) {
            match &p.source {
                Source::Api { audit_seq, .. } if *audit_seq >= row.audit_seq => return,
                _ if p.config.version == row.version => {
                    let mut p = Profile::clone(p);
                    p.source = source;
                    self.install(&row.name, row.audit_seq, Ok(Arc::new(p)));
                    return;
                }
                _ => {}
            }
        }
        if live
            .unavailable
            .get(&row.name)
            .is_some_and(|(s, _)| *s >= row.audit_seq)
        {
            return;
        }
        let catalog = self.catalog.clone();
        let stored = row.clone();
        let opened = tokio::task::spawn_blocking(move || catalog.open_stored(&stored))
            .await
            .unwrap_or_else(|e| Err(format!("opening profile {:?} failed: {e}", row.name)));
        match opened {
            Ok(mut p) => {
                p.source = source;
                info!(profile = %row.name, version = row.version, deleted = row.deleted_at.is_some(), "loaded a signing profile made through the API");
                self.install(&row.name, row.audit_seq, Ok(Arc::new(p)));
            }
            Err(why) => {
                error!(
                    profile = %row.name,
                    version = row.version,
                    "signing profile {:?} (made through the API) cannot be opened on this replica and is NOT served here: {why}",
                    row.name
                );
                self.install(&row.name, row.audit_seq, Err(why));
            }
        }
    }

    /// Loads the stored profiles at start-up (see the module doc for what
    /// happens to one that cannot be opened).
    pub(crate) async fn load_stored_profiles(&self) -> Result<(), Error> {
        let store_err = |e: crate::store::StoreError| Error::Store(e.to_string());
        let generation = self.store.profiles_generation().await.map_err(store_err)?;
        for row in self.store.stored_profiles().await.map_err(store_err)? {
            if self.catalog.is_file_profile(&row.name) {
                warn!(
                    profile = %row.name,
                    "profile {:?} is defined in the configuration file and was also made through the API (version {} in the database): the file's definition is used",
                    row.name, row.version
                );
                continue;
            }
            self.apply_row(&row).await;
        }
        *self.profiles_seen.lock().await = Some(generation);
        Ok(())
    }

    /// Re-reads the stored profiles if another replica (or this one)
    /// changed them since the last look; true if it did.
    pub async fn refresh_profiles(&self) -> Result<bool, crate::store::StoreError> {
        let mut seen = self.profiles_seen.lock().await;
        let generation = self.store.profiles_generation().await?;
        if *seen == Some(generation) {
            return Ok(false);
        }
        for row in self.store.stored_profiles().await? {
            self.apply_row(&row).await;
        }
        *seen = Some(generation);
        Ok(true)
    }

    /// Warns about rule profile names that match no profile at all (rules
    /// may name profiles that admins create later).
    pub(crate) fn warn_about_rules(&self, rules: &[RuleConfig]) {
        let live = self.profiles();
        let names: Vec<&String> = live.by_name.keys().chain(live.unavailable.keys()).collect();
        for rule in rules {
            for pattern in &rule.profiles {
                if pattern != "*" && !names.iter().any(|n| star_match(pattern, n)) {
                    warn!(
                        rule = %rule.name,
                        "rule {:?} names profile {pattern:?}, which exists nowhere (not in the configuration file, not made through the API): it allows nothing until an admin creates it (PUT /v1/profiles/{{name}})",
                        rule.name
                    );
                }
            }
        }
    }

    /// `PUT /v1/profiles/{name}` by `who` (an admin): validates `body` by
    /// opening the profile, stores it with the next version, audits a
    /// `profile.change` and serves it.
    pub async fn put_profile(&self, who: &Identity, name: &str, body: &[u8]) -> Result<Put, ApiError> {
        valid_profile_name(name).map_err(ApiError::bad_request)?;
        if self.catalog.is_file_profile(name) {
            return Err(ApiError::conflict(format!(
                "profile {name:?} is defined in the configuration file, which stays authoritative for it: change it there (and raise its version), then restart the service"
            )));
        }
        let (mut config, body) = parse_definition(name, body).map_err(ApiError::bad_request)?;
        let stored = self.store.stored_profile(name).await?;
        let previous = stored.as_ref().map(|s| s.version);
        config.version = self
            .store
            .audited_profile_version(name)
            .await?
            .max(previous.unwrap_or(0))
            + 1;
        let catalog = self.catalog.clone();
        let mut profile = tokio::task::spawn_blocking(move || catalog.open(&config))
            .await
            .map_err(|e| ApiError::internal(format!("opening the profile failed: {e}")))?
            .map_err(ApiError::bad_request)?;
        self.check_ca_kept(name, &profile).await?;
        let version = profile.config.version;
        let receipt = self
            .store
            .submit(Write::PutProfile(ProfileWrite {
                name: name.to_owned(),
                version,
                previous,
                definition: stored_definition(body, &profile),
                data: profile_fingerprint(&profile),
                actor: who.display(),
            }))
            .await?;
        profile.source = Source::Api {
            audit_seq: receipt.seq,
            deleted_at: None,
        };
        let profile = Arc::new(profile);
        self.install(name, receipt.seq, Ok(profile.clone()));
        info!(profile = %name, version, actor = %who.display(), "signing profile {} through the API", if previous.is_some() { "changed" } else { "created" });
        Ok(Put {
            created: previous.is_none(),
            profile,
            audit_seq: receipt.seq,
        })
    }

    /// A per-job profile that has issued certificates keeps its mode and
    /// CA certificate: its CRL and OCSP responder answer for them.
    async fn check_ca_kept(&self, name: &str, new: &Profile) -> Result<(), ApiError> {
        let Some(last) = self.store.last_entry("profile.change", name).await? else {
            return Ok(());
        };
        if last.data.get("mode").and_then(Value::as_str) != Some("perJob") {
            return Ok(());
        }
        let ca = |data: &Value| {
            data.get("certificateChainSha256")
                .and_then(|c| c.get(0))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let old = ca(&last.data);
        let kept = new.config.mode == Mode::PerJob && ca(&profile_fingerprint(new)) == old;
        if kept || !self.store.profile_has_jobs(name).await? {
            return Ok(());
        }
        Err(ApiError::conflict(format!(
            "profile {name:?} has issued per-job certificates from its CA ({}): its CRL and OCSP responder must keep answering for them, so its mode and CA certificate cannot change. Make a profile with a new name for the new CA (and DELETE this one: it then signs nothing more, but keeps answering CRL and OCSP)",
            old.unwrap_or_default()
        )))
    }

    /// `DELETE /v1/profiles/{name}` by `who` (an admin): the profile signs
    /// nothing more; its CRL and OCSP keep answering. Audits `profile.delete`.
    pub async fn delete_profile(&self, who: &Identity, name: &str) -> Result<Receipt, ApiError> {
        if self.catalog.is_file_profile(name) {
            return Err(ApiError::conflict(format!(
                "profile {name:?} is defined in the configuration file: remove it there (the API deletes only profiles made through it)"
            )));
        }
        let stored = self.store.stored_profile(name).await?.ok_or_else(|| {
            ApiError::not_found(format!("no signing profile {name:?} made through the API"))
        })?;
        let receipt = self
            .store
            .submit(Write::DeleteProfile {
                name: name.to_owned(),
                version: stored.version,
                actor: who.display(),
            })
            .await?;
        if let Some(row) = self.store.stored_profile(name).await? {
            self.apply_row(&row).await;
        }
        info!(profile = %name, actor = %who.display(), "signing profile deleted through the API: it signs nothing more");
        Ok(receipt)
    }
}

#[cfg(test)]
mod tests;
