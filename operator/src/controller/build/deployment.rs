//! The API Deployment: hardened pod, probes on the API's health endpoints, config and Secret
//! checksums on the template. The environment contract it fills is documented in
//! api-server/src/config.rs (PORT, MONGODB_URI, REDIS_URL, JWT_*, NODE_ENV, LOG_LEVEL, ...).

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment},
        core::v1::{
            Capabilities, ConfigMapEnvSource, Container, ContainerPort, EmptyDirVolumeSource,
            EnvFromSource, EnvVar, EnvVarSource, HTTPGetAction, Lifecycle, LifecycleHandler,
            LocalObjectReference, PersistentVolumeClaimVolumeSource, PodSecurityContext, PodSpec,
            PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile, SecretKeySelector,
            SecurityContext, SleepAction, Volume, VolumeMount,
        },
    },
    apimachinery::pkg::{
        api::resource::Quantity, apis::meta::v1::ObjectMeta, util::intstr::IntOrString,
    },
};

use super::{
    HTTP_PORT_NAME, METRICS_PORT, METRICS_PORT_NAME, labels, names, object_meta, selector,
    selector_labels,
};
use crate::{
    controller::validate::{UPLOADS_PATH, ValidatedBackend},
    crd::{CONFIG_HASH_ANNOTATION, REVISION_LABEL, SECRETS_HASH_ANNOTATION},
};

/// uid/gid of the distroless `nonroot` user the project's images run as (see Dockerfile).
const RUN_AS: i64 = 65532;

/// The API Deployment. `replicas` is omitted while an HPA owns the count.
pub fn deployment(b: &ValidatedBackend, secrets_hash: &str) -> Deployment {
    Deployment {
        metadata: object_meta(b, b.name.clone()),
        spec: Some(DeploymentSpec {
            replicas: b.autoscaling.is_none().then_some(b.replicas),
            revision_history_limit: Some(5),
            selector: selector(b),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".to_owned()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(1)),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }),
            template: pod_template(b, &super::config_hash(b), secrets_hash),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn pod_template(b: &ValidatedBackend, config_hash: &str, secrets_hash: &str) -> PodTemplateSpec {
    let mut pod_labels = b.pod_template.labels.clone().unwrap_or_default();
    pod_labels.extend(labels(b));
    pod_labels.extend(selector_labels(b));
    let mut annotations = b.pod_template.annotations.clone().unwrap_or_default();
    annotations.insert(CONFIG_HASH_ANNOTATION.to_owned(), config_hash.to_owned());
    annotations.insert(SECRETS_HASH_ANNOTATION.to_owned(), secrets_hash.to_owned());
    let mut template = PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(pod_labels),
            annotations: Some(annotations),
            ..Default::default()
        }),
        spec: Some(pod_spec(b)),
    };
    label_revision(&mut template);
    template
}

/// Name the template's revision on its pods (label: Services and queries select by it) and on
/// the template itself (annotation: the controller's Deployment cache keeps annotations only).
fn label_revision(template: &mut PodTemplateSpec) {
    let revision = super::revision_of(template);
    let meta = template.metadata.get_or_insert_with(ObjectMeta::default);
    meta.labels
        .get_or_insert_with(BTreeMap::new)
        .insert(REVISION_LABEL.to_owned(), revision.clone());
    meta.annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(REVISION_LABEL.to_owned(), revision);
}

fn pod_spec(b: &ValidatedBackend) -> PodSpec {
    PodSpec {
        containers: vec![container(b)],
        ..hardened_pod_spec(b)
    }
}

/// What every pod of the stack shares (API pods and the data tools' Job pods): the
/// ServiceAccount without a token, non-root with the runtime's seccomp profile, pull Secrets,
/// volumes and the user's scheduling constraints. Containers are the caller's.
pub(super) fn hardened_pod_spec(b: &ValidatedBackend) -> PodSpec {
    let t = &b.pod_template;
    PodSpec {
        service_account_name: Some(b.name.clone()),
        automount_service_account_token: Some(false),
        // One namespace may hold many stacks: Service links would inject thousands of variables.
        enable_service_links: Some(false),
        termination_grace_period_seconds: Some(30),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(RUN_AS),
            run_as_group: Some(RUN_AS),
            fs_group: Some(RUN_AS),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_owned(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        image_pull_secrets: (!b.image_pull_secrets.is_empty()).then(|| {
            b.image_pull_secrets
                .iter()
                .map(|name| LocalObjectReference { name: name.clone() })
                .collect()
        }),
        volumes: Some(volumes(b)),
        node_selector: t.node_selector.clone(),
        tolerations: t.tolerations.clone(),
        affinity: t.affinity.clone(),
        topology_spread_constraints: t.topology_spread_constraints.clone(),
        ..Default::default()
    }
}

/// The API container's environment: the ConfigMap, then the Secret-backed variables.
pub(super) fn env_from(b: &ValidatedBackend) -> Vec<EnvFromSource> {
    vec![EnvFromSource {
        config_map_ref: Some(ConfigMapEnvSource {
            name: names::config_revision(&b.name, &super::config_hash(b)),
            optional: None,
        }),
        ..Default::default()
    }]
}

/// No privilege, no capability, read-only root filesystem.
pub(super) fn container_security_context() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_owned()]),
            add: None,
        }),
        ..Default::default()
    }
}

/// The uploads volume at UPLOADS_DIR and a writable /tmp.
pub(super) fn volume_mounts() -> Vec<VolumeMount> {
    vec![
        VolumeMount {
            name: "uploads".to_owned(),
            mount_path: UPLOADS_PATH.to_owned(),
            ..Default::default()
        },
        VolumeMount {
            name: "tmp".to_owned(),
            mount_path: "/tmp".to_owned(),
            ..Default::default()
        },
    ]
}

fn container(b: &ValidatedBackend) -> Container {
    Container {
        name: "api".to_owned(),
        image: Some(b.image.clone()),
        image_pull_policy: Some(b.image_pull_policy.to_owned()),
        args: Some(vec!["serve".to_owned()]),
        ports: Some(vec![
            ContainerPort {
                name: Some(HTTP_PORT_NAME.to_owned()),
                container_port: b.port,
                protocol: Some("TCP".to_owned()),
                ..Default::default()
            },
            ContainerPort {
                name: Some(METRICS_PORT_NAME.to_owned()),
                container_port: METRICS_PORT,
                protocol: Some("TCP".to_owned()),
                ..Default::default()
            },
        ]),
        env_from: Some(env_from(b)),
        env: Some(env(b)),
        resources: Some(resources(b)),
        liveness_probe: Some(probe("/health/live", 10, 5, 3)),
        readiness_probe: Some(probe("/health/ready", 5, 3, 3)),
        // Up to 2 minutes to start (migrations, cold caches) before liveness applies.
        startup_probe: Some(probe("/health/live", 5, 3, 24)),
        security_context: Some(container_security_context()),
        volume_mounts: Some(volume_mounts()),
        lifecycle: Some(drain_before_stop()),
        ..Default::default()
    }
}

/// Seconds a stopping pod keeps serving before it gets SIGTERM.
const DRAIN_SECONDS: i64 = 5;

/// A pod being replaced keeps serving for a few seconds before SIGTERM: its endpoint is removed
/// at the same moment the kubelet starts stopping it, and kube-proxy (and every other node's,
/// and load balancers) take a moment to stop sending it new connections. Without the wait, a
/// rollout drops the requests that land in between. The kubelet's own sleep: the image has no
/// shell to run one.
fn drain_before_stop() -> Lifecycle {
    Lifecycle {
        pre_stop: Some(LifecycleHandler {
            sleep: Some(SleepAction {
                seconds: DRAIN_SECONDS,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Secret-backed variables (optional ones tolerate an absent Secret), then the user's extras.
pub(super) fn env(b: &ValidatedBackend) -> Vec<EnvVar> {
    let secrets = b.secrets.iter().map(|s| EnvVar {
        name: s.env.to_owned(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: s.source.name.clone(),
                key: s.source.key.clone(),
                optional: (!s.required).then_some(true),
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    secrets
        .chain(b.pod_template.env.clone().unwrap_or_default())
        .collect()
}

pub(super) fn resources(b: &ValidatedBackend) -> ResourceRequirements {
    let pair = |(cpu, memory): &(Quantity, Quantity)| {
        BTreeMap::from([
            ("cpu".to_owned(), cpu.clone()),
            ("memory".to_owned(), memory.clone()),
        ])
    };
    ResourceRequirements {
        requests: Some(pair(&b.requests)),
        limits: Some(pair(&b.limits)),
        ..Default::default()
    }
}

/// A probe on the admin port: the public port's rate limits, load shedding and timeouts are for
/// clients, and a kubelet shed under load would restart pods that are only busy.
fn probe(path: &str, period: i32, timeout: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String(METRICS_PORT_NAME.to_owned()),
            scheme: Some("HTTP".to_owned()),
            ..Default::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(timeout),
        failure_threshold: Some(failures),
        ..Default::default()
    }
}

fn volumes(b: &ValidatedBackend) -> Vec<Volume> {
    let uploads = match &b.uploads {
        Some(_) => Volume {
            name: "uploads".to_owned(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: names::uploads(&b.name),
                read_only: None,
            }),
            ..Default::default()
        },
        None => empty_dir("uploads"),
    };
    vec![uploads, empty_dir("tmp")]
}

fn empty_dir(name: &str) -> Volume {
    Volume {
        name: name.to_owned(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{controller::validate::validate, fixtures::backend};

    fn build(spec: &str) -> Deployment {
        deployment(&validate(&backend(spec)).expect("valid"), "s")
    }

    fn api_container(d: &Deployment) -> Container {
        d.spec
            .clone()
            .and_then(|s| s.template.spec)
            .expect("pod")
            .containers[0]
            .clone()
    }

    #[test]
    fn the_pod_is_hardened() {
        let d = build("image: a:1");
        let pod = d.spec.clone().and_then(|s| s.template.spec).expect("pod");
        let psc = pod.security_context.expect("pod security context");
        assert_eq!(psc.run_as_non_root, Some(true));
        assert_eq!(
            psc.seccomp_profile.expect("seccomp").type_,
            "RuntimeDefault"
        );
        let sc = api_container(&d)
            .security_context
            .expect("container security context");
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(
            sc.capabilities.and_then(|c| c.drop),
            Some(vec!["ALL".to_owned()])
        );
        assert_eq!(pod.automount_service_account_token, Some(false));
    }

    #[test]
    fn probes_hit_the_api_health_endpoints() {
        let c = api_container(&build("image: a:1"));
        let port = |p: &Option<Probe>| {
            p.as_ref()
                .and_then(|p| p.http_get.as_ref())
                .map(|h| h.port.clone())
        };
        let admin = Some(IntOrString::String(METRICS_PORT_NAME.to_owned()));
        assert_eq!(
            port(&c.readiness_probe),
            admin,
            "probes skip the public port's limits"
        );
        assert_eq!(port(&c.liveness_probe), admin);
        let path = |p: Option<Probe>| p.and_then(|p| p.http_get).and_then(|h| h.path);
        assert_eq!(path(c.liveness_probe).as_deref(), Some("/health/live"));
        assert_eq!(path(c.readiness_probe).as_deref(), Some("/health/ready"));
        assert_eq!(path(c.startup_probe).as_deref(), Some("/health/live"));
    }

    #[test]
    fn the_admin_port_is_named_for_scrapers() {
        let c = api_container(&build("image: a:1"));
        let ports: Vec<_> = c
            .ports
            .unwrap_or_default()
            .into_iter()
            .map(|p| (p.name.unwrap_or_default(), p.container_port))
            .collect();
        assert_eq!(
            ports,
            [("http".to_owned(), 5001), ("metrics".to_owned(), 9464)]
        );
    }

    #[test]
    fn the_hpa_owns_replicas_when_autoscaling_is_on() {
        assert_eq!(
            build("image: a:1\nautoscaling: {}")
                .spec
                .and_then(|s| s.replicas),
            None
        );
        assert_eq!(
            build("image: a:1\nreplicas: 2")
                .spec
                .and_then(|s| s.replicas),
            Some(2)
        );
    }

    #[test]
    fn rollouts_surge_one_and_never_go_below_capacity() {
        let strategy = build("image: a:1")
            .spec
            .and_then(|s| s.strategy)
            .and_then(|s| s.rolling_update)
            .expect("rolling");
        assert_eq!(strategy.max_surge, Some(IntOrString::Int(1)));
        assert_eq!(strategy.max_unavailable, Some(IntOrString::Int(0)));
    }

    #[test]
    fn secrets_are_referenced_never_inlined() {
        let env = api_container(&build("image: a:1")).env.expect("env");
        let mongo = env
            .iter()
            .find(|e| e.name == "MONGODB_URI")
            .expect("MONGODB_URI");
        assert_eq!(mongo.value, None);
        let sel = mongo
            .value_from
            .clone()
            .and_then(|v| v.secret_key_ref)
            .expect("secret ref");
        assert_eq!(
            (sel.name.as_str(), sel.key.as_str(), sel.optional),
            ("db-secrets", "mongodb-uri", None)
        );
        let twilio = env
            .iter()
            .find(|e| e.name == "TWILIO_AUTH_TOKEN")
            .expect("twilio");
        let sel = twilio
            .value_from
            .clone()
            .and_then(|v| v.secret_key_ref)
            .expect("secret ref");
        assert_eq!(sel.optional, Some(true));
    }

    #[test]
    fn uploads_mount_the_claim_when_enabled() {
        let pod = build("image: a:1\nuploads: {}")
            .spec
            .and_then(|s| s.template.spec)
            .expect("pod");
        let volume = &pod.volumes.expect("volumes")[0];
        assert_eq!(
            volume
                .persistent_volume_claim
                .as_ref()
                .map(|p| p.claim_name.as_str()),
            Some("shop-uploads")
        );
    }
}
