//! Whose object is it: the operator writes only children it owns. An object with a child's name
//! that carries no controller ownerReference to this MerchantBackend is left alone and reported
//! (`NotOwned`); one owned by another MerchantBackend, or a name two MerchantBackends would both
//! derive, is a `NameConflict` that the younger MerchantBackend loses without ever applying.
//! Pure except for the backend cache passed in.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{
    Resource, ResourceExt,
    runtime::reflector::{ObjectRef, Store},
};

use super::{build::names, validate::ValidatedBackend};
use crate::crd::{GROUP, INSTANCE_LABEL, MANAGED_BY, MerchantBackend};

/// A child the operator refused to write because it is not (only) ours.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Refusal {
    /// Kind of the object.
    pub kind: &'static str,
    /// Namespace of the object.
    pub namespace: String,
    /// Name of the object.
    pub name: String,
    /// The other MerchantBackend that owns (or would own) it; None: someone else's object.
    pub backend: Option<String>,
}

impl Refusal {
    /// `Kind/namespace/name`, how messages name the object.
    pub fn object(&self) -> String {
        format!("{}/{}/{}", self.kind, self.namespace, self.name)
    }

    /// One sentence for the condition message.
    pub fn message(&self) -> String {
        match &self.backend {
            Some(other) => format!(
                "{} belongs to MerchantBackend {other}; this MerchantBackend leaves it alone; \
                 rename one of the two MerchantBackends",
                self.object()
            ),
            None => format!(
                "{} exists and is not owned by this MerchantBackend: the operator leaves it \
                 alone; delete or rename it to let the operator create its own",
                self.object()
            ),
        }
    }
}

/// Who controls an object, as far as this MerchantBackend is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// This MerchantBackend (controller ownerReference with our uid, or a claim we retained).
    Us,
    /// Another MerchantBackend, by name.
    Backend(String),
    /// Anyone else (a user's object, another controller's).
    Foreign,
}

/// Who controls the object with metadata `meta`. An object without any controller reference is
/// ours only when it carries our managed-by and instance labels: an uploads claim kept by
/// `retainOnDelete` is adopted again when its MerchantBackend comes back.
pub fn owner_of(b: &ValidatedBackend, meta: &ObjectMeta) -> Owner {
    let uid = b.owner.as_ref().map(|o| o.uid.as_str());
    let controller = meta
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true));
    match controller {
        Some(o) if Some(o.uid.as_str()) == uid => Owner::Us,
        Some(o) if o.kind == "MerchantBackend" && o.api_version.starts_with(GROUP) => {
            Owner::Backend(o.name.clone())
        }
        Some(_) => Owner::Foreign,
        None => {
            let label = |key: &str| meta.labels.as_ref().and_then(|l| l.get(key));
            if label("app.kubernetes.io/managed-by").map(String::as_str) == Some(MANAGED_BY)
                && label(INSTANCE_LABEL) == Some(&b.name)
            {
                Owner::Us
            } else {
                Owner::Foreign
            }
        }
    }
}

/// The refusal for an object of `kind` that is not ours, or None when it is ours.
pub fn refusal(b: &ValidatedBackend, kind: &'static str, meta: &ObjectMeta) -> Option<Refusal> {
    let backend = match owner_of(b, meta) {
        Owner::Us => return None,
        Owner::Backend(name) => Some(name),
        Owner::Foreign => None,
    };
    Some(Refusal {
        kind,
        namespace: b.namespace.clone(),
        name: meta.name.clone().unwrap_or_default(),
        backend,
    })
}

/// Every (kind, name) a MerchantBackend named `name` may create, whatever its spec.
pub fn claimed(name: &str) -> Vec<(&'static str, String)> {
    let mut out = vec![
        ("ServiceAccount", name.to_owned()),
        ("ConfigMap", names::config_map(name)),
        ("PersistentVolumeClaim", names::uploads(name)),
        ("Service", names::internal_service(name)),
        ("Service", name.to_owned()),
        ("Deployment", name.to_owned()),
        ("Deployment", names::canary(name)),
        ("Deployment", names::preview(name)),
        ("Service", names::preview(name)),
        ("HorizontalPodAutoscaler", name.to_owned()),
        ("PodDisruptionBudget", name.to_owned()),
        ("NetworkPolicy", name.to_owned()),
        ("Ingress", name.to_owned()),
    ];
    out.sort();
    out
}

/// Names of the MerchantBackends whose derived names could meet ours: the same name plus or
/// minus one of the derived suffixes. Checking these few keeps the lookup O(1) per reconcile.
fn neighbours(name: &str) -> Vec<String> {
    let suffixes = [
        names::config_map(""),
        names::internal_service(""),
        names::uploads(""),
        names::canary(""),
        names::preview(""),
    ];
    let mut out = Vec::new();
    for suffix in &suffixes {
        out.push(format!("{name}{suffix}"));
        if let Some(stem) = name.strip_suffix(suffix.as_str()) {
            out.push(stem.to_owned());
        }
    }
    out
}

/// Whether `a` was created before `b` (name breaks a tie, so exactly one of two is older).
fn older(a: &MerchantBackend, b: &MerchantBackend) -> bool {
    let key = |m: &MerchantBackend| (m.metadata.creation_timestamp.clone(), m.name_any());
    key(a) < key(b)
}

/// The first object this MerchantBackend would share with an older MerchantBackend in the same
/// namespace (from the backend cache, so before anything is applied), or None.
pub fn younger_conflict(
    backends: &Store<MerchantBackend>,
    mb: &MerchantBackend,
) -> Option<Refusal> {
    let namespace = mb.namespace()?;
    let ours = claimed(&mb.name_any());
    for other_name in neighbours(&mb.name_any()) {
        let Some(other) = backends.get(&ObjectRef::new(&other_name).within(&namespace)) else {
            continue;
        };
        if other.meta().uid == mb.meta().uid || !older(&other, mb) {
            continue;
        }
        let theirs = claimed(&other_name);
        if let Some((kind, name)) = ours.iter().find(|o| theirs.contains(o)) {
            return Some(Refusal {
                kind,
                namespace: namespace.clone(),
                name: name.clone(),
                backend: Some(other_name),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    use super::*;
    use crate::{controller::validate::validate, fixtures::backend};

    fn meta(owner: Option<(&str, &str)>, labels: &[(&str, &str)]) -> ObjectMeta {
        ObjectMeta {
            name: Some("shop-internal".into()),
            owner_references: owner.map(|(kind, uid)| {
                vec![OwnerReference {
                    api_version: format!("{GROUP}/v1alpha1"),
                    kind: kind.into(),
                    name: "other".into(),
                    uid: uid.into(),
                    controller: Some(true),
                    ..Default::default()
                }]
            }),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn only_our_controller_reference_or_our_retained_claim_is_ours() {
        let b = validate(&backend("image: a:1")).expect("valid");
        let uid = b.owner.clone().expect("owner").uid;
        assert_eq!(
            owner_of(&b, &meta(Some(("MerchantBackend", &uid)), &[])),
            Owner::Us
        );
        assert_eq!(
            owner_of(&b, &meta(Some(("MerchantBackend", "x")), &[])),
            Owner::Backend("other".into())
        );
        assert_eq!(
            owner_of(&b, &meta(Some(("ReplicaSet", "x")), &[])),
            Owner::Foreign
        );
        assert_eq!(owner_of(&b, &meta(None, &[])), Owner::Foreign);
        let retained = [
            ("app.kubernetes.io/managed-by", MANAGED_BY),
            (INSTANCE_LABEL, "shop"),
        ];
        assert_eq!(owner_of(&b, &meta(None, &retained)), Owner::Us);
    }

    #[test]
    fn a_backend_named_like_anothers_internal_service_shares_a_service_name() {
        let a = claimed("x");
        let b = claimed("x-internal");
        let shared: Vec<_> = a.iter().filter(|o| b.contains(o)).collect();
        assert_eq!(shared, vec![&("Service", "x-internal".to_owned())]);
        assert!(neighbours("x").contains(&"x-internal".to_owned()));
        assert!(neighbours("x-internal").contains(&"x".to_owned()));
    }

    #[test]
    fn a_refusal_names_the_object_and_the_other_backend() {
        let r = Refusal {
            kind: "Service",
            namespace: "prod".into(),
            name: "x-internal".into(),
            backend: Some("x".into()),
        };
        assert!(
            r.message()
                .starts_with("Service/prod/x-internal belongs to MerchantBackend x")
        );
    }
}
