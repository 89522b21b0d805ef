//! Keys on PKCS#11 tokens.
//!
//! * One `C_Initialize` per module and process: contexts live in a
//!   process-wide map keyed by the module's canonical path, so any number of
//!   profiles can use keys of the same module.
//! * The user logs in once per token (PKCS#11 login state belongs to the
//!   application and token, not to a session); every session opened later
//!   shares it. A session opened after the token logged out (every session
//!   closed) logs in again. The flip side: once any key of this process is
//!   logged in to a token, another key configured for the same token is not
//!   asked for its PIN again (the token answers `CKR_USER_ALREADY_LOGGED_IN`).
//! * Each key keeps a pool of read-only sessions; a signature checks one out,
//!   so up to `sessions` signatures run on the token at once and the rest
//!   wait. No lock is held during a PKCS#11 call. A session whose call fails
//!   is closed, not returned; after a session-level failure (session closed,
//!   device error, …) the signature is retried once on a fresh session.
//! * Every signature is verified with the public key before it is returned
//!   (DEPENDENCIES.md: SoftHSM and some HSMs have had signing quirks).

use std::collections::HashMap;
use std::ffi::c_ulong;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use aws_lc_rs::digest;
use const_oid::ObjectIdentifier;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::{AuthPin, Ulong};
use der::asn1::{AnyRef, BitStringRef, OctetStringRef, UintRef};
use der::{Decode, Encode, Header, Length, Tag};
use notary::algorithm::{KeySpec, SignatureAlgorithm};
use notary::crypto::{CryptoError, Signer, verify};
use spki::{AlgorithmIdentifier, SubjectPublicKeyInfoRef};

use super::KeyError;

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// How long a signature waits for a free session before giving up.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(60);

/// The message signed and verified when a key is opened.
const SELF_TEST_MESSAGE: &[u8] = b"signet PKCS#11 key self-test";

/// One context per module, for the life of the process.
fn context(module: &Path) -> Result<Pkcs11, KeyError> {
    static CONTEXTS: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let fail = |reason: String| KeyError::Module {
        module: module.to_path_buf(),
        reason,
    };
    // The same library under two names would be loaded once by the dynamic
    // linker and initialised twice: key the map by the canonical path.
    let canonical = module
        .canonicalize()
        .map_err(|e| fail(format!("{e} (is the module installed?)")))?;
    let mut map = lock(CONTEXTS.get_or_init(Default::default));
    if let Some(ctx) = map.get(&canonical) {
        return Ok(ctx.clone());
    }
    let ctx = Pkcs11::new(&canonical).map_err(|e| fail(e.to_string()))?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        // Someone else in this process (another library) initialised it: share.
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(fail(format!("C_Initialize: {}", ck(&e)))),
    }
    let info = ctx.get_library_info().ok();
    tracing::info!(
        module = %canonical.display(),
        library = info.as_ref().map(|i| i.library_description()).unwrap_or("?"),
        manufacturer = info.as_ref().map(|i| i.manufacturer_id()).unwrap_or("?"),
        "PKCS#11 module initialised"
    );
    map.insert(canonical, ctx.clone());
    Ok(ctx)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Pool and map updates are single statements: a panic elsewhere cannot
    // leave them half-done, so a poisoned lock is still consistent.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A PKCS#11 error without the crate's paragraph-long descriptions.
fn ck(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, function) => format!("{function:?} returned {}", rv_name(*rv)),
        other => other.to_string(),
    }
}

fn rv_name(rv: RvError) -> String {
    // `CKR_` names as the spec spells them are what HSM vendors document.
    let debug = format!("{rv:?}");
    let mut out = String::from("CKR_");
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Whether the error means the session (not the request) is broken, so a
/// fresh session may succeed.
fn session_level(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::SessionClosed
                | RvError::SessionHandleInvalid
                | RvError::DeviceError
                | RvError::DeviceRemoved
                | RvError::TokenNotPresent
                | RvError::UserNotLoggedIn
                | RvError::KeyHandleInvalid
                | RvError::ObjectHandleInvalid
                | RvError::OperationActive
                | RvError::GeneralError
                | RvError::FunctionFailed,
            _
        )
    )
}

/// How the token is asked to sign.
#[derive(Debug, Clone, Copy)]
enum Method {
    /// `CKM_ECDSA` over a digest computed here.
    Ecdsa(&'static digest::Algorithm),
    /// `CKM_SHAxxx_RSA_PKCS_PSS` over the message.
    PssHashAndSign(MechanismType, &'static digest::Algorithm),
    /// `CKM_RSA_PKCS_PSS` over a digest computed here (tokens without the
    /// combined mechanisms).
    PssPrehashed(MechanismType, &'static digest::Algorithm),
}

fn hash_for(alg: SignatureAlgorithm) -> (&'static digest::Algorithm, MechanismType, PkcsMgfType) {
    match alg {
        SignatureAlgorithm::RsaPssSha256 | SignatureAlgorithm::EcdsaSha256 => {
            (&digest::SHA256, MechanismType::SHA256, PkcsMgfType::MGF1_SHA256)
        }
        SignatureAlgorithm::RsaPssSha384 | SignatureAlgorithm::EcdsaSha384 => {
            (&digest::SHA384, MechanismType::SHA384, PkcsMgfType::MGF1_SHA384)
        }
        SignatureAlgorithm::RsaPssSha512 | SignatureAlgorithm::EcdsaSha512 => {
            (&digest::SHA512, MechanismType::SHA512, PkcsMgfType::MGF1_SHA512)
        }
    }
}

impl Method {
    fn mechanism(self) -> Mechanism<'static> {
        let pss = |hash: &'static digest::Algorithm, hash_alg: MechanismType| {
            let (mgf, len) = match hash.output_len() {
                32 => (PkcsMgfType::MGF1_SHA256, 32),
                48 => (PkcsMgfType::MGF1_SHA384, 48),
                _ => (PkcsMgfType::MGF1_SHA512, 64),
            };
            PkcsPssParams {
                hash_alg,
                mgf,
                s_len: Ulong::from(len as c_ulong),
            }
        };
        match self {
            Method::Ecdsa(_) => Mechanism::Ecdsa,
            Method::PssHashAndSign(h, d) => {
                let params = pss(d, h);
                match d.output_len() {
                    32 => Mechanism::Sha256RsaPkcsPss(params),
                    48 => Mechanism::Sha384RsaPkcsPss(params),
                    _ => Mechanism::Sha512RsaPkcsPss(params),
                }
            }
            Method::PssPrehashed(h, d) => Mechanism::RsaPkcsPss(pss(d, h)),
        }
    }

    /// What the token signs: the message or its digest.
    fn input(self, message: &[u8]) -> Vec<u8> {
        match self {
            Method::PssHashAndSign(..) => message.to_vec(),
            Method::Ecdsa(d) | Method::PssPrehashed(_, d) => digest::digest(d, message).as_ref().to_vec(),
        }
    }
}

/// A session with the key's handle in it (handles are looked up per session,
/// which is valid on every token).
struct Pooled {
    session: Session,
    key: ObjectHandle,
}

#[derive(Default)]
struct Pool {
    idle: Vec<Pooled>,
    /// Sessions open, idle or checked out.
    open: usize,
}

/// A private key on a PKCS#11 token, signing through a pool of sessions.
pub struct Pkcs11Key {
    ctx: Pkcs11,
    slot: Slot,
    module: PathBuf,
    token_label: String,
    key_label: String,
    pin: AuthPin,
    spec: KeySpec,
    algorithm: SignatureAlgorithm,
    method: Method,
    /// Length of every signature: `2 × field` (ECDSA) or the modulus (RSA).
    signature_len: usize,
    spki: Vec<u8>,
    max_sessions: usize,
    pool: Mutex<Pool>,
    freed: Condvar,
}

impl std::fmt::Debug for Pkcs11Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Key")
            .field("module", &self.module)
            .field("token", &self.token_label)
            .field("key", &self.key_label)
            .field("spec", &self.spec)
            .field("method", &self.method)
            .field("sessions", &self.max_sessions)
            .finish_non_exhaustive()
    }
}

/// A checked-out session; goes back to the pool when dropped unless discarded.
struct Lease<'a> {
    key: &'a Pkcs11Key,
    pooled: Option<Pooled>,
}

impl Lease<'_> {
    /// Closes the session instead of returning it.
    fn discard(mut self) {
        if let Some(p) = self.pooled.take() {
            drop(p);
            lock(&self.key.pool).open -= 1;
            self.key.freed.notify_one();
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(p) = self.pooled.take() {
            lock(&self.key.pool).idle.push(p);
            self.key.freed.notify_one();
        }
    }
}

impl Pkcs11Key {
    /// Opens `key_label` on token `token_label` of `module`, logging in with
    /// `pin`; at most `sessions` sessions are open for it at once.
    pub fn open(
        module: &Path,
        token_label: &str,
        key_label: &str,
        pin: AuthPin,
        sessions: usize,
    ) -> Result<Pkcs11Key, KeyError> {
        let ctx = context(module)?;
        let p11 = |operation: &str, e: CkError| KeyError::Pkcs11 {
            operation: operation.to_string(),
            token: token_label.to_string(),
            reason: ck(&e),
        };
        let slot = find_slot(&ctx, module, token_label)?;
        let info = ctx.get_token_info(slot).map_err(|e| p11("C_GetTokenInfo", e))?;
        if info.user_pin_locked() {
            return Err(KeyError::PinRejected {
                token: token_label.to_string(),
                reason: "the user PIN is locked (too many wrong attempts)".into(),
            });
        }

        let session = ctx.open_ro_session(slot).map_err(|e| p11("C_OpenSession", e))?;
        login(&session, &pin, token_label)?;
        let key = find_private_key(&session, token_label, key_label)?;
        let key_type = session
            .get_attributes(key, &[AttributeType::KeyType])
            .map_err(|e| p11("C_GetAttributeValue(CKA_KEY_TYPE)", e))?
            .into_iter()
            .find_map(|a| match a {
                Attribute::KeyType(t) => Some(t),
                _ => None,
            });
        let unsupported = |reason: String| KeyError::UnsupportedKey {
            key: key_label.to_string(),
            reason,
        };
        let spki = public_key_spki(&session, key, key_type, token_label, key_label)?;
        let spec = KeySpec::from_spki_der(&spki).map_err(|e| unsupported(e.to_string()))?;
        let algorithm = spec
            .signature_algorithm()
            .map_err(|e| unsupported(e.to_string()))?;
        let (hash, hash_mech, _) = hash_for(algorithm);
        // Tokens that cannot list their mechanisms get the standard ones.
        let mechanisms = ctx.get_mechanism_list(slot).ok();
        let has = |m: MechanismType| mechanisms.as_ref().is_none_or(|l| l.contains(&m));
        let (method, signature_len) = match spec {
            KeySpec::Ec(bits) => {
                if !has(MechanismType::ECDSA) {
                    return Err(unsupported(format!(
                        "token {token_label:?} does not offer CKM_ECDSA"
                    )));
                }
                (Method::Ecdsa(hash), 2 * (bits as usize).div_ceil(8))
            }
            KeySpec::Rsa(bits) => {
                let combined = match algorithm {
                    SignatureAlgorithm::RsaPssSha256 => MechanismType::SHA256_RSA_PKCS_PSS,
                    SignatureAlgorithm::RsaPssSha384 => MechanismType::SHA384_RSA_PKCS_PSS,
                    _ => MechanismType::SHA512_RSA_PKCS_PSS,
                };
                let method = if has(combined) {
                    Method::PssHashAndSign(hash_mech, hash)
                } else if has(MechanismType::RSA_PKCS_PSS) {
                    Method::PssPrehashed(hash_mech, hash)
                } else {
                    return Err(unsupported(format!(
                        "token {token_label:?} offers neither {combined} nor CKM_RSA_PKCS_PSS"
                    )));
                };
                (method, (bits as usize).div_ceil(8))
            }
        };

        let this = Pkcs11Key {
            ctx,
            slot,
            module: module.to_path_buf(),
            token_label: token_label.to_string(),
            key_label: key_label.to_string(),
            pin,
            spec,
            algorithm,
            method,
            signature_len,
            spki,
            max_sessions: sessions.max(1),
            pool: Mutex::new(Pool {
                idle: vec![Pooled { session, key }],
                open: 1,
            }),
            freed: Condvar::new(),
        };
        this.sign(SELF_TEST_MESSAGE).map_err(|e| KeyError::SelfTest {
            key: key_label.to_string(),
            reason: e.to_string(),
        })?;
        tracing::info!(
            module = %this.module.display(),
            token = %this.token_label,
            key = %this.key_label,
            key_spec = %this.spec,
            method = ?this.method,
            sessions = this.max_sessions,
            "opened PKCS#11 key"
        );
        Ok(this)
    }

    /// The public key, DER `SubjectPublicKeyInfo`, as read from the token.
    pub fn public_key_spki(&self) -> &[u8] {
        &self.spki
    }

    /// The token's label.
    pub fn token_label(&self) -> &str {
        &self.token_label
    }

    /// The key's label.
    pub fn key_label(&self) -> &str {
        &self.key_label
    }

    fn checkout(&self) -> Result<Lease<'_>, CryptoError> {
        let mut pool = lock(&self.pool);
        loop {
            if let Some(p) = pool.idle.pop() {
                return Ok(Lease {
                    key: self,
                    pooled: Some(p),
                });
            }
            if pool.open < self.max_sessions {
                pool.open += 1;
                drop(pool);
                return match self.open_session() {
                    Ok(p) => Ok(Lease {
                        key: self,
                        pooled: Some(p),
                    }),
                    Err(e) => {
                        lock(&self.pool).open -= 1;
                        self.freed.notify_one();
                        Err(CryptoError::SigningFailed(e.to_string()))
                    }
                };
            }
            let (guard, timeout) = self
                .freed
                .wait_timeout(pool, CHECKOUT_TIMEOUT)
                .unwrap_or_else(PoisonError::into_inner);
            pool = guard;
            if timeout.timed_out() && pool.idle.is_empty() && pool.open >= self.max_sessions {
                return Err(CryptoError::SigningFailed(format!(
                    "no PKCS#11 session on token {:?} became free within {} s",
                    self.token_label,
                    CHECKOUT_TIMEOUT.as_secs()
                )));
            }
        }
    }

    fn open_session(&self) -> Result<Pooled, KeyError> {
        let session = self
            .ctx
            .open_ro_session(self.slot)
            .map_err(|e| KeyError::Pkcs11 {
                operation: "C_OpenSession".into(),
                token: self.token_label.clone(),
                reason: ck(&e),
            })?;
        login(&session, &self.pin, &self.token_label)?;
        let key = find_private_key(&session, &self.token_label, &self.key_label)?;
        tracing::debug!(token = %self.token_label, key = %self.key_label, "opened PKCS#11 session");
        Ok(Pooled { session, key })
    }

    fn sign_on_token(&self, input: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mechanism = self.method.mechanism();
        let mut retried = false;
        loop {
            let lease = self.checkout()?;
            let result = match &lease.pooled {
                Some(p) => p.session.sign(&mechanism, p.key, input),
                None => Err(CkError::InvalidValue),
            };
            match result {
                Ok(sig) => return Ok(sig),
                Err(e) => {
                    lease.discard();
                    let again = session_level(&e) && !retried;
                    tracing::warn!(
                        token = %self.token_label,
                        key = %self.key_label,
                        error = %ck(&e),
                        retry = again,
                        "PKCS#11 signature failed; session closed"
                    );
                    if !again {
                        return Err(CryptoError::SigningFailed(format!(
                            "PKCS#11 token {:?}, key {:?}: {}",
                            self.token_label,
                            self.key_label,
                            ck(&e)
                        )));
                    }
                    retried = true;
                }
            }
        }
    }
}

impl Signer for Pkcs11Key {
    fn key_spec(&self) -> KeySpec {
        self.spec
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let sig = self.sign_on_token(&self.method.input(message))?;
        if sig.len() != self.signature_len {
            return Err(CryptoError::SigningFailed(format!(
                "PKCS#11 token {:?} returned a {}-byte signature for {} key {:?}; expected {} bytes",
                self.token_label,
                sig.len(),
                self.spec,
                self.key_label,
                self.signature_len
            )));
        }
        verify(self.algorithm, &self.spki, message, &sig).map_err(|_| {
            CryptoError::SigningFailed(format!(
                "the signature PKCS#11 token {:?} made with key {:?} does not verify with its public key",
                self.token_label, self.key_label
            ))
        })?;
        Ok(sig)
    }
}

fn find_slot(ctx: &Pkcs11, module: &Path, token_label: &str) -> Result<Slot, KeyError> {
    let slots = ctx.get_slots_with_token().map_err(|e| KeyError::Pkcs11 {
        operation: "C_GetSlotList".into(),
        token: token_label.to_string(),
        reason: ck(&e),
    })?;
    let mut available = Vec::new();
    for slot in slots {
        let Ok(info) = ctx.get_token_info(slot) else {
            continue;
        };
        if info.label() == token_label {
            return Ok(slot);
        }
        if info.token_initialized() {
            available.push(info.label().to_string());
        }
    }
    Err(KeyError::TokenNotFound {
        token: token_label.to_string(),
        module: module.to_path_buf(),
        available,
    })
}

fn login(session: &Session, pin: &AuthPin, token: &str) -> Result<(), KeyError> {
    match session.login(UserType::User, Some(pin)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(CkError::Pkcs11(
            rv @ (RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange),
            _,
        )) => Err(KeyError::PinRejected {
            token: token.to_string(),
            reason: format!("wrong PIN ({})", rv_name(rv)),
        }),
        Err(CkError::Pkcs11(rv @ (RvError::PinLocked | RvError::PinExpired), _)) => {
            Err(KeyError::PinRejected {
                token: token.to_string(),
                reason: format!("the PIN is locked or expired ({})", rv_name(rv)),
            })
        }
        Err(CkError::Pkcs11(RvError::UserPinNotInitialized, _)) => Err(KeyError::PinRejected {
            token: token.to_string(),
            reason: "the token has no user PIN set (initialise it first)".into(),
        }),
        Err(e) => Err(KeyError::Pkcs11 {
            operation: "C_Login".into(),
            token: token.to_string(),
            reason: ck(&e),
        }),
    }
}

fn find_private_key(session: &Session, token: &str, label: &str) -> Result<ObjectHandle, KeyError> {
    let p11 = |e: CkError| KeyError::Pkcs11 {
        operation: "C_FindObjects".into(),
        token: token.to_string(),
        reason: ck(&e),
    };
    let found = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .map_err(p11)?;
    match found.as_slice() {
        [one] => Ok(*one),
        [] => {
            let all = session
                .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
                .map_err(p11)?;
            let mut available: Vec<String> = all
                .into_iter()
                .filter_map(|h| session.get_attributes(h, &[AttributeType::Label]).ok())
                .flatten()
                .filter_map(|a| match a {
                    Attribute::Label(l) => Some(String::from_utf8_lossy(&l).into_owned()),
                    _ => None,
                })
                .collect();
            available.sort();
            Err(KeyError::KeyNotFound {
                key: label.to_string(),
                token: token.to_string(),
                available,
            })
        }
        many => Err(KeyError::AmbiguousKey {
            key: label.to_string(),
            token: token.to_string(),
            count: many.len(),
        }),
    }
}

/// The key's public key as a DER SPKI, from its public key object (same
/// label, else same CKA_ID); RSA keys without one fall back to the modulus
/// and exponent on the private key object.
fn public_key_spki(
    session: &Session,
    private: ObjectHandle,
    key_type: Option<KeyType>,
    token: &str,
    label: &str,
) -> Result<Vec<u8>, KeyError> {
    let fail = |reason: String| KeyError::PublicKey {
        key: label.to_string(),
        token: token.to_string(),
        reason,
    };
    let p11 = |op: &str, e: CkError| fail(format!("{op}: {}", ck(&e)));
    let find = |template: &[Attribute]| {
        session
            .find_objects(template)
            .map_err(|e| p11("C_FindObjects", e))
    };
    let mut public = find(&[
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::Label(label.as_bytes().to_vec()),
    ])?;
    if public.is_empty() {
        let id = session
            .get_attributes(private, &[AttributeType::Id])
            .map_err(|e| p11("C_GetAttributeValue(CKA_ID)", e))?
            .into_iter()
            .find_map(|a| match a {
                Attribute::Id(id) if !id.is_empty() => Some(id),
                _ => None,
            });
        if let Some(id) = id {
            public = find(&[Attribute::Class(ObjectClass::PUBLIC_KEY), Attribute::Id(id)])?;
        }
    }
    if public.len() > 1 {
        return Err(fail(format!(
            "{} public key objects match; labels must be unique",
            public.len()
        )));
    }
    let attrs = |object: ObjectHandle, types: &[AttributeType]| {
        session
            .get_attributes(object, types)
            .map_err(|e| p11("C_GetAttributeValue", e))
    };
    match key_type {
        Some(KeyType::EC) => {
            let Some(&object) = public.first() else {
                return Err(fail(
                    "no public key object with the key's label or CKA_ID (an EC private key object does not \
                     hold the public point)"
                        .into(),
                ));
            };
            let (mut params, mut point) = (None, None);
            for a in attrs(object, &[AttributeType::EcParams, AttributeType::EcPoint])? {
                match a {
                    Attribute::EcParams(p) => params = Some(p),
                    Attribute::EcPoint(p) => point = Some(p),
                    _ => {}
                }
            }
            let (Some(params), Some(point)) = (params, point) else {
                return Err(fail(
                    "the public key object lacks CKA_EC_PARAMS or CKA_EC_POINT".into(),
                ));
            };
            ec_spki(&params, &point).map_err(fail)
        }
        Some(KeyType::RSA) => {
            let object = public.first().copied().unwrap_or(private);
            let (mut n, mut e) = (None, None);
            for a in attrs(object, &[AttributeType::Modulus, AttributeType::PublicExponent])? {
                match a {
                    Attribute::Modulus(v) => n = Some(v),
                    Attribute::PublicExponent(v) => e = Some(v),
                    _ => {}
                }
            }
            let (Some(n), Some(e)) = (n, e) else {
                return Err(fail(
                    "no public key object, and the private key hides its modulus".into(),
                ));
            };
            rsa_spki(&n, &e).map_err(|e| fail(e.to_string()))
        }
        other => Err(KeyError::UnsupportedKey {
            key: label.to_string(),
            reason: format!(
                "key type {} (only RSA and EC keys sign Notary Project signatures)",
                other.map(|t| t.to_string()).unwrap_or_else(|| "unknown".into())
            ),
        }),
    }
}

/// SPKI from `CKA_EC_PARAMS` (a DER named-curve OID) and `CKA_EC_POINT` (a
/// DER OCTET STRING holding the uncompressed point; some modules give the
/// bare point).
fn ec_spki(params: &[u8], point: &[u8]) -> Result<Vec<u8>, String> {
    let curve: ObjectIdentifier =
        ObjectIdentifier::from_der(params).map_err(|e| format!("CKA_EC_PARAMS is not a named curve: {e}"))?;
    let raw = match <&OctetStringRef>::from_der(point) {
        Ok(os) if os.as_bytes().first() == Some(&4) => os.as_bytes(),
        _ if point.first() == Some(&4) && point.len() % 2 == 1 => point,
        _ => return Err("CKA_EC_POINT is not an uncompressed point".into()),
    };
    let params = AnyRef::from_der(params).map_err(|e| e.to_string())?;
    let spki = SubjectPublicKeyInfoRef {
        algorithm: AlgorithmIdentifier {
            oid: EC_PUBLIC_KEY,
            parameters: Some(params),
        },
        subject_public_key: BitStringRef::from_bytes(raw).map_err(|e| e.to_string())?,
    };
    let der = spki.to_der().map_err(|e| e.to_string())?;
    tracing::trace!(%curve, "EC public key read from token");
    Ok(der)
}

/// SPKI from `CKA_MODULUS` and `CKA_PUBLIC_EXPONENT` (big-endian unsigned).
fn rsa_spki(n: &[u8], e: &[u8]) -> Result<Vec<u8>, der::Error> {
    let mut body = UintRef::new(n)?.to_der()?;
    body.extend(UintRef::new(e)?.to_der()?);
    let mut rsa_public_key = Header::new(Tag::Sequence, Length::try_from(body.len())?).to_der()?;
    rsa_public_key.extend(body);
    SubjectPublicKeyInfoRef {
        algorithm: AlgorithmIdentifier {
            oid: RSA_ENCRYPTION,
            parameters: Some(AnyRef::NULL),
        },
        subject_public_key: BitStringRef::from_bytes(&rsa_public_key)?,
    }
    .to_der()
}
