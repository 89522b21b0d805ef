//! Authorisation rules: which identities may sign which repositories with
//! which profiles, and who may call the admin endpoints. Deny by default; a
//! refusal names the nearest misses so the fix is obvious.
//!
//! ```yaml
//! - name: ci-main
//!   identities:
//!     - method: oidc
//!       issuer: https://token.actions.githubusercontent.com
//!       claims: { repository: acme/*, ref: refs/heads/main }
//!   profiles: [release]
//!   repositories: [registry.example.com/acme/**]
//! - name: ops
//!   identities: [{ method: token, subject: ops-* }]
//!   profiles: ["*"]
//!   repositories: ["**"]
//!   admin: true
//! ```
//!
//! Identity subjects, claims and profile names match with `*`-only globs
//! ([`star_match`]: `*` is any run of characters, everything else literal);
//! repositories match with image globs ([`oci::glob::Glob`]: `*` within a
//! segment, `**` across, Docker Hub names normalised).

use std::collections::{BTreeMap, BTreeSet};

use oci::glob::Glob;

use super::{AuthError, Identity, Method, quote};

/// One rule, as configured.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuleConfig {
    /// Unique name, quoted in refusals and recorded with jobs.
    pub name: String,
    /// The rule applies to an identity that any of these match.
    pub identities: Vec<IdentityMatch>,
    /// Signing profiles (`*`-globs; `"*"` = all); none for an admin-only rule.
    #[serde(default)]
    pub profiles: Vec<String>,
    /// Repository patterns ([`oci::glob::Glob`]), e.g. `registry.example.com/team/**`;
    /// none for an admin-only rule.
    #[serde(default)]
    pub repositories: Vec<String>,
    /// Whether the identities may call admin endpoints (revocation, token and
    /// profile changes). An admin-only rule leaves `profiles` and
    /// `repositories` empty.
    #[serde(default)]
    pub admin: bool,
}

/// Matches identities: every given field must match.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IdentityMatch {
    /// The authentication method.
    pub method: Option<Method>,
    /// The subject (`*`-glob).
    pub subject: Option<String>,
    /// The issuer, exactly (OIDC `iss`, or the client certificate's issuer DN).
    pub issuer: Option<String>,
    /// Claims that must be present and match (`*`-globs). For mTLS
    /// identities `san.dns`, `san.uri` and `san.email` match if any SAN of
    /// that kind does.
    #[serde(default)]
    pub claims: BTreeMap<String, String>,
}

impl IdentityMatch {
    fn is_empty(&self) -> bool {
        self.method.is_none() && self.subject.is_none() && self.issuer.is_none() && self.claims.is_empty()
    }

    /// Whether `who` satisfies every field.
    pub fn matches(&self, who: &Identity) -> bool {
        self.method.is_none_or(|m| m == who.method)
            && self
                .subject
                .as_deref()
                .is_none_or(|p| star_match(p, &who.subject))
            && self
                .issuer
                .as_deref()
                .is_none_or(|i| who.issuer.as_deref() == Some(i))
            && self
                .claims
                .iter()
                .all(|(name, pattern)| claim_values(who, name).any(|v| star_match(pattern, v)))
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(m) = self.method {
            parts.push(format!("method {m}"));
        }
        if let Some(s) = &self.subject {
            parts.push(format!("subject {s:?}"));
        }
        if let Some(i) = &self.issuer {
            parts.push(format!("issuer {i:?}"));
        }
        for (name, pattern) in &self.claims {
            parts.push(format!("claim {name} {pattern:?}"));
        }
        format!("[{}]", parts.join(", "))
    }
}

/// The values of claim `name` of `who`: the claim itself and, for mTLS SANs,
/// the further values `name.1`, `name.2`, ….
fn claim_values<'a>(who: &'a Identity, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    let multi = who.method == Method::Mtls && name.starts_with("san.");
    let first = who.claims.get(name).map(String::as_str);
    let rest = (1..)
        .map(move |n| {
            if multi {
                who.claims.get(&format!("{name}.{n}")).map(String::as_str)
            } else {
                None
            }
        })
        .take_while(Option::is_some)
        .flatten();
    first.into_iter().chain(rest)
}

/// `*`-only glob: `*` matches any run of characters (including none and
/// `/`); every other character matches itself. Case-sensitive.
pub fn star_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None; // (pattern index after the star, text index)
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            pi += 1;
            star = Some((pi, ti));
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// A refusal, with the nearest misses explained. Safe to return to the
/// client: it quotes identities, rule names and patterns, never secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// The explanation.
    pub message: String,
}

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Denied {}

struct Rule {
    config: RuleConfig,
    repositories: Vec<Glob>,
}

impl Rule {
    fn matches_identity(&self, who: &Identity) -> bool {
        self.config.identities.iter().any(|m| m.matches(who))
    }

    fn allows_profile(&self, profile: &str) -> bool {
        self.config.profiles.iter().any(|p| star_match(p, profile))
    }

    fn allows_repository(&self, repository: &str) -> bool {
        self.repositories.iter().any(|g| g.matches(repository))
    }

    fn identities(&self) -> String {
        let all: Vec<String> = self
            .config
            .identities
            .iter()
            .map(IdentityMatch::describe)
            .collect();
        all.join(" or ")
    }

    fn profiles(&self) -> String {
        list(self.config.profiles.iter().map(String::as_str))
    }

    fn repository_patterns(&self) -> String {
        list(self.repositories.iter().map(Glob::as_str))
    }
}

fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    const MAX: usize = 8;
    let items: Vec<&str> = items.collect();
    let mut shown = items.iter().take(MAX).copied().collect::<Vec<_>>().join(", ");
    if items.len() > MAX {
        shown.push_str(&format!(", … ({} more)", items.len() - MAX));
    }
    format!("[{shown}]")
}

/// How many near misses a refusal explains.
const MAX_MISSES: usize = 3;

/// The compiled rules.
pub struct Rules {
    rules: Vec<Rule>,
}

impl std::fmt::Debug for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.rules.iter().map(|r| &r.config))
            .finish()
    }
}

impl Rules {
    /// Checks and compiles `rules`: names unique and non-empty, at least one
    /// identity matcher per rule and no empty matcher (write `subject: "*"`
    /// to mean everyone), repository patterns valid, and either profiles and
    /// repositories both given or (for an admin-only rule) both empty.
    pub fn new(rules: Vec<RuleConfig>) -> Result<Self, AuthError> {
        let mut names = BTreeSet::new();
        let mut compiled = Vec::with_capacity(rules.len());
        for config in rules {
            let name = config.name.clone();
            let fail = |why: String| AuthError::Config(format!("rule {name:?}: {why}"));
            if name.trim().is_empty() {
                return Err(AuthError::Config("a rule has an empty name".into()));
            }
            if !names.insert(name.clone()) {
                return Err(fail("the name is used by two rules".into()));
            }
            if config.identities.is_empty() {
                return Err(fail("no identities: the rule would match nobody".into()));
            }
            if config.identities.iter().any(IdentityMatch::is_empty) {
                return Err(fail(
                    "an identity matcher is empty and would match every caller; write subject: \"*\" if that is meant"
                        .into(),
                ));
            }
            if config.profiles.iter().any(|p| p.trim().is_empty()) {
                return Err(fail("a profile name is empty".into()));
            }
            match (config.profiles.is_empty(), config.repositories.is_empty()) {
                (false, false) => {}
                (true, true) if config.admin => {}
                (true, true) => {
                    return Err(fail(
                        "no profiles and no repositories, and not admin: it allows nothing".into(),
                    ));
                }
                (true, false) => return Err(fail("repositories without profiles".into())),
                (false, true) => return Err(fail("profiles without repositories".into())),
            }
            let repositories = config
                .repositories
                .iter()
                .map(|p| Glob::new(p).map_err(&fail))
                .collect::<Result<Vec<_>, _>>()?;
            compiled.push(Rule { config, repositories });
        }
        Ok(Self { rules: compiled })
    }

    /// The first rule (in configuration order) that lets `who` sign
    /// `repository` with `profile`.
    pub fn authorize_sign(
        &self,
        who: &Identity,
        profile: &str,
        repository: &str,
    ) -> Result<&RuleConfig, Denied> {
        struct Miss<'r> {
            rule: &'r Rule,
            identity: bool,
            profile: bool,
            repository: bool,
        }
        let mut misses = Vec::new();
        for rule in &self.rules {
            let miss = Miss {
                rule,
                identity: rule.matches_identity(who),
                profile: rule.allows_profile(profile),
                repository: rule.allows_repository(repository),
            };
            if miss.identity && miss.profile && miss.repository {
                return Ok(&rule.config);
            }
            if miss.identity || (miss.profile && miss.repository) {
                misses.push(miss);
            }
        }
        // Nearest first: more dimensions right, then identity matches; stable
        // in configuration order.
        misses.sort_by_key(|m| {
            let right = usize::from(m.identity) + usize::from(m.profile) + usize::from(m.repository);
            (std::cmp::Reverse(right), !m.identity)
        });
        let explained: Vec<String> = misses
            .iter()
            .take(MAX_MISSES)
            .map(|m| {
                let name = &m.rule.config.name;
                let r = m.rule;
                match (m.identity, m.profile, m.repository) {
                    (true, _, _) if r.config.profiles.is_empty() => {
                        format!("rule {name:?} matches the identity but is admin-only (no profiles)")
                    }
                    (true, false, true) => {
                        format!(
                            "rule {name:?} matches the identity but allows profiles {}",
                            r.profiles()
                        )
                    }
                    (true, true, false) => format!(
                        "rule {name:?} matches the identity but allows repositories {}",
                        r.repository_patterns()
                    ),
                    (true, _, _) => format!(
                        "rule {name:?} matches the identity but allows profiles {} and repositories {}",
                        r.profiles(),
                        r.repository_patterns()
                    ),
                    (false, _, _) => format!(
                        "rule {name:?} allows the profile and repository but matches identities {}",
                        r.identities()
                    ),
                }
            })
            .collect();
        let head = format!(
            "no rule lets {} sign repository {} with profile {}",
            who.display(),
            quote(repository),
            quote(profile)
        );
        Err(Denied {
            message: explain(head, &explained, misses.len()),
        })
    }

    /// The first admin rule that matches `who`.
    pub fn authorize_admin(&self, who: &Identity) -> Result<&RuleConfig, Denied> {
        let mut near = Vec::new();
        let mut far = Vec::new();
        for rule in &self.rules {
            let name = &rule.config.name;
            match (rule.matches_identity(who), rule.config.admin) {
                (true, true) => return Ok(&rule.config),
                (true, false) => near.push(format!(
                    "rule {name:?} matches the identity but is not an admin rule"
                )),
                (false, true) => far.push(format!(
                    "rule {name:?} is an admin rule but matches identities {}",
                    rule.identities()
                )),
                (false, false) => {}
            }
        }
        near.extend(far);
        let total = near.len();
        near.truncate(MAX_MISSES);
        let head = format!("{} may not call admin endpoints", who.display());
        Err(Denied {
            message: explain(head, &near, total),
        })
    }
}

fn explain(head: String, explained: &[String], total: usize) -> String {
    if explained.is_empty() {
        return format!("{head}: no rule names this identity");
    }
    let mut message = format!("{head}: {}", explained.join("; "));
    if total > explained.len() {
        message.push_str(&format!(" (and {} more)", total - explained.len()));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(yaml: &str) -> Rules {
        let configs: Vec<RuleConfig> = serde_saphyr::from_str(yaml).unwrap();
        Rules::new(configs).unwrap()
    }

    fn rules_err(yaml: &str) -> String {
        let configs: Vec<RuleConfig> = serde_saphyr::from_str(yaml).unwrap();
        Rules::new(configs).unwrap_err().to_string()
    }

    fn oidc(sub: &str, claims: &[(&str, &str)]) -> Identity {
        Identity {
            method: Method::Oidc,
            subject: sub.into(),
            issuer: Some("https://token.actions.githubusercontent.com".into()),
            claims: claims
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn token(name: &str) -> Identity {
        Identity {
            method: Method::Token,
            subject: name.into(),
            issuer: None,
            claims: [("token".to_string(), name.to_string())].into(),
        }
    }

    const RULES: &str = r#"
- name: ci-main
  identities:
    - method: oidc
      issuer: https://token.actions.githubusercontent.com
      claims: { repository: "acme/*", ref: refs/heads/main }
  profiles: [staging]
  repositories: ["reg.example.com/acme/**"]
- name: ci-release
  identities:
    - method: oidc
      subject: "repo:acme/app:*"
  profiles: ["release-*"]
  repositories: ["reg.example.com/acme/app"]
- name: ops
  identities: [{ method: token, subject: "ops-*" }]
  profiles: ["*"]
  repositories: ["**"]
  admin: true
"#;

    #[test]
    fn star_matcher() {
        assert!(star_match("*", ""));
        assert!(star_match("*", "a/b:c"));
        assert!(star_match("ops-*", "ops-1"));
        assert!(star_match("ops-*", "ops-"));
        assert!(!star_match("ops-*", "op"));
        assert!(star_match(
            "repo:acme/*:ref:refs/heads/main",
            "repo:acme/app:ref:refs/heads/main"
        ));
        assert!(star_match("*main", "refs/heads/main"));
        assert!(!star_match("*main", "refs/heads/main2"));
        assert!(star_match("a*b*c", "aXXbYYbc"));
        assert!(!star_match("a*b*c", "aXXbYY"));
        assert!(star_match("a**", "a"));
        assert!(star_match("exact", "exact"));
        assert!(!star_match("exact", "Exact"));
        assert!(!star_match("", "x"));
        assert!(star_match("", ""));
        assert!(star_match("?", "?"));
        assert!(!star_match("?", "x")); // no `?` wildcard
        assert!(star_match("é*ü", "éaaü"));
    }

    #[test]
    fn deny_by_default() {
        let empty = Rules::new(Vec::new()).unwrap();
        let e = empty
            .authorize_sign(&token("ci"), "release", "reg/x")
            .unwrap_err();
        assert_eq!(
            e.message,
            "no rule lets token:ci sign repository \"reg/x\" with profile \"release\": no rule names this identity"
        );
        let e = empty.authorize_admin(&token("ci")).unwrap_err();
        assert_eq!(
            e.message,
            "token:ci may not call admin endpoints: no rule names this identity"
        );
    }

    #[test]
    fn allow() {
        let r = rules(RULES);
        let who = oidc(
            "repo:acme/app:ref:refs/heads/main",
            &[("repository", "acme/app"), ("ref", "refs/heads/main")],
        );
        assert_eq!(
            r.authorize_sign(&who, "staging", "reg.example.com/acme/app/sub")
                .unwrap()
                .name,
            "ci-main"
        );
        assert_eq!(
            r.authorize_sign(&who, "release-2", "reg.example.com/acme/app")
                .unwrap()
                .name,
            "ci-release"
        );
        assert_eq!(
            r.authorize_sign(&token("ops-1"), "anything", "oci-layout:app")
                .unwrap()
                .name,
            "ops"
        );
    }

    #[test]
    fn near_misses_are_explained() {
        let r = rules(RULES);
        let who = oidc(
            "repo:acme/x:ref:refs/heads/main",
            &[("repository", "acme/x"), ("ref", "refs/heads/main")],
        );
        // Identity matches, wrong profile.
        let e = r
            .authorize_sign(&who, "release", "reg.example.com/acme/x")
            .unwrap_err();
        assert_eq!(
            e.message,
            "no rule lets oidc:https://token.actions.githubusercontent.com#repo:acme/x:ref:refs/heads/main sign repository \"reg.example.com/acme/x\" with profile \"release\": \
             rule \"ci-main\" matches the identity but allows profiles [staging]; \
             rule \"ops\" allows the profile and repository but matches identities [method token, subject \"ops-*\"]"
        );
        // Identity matches, wrong repository.
        let e = r
            .authorize_sign(&who, "staging", "reg.example.com/other/x")
            .unwrap_err();
        assert!(
            e.message.contains(
                "rule \"ci-main\" matches the identity but allows repositories [reg.example.com/acme/**]"
            ),
            "{}",
            e.message
        );
        // Identity matches, both wrong.
        let e = r.authorize_sign(&who, "prod", "ghcr.io/x").unwrap_err();
        assert!(
            e.message.contains(
                "rule \"ci-main\" matches the identity but allows profiles [staging] and repositories [reg.example.com/acme/**]"
            ),
            "{}",
            e.message
        );
        // A claim that does not match: only the ops rule is near.
        let branch = oidc(
            "repo:acme/x:ref:refs/heads/dev",
            &[("repository", "acme/x"), ("ref", "refs/heads/dev")],
        );
        let e = r
            .authorize_sign(&branch, "staging", "reg.example.com/acme/x")
            .unwrap_err();
        assert!(
            e.message
                .contains("rule \"ops\" allows the profile and repository but matches identities")
        );
        assert!(
            !e.message.contains("\"ci-main\" matches the identity"),
            "{}",
            e.message
        );
        // Matched identity but admin-only rule; the list is capped at 3.
        let many = rules(
            r#"
- { name: a, identities: [{ method: token }], admin: true, profiles: [], repositories: [] }
- { name: b, identities: [{ method: token }], profiles: [x], repositories: ["reg.io/b"] }
- { name: c, identities: [{ method: token }], profiles: [x], repositories: ["reg.io/c"] }
- { name: d, identities: [{ method: token }], profiles: [x], repositories: ["reg.io/d"] }
"#,
        );
        let e = many.authorize_sign(&token("t"), "x", "reg.io/z").unwrap_err();
        assert_eq!(
            e.message,
            "no rule lets token:t sign repository \"reg.io/z\" with profile \"x\": \
             rule \"b\" matches the identity but allows repositories [reg.io/b]; \
             rule \"c\" matches the identity but allows repositories [reg.io/c]; \
             rule \"d\" matches the identity but allows repositories [reg.io/d] (and 1 more)"
        );
        let e = many.authorize_sign(&token("t"), "y", "reg.io/z").unwrap_err();
        assert!(
            e.message
                .contains("rule \"a\" matches the identity but is admin-only (no profiles)"),
            "{}",
            e.message
        );
        // An identity no rule names, and no rule allowing the profile and repository.
        let e = many.authorize_sign(&who, "x", "reg.io/z").unwrap_err();
        assert!(
            e.message.ends_with(": no rule names this identity"),
            "{}",
            e.message
        );
    }

    #[test]
    fn refusals_escape_what_the_caller_sent() {
        let r = rules(RULES);
        let e = r
            .authorize_sign(&token("ops\n"), "x\ny", "r\u{1b}[2J")
            .unwrap_err();
        assert!(
            !e.message.contains('\n') && !e.message.contains('\u{1b}'),
            "{}",
            e.message
        );
    }

    #[test]
    fn admin() {
        let r = rules(RULES);
        assert_eq!(r.authorize_admin(&token("ops-7")).unwrap().name, "ops");
        let who = oidc(
            "repo:acme/x:ref:refs/heads/main",
            &[("repository", "acme/x"), ("ref", "refs/heads/main")],
        );
        let e = r.authorize_admin(&who).unwrap_err();
        assert_eq!(
            e.message,
            "oidc:https://token.actions.githubusercontent.com#repo:acme/x:ref:refs/heads/main may not call admin endpoints: \
             rule \"ci-main\" matches the identity but is not an admin rule; \
             rule \"ops\" is an admin rule but matches identities [method token, subject \"ops-*\"]"
        );
    }

    #[test]
    fn mtls_sans_match_any_value() {
        let r = rules(
            r#"
- name: builders
  identities: [{ method: mtls, issuer: "CN=CA", claims: { san.dns: "*.ci.acme.example" } }]
  profiles: [ci]
  repositories: ["reg.io/**"]
"#,
        );
        let mut who = Identity {
            method: Method::Mtls,
            subject: "CN=b1".into(),
            issuer: Some("CN=CA".into()),
            claims: [
                ("san.dns".to_string(), "b1.acme.example".to_string()),
                ("san.dns.1".to_string(), "b1.ci.acme.example".to_string()),
            ]
            .into(),
        };
        assert!(r.authorize_sign(&who, "ci", "reg.io/a").is_ok());
        who.issuer = Some("CN=Other".into());
        assert!(r.authorize_sign(&who, "ci", "reg.io/a").is_err());
        // The expansion is for mTLS SANs only.
        who.method = Method::Oidc;
        who.issuer = Some("CN=CA".into());
        assert!(r.authorize_sign(&who, "ci", "reg.io/a").is_err());
    }

    #[test]
    fn bad_configurations_are_refused_at_load() {
        let e = rules_err(
            r#"[{ name: x, identities: [{ method: token }], profiles: [p], repositories: ["ghcr.io/a@sha256:00"] }]"#,
        );
        assert!(
            e.contains("rule \"x\"") && e.contains("leave out tags and digests"),
            "{e}"
        );
        let e = rules_err(r#"[{ name: x, identities: [{}], profiles: [p], repositories: [r] }]"#);
        assert!(e.contains("would match every caller"), "{e}");
        let e = rules_err(r#"[{ name: x, identities: [], profiles: [p], repositories: [r] }]"#);
        assert!(e.contains("match nobody"), "{e}");
        let e = rules_err(
            r#"[{ name: x, identities: [{ method: token }], profiles: [p], repositories: [r] }, { name: x, identities: [{ method: token }], profiles: [p], repositories: [r] }]"#,
        );
        assert!(e.contains("used by two rules"), "{e}");
        let e =
            rules_err(r#"[{ name: x, identities: [{ method: token }], profiles: [], repositories: [] }]"#);
        assert!(e.contains("allows nothing"), "{e}");
        let e =
            rules_err(r#"[{ name: x, identities: [{ method: token }], profiles: [p], repositories: [] }]"#);
        assert!(e.contains("profiles without repositories"), "{e}");
        assert!(
            serde_saphyr::from_str::<Vec<RuleConfig>>(
                "[{ name: x, identities: [{ method: ssh }], profiles: [p], repositories: [r] }]"
            )
            .is_err()
        );
        assert!(
            serde_saphyr::from_str::<Vec<RuleConfig>>(
                "[{ name: x, identities: [{ method: token }], profiles: [p], repositories: [r], extra: 1 }]"
            )
            .is_err()
        );
    }
}
