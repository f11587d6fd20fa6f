//! Referenced Secrets: check that every required Secret/key exists and digest their data into a
//! hash for the pod template. Values never leave this module: only names, keys and a SHA-256.
//! Pure: the caller passes a lookup (the controller's Secret cache, or Secrets given to `render`).

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use sha2::{Digest, Sha256};

use super::validate::ValidatedBackend;

/// A required Secret or key that does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingSecret {
    /// Secret name.
    pub name: String,
    /// The missing key, None when the whole Secret is missing.
    pub key: Option<String>,
    /// Environment variable it feeds.
    pub env: &'static str,
}

impl std::fmt::Display for MissingSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.key {
            None => write!(f, "Secret {} not found (for {})", self.name, self.env),
            Some(key) => write!(
                f,
                "key {key} not found in Secret {} (for {})",
                self.name, self.env
            ),
        }
    }
}

/// Outcome of checking the referenced Secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretsState {
    /// Everything required exists; `hash` digests the referenced data.
    Ready {
        /// SHA-256 over (variable, Secret, key, value-or-absent) of every reference.
        hash: String,
    },
    /// Required references are missing (sorted, deduplicated).
    Missing(Vec<MissingSecret>),
}

impl SecretsState {
    /// One human sentence naming everything missing (no values).
    pub fn message(&self) -> Option<String> {
        match self {
            Self::Ready { .. } => None,
            Self::Missing(missing) => Some(
                missing
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        }
    }
}

fn value<'a>(secret: &'a Secret, key: &str) -> Option<&'a [u8]> {
    let data = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.as_slice());
    data.or_else(|| {
        secret
            .string_data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(String::as_bytes)
    })
}

/// Check and digest the Secrets `b` references, looking them up by name.
pub fn resolve(b: &ValidatedBackend, lookup: impl Fn(&str) -> Option<Arc<Secret>>) -> SecretsState {
    let mut hasher = Sha256::new();
    let mut missing = Vec::new();
    for binding in &b.secrets {
        let secret = lookup(&binding.source.name);
        let found = secret
            .as_deref()
            .and_then(|s| value(s, &binding.source.key));
        hasher.update(format!(
            "{}\0{}\0{}\0",
            binding.env, binding.source.name, binding.source.key
        ));
        match found {
            Some(bytes) => {
                hasher.update(b"1\0");
                hasher.update(bytes);
            }
            None => hasher.update(b"0\0"),
        }
        hasher.update(b"\n");
        if found.is_none() && binding.required {
            missing.push(MissingSecret {
                name: binding.source.name.clone(),
                key: secret.is_some().then(|| binding.source.key.clone()),
                env: binding.env,
            });
        }
    }
    if missing.is_empty() {
        SecretsState::Ready {
            hash: hex::encode(hasher.finalize()),
        }
    } else {
        SecretsState::Missing(missing)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::ByteString;

    use super::*;
    use crate::{controller::validate::validate, fixtures::backend};

    fn secret(name: &str, pairs: &[(&str, &str)]) -> Arc<Secret> {
        let data = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())));
        Arc::new(Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(name.to_owned()),
                ..Default::default()
            },
            data: Some(data.collect::<BTreeMap<_, _>>()),
            ..Default::default()
        })
    }

    fn all(value: &str) -> impl Fn(&str) -> Option<Arc<Secret>> {
        let secrets = [
            secret("db-secrets", &[("mongodb-uri", value)]),
            secret("cache-secrets", &[("redis-url", "redis://r")]),
            secret(
                "auth-secrets",
                &[
                    ("jwt-secret", "a"),
                    ("jwt-merchant-secret", "b"),
                    ("jwt-refresh-secret", "c"),
                ],
            ),
        ];
        move |name| {
            secrets
                .iter()
                .find(|s| s.metadata.name.as_deref() == Some(name))
                .cloned()
        }
    }

    #[test]
    fn present_secrets_give_a_hash_that_follows_their_data() {
        let v = validate(&backend("image: a:1")).expect("valid");
        let one = resolve(&v, all("mongodb://one"));
        let two = resolve(&v, all("mongodb://two"));
        assert!(matches!(one, SecretsState::Ready { .. }));
        assert_ne!(one, two, "a rotated value changes the hash");
        assert_eq!(one, resolve(&v, all("mongodb://one")));
    }

    #[test]
    fn a_missing_secret_is_named_without_any_value() {
        let v = validate(&backend("image: a:1")).expect("valid");
        let state = resolve(&v, |name| {
            all("mongodb://hidden")(name)
                .filter(|s| s.metadata.name.as_deref() != Some("cache-secrets"))
        });
        let message = state.message().expect("missing");
        assert_eq!(message, "Secret cache-secrets not found (for REDIS_URL)");
        assert!(!message.contains("hidden"));
    }

    #[test]
    fn a_missing_key_is_named() {
        let v = validate(&backend(
            "image: a:1\nsecrets: {mongodbUri: {name: db-secrets, key: uri}}",
        ))
        .expect("valid");
        let state = resolve(&v, all("x"));
        assert_eq!(
            state.message().as_deref(),
            Some("key uri not found in Secret db-secrets (for MONGODB_URI)")
        );
    }
}
