//! Database identity: one marker document naming the database a MerchantBackend serves, so a
//! migration or an in-place restore can refuse a database that was swapped underneath it (a
//! changed connection string, a restored copy) unless told to.

use mongodb::{
    Database,
    bson::{Document, doc},
};

use crate::store::{DateTime, is_duplicate_key};

/// Collection of the marker.
pub const COLLECTION: &str = "database_identity";
const MARKER_ID: &str = "identity";

/// The database is not the one expected.
#[derive(Debug, thiserror::Error)]
#[error(
    "database identity is {}, expected {expected}: refusing to touch another database (a changed MONGODB_URI or a restored copy?)",
    actual.as_deref().unwrap_or("unset")
)]
pub struct IdentityMismatch {
    /// What the caller expected.
    pub expected: String,
    /// What the database holds.
    pub actual: Option<String>,
}

/// The database's identity, if marked.
pub async fn read(db: &Database) -> mongodb::error::Result<Option<String>> {
    let marker = db
        .collection::<Document>(COLLECTION)
        .find_one(doc! { "_id": MARKER_ID })
        .await?;
    Ok(marker.and_then(|d| d.get_str("identity").ok().map(str::to_string)))
}

/// The identity, created on first use.
pub async fn ensure(db: &Database) -> mongodb::error::Result<String> {
    if let Some(identity) = read(db).await? {
        return Ok(identity);
    }
    let identity = uuid::Uuid::new_v4().to_string();
    let marker = doc! { "_id": MARKER_ID, "identity": &identity, "createdAt": DateTime::now() };
    match db.collection(COLLECTION).insert_one(marker).await {
        Ok(_) => Ok(identity),
        // Another replica or Job marked it first: theirs wins.
        Err(e) if is_duplicate_key(&e) => Ok(read(db).await?.unwrap_or(identity)),
        Err(e) => Err(e),
    }
}

/// Give a restored copy an identity of its own, remembering where it came from.
pub async fn renew(
    db: &Database,
    restored_from: Option<&str>,
    backup: &str,
) -> mongodb::error::Result<String> {
    let identity = uuid::Uuid::new_v4().to_string();
    let marker = doc! {
        "_id": MARKER_ID,
        "identity": &identity,
        "createdAt": DateTime::now(),
        "restoredFrom": { "identity": restored_from, "backup": backup },
    };
    db.collection::<Document>(COLLECTION)
        .replace_one(doc! { "_id": MARKER_ID }, marker)
        .upsert(true)
        .await?;
    Ok(identity)
}

/// Refuse when `expected` is given and differs from `actual`.
pub fn check(expected: Option<&str>, actual: Option<&str>) -> Result<(), IdentityMismatch> {
    match expected {
        Some(expected) if Some(expected) != actual => Err(IdentityMismatch {
            expected: expected.into(),
            actual: actual.map(str::to_string),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_given_expectation_can_refuse() {
        assert!(check(None, None).is_ok());
        assert!(check(None, Some("a")).is_ok());
        assert!(check(Some("a"), Some("a")).is_ok());
        let error = check(Some("a"), Some("b")).expect_err("should fail");
        assert!(
            error.to_string().contains("identity is b, expected a"),
            "{error}"
        );
        assert!(
            check(Some("a"), None)
                .expect_err("should fail")
                .to_string()
                .contains("unset")
        );
    }
}
