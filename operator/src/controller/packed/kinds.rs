//! What each cached kind keeps besides its metadata: exactly the fields its pruning function
//! leaves (`cache::prune_deployment`, `cache::drop_service_spec`, `cache::drop_ingress_spec`,
//! `diagnose::prune_claim`, `diagnose::prune_pod`; nothing for metadata-only kinds).

use std::marker::PhantomData;

use k8s_openapi::{
    api::{
        apps::v1::{Deployment, DeploymentCondition, DeploymentSpec, DeploymentStatus},
        batch::v1::{Job, JobStatus},
        core::v1::{
            ContainerState, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus,
            PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimStatus, Pod,
            PodCondition, PodStatus, PodTemplateSpec, Service, ServiceStatus,
        },
        networking::v1::{Ingress, IngressStatus},
    },
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time},
};
use kube::{Resource, core::PartialObjectMeta};

use super::{Pack, Shared, boxed, shared};

fn text(s: Option<&String>) -> Option<Box<str>> {
    s.map(|s| boxed(s))
}

fn word(s: Option<&String>) -> Option<Shared> {
    s.map(|s| shared(s))
}

fn string(s: Option<&str>) -> Option<String> {
    s.map(str::to_owned)
}

impl<K: Resource<DynamicType = ()>> Pack for PartialObjectMeta<K> {
    type Body = ();

    fn pack(&self) {}

    fn unpack(metadata: ObjectMeta, (): &()) -> Self {
        Self {
            types: None,
            metadata,
            _phantom: PhantomData,
        }
    }
}

/// A claim: whether it has a spec and its storage class, whether it has a status and its phase.
pub struct ClaimBody {
    storage_class: Option<Option<Shared>>,
    phase: Option<Option<Shared>>,
}

/// Kinds cached as metadata and status only (their spec is never read).
macro_rules! status_only {
    ($($kind:ty => $status:ty),* $(,)?) => {$(
        impl Pack for $kind {
            type Body = Option<$status>;

            fn pack(&self) -> Self::Body {
                self.status.clone()
            }

            fn unpack(metadata: ObjectMeta, status: &Self::Body) -> Self {
                Self {
                    metadata,
                    spec: None,
                    status: status.clone(),
                }
            }
        }
    )*};
}

status_only!(Service => ServiceStatus, Ingress => IngressStatus, Job => JobStatus);

impl Pack for PersistentVolumeClaim {
    type Body = ClaimBody;

    fn pack(&self) -> ClaimBody {
        ClaimBody {
            storage_class: self
                .spec
                .as_ref()
                .map(|s| word(s.storage_class_name.as_ref())),
            phase: self.status.as_ref().map(|s| word(s.phase.as_ref())),
        }
    }

    fn unpack(metadata: ObjectMeta, body: &ClaimBody) -> Self {
        Self {
            metadata,
            spec: body
                .storage_class
                .as_ref()
                .map(|class| PersistentVolumeClaimSpec {
                    storage_class_name: string(class.as_deref()),
                    ..Default::default()
                }),
            status: body
                .phase
                .as_ref()
                .map(|phase| PersistentVolumeClaimStatus {
                    phase: string(phase.as_deref()),
                    ..Default::default()
                }),
        }
    }
}

/// A condition of a Deployment or Pod (type, status and reason take few values).
pub struct Condition {
    type_: Shared,
    status: Shared,
    reason: Option<Shared>,
    message: Option<Box<str>>,
    last_transition_time: Option<Time>,
    last_update_time: Option<Time>,
}

/// Annotations as a short list (a map allocates a 0.5 KB node for one entry).
type Pairs = Box<[(Box<str>, Box<str>)]>;

/// A Deployment: replicas, the pod template's annotations and the status.
pub struct DeploymentBody {
    spec: Option<(Option<i32>, Option<Pairs>)>,
    /// The status without its conditions, which are packed apart.
    status: Option<DeploymentStatus>,
    conditions: Option<Box<[Condition]>>,
}

impl Pack for Deployment {
    type Body = DeploymentBody;

    fn pack(&self) -> DeploymentBody {
        let spec = self.spec.as_ref().map(|s| {
            let annotations = s
                .template
                .metadata
                .as_ref()
                .and_then(|m| m.annotations.as_ref())
                .map(|a| a.iter().map(|(k, v)| (boxed(k), boxed(v))).collect());
            (s.replicas, annotations)
        });
        let conditions = self
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .map(|cs| {
                cs.iter()
                    .map(|c| Condition {
                        type_: shared(&c.type_),
                        status: shared(&c.status),
                        reason: word(c.reason.as_ref()),
                        message: text(c.message.as_ref()),
                        last_transition_time: c.last_transition_time.clone(),
                        last_update_time: c.last_update_time.clone(),
                    })
                    .collect()
            });
        DeploymentBody {
            spec,
            status: self.status.as_ref().map(|s| DeploymentStatus {
                conditions: None,
                ..s.clone()
            }),
            conditions,
        }
    }

    fn unpack(metadata: ObjectMeta, body: &DeploymentBody) -> Self {
        let spec = body.spec.as_ref().map(|(replicas, annotations)| {
            let annotations = annotations.as_ref().map(|a| {
                a.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            });
            DeploymentSpec {
                replicas: *replicas,
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        annotations,
                        ..Default::default()
                    }),
                    spec: None,
                },
                ..Default::default()
            }
        });
        let conditions = body.conditions.as_ref().map(|cs| {
            cs.iter()
                .map(|c| DeploymentCondition {
                    type_: c.type_.to_string(),
                    status: c.status.to_string(),
                    reason: string(c.reason.as_deref()),
                    message: string(c.message.as_deref()),
                    last_transition_time: c.last_transition_time.clone(),
                    last_update_time: c.last_update_time.clone(),
                })
                .collect()
        });
        Self {
            metadata,
            spec,
            status: body.status.as_ref().map(|s| DeploymentStatus {
                conditions,
                ..s.clone()
            }),
        }
    }
}

/// A container state: waiting (reason, message) and terminated (exit code, reason, message).
pub struct State {
    waiting: Option<(Option<Shared>, Option<Box<str>>)>,
    terminated: Option<(i32, Option<Shared>, Option<Box<str>>)>,
}

impl State {
    fn pack(s: &ContainerState) -> Self {
        Self {
            waiting: s
                .waiting
                .as_ref()
                .map(|w| (word(w.reason.as_ref()), text(w.message.as_ref()))),
            terminated: s.terminated.as_ref().map(|t| {
                (
                    t.exit_code,
                    word(t.reason.as_ref()),
                    text(t.message.as_ref()),
                )
            }),
        }
    }

    fn unpack(&self) -> ContainerState {
        ContainerState {
            waiting: self
                .waiting
                .as_ref()
                .map(|(reason, message)| ContainerStateWaiting {
                    reason: string(reason.as_deref()),
                    message: string(message.as_deref()),
                }),
            terminated: self
                .terminated
                .as_ref()
                .map(|(exit_code, reason, message)| ContainerStateTerminated {
                    exit_code: *exit_code,
                    reason: string(reason.as_deref()),
                    message: string(message.as_deref()),
                    ..Default::default()
                }),
            running: None,
        }
    }
}

/// A container status as `diagnose` reads it.
pub struct Container {
    name: Shared,
    image: Shared,
    ready: bool,
    restart_count: i32,
    state: Option<State>,
    last_state: Option<State>,
}

/// A Pod: phase, conditions and container statuses.
pub struct PodBody {
    phase: Option<Shared>,
    conditions: Option<Box<[Condition]>>,
    containers: Option<Box<[Container]>>,
}

impl Pack for Pod {
    type Body = Option<PodBody>;

    fn pack(&self) -> Self::Body {
        let status = self.status.as_ref()?;
        let conditions = status.conditions.as_ref().map(|cs| {
            cs.iter()
                .map(|c| Condition {
                    type_: shared(&c.type_),
                    status: shared(&c.status),
                    reason: word(c.reason.as_ref()),
                    message: text(c.message.as_ref()),
                    last_transition_time: None,
                    last_update_time: None,
                })
                .collect()
        });
        let containers = status.container_statuses.as_ref().map(|cs| {
            cs.iter()
                .map(|c| Container {
                    name: shared(&c.name),
                    image: shared(&c.image),
                    ready: c.ready,
                    restart_count: c.restart_count,
                    state: c.state.as_ref().map(State::pack),
                    last_state: c.last_state.as_ref().map(State::pack),
                })
                .collect()
        });
        Some(PodBody {
            phase: word(status.phase.as_ref()),
            conditions,
            containers,
        })
    }

    fn unpack(metadata: ObjectMeta, body: &Self::Body) -> Self {
        let status = body.as_ref().map(|b| PodStatus {
            phase: string(b.phase.as_deref()),
            conditions: b.conditions.as_ref().map(|cs| {
                cs.iter()
                    .map(|c| PodCondition {
                        type_: c.type_.to_string(),
                        status: c.status.to_string(),
                        reason: string(c.reason.as_deref()),
                        message: string(c.message.as_deref()),
                        ..Default::default()
                    })
                    .collect()
            }),
            container_statuses: b.containers.as_ref().map(|cs| {
                cs.iter()
                    .map(|c| ContainerStatus {
                        name: c.name.to_string(),
                        image: c.image.to_string(),
                        ready: c.ready,
                        restart_count: c.restart_count,
                        state: c.state.as_ref().map(State::unpack),
                        last_state: c.last_state.as_ref().map(State::unpack),
                        ..Default::default()
                    })
                    .collect()
            }),
            ..Default::default()
        });
        Self {
            metadata,
            spec: None,
            status,
        }
    }
}
