//! One list query for every paginated collection: a page by `skip` (the contract's
//! `page`/`limit`) or a keyset window after a [`Position`] (cursor pagination, whose tokens
//! `routes::cursor` owns), ordered by one sort field plus `_id` as tiebreaker, with the count
//! optional. Deep keyset windows cost what the first one costs when an index
//! `(scope…, field, _id)` exists (see `indexes`).

use futures::TryStreamExt;
use mongodb::{
    Collection,
    bson::{Bson, Document, doc, oid::ObjectId, spec::BinarySubtype},
};
use serde::de::DeserializeOwned;

/// Where the last item of a keyset window was: its sort value and `_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    /// The sort field's value (`Null` when the field is absent).
    pub value: Bson,
    /// The item's `_id`.
    pub id: ObjectId,
}

impl Position {
    /// The position and a filter tag as bytes (a BSON document), the payload of a cursor token.
    pub fn to_bytes(&self, filter: &[u8]) -> Vec<u8> {
        let body = doc! {
            "v": self.value.clone(),
            "i": self.id,
            "f": Bson::Binary(mongodb::bson::Binary {
                subtype: BinarySubtype::Generic,
                bytes: filter.to_vec(),
            }),
        };
        let mut raw = Vec::with_capacity(64);
        // Writing a document to a Vec cannot fail.
        let _ = body.to_writer(&mut raw);
        raw
    }

    /// What `to_bytes` wrote: the position and its filter tag (None: not such bytes).
    pub fn from_bytes(raw: &[u8]) -> Option<(Self, Vec<u8>)> {
        let body = Document::from_reader(raw).ok()?;
        let filter = match body.get("f") {
            Some(Bson::Binary(b)) => b.bytes.clone(),
            _ => return None,
        };
        let id = body.get_object_id("i").ok()?;
        let value = body.get("v").cloned().unwrap_or(Bson::Null);
        Some((Self { value, id }, filter))
    }
}

/// Which items of the ordered list to read.
#[derive(Debug, Clone, PartialEq)]
pub enum Window {
    /// The 1-based page (`skip = (page - 1) × limit`).
    Page(u64),
    /// The items after a position; `None` is the start of the list.
    After(Option<Position>),
}

/// The list's order: one stored field (dotted paths allowed), then `_id`, same direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    /// Stored field (`createdAt`, `inventory.stock`); `_id` sorts by `_id` alone.
    pub field: &'static str,
    /// 1 or -1.
    pub direction: i32,
    /// Some documents lack the field (or hold null): a descending window then ends with them,
    /// which costs a second index range. Required fields leave it false.
    pub nullable: bool,
}

impl Sort {
    /// On a field every document has, `direction` 1 or -1.
    pub const fn new(field: &'static str, direction: i32) -> Self {
        Self {
            field,
            direction,
            nullable: false,
        }
    }

    /// Descending on a field every document has.
    pub const fn desc(field: &'static str) -> Self {
        Self::new(field, -1)
    }

    /// The same order, on a field some documents lack.
    pub const fn nullable(self) -> Self {
        Self {
            nullable: true,
            ..self
        }
    }

    /// The `sort` document.
    pub fn document(&self) -> Document {
        if self.field == "_id" {
            return doc! { "_id": self.direction };
        }
        doc! { self.field: self.direction, "_id": self.direction }
    }

    /// The filter selecting what follows `after` in this order. MongoDB orders a missing or
    /// null field before every value, so nulls come first ascending and last descending;
    /// comparisons only match values of the same type (the lists' sort fields hold one).
    pub fn after(&self, after: &Position) -> Document {
        let (past, id) = if self.direction >= 0 {
            ("$gt", doc! { "$gt": after.id })
        } else {
            ("$lt", doc! { "$lt": after.id })
        };
        let field = self.field;
        if field == "_id" {
            return doc! { "_id": id };
        }
        let value = &after.value;
        match (value, self.direction >= 0) {
            (Bson::Null, true) => doc! { "$or": [
                { field: Bson::Null, "_id": id },
                { field: { "$ne": Bson::Null } },
            ] },
            (Bson::Null, false) => doc! { field: Bson::Null, "_id": id },
            (_, ascending) => {
                // The range on the field bounds the index scan; the `$or` only sorts out ties.
                let bound = if ascending { "$gte" } else { "$lte" };
                let ranged = doc! { "$and": [
                    { field: { bound: value.clone() } },
                    { "$or": [ { field: { past: value.clone() } }, { "_id": id } ] },
                ] };
                if ascending || !self.nullable {
                    ranged
                } else {
                    // Descending, the documents without the field come after every value.
                    doc! { "$or": [ ranged, { field: Bson::Null } ] }
                }
            }
        }
    }
}

/// One read of a list.
#[derive(Debug, Clone)]
pub struct Listing<T> {
    /// The window's items, in order.
    pub items: Vec<T>,
    /// All items matching the filter (when counted).
    pub total: Option<u64>,
    /// Items follow this window.
    pub more: bool,
    /// The position of the window's last item (keyset windows only).
    pub last: Option<Position>,
}

impl<T> Listing<T> {
    /// Nothing matched (a count of 0 when counted).
    pub fn empty(count: bool) -> Self {
        Self {
            items: Vec::new(),
            total: count.then_some(0),
            more: false,
            last: None,
        }
    }

    /// A whole list read at once (the lists that have no pages outside cursor mode), its total
    /// kept when `count`.
    pub fn whole(items: Vec<T>, count: bool) -> Self {
        Self {
            total: count.then_some(items.len() as u64),
            items,
            more: false,
            last: None,
        }
    }

    /// The same window with each item mapped.
    pub fn map_items<U>(self, f: impl FnMut(T) -> U) -> Listing<U> {
        let Self {
            items,
            total,
            more,
            last,
        } = self;
        Listing {
            items: items.into_iter().map(f).collect(),
            total,
            more,
            last,
        }
    }

    /// The same window holding `items` instead: the rows once joined (taken out with
    /// `std::mem::take` for an asynchronous join).
    pub fn with_items<U>(self, items: Vec<U>) -> Listing<U> {
        Listing {
            items,
            total: self.total,
            more: self.more,
            last: self.last,
        }
    }
}

/// The value at a dotted path of a document (`Null` when absent).
fn value_at(doc: &Document, path: &str) -> Bson {
    let mut parts = path.split('.');
    let Some(first) = parts.next() else {
        return Bson::Null;
    };
    let mut current = doc.get(first);
    for part in parts {
        current = match current {
            Some(Bson::Document(d)) => d.get(part),
            _ => None,
        };
    }
    current.cloned().unwrap_or(Bson::Null)
}

/// Read `window` of the items of `collection` matching `filter` in `sort` order, `limit` at
/// most, counting all matches when `count`. A window reads `limit + 1` items to learn whether
/// more follow, except a counted page (the count says so).
pub async fn list<T: DeserializeOwned + Send + Sync>(
    collection: &Collection<T>,
    filter: Document,
    sort: Sort,
    window: &Window,
    limit: i64,
    count: bool,
) -> mongodb::error::Result<Listing<T>> {
    let raw = collection.clone_with_type::<Document>();
    let (query, skip, read) = match window {
        Window::Page(page) => {
            let skip = page.saturating_sub(1).saturating_mul(limit as u64);
            (filter.clone(), skip, if count { limit } else { limit + 1 })
        }
        Window::After(None) => (filter.clone(), 0, limit + 1),
        Window::After(Some(after)) => (
            doc! { "$and": [ filter.clone(), sort.after(after) ] },
            0,
            limit + 1,
        ),
    };
    let rows = async {
        raw.find(query)
            .sort(sort.document())
            .skip(skip)
            .limit(read)
            .await?
            .try_collect::<Vec<Document>>()
            .await
    };
    let total = async {
        if count {
            collection.count_documents(filter.clone()).await.map(Some)
        } else {
            Ok(None)
        }
    };
    // The count and the rows are independent: run them concurrently.
    let (mut rows, total) = futures::try_join!(rows, total)?;
    let more = match (window, total) {
        (Window::Page(page), Some(total)) => page.saturating_mul(limit as u64) < total,
        _ => rows.len() as i64 > limit,
    };
    rows.truncate(limit.max(0) as usize);
    let last = match window {
        Window::After(_) => rows.last().map(|d| Position {
            value: value_at(d, sort.field),
            id: d.get_object_id("_id").unwrap_or_default(),
        }),
        Window::Page(_) => None,
    };
    let items = rows
        .into_iter()
        .map(|d| mongodb::bson::from_document(d).map_err(mongodb::error::Error::from))
        .collect::<mongodb::error::Result<Vec<T>>>()?;
    Ok(Listing {
        items,
        total,
        more,
        last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_read_at_dotted_paths() {
        let d = doc! { "a": { "b": 3 }, "c": "x" };
        assert_eq!(value_at(&d, "a.b"), Bson::Int32(3));
        assert_eq!(value_at(&d, "c"), Bson::String("x".into()));
        assert_eq!(value_at(&d, "a.z"), Bson::Null);
        assert_eq!(value_at(&d, "c.z"), Bson::Null);
    }

    #[test]
    fn a_descending_window_follows_ties_by_id_and_ends_with_the_nulls() {
        let id = ObjectId::new();
        let after = Position {
            value: Bson::Int32(5),
            id,
        };
        let f = Sort::desc("inventory.stock").nullable().after(&after);
        assert_eq!(
            f,
            doc! { "$or": [
                { "$and": [
                    { "inventory.stock": { "$lte": 5 } },
                    { "$or": [ { "inventory.stock": { "$lt": 5 } }, { "_id": { "$lt": id } } ] },
                ] },
                { "inventory.stock": Bson::Null },
            ] }
        );
        let asc = Sort::new("name", 1);
        let null = Position {
            value: Bson::Null,
            id,
        };
        assert_eq!(
            asc.after(&null),
            doc! { "$or": [
                { "name": Bson::Null, "_id": { "$gt": id } },
                { "name": { "$ne": Bson::Null } },
            ] }
        );
        assert_eq!(
            Sort::desc("createdAt").after(&after),
            doc! { "$and": [
                { "createdAt": { "$lte": 5 } },
                { "$or": [ { "createdAt": { "$lt": 5 } }, { "_id": { "$lt": id } } ] },
            ] }
        );
        assert_eq!(
            Sort::desc("_id").after(&null),
            doc! { "_id": { "$lt": id } }
        );
    }
}
