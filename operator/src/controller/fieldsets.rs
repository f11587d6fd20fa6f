//! Interned field sets for the caches. Every child of the same kind applied from the same spec
//! has the same field set text (up to 4 KB for a Deployment) except for its owner's uid, so a
//! thousand children held a thousand copies of the same text. The cache keeps each distinct
//! text once, with the owner uid replaced by a placeholder, and the cached object carries a
//! short key instead. Does not decide what drift is (`drift` does).

use std::{
    borrow::Cow,
    collections::HashMap,
    sync::{Arc, LazyLock, Mutex},
};

/// Prefix of a key; field set texts are JSON objects and never start with it.
const KEY: &str = "interned-fieldset:";
/// Stands for the owner's uid inside an interned text.
const OWNER: &str = "$owner-uid";
/// Distinct texts kept at most; past it texts stay inline (correct, only larger).
const CAPACITY: usize = 4096;

#[derive(Default)]
struct Table {
    ids: HashMap<Arc<str>, usize>,
    texts: Vec<Arc<str>>,
}

static TABLE: LazyLock<Mutex<Table>> = LazyLock::new(Mutex::default);

/// The text to keep in the cache for `text`, a field set of a child owned by `owner_uid`.
pub fn intern(text: String, owner_uid: Option<&str>) -> String {
    let Some(uid) = owner_uid.filter(|u| !u.is_empty()) else {
        return text;
    };
    let generic: Arc<str> = Arc::from(text.replace(uid, OWNER));
    let Ok(mut table) = TABLE.lock() else {
        return text;
    };
    let id = match table.ids.get(&generic) {
        Some(id) => *id,
        None if table.texts.len() < CAPACITY => {
            let id = table.texts.len();
            table.texts.push(generic.clone());
            table.ids.insert(generic, id);
            id
        }
        None => return text,
    };
    format!("{KEY}{id}:{uid}")
}

/// The field set text behind what `intern` returned (or the text itself).
pub fn resolve(kept: &str) -> Cow<'_, str> {
    let Some((id, uid)) = kept.strip_prefix(KEY).and_then(|rest| rest.split_once(':')) else {
        return Cow::Borrowed(kept);
    };
    let text = id
        .parse::<usize>()
        .ok()
        .and_then(|id| TABLE.lock().ok()?.texts.get(id).cloned());
    match text {
        Some(text) => Cow::Owned(text.replace(OWNER, uid)),
        // Unknown key: an empty set, which never covers a manifest, so the child is re-applied.
        None => Cow::Borrowed("{}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_with_the_same_field_set_share_one_text_and_keep_their_owner() {
        let set = |uid: &str| {
            format!(
                r#"{{"f:metadata":{{"f:ownerReferences":{{"k:{{\"uid\":\"{uid}\"}}":{{}}}}}},"f:spec":{{"f:replicas":{{}}}}}}"#
            )
        };
        let a = intern(set("uid-a"), Some("uid-a"));
        let b = intern(set("uid-b"), Some("uid-b"));
        assert!(a.len() < 64 && b.len() < 64, "{a} {b}");
        assert_eq!(resolve(&a), set("uid-a"));
        assert_eq!(resolve(&b), set("uid-b"));
        let id = |k: &str| k.rsplit_once(':').map(|(head, _)| head.to_owned());
        assert_eq!(id(&a), id(&b), "one interned text for both");
    }

    #[test]
    fn a_text_without_an_owner_stays_inline() {
        let text = r#"{"f:data":{}}"#.to_owned();
        assert_eq!(intern(text.clone(), None), text);
        assert_eq!(resolve(&text), text);
    }
}
