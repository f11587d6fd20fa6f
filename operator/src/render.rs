//! `merchant-operator render`: the manifests `run` would apply for MerchantBackends in a YAML
//! stream, without a cluster. Uses the same `validate` + `build` as the controller. Secrets in
//! the same stream feed the secrets checksum exactly as the cluster's would; without them the
//! referenced Secrets are assumed present (the checksum then differs from the cluster's).

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use serde_json::Value;

use crate::{
    controller::{
        build::build,
        cache::digest_secret,
        secrets::{SecretsState, resolve},
        validate::{InvalidSpec, ValidatedBackend, validate},
    },
    crd::MerchantBackend,
};

/// Failure of `render`.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The input is not valid YAML (the cause names the line and column).
    #[error("failed to parse the YAML input")]
    Parse(#[source] serde_saphyr::Error),
    /// A document is not a valid object of its kind.
    #[error("failed to read document {index} as a {kind}")]
    Decode {
        /// 0-based index among the input's non-empty documents.
        index: usize,
        /// The document's kind.
        kind: &'static str,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
    /// The stream holds no MerchantBackend.
    #[error("no MerchantBackend in the input")]
    NoBackend,
    /// A MerchantBackend is invalid.
    #[error("invalid MerchantBackend {name}")]
    Invalid {
        /// Its name.
        name: String,
        /// Why.
        #[source]
        source: InvalidSpec,
    },
    /// Building the children failed.
    #[error("failed to build children of {name}")]
    Build {
        /// Its name.
        name: String,
        /// Cause.
        #[source]
        source: Box<crate::error::Error>,
    },
    /// Serializing the output failed.
    #[error("failed to write YAML")]
    Write(#[source] serde_saphyr::SerializeError),
}

impl RenderError {
    /// Bounded label.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Parse(_) => "Parse",
            Self::Decode { .. } => "Decode",
            Self::NoBackend => "NoBackend",
            Self::Invalid { .. } => "InvalidSpec",
            Self::Build { .. } => "Build",
            Self::Write(_) => "Write",
        }
    }
}

/// Parsed input: MerchantBackends and Secrets, other kinds ignored.
#[derive(Default)]
pub struct Input {
    /// MerchantBackends, in input order.
    pub backends: Vec<MerchantBackend>,
    /// Secrets available for the checksum.
    pub secrets: Vec<Arc<Secret>>,
}

/// Split a YAML stream into MerchantBackends and Secrets.
///
/// # Errors
/// `Parse` when the stream is not YAML, `Decode` naming the document that is not a valid
/// object of its kind.
pub fn parse(input: &str) -> Result<Input, RenderError> {
    let mut parsed = Input::default();
    // Empty documents (a trailing `---`) are skipped.
    let documents: Vec<Value> = serde_saphyr::from_multiple(input).map_err(RenderError::Parse)?;
    for (index, value) in documents.into_iter().enumerate() {
        let kind = match value.get("kind").and_then(Value::as_str) {
            Some("MerchantBackend") => "MerchantBackend",
            Some("Secret") => "Secret",
            _ => continue,
        };
        let decode = |source| RenderError::Decode {
            index,
            kind,
            source,
        };
        if kind == "Secret" {
            let secret = serde_json::from_value(value).map_err(decode)?;
            parsed.secrets.push(Arc::new(secret));
        } else {
            parsed
                .backends
                .push(serde_json::from_value(value).map_err(decode)?);
        }
    }
    Ok(parsed)
}

fn secrets_state(v: &ValidatedBackend, secrets: &[Arc<Secret>]) -> SecretsState {
    if secrets.is_empty() {
        let state = resolve(v, |_| None);
        return match state {
            SecretsState::Missing(_) => SecretsState::Ready {
                hash: crate::controller::build::sha256_hex(b"unknown"),
            },
            ready => ready,
        };
    }
    let namespace = v.namespace.clone();
    // The controller's cache holds digests of Secret values, not the values: do the same.
    let secrets: Vec<Arc<Secret>> = secrets
        .iter()
        .map(|s| {
            let mut s = Secret::clone(s);
            digest_secret(&mut s);
            Arc::new(s)
        })
        .collect();
    resolve(v, |name| {
        secrets
            .iter()
            .find(|s| {
                s.metadata.name.as_deref() == Some(name)
                    && s.metadata.namespace.as_deref().unwrap_or(&namespace) == namespace
            })
            .cloned()
    })
}

/// The manifests for every MerchantBackend of `input`, as JSON values, in apply order.
///
/// # Errors
/// See `RenderError`.
pub fn manifests(input: &Input) -> Result<Vec<serde_json::Value>, RenderError> {
    if input.backends.is_empty() {
        return Err(RenderError::NoBackend);
    }
    let mut out = Vec::new();
    for mb in &input.backends {
        let name = mb.metadata.name.clone().unwrap_or_default();
        let v = validate(mb).map_err(|source| RenderError::Invalid {
            name: name.clone(),
            source,
        })?;
        let state = secrets_state(&v, &input.secrets);
        let children = build(&v, &state).map_err(|source| RenderError::Build {
            name: name.clone(),
            source: Box::new(source),
        })?;
        out.extend(children.manifests().map_err(|source| RenderError::Build {
            name,
            source: Box::new(source),
        })?);
    }
    Ok(out)
}

/// Caveats about `input` worth telling the user on standard error (never part of the output).
pub fn notes(input: &Input) -> Vec<String> {
    let mut notes = Vec::new();
    if input.secrets.is_empty() {
        notes.push("no Secrets in the input: referenced Secrets are assumed present, so the secrets-hash pod annotation differs from the cluster's".to_owned());
    }
    if input.backends.iter().any(|mb| mb.metadata.uid.is_none()) {
        notes.push("MerchantBackend without metadata.uid: ownerReferences are omitted (the API server assigns the uid)".to_owned());
    }
    notes
}

/// `render` as text: YAML documents separated by `---`.
///
/// # Errors
/// See `RenderError`.
pub fn render(input: &str) -> Result<String, RenderError> {
    let manifests = manifests(&parse(input)?)?;
    let mut out = String::new();
    for m in manifests {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(&m).map_err(RenderError::Write)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::{build::build, secrets::resolve};

    const INPUT: &str = "apiVersion: merchant.rezapp.com/v1alpha1
kind: MerchantBackend
metadata: {name: shop, namespace: prod, uid: 'u-1234'}
spec: {image: 'a:1', autoscaling: {}}
---
apiVersion: v1
kind: Secret
metadata: {name: db-secrets, namespace: prod}
stringData: {mongodb-uri: 'mongodb://x'}
";

    #[test]
    fn render_prints_exactly_what_the_controller_builds() {
        let input = parse(INPUT).expect("parse");
        let mb = &input.backends[0];
        let v = validate(mb).expect("valid");
        // What the controller does: its Secret cache digests values on arrival; resolve against
        // it, build, apply the manifests.
        let cached: Vec<Arc<Secret>> = input
            .secrets
            .iter()
            .map(|s| {
                let mut s = Secret::clone(s);
                digest_secret(&mut s);
                Arc::new(s)
            })
            .collect();
        let state = resolve(&v, |name| {
            cached
                .iter()
                .find(|s| s.metadata.name.as_deref() == Some(name))
                .cloned()
        });
        let expected = build(&v, &state)
            .expect("build")
            .manifests()
            .expect("manifests");
        assert_eq!(manifests(&input).expect("render"), expected);
    }

    #[test]
    fn render_output_is_yaml_documents_in_apply_order() {
        let text = render(INPUT.split("---").next().unwrap_or_default()).expect("render");
        let kinds: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("kind: "))
            .collect();
        assert_eq!(
            kinds,
            [
                "ServiceAccount",
                "ConfigMap",
                "Deployment",
                "Service",
                "Service",
                "HorizontalPodAutoscaler",
                "PodDisruptionBudget"
            ]
        );
    }

    #[test]
    fn an_input_without_backend_is_refused() {
        assert!(matches!(
            render("kind: ConfigMap\n"),
            Err(RenderError::NoBackend)
        ));
    }

    #[test]
    fn bad_yaml_and_a_bad_document_are_told_apart() {
        assert!(matches!(
            parse("kind: [MerchantBackend\n"),
            Err(RenderError::Parse(_))
        ));
        // The empty document is skipped: the bad backend is the second document counted.
        let bad = "kind: ConfigMap\n---\n---\nkind: MerchantBackend\nspec: {replicas: many}\n";
        assert!(matches!(
            parse(bad),
            Err(RenderError::Decode {
                index: 1,
                kind: "MerchantBackend",
                ..
            })
        ));
    }
}
