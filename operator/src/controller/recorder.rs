//! Publishes Events the way kube's `events::Recorder` does (same Event objects, same series
//! handling: an Event repeated within 6 minutes becomes a series on the first one) while
//! remembering less. kube's recorder keeps every published Event object and its key for 6
//! minutes, about 3 KB each: with one Ready Event per MerchantBackend that is 3 MB at 1,000
//! backends. This one keeps, per key, a 64-bit hash of the key and what the series patch needs
//! that the key does not give: the Event's name, first time, note and series state. Does not
//! decide what is published (`events`, `status`).

use std::{
    collections::HashMap,
    hash::{DefaultHasher, Hash, Hasher},
    sync::{Mutex, PoisonError},
};

use k8s_openapi::{
    api::{
        core::v1::ObjectReference,
        events::v1::{Event as K8sEvent, EventSeries},
    },
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    jiff::{SignedDuration, Timestamp},
};
use kube::{
    Api, Client,
    api::{Patch, PatchParams, PostParams},
    runtime::events::{Event, EventType, Reporter},
};

/// How long a published Event can still become a series (kube's `CACHE_TTL`).
const SERIES_TTL: SignedDuration = SignedDuration::from_mins(6);

/// What is remembered of a published Event.
struct Sent {
    name: Box<str>,
    first: Timestamp,
    note: Option<Box<str>>,
    /// Count and last time, once it is a series.
    series: Option<(i32, Timestamp)>,
}

impl Sent {
    fn last(&self) -> Timestamp {
        self.series.map_or(self.first, |(_, last)| last)
    }
}

/// Publishes Events for the operator's objects.
pub struct Recorder {
    client: Client,
    reporter: Reporter,
    sent: Mutex<HashMap<u64, Sent>>,
}

impl Recorder {
    /// A recorder publishing as `reporter`.
    pub fn new(client: Client, reporter: Reporter) -> Self {
        Self {
            client,
            reporter,
            sent: Mutex::default(),
        }
    }

    /// The key kube's recorder groups Events by (type, action, reason, reporter, regarding,
    /// related; references compared field by field), hashed.
    fn key(&self, ev: &Event, regarding: &ObjectReference) -> u64 {
        let mut h = DefaultHasher::new();
        matches!(ev.type_, EventType::Warning).hash(&mut h);
        ev.action.hash(&mut h);
        ev.reason.hash(&mut h);
        self.reporter.controller.hash(&mut h);
        self.reporter.instance.hash(&mut h);
        for r in std::iter::once(Some(regarding)).chain([ev.secondary.as_ref()]) {
            r.map(|r| {
                (
                    &r.api_version,
                    &r.field_path,
                    &r.kind,
                    &r.name,
                    &r.namespace,
                    &r.resource_version,
                    &r.uid,
                )
            })
            .hash(&mut h);
        }
        h.finish()
    }

    /// The Event object for `ev` about `regarding` as remembered in `sent`.
    fn event(
        &self,
        ev: &Event,
        regarding: &ObjectReference,
        sent: &Sent,
        series: Option<EventSeries>,
    ) -> K8sEvent {
        K8sEvent {
            action: Some(ev.action.clone()),
            reason: Some(ev.reason.clone()),
            event_time: Some(MicroTime(sent.first)),
            regarding: Some(regarding.clone()),
            note: sent.note.as_deref().map(str::to_owned),
            metadata: ObjectMeta {
                namespace: regarding.namespace.clone(),
                name: Some(sent.name.to_string()),
                ..Default::default()
            },
            reporting_controller: Some(self.reporter.controller.clone()),
            reporting_instance: Some(
                self.reporter
                    .instance
                    .clone()
                    .unwrap_or_else(|| self.reporter.controller.clone()),
            ),
            series,
            type_: Some(
                match ev.type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .to_owned(),
            ),
            related: ev.secondary.clone(),
            ..Default::default()
        }
    }

    /// Publish `ev` about `regarding`: a new Event, or the next count of the series of the same
    /// Event published less than 6 minutes ago.
    ///
    /// # Errors
    /// The API server's refusal.
    pub async fn publish(
        &self,
        ev: &Event,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let key = self.key(ev, regarding);
        let (sent, series) = {
            let mut sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
            sent.retain(|_, s| s.last() + SERIES_TTL > now);
            match sent.get(&key) {
                Some(s) => {
                    let count = s.series.map_or(2, |(count, _)| count + 1);
                    let next = Sent {
                        name: s.name.clone(),
                        first: s.first,
                        note: s.note.clone(),
                        series: Some((count, now)),
                    };
                    let series = EventSeries {
                        count,
                        last_observed_time: MicroTime(now),
                    };
                    (next, Some(series))
                }
                None => {
                    let name = regarding.name.as_ref().unwrap_or(&self.reporter.controller);
                    let first = Sent {
                        name: format!("{name}.{:x}", now.as_nanosecond()).into(),
                        first: now,
                        note: ev.note.as_deref().map(Box::from),
                        series: None,
                    };
                    (first, None)
                }
            }
        };
        let repeat = series.is_some();
        let event = self.event(ev, regarding, &sent, series);
        let namespace = regarding.namespace.as_deref().unwrap_or("default");
        let events: Api<K8sEvent> = Api::namespaced(self.client.clone(), namespace);
        if repeat {
            events
                .patch(&sent.name, &PatchParams::default(), &Patch::Merge(&event))
                .await?;
        } else {
            events.create(&PostParams::default(), &event).await?;
        }
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, sent);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// Requests seen: "METHOD path" and the JSON body.
    type Seen = Arc<Mutex<Vec<(String, serde_json::Value)>>>;

    /// A client answering every request with `{}`, recording method, path and body.
    fn recording() -> (Client, Seen) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let service = tower::service_fn(move |req: http::Request<kube::client::Body>| {
            let log = log.clone();
            async move {
                let what = format!("{} {}", req.method(), req.uri().path());
                let body = req.into_body().collect_bytes().await.unwrap_or_default();
                let json = serde_json::from_slice(&body).unwrap_or_default();
                log.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((what, json));
                http::Response::builder()
                    .status(200)
                    .body(kube::client::Body::from(b"{}".to_vec()))
            }
        });
        (Client::new(service, "default"), seen)
    }

    #[tokio::test]
    async fn a_repeated_event_becomes_a_series_of_the_first_one() {
        let (client, seen) = recording();
        let reporter = Reporter {
            controller: "merchant-operator".into(),
            instance: Some("pod-1".into()),
        };
        let recorder = Recorder::new(client, reporter);
        let regarding = ObjectReference {
            kind: Some("MerchantBackend".into()),
            name: Some("shop".into()),
            namespace: Some("prod".into()),
            uid: Some("u1".into()),
            ..Default::default()
        };
        let event = |note: &str| Event {
            type_: EventType::Warning,
            reason: "Degraded".into(),
            note: Some(note.into()),
            action: "Reconcile".into(),
            secondary: None,
        };
        for note in ["first", "second", "third"] {
            recorder
                .publish(&event(note), &regarding)
                .await
                .expect("published");
        }
        let other = ObjectReference {
            name: Some("cart".into()),
            ..regarding.clone()
        };
        recorder
            .publish(&event("cart"), &other)
            .await
            .expect("published");
        let seen = seen.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let what: Vec<&str> = seen.iter().map(|(w, _)| w.as_str()).collect();
        let name = seen[0].1["metadata"]["name"]
            .as_str()
            .expect("named")
            .to_owned();
        let create = "POST /apis/events.k8s.io/v1/namespaces/prod/events".to_owned();
        let patch = format!("PATCH /apis/events.k8s.io/v1/namespaces/prod/events/{name}");
        assert_eq!(what, [&create, &patch, &patch, &create]);
        assert!(name.starts_with("shop."));
        assert_eq!(seen[0].1["note"], "first");
        assert_eq!(seen[0].1["reportingInstance"], "pod-1");
        assert_eq!(seen[0].1["type"], "Warning");
        assert_eq!(seen[2].1["series"]["count"], 3);
        assert_eq!(
            seen[2].1["note"], "first",
            "the series keeps the first note, as kube's does"
        );
        assert_eq!(seen[2].1["eventTime"], seen[0].1["eventTime"]);
    }
}
