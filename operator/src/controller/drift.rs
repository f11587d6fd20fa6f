//! Drift detection without in-memory history: server-side apply records, per field manager, the
//! set of fields each one owns (`metadata.managedFields[].fieldsV1`). Right after our apply our
//! manager owns every field of the desired manifest. A foreign write (`kubectl edit`, `scale`,
//! `patch`, a client-side `apply`) that changes or removes one of those fields takes it out of
//! our set, so "our set no longer covers the desired manifest" means someone changed what we
//! manage; the live values need not be compared (defaulting and quantity normalisation would
//! make that noisy). Fields we do not set (status, the revision annotation of the Deployment
//! controller, `restartedAt`, HPA-owned replicas) are never looked at.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry};
use kube::Resource;
use serde_json::{Map, Value};

use crate::crd::FIELD_MANAGER;

/// Whether `entry` is our manager's apply record of the main resource.
fn is_ours(entry: &ManagedFieldsEntry) -> bool {
    entry.manager.as_deref() == Some(FIELD_MANAGER)
        && entry.operation.as_deref() == Some("Apply")
        && entry.subresource.as_deref().unwrap_or_default().is_empty()
}

/// Cache pruning: keep only our manager's field set (what `drifted` reads), without timestamps,
/// and held as its compact JSON text: a parsed field set of a Deployment takes ~10x the memory
/// of its text, and there is one per child. The text is interned (`fieldsets`): children of
/// the same spec share it.
pub fn keep_own_fields<K: Resource>(o: &mut K) {
    let owner = o
        .meta()
        .owner_references
        .as_deref()
        .and_then(|refs| refs.iter().find(|r| r.controller == Some(true)))
        .map(|r| r.uid.clone());
    let fields = &mut o.meta_mut().managed_fields;
    if let Some(entries) = fields.as_mut() {
        entries.retain(is_ours);
        for entry in entries.iter_mut() {
            entry.time = None;
            entry.api_version = None;
            entry.fields_type = None;
            if let Some(FieldsV1(set)) = entry.fields_v1.as_mut()
                && set.is_object()
            {
                *set = Value::String(super::fieldsets::intern(set.to_string(), owner.as_deref()));
            }
        }
    }
}

/// True when the live object's field set of our manager does not cover every field of the
/// `desired` manifest (serialized as JSON), i.e. someone else changed or removed one of them.
pub fn drifted<M: Resource>(live: &M, desired: &Value) -> bool {
    !uncovered(live, desired).is_empty()
}

/// The paths of `desired` (e.g. `spec.template.spec.containers[api].image`) our field set no
/// longer covers, sorted: what another writer changed or removed. `["*"]` when the object
/// carries no field set of ours (never applied by us, or created by someone else).
pub fn uncovered<M: Resource>(live: &M, desired: &Value) -> Vec<String> {
    let fields = live
        .meta()
        .managed_fields
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|e| is_ours(e))
        .and_then(|e| e.fields_v1.as_ref())
        .and_then(|FieldsV1(set)| match set {
            // As kept by the cache (see keep_own_fields).
            Value::String(text) => {
                serde_json::from_str::<Map<String, Value>>(&super::fieldsets::resolve(text)).ok()
            }
            Value::Object(map) => Some(map.clone()),
            _ => None,
        });
    let Some(fields) = fields else {
        return vec!["*".to_owned()];
    };
    let mut desired = desired.clone();
    if let Some(top) = desired.as_object_mut() {
        // Identity fields are not part of a field set.
        top.remove("apiVersion");
        top.remove("kind");
        if let Some(meta) = top.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("name");
            meta.remove("namespace");
        }
    }
    let mut out = Vec::new();
    missing(&fields, &desired, "", &mut out);
    out.sort();
    out
}

/// Collect into `out` the paths of the non-empty fields of `desired` that `node` (a fieldsV1
/// node) does not own. A path stops at the first level that is not owned.
fn missing(node: &Map<String, Value>, desired: &Value, path: &str, out: &mut Vec<String>) {
    // An atomic value (atomic list, map or struct such as an ownerReference) is owned as a
    // whole: its node lists no members.
    if node.is_empty() {
        return;
    }
    match desired {
        Value::Object(map) => {
            for (key, value) in map {
                if is_empty(value) {
                    continue;
                }
                let here = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match node.get(&format!("f:{key}")).and_then(Value::as_object) {
                    Some(child) => missing(child, value, &here, out),
                    None => out.push(here),
                }
            }
        }
        Value::Array(items) => {
            // An atomic list is owned as a whole: its node has no member entries.
            if node.keys().all(|k| k == ".") {
                return;
            }
            for (index, item) in items.iter().enumerate() {
                let here = format!("{path}[{}]", item_label(item, index));
                match member(node, item) {
                    Some(child) => missing(child, item, &here, out),
                    None => out.push(here),
                }
            }
        }
        _ => {}
    }
}

/// How a path names a list member: its `name`, else its `port`, else its index.
fn item_label(item: &Value, index: usize) -> String {
    match (item.get("name"), item.get("port")) {
        (Some(Value::String(name)), _) => name.clone(),
        (_, Some(port)) => port.to_string(),
        _ => index.to_string(),
    }
}

/// The fieldsV1 node of one list member: `k:{keys}` for keyed lists of objects, `v:value` for
/// sets of scalars. Key fields the desired item leaves out (API defaults such as a port's
/// protocol) match anything.
fn member<'a>(node: &'a Map<String, Value>, item: &Value) -> Option<&'a Map<String, Value>> {
    if !item.is_object() {
        return node.get(&format!("v:{item}")).and_then(Value::as_object);
    }
    node.iter()
        .filter_map(|(key, child)| Some((key.strip_prefix("k:")?, child.as_object()?)))
        .find(|(keys, _)| {
            serde_json::from_str::<Map<String, Value>>(keys).is_ok_and(|keys| {
                keys.iter()
                    .all(|(k, v)| item.get(k).is_none_or(|mine| mine == v))
            })
        })
        .map(|(_, child)| child)
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::{api::core::v1::ConfigMap, apimachinery::pkg::apis::meta::v1::ObjectMeta};
    use serde_json::json;

    fn live(fields: Value) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                managed_fields: Some(vec![ManagedFieldsEntry {
                    manager: Some(FIELD_MANAGER.to_owned()),
                    operation: Some("Apply".to_owned()),
                    fields_v1: Some(FieldsV1(fields)),
                    ..Default::default()
                }]),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn desired() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "a", "namespace": "n", "labels": {"x": "1"},
                         "ownerReferences": [{"uid": "u", "kind": "MerchantBackend", "name": "a"}]},
            "spec": {
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
                "selector": {"app": "a"},
                "args": ["serve"],
                "empty": [],
            }
        })
    }

    fn full() -> Value {
        json!({
            "f:metadata": {"f:labels": {".": {}, "f:x": {}}, "f:ownerReferences": {"k:{\"uid\":\"u\"}": {}}},
            "f:spec": {
                "f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {
                    ".": {}, "f:name": {}, "f:port": {}, "f:targetPort": {}
                }},
                "f:selector": {"f:app": {}},
                "f:args": {},
            }
        })
    }

    #[test]
    fn a_complete_field_set_is_no_drift() {
        assert!(!drifted(&live(full()), &desired()));
    }

    #[test]
    fn a_field_taken_by_another_manager_is_drift() {
        let mut fields = full();
        fields["f:spec"]["f:ports"]["k:{\"port\":80,\"protocol\":\"TCP\"}"]
            .as_object_mut()
            .expect("port")
            .remove("f:targetPort");
        assert!(drifted(&live(fields.clone()), &desired()));
        assert_eq!(
            uncovered(&live(fields), &desired()),
            vec!["spec.ports[http].targetPort".to_owned()]
        );
    }

    #[test]
    fn a_removed_label_or_list_member_is_drift() {
        let mut fields = full();
        fields["f:metadata"]["f:labels"]
            .as_object_mut()
            .expect("labels")
            .remove("f:x");
        assert!(drifted(&live(fields), &desired()));
        let mut fields = full();
        fields["f:spec"]["f:ports"] = json!({"k:{\"port\":81,\"protocol\":\"TCP\"}": {}});
        assert!(drifted(&live(fields), &desired()));
    }

    #[test]
    fn an_object_we_never_applied_is_drift() {
        assert!(drifted(&ConfigMap::default(), &desired()));
    }

    #[test]
    fn pruning_keeps_only_our_apply_record() {
        let mut cm = live(full());
        if let Some(entries) = cm.metadata.managed_fields.as_mut() {
            entries.push(ManagedFieldsEntry {
                manager: Some("kubectl-edit".to_owned()),
                operation: Some("Update".to_owned()),
                ..Default::default()
            });
        }
        keep_own_fields(&mut cm);
        assert_eq!(cm.metadata.managed_fields.as_ref().map(Vec::len), Some(1));
        assert!(!drifted(&cm, &desired()), "the compact form reads the same");
    }
}
