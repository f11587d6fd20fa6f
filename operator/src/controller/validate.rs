//! `validate`: MerchantBackend -> `ValidatedBackend`, with every default resolved in memory,
//! child names derived and the invariants the schema cannot express checked. Pure: no client.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::{
    api::resource::Quantity, apis::meta::v1::OwnerReference, util::intstr::IntOrString,
};
use kube::{Resource, ResourceExt};

use crate::crd::rollout::RolloutStrategy;
use crate::crd::{
    AccessMode, ApiConfigSpec, AutoscalingSpec, Environment, IngressSpec, LogLevel,
    MerchantBackend, MerchantBackendSpec, PodTemplateSpec, PullPolicy, ScalingBehaviorSpec,
    SecretKeyRef, SecretsSpec, ServiceType, SessionAffinity,
};

/// Default API port (PORT), the one `merchant-api serve` listens on.
pub const DEFAULT_PORT: i32 = 5001;
/// Where the uploads volume is mounted (UPLOADS_DIR): the claim when uploads are on, else an
/// emptyDir, so the read-only root filesystem never has to take a write.
pub const UPLOADS_PATH: &str = "/app/uploads";
/// Every variable the ConfigMap may carry (names: the API's contract in
/// api-server/src/config.rs); spec.podTemplate.env may not override them.
pub const RESERVED_ENV: &[&str] = &[
    "PORT",
    "ADMIN_PORT",
    "UPLOADS_DIR",
    "NODE_ENV",
    "LOG_LEVEL",
    "CORS_ORIGIN",
    "FRONTEND_URL",
    "SENDGRID_FROM_EMAIL",
    "TRUST_PROXY",
    "DISABLE_RATE_LIMIT",
    "RATE_LIMIT_GENERAL_MAX",
    "RATE_LIMIT_AUTH_MAX",
    "RATE_LIMIT_REGISTER_MAX",
    "RATE_LIMIT_PASSWORD_RESET_MAX",
    "RATE_LIMIT_PRODUCT_READ_MAX",
    "RATE_LIMIT_PRODUCT_WRITE_MAX",
    "RATE_LIMIT_PRODUCT_DELETE_MAX",
    "AUDIT_RETENTION_DAYS",
    "ANALYTICS_CACHE_TTL_SECS",
    "CLOUD_STORAGE_PROVIDER",
    "S3_BUCKET",
    "S3_REGION",
    "S3_ENDPOINT",
];

/// A spec the operator refuses, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidSpec {
    /// JSON path of the offending field, e.g. `spec.podTemplate.env[0].name`.
    pub field: String,
    /// Why it is refused.
    pub reason: String,
}

/// One Secret reference wired into an environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretBinding {
    /// Environment variable of the API (contract: api-server/src/config.rs).
    pub env: &'static str,
    /// Secret name and key.
    pub source: SecretKeyRef,
    /// Missing Secret/key blocks the rollout when true; otherwise it is wired as optional.
    pub required: bool,
}

/// Resolved HPA settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Autoscaling {
    /// Minimum replicas.
    pub min_replicas: i32,
    /// Maximum replicas.
    pub max_replicas: i32,
    /// Target CPU utilisation (%).
    pub cpu: i32,
    /// Target memory utilisation (%).
    pub memory: i32,
    /// Scale-up behaviour (stabilisation s, percent, period s).
    pub scale_up: (i32, i32, i32),
    /// Scale-down behaviour (stabilisation s, percent, period s).
    pub scale_down: (i32, i32, i32),
}

/// Resolved uploads claim.
#[derive(Debug, Clone, PartialEq)]
pub struct Uploads {
    /// Requested size.
    pub size: Quantity,
    /// Storage class, None = cluster default.
    pub storage_class_name: Option<String>,
    /// Access modes as Kubernetes spells them.
    pub access_modes: Vec<String>,
    /// Keep the claim when the MerchantBackend is deleted or uploads are disabled (no
    /// ownerReference on it). Default true.
    pub retain_on_delete: bool,
}

/// Resolved public Service.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicService {
    /// ClusterIP, NodePort or LoadBalancer.
    pub type_: &'static str,
    /// Exposed port.
    pub port: i32,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// None or ClientIP.
    pub session_affinity: &'static str,
}

/// Resolved NetworkPolicy peers.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkPolicy {
    /// Namespace names allowed in.
    pub namespaces: Vec<String>,
    /// Pod labels (same namespace) allowed in.
    pub pod_labels: BTreeMap<String, String>,
}

/// A MerchantBackend with every default resolved: the only input of the builders.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedBackend {
    /// Name of the MerchantBackend (and base name of every child).
    pub name: String,
    /// Namespace of the MerchantBackend and its children.
    pub namespace: String,
    /// Controller ownerReference for children; None when rendering an object without uid.
    pub owner: Option<OwnerReference>,
    /// API image.
    pub image: String,
    /// Pull policy as Kubernetes spells it.
    pub image_pull_policy: &'static str,
    /// Image pull Secret names.
    pub image_pull_secrets: Vec<String>,
    /// Replicas when no HPA.
    pub replicas: i32,
    /// HPA settings, None = no HPA.
    pub autoscaling: Option<Autoscaling>,
    /// Requests (cpu, memory).
    pub requests: (Quantity, Quantity),
    /// Limits (cpu, memory).
    pub limits: (Quantity, Quantity),
    /// Container port.
    pub port: i32,
    /// ConfigMap data: non-secret environment.
    pub config: BTreeMap<String, String>,
    /// Secret-backed environment.
    pub secrets: Vec<SecretBinding>,
    /// Uploads claim, None = emptyDir.
    pub uploads: Option<Uploads>,
    /// Public Service.
    pub service: PublicService,
    /// Ingress, None = no Ingress.
    pub ingress: Option<IngressSpec>,
    /// PDB minAvailable, None = no PDB.
    pub pdb_min_available: Option<IntOrString>,
    /// NetworkPolicy, None = none.
    pub network_policy: Option<NetworkPolicy>,
    /// Pod template escape hatches.
    pub pod_template: PodTemplateSpec,
    /// Scheduled backups, None = none.
    pub backup: Option<Backup>,
    /// `{name, namespace, spec}` as JSON: what a backup records of the MerchantBackend
    /// (BACKUP_BACKEND_SPEC; Secret references only, never values).
    pub backend_json: String,
    /// How migrations gate a release.
    pub migrations: Migrations,
    /// How releases roll out.
    pub rollout: Rollout,
    /// spec.paused.
    pub paused: bool,
}

/// Resolved spec.rollout.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    /// Strategy.
    pub strategy: RolloutStrategy,
    /// Seconds a new revision has to become ready.
    pub progress_deadline_seconds: i64,
    /// Restarts of new-revision pods tolerated.
    pub max_restarts: i32,
    /// BlueGreen: switch without waiting for the promote annotation.
    pub auto_promotion: bool,
    /// BlueGreen: seconds the old revision stays after the switch.
    pub scale_down_delay_seconds: i64,
    /// Canary steps.
    pub steps: Vec<Step>,
    /// Prometheus base URL.
    pub prometheus_url: Option<String>,
    /// Analysis queries.
    pub queries: Vec<super::analysis::Query>,
}

/// One resolved canary step.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Canary share in percent.
    Weight(i32),
    /// Wait this many seconds; None: until promoted.
    Pause(Option<i64>),
    /// Run these queries (indexes into `Rollout::queries`).
    Analysis(Vec<usize>),
}

/// Resolved spec.backup.
#[derive(Debug, Clone, PartialEq)]
pub struct Backup {
    /// Cron schedule of backups (UTC).
    pub schedule: String,
    /// Cron schedule of restore drills (UTC).
    pub verify_schedule: String,
    /// Retention in days.
    pub retention_days: i32,
    /// Good backups always kept.
    pub min_backups: i32,
    /// `s3://BUCKET/PREFIX`: the parent of every backup folder.
    pub location: String,
    /// S3 endpoint, None = AWS.
    pub endpoint: Option<String>,
    /// S3 region.
    pub region: String,
    /// Secret with `s3-access-key-id` and `s3-secret-access-key`, None = ambient credentials.
    pub credentials_secret: Option<String>,
    /// activeDeadlineSeconds of a backup or drill Job.
    pub deadline_seconds: i64,
    /// Seconds per change-capture segment; None = no continuous capture.
    pub capture_segment_seconds: Option<i32>,
}

/// Resolved spec.migrations.
#[derive(Debug, Clone, PartialEq)]
pub struct Migrations {
    /// Gate releases on migration Jobs.
    pub enabled: bool,
    /// Attempts per migration before the release is held.
    pub max_attempts: i32,
    /// activeDeadlineSeconds of a migration Job.
    pub deadline_seconds: i64,
    /// A database identity the user accepts in place of the recorded one.
    pub accept_identity: Option<String>,
    /// Seconds the new version runs healthy before contract migrations run.
    pub rollback_window_seconds: i64,
    /// Back up before an irreversible migration.
    pub backup_before_irreversible: bool,
}

impl ValidatedBackend {
    /// Most pods the Deployment can run (HPA maximum or fixed replicas).
    pub fn max_pods(&self) -> i32 {
        self.autoscaling
            .as_ref()
            .map_or(self.replicas, |a| a.max_replicas)
    }
}

/// Resolve defaults and check invariants.
///
/// # Errors
/// `InvalidSpec` naming the field when the spec cannot be turned into children.
pub fn validate(mb: &MerchantBackend) -> Result<ValidatedBackend, InvalidSpec> {
    let spec = &mb.spec;
    let name = mb
        .metadata
        .name
        .clone()
        .ok_or_else(|| invalid("metadata.name", "is required"))?;
    let namespace = mb.namespace().unwrap_or_else(|| "default".to_owned());
    check_env(spec.pod_template.as_ref())?;
    check_cors(spec)?;
    let pod_template = spec.pod_template.clone().unwrap_or_default();
    let autoscaling = spec.autoscaling.as_ref().and_then(autoscaling);
    let replicas = spec.replicas.unwrap_or(3);
    let mut validated = ValidatedBackend {
        owner: owner(mb),
        name,
        namespace,
        image: spec.image.clone(),
        image_pull_policy: pull_policy(spec.image_pull_policy),
        image_pull_secrets: spec.image_pull_secrets.clone().unwrap_or_default(),
        replicas,
        autoscaling,
        requests: resources(spec, false),
        limits: resources(spec, true),
        port: spec.port.unwrap_or(DEFAULT_PORT),
        config: config(spec),
        secrets: all_secret_bindings(spec)?,
        uploads: uploads(spec),
        service: public_service(spec),
        ingress: spec.ingress.clone(),
        pdb_min_available: None,
        network_policy: network_policy(spec),
        pod_template,
        backup: backup(mb, &namespace_of(mb))?,
        backend_json: backend_json(mb),
        migrations: migrations(spec),
        rollout: rollout(spec)?,
        paused: spec.paused.unwrap_or(false),
    };
    validated.pdb_min_available = pdb(spec, validated.max_pods())?;
    Ok(validated)
}

/// The controller ownerReference, once the object has a uid (not in `render`).
fn owner(mb: &MerchantBackend) -> Option<OwnerReference> {
    mb.metadata
        .uid
        .as_ref()
        .and_then(|_| mb.controller_owner_ref(&()))
}

/// Every Secret-backed variable: the conventional ones, then mail and storage credentials.
fn all_secret_bindings(spec: &MerchantBackendSpec) -> Result<Vec<SecretBinding>, InvalidSpec> {
    storage_bindings(
        spec,
        mail_bindings(
            spec,
            secret_bindings(spec.secrets.as_ref().unwrap_or(&SecretsSpec::default())),
        )?,
    )
}

/// `{name, namespace, spec}` as JSON: what a backup records of the MerchantBackend.
fn backend_json(mb: &MerchantBackend) -> String {
    serde_json::json!({
        "name": mb.metadata.name,
        "namespace": namespace_of(mb),
        "spec": &mb.spec,
    })
    .to_string()
}

fn namespace_of(mb: &MerchantBackend) -> String {
    mb.namespace().unwrap_or_else(|| "default".to_owned())
}

fn backup(mb: &MerchantBackend, namespace: &str) -> Result<Option<Backup>, InvalidSpec> {
    let Some(spec) = mb
        .spec
        .backup
        .as_ref()
        .filter(|b| b.enabled.unwrap_or(true))
    else {
        return Ok(None);
    };
    let schedule = spec.schedule.clone().unwrap_or_else(|| "0 2 * * *".into());
    check_cron("spec.backup.schedule", &schedule)?;
    let verify_schedule = spec
        .verify_schedule
        .clone()
        .unwrap_or_else(|| "0 4 * * 0".into());
    check_cron("spec.backup.verifySchedule", &verify_schedule)?;
    let d = &spec.destination;
    let name = mb.metadata.name.clone().unwrap_or_default();
    let prefix = d
        .prefix
        .clone()
        .unwrap_or_else(|| format!("{namespace}/{name}"));
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty()
        || prefix
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
    {
        return Err(invalid(
            "spec.backup.destination.prefix",
            "must be a path of non-empty segments without '.' or '..'",
        ));
    }
    Ok(Some(Backup {
        schedule,
        verify_schedule,
        retention_days: spec.retention_days.unwrap_or(30),
        min_backups: spec.min_backups.unwrap_or(7),
        location: format!("s3://{}/{prefix}", d.bucket),
        endpoint: d.endpoint.clone(),
        region: d.region.clone().unwrap_or_else(|| "us-east-1".into()),
        credentials_secret: d.credentials_secret.clone(),
        deadline_seconds: spec.deadline_seconds.unwrap_or(21_600),
        capture_segment_seconds: spec
            .point_in_time
            .as_ref()
            .filter(|p| p.enabled.unwrap_or(true))
            .map(|p| p.segment_seconds.unwrap_or(60)),
    }))
}

/// A schedule the CronJob controller accepts (five fields or a `@daily`-style macro): a typo is
/// named here instead of in a CronJob the API server refuses.
fn check_cron(field: &str, schedule: &str) -> Result<(), InvalidSpec> {
    match super::backups::parse_schedule(schedule) {
        Some(_) => Ok(()),
        None => Err(invalid(
            field,
            &format!(
                "{schedule:?} is not a cron schedule of five fields (minute hour day-of-month month day-of-week), e.g. \"0 2 * * *\""
            ),
        )),
    }
}

fn migrations(spec: &MerchantBackendSpec) -> Migrations {
    let m = spec.migrations.clone().unwrap_or_default();
    Migrations {
        enabled: m.enabled.unwrap_or(true),
        max_attempts: m.max_attempts.unwrap_or(3),
        deadline_seconds: m.deadline_seconds.unwrap_or(1800),
        accept_identity: m.accept_database_identity,
        rollback_window_seconds: m.rollback_window_seconds.unwrap_or(86_400),
        backup_before_irreversible: m.backup_before_irreversible.unwrap_or(true),
    }
}

fn rollout(spec: &MerchantBackendSpec) -> Result<Rollout, InvalidSpec> {
    let r = spec.rollout.clone().unwrap_or_default();
    let bg = r.blue_green.clone().unwrap_or_default();
    let analysis = r.analysis.clone().unwrap_or_default();
    let queries: Vec<super::analysis::Query> = analysis
        .queries
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|q| super::analysis::Query {
            interval: std::time::Duration::from_secs(
                u64::try_from(q.interval_seconds.unwrap_or(10)).unwrap_or(10),
            ),
            count: u32::try_from(q.count.unwrap_or(3)).unwrap_or(3),
            failure_limit: u32::try_from(q.failure_limit.unwrap_or(0)).unwrap_or(0),
            name: q.name,
            promql: q.query,
            max_value: q.threshold,
        })
        .collect();
    if !queries.is_empty() && analysis.prometheus_url.is_none() {
        return Err(invalid(
            "spec.rollout.analysis.prometheusURL",
            "is required when spec.rollout.analysis.queries is set",
        ));
    }
    let mut steps = Vec::new();
    for (i, step) in r
        .canary
        .map(|c| c.steps)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        steps.push(canary_step(i, step, &queries)?);
    }
    Ok(Rollout {
        strategy: r.strategy.unwrap_or_default(),
        progress_deadline_seconds: i64::from(r.progress_deadline_seconds.unwrap_or(30)),
        max_restarts: r.max_restarts.unwrap_or(0),
        auto_promotion: bg.auto_promotion.unwrap_or(true),
        scale_down_delay_seconds: i64::from(bg.scale_down_delay_seconds.unwrap_or(30)),
        steps,
        prometheus_url: analysis.prometheus_url,
        queries,
    })
}

fn canary_step(
    i: usize,
    step: &crate::crd::rollout::CanaryStep,
    queries: &[super::analysis::Query],
) -> Result<Step, InvalidSpec> {
    if let Some(weight) = step.set_weight {
        return Ok(Step::Weight(weight));
    }
    if let Some(pause) = &step.pause {
        return Ok(Step::Pause(pause.duration_seconds.map(i64::from)));
    }
    let names = step
        .analysis
        .as_ref()
        .and_then(|a| a.queries.clone())
        .unwrap_or_else(|| queries.iter().map(|q| q.name.clone()).collect());
    let mut picked = Vec::new();
    for name in names {
        let Some(index) = queries.iter().position(|q| q.name == name) else {
            return Err(invalid(
                &format!("spec.rollout.canary.steps[{i}].analysis.queries"),
                &format!("{name:?} is not the name of a query in spec.rollout.analysis.queries"),
            ));
        };
        picked.push(index);
    }
    Ok(Step::Analysis(picked))
}

fn invalid(field: &str, reason: &str) -> InvalidSpec {
    InvalidSpec {
        field: field.to_owned(),
        reason: reason.to_owned(),
    }
}

fn check_env(template: Option<&PodTemplateSpec>) -> Result<(), InvalidSpec> {
    let env = template.and_then(|t| t.env.as_deref()).unwrap_or_default();
    let secret_envs: Vec<&str> = secret_bindings(&SecretsSpec::default())
        .iter()
        .map(|b| b.env)
        .collect();
    for (i, var) in env.iter().enumerate() {
        if RESERVED_ENV.contains(&var.name.as_str()) || secret_envs.contains(&var.name.as_str()) {
            return Err(invalid(
                &format!("spec.podTemplate.env[{i}].name"),
                &format!(
                    "{} is set by the operator; use spec.config or spec.secrets",
                    var.name
                ),
            ));
        }
    }
    Ok(())
}

fn check_cors(spec: &MerchantBackendSpec) -> Result<(), InvalidSpec> {
    let origins = spec
        .config
        .as_ref()
        .and_then(|c| c.cors_origins.as_deref())
        .unwrap_or_default();
    match origins.iter().position(|o| o.is_empty() || o.contains(',')) {
        Some(i) => Err(invalid(
            &format!("spec.config.corsOrigins[{i}]"),
            "must be one non-empty origin without commas",
        )),
        None => Ok(()),
    }
}

/// The API refuses SENDGRID_API_KEY without SENDGRID_FROM_EMAIL: an explicit key needs
/// config.mailFrom, and the conventional optional key is wired only when mailFrom is set.
fn mail_bindings(
    spec: &MerchantBackendSpec,
    bindings: Vec<SecretBinding>,
) -> Result<Vec<SecretBinding>, InvalidSpec> {
    let mail_from = spec.config.as_ref().is_some_and(|c| c.mail_from.is_some());
    let explicit = spec
        .secrets
        .as_ref()
        .is_some_and(|s| s.sendgrid_api_key.is_some());
    if explicit && !mail_from {
        return Err(invalid(
            "spec.config.mailFrom",
            "is required when spec.secrets.sendgridApiKey is set (the API needs SENDGRID_FROM_EMAIL)",
        ));
    }
    Ok(bindings
        .into_iter()
        .filter(|b| mail_from || b.env != "SENDGRID_API_KEY")
        .collect())
}

/// The S3 credentials matter only with spec.objectStorage: an explicit reference without it is
/// a mistake worth naming, and the conventional optional keys are wired only with it. A bucket
/// and an uploads claim exclude each other (mirrors the CRD's CEL rule for `render`).
fn storage_bindings(
    spec: &MerchantBackendSpec,
    bindings: Vec<SecretBinding>,
) -> Result<Vec<SecretBinding>, InvalidSpec> {
    let s3 = spec.object_storage.is_some();
    if s3 && uploads(spec).is_some() {
        return Err(invalid(
            "spec.objectStorage",
            "excludes an uploads claim: files go to the bucket (remove spec.uploads or set spec.uploads.enabled: false)",
        ));
    }
    let explicit = spec
        .secrets
        .as_ref()
        .is_some_and(|s| s.s3_access_key_id.is_some() || s.s3_secret_access_key.is_some());
    if explicit && !s3 {
        return Err(invalid(
            "spec.objectStorage",
            "is required when spec.secrets.s3AccessKeyId or s3SecretAccessKey is set (the credentials are for its bucket)",
        ));
    }
    Ok(bindings
        .into_iter()
        .filter(|b| s3 || !b.env.starts_with("S3_"))
        .collect())
}

fn pull_policy(policy: Option<PullPolicy>) -> &'static str {
    match policy {
        Some(PullPolicy::Always) => "Always",
        Some(PullPolicy::Never) => "Never",
        Some(PullPolicy::IfNotPresent) | None => "IfNotPresent",
    }
}

fn behavior(spec: Option<&ScalingBehaviorSpec>, default: (i32, i32, i32)) -> (i32, i32, i32) {
    let spec = spec.cloned().unwrap_or_default();
    (
        spec.stabilization_window_seconds.unwrap_or(default.0),
        spec.percent.unwrap_or(default.1),
        spec.period_seconds.unwrap_or(default.2),
    )
}

fn autoscaling(spec: &AutoscalingSpec) -> Option<Autoscaling> {
    if !spec.enabled.unwrap_or(true) {
        return None;
    }
    Some(Autoscaling {
        min_replicas: spec.min_replicas.unwrap_or(3),
        max_replicas: spec.max_replicas.unwrap_or(10),
        cpu: spec.target_cpu_utilization.unwrap_or(70),
        memory: spec.target_memory_utilization.unwrap_or(80),
        scale_up: behavior(spec.scale_up.as_ref(), (0, 100, 30)),
        scale_down: behavior(spec.scale_down.as_ref(), (300, 50, 60)),
    })
}

fn resources(spec: &MerchantBackendSpec, limits: bool) -> (Quantity, Quantity) {
    let given = spec.resources.as_ref().and_then(|r| {
        if limits {
            r.limits.clone()
        } else {
            r.requests.clone()
        }
    });
    let given = given.unwrap_or_default();
    let (cpu, memory) = if limits {
        ("1000m", "1Gi")
    } else {
        ("500m", "512Mi")
    };
    (
        given.cpu.unwrap_or_else(|| Quantity(cpu.to_owned())),
        given.memory.unwrap_or_else(|| Quantity(memory.to_owned())),
    )
}

fn log_level(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Error => "error",
        LogLevel::Warn => "warn",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
        LogLevel::Trace => "trace",
    }
}

fn environment(env: Environment) -> &'static str {
    match env {
        Environment::Production => "production",
        Environment::Development => "development",
        Environment::Test => "test",
    }
}

/// Non-secret environment of the API (names: api-server/src/config.rs). Unset optional fields
/// are left out so the API's own defaults apply.
fn config(spec: &MerchantBackendSpec) -> BTreeMap<String, String> {
    let config = spec.config.clone().unwrap_or_default();
    let mut data = always_set(spec, &config);
    let mut set = |key: &str, value: Option<String>| {
        if let Some(value) = value {
            data.insert(key.to_owned(), value);
        }
    };
    set("FRONTEND_URL", config.frontend_url);
    set("SENDGRID_FROM_EMAIL", config.mail_from);
    set("TRUST_PROXY", config.trust_proxy.map(|t| t.to_string()));
    let rate = config.rate_limit.unwrap_or_default();
    set(
        "DISABLE_RATE_LIMIT",
        rate.enabled.map(|enabled| (!enabled).to_string()),
    );
    for (key, value) in [
        ("RATE_LIMIT_GENERAL_MAX", rate.general),
        ("RATE_LIMIT_AUTH_MAX", rate.auth),
        ("RATE_LIMIT_REGISTER_MAX", rate.register),
        ("RATE_LIMIT_PASSWORD_RESET_MAX", rate.password_reset),
        ("RATE_LIMIT_PRODUCT_READ_MAX", rate.product_read),
        ("RATE_LIMIT_PRODUCT_WRITE_MAX", rate.product_write),
        ("RATE_LIMIT_PRODUCT_DELETE_MAX", rate.product_delete),
    ] {
        set(key, value.map(|v| v.to_string()));
    }
    set(
        "AUDIT_RETENTION_DAYS",
        config.audit_retention_days.map(|d| d.to_string()),
    );
    set(
        "ANALYTICS_CACHE_TTL_SECS",
        config.analytics_cache_ttl_seconds.map(|s| s.to_string()),
    );
    if let Some(bucket) = spec.object_storage.clone() {
        set("CLOUD_STORAGE_PROVIDER", Some("s3".to_owned()));
        set("S3_BUCKET", Some(bucket.bucket));
        set("S3_REGION", bucket.region);
        set("S3_ENDPOINT", bucket.endpoint);
    }
    data
}

/// The settings always set: ports, the uploads mount, environment, log level, CORS origins.
fn always_set(spec: &MerchantBackendSpec, config: &ApiConfigSpec) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "PORT".to_owned(),
            spec.port.unwrap_or(DEFAULT_PORT).to_string(),
        ),
        (
            "ADMIN_PORT".to_owned(),
            crate::controller::build::METRICS_PORT.to_string(),
        ),
        ("UPLOADS_DIR".to_owned(), UPLOADS_PATH.to_owned()),
        (
            "NODE_ENV".to_owned(),
            environment(config.environment.unwrap_or(Environment::Production)).to_owned(),
        ),
        (
            "LOG_LEVEL".to_owned(),
            log_level(config.log_level.unwrap_or(LogLevel::Info)).to_owned(),
        ),
        // Always set: empty means same-origin only, which the API accepts in production.
        (
            "CORS_ORIGIN".to_owned(),
            config.cors_origins.clone().unwrap_or_default().join(","),
        ),
    ])
}

fn binding(
    env: &'static str,
    given: &Option<SecretKeyRef>,
    name: &str,
    key: &str,
    required: bool,
) -> SecretBinding {
    match given {
        Some(source) => SecretBinding {
            env,
            source: source.clone(),
            required: true,
        },
        None => SecretBinding {
            env,
            source: SecretKeyRef {
                name: name.to_owned(),
                key: key.to_owned(),
            },
            required,
        },
    }
}

/// The Secret-backed environment: conventional names by default; explicit references are required.
fn secret_bindings(s: &SecretsSpec) -> Vec<SecretBinding> {
    // Tables, one line per variable: (env, explicit reference, conventional Secret, its key).
    // A missing Secret or key of a required one blocks the rollout; the optional ones are wired
    // as optional unless the spec names its own reference.
    #[rustfmt::skip]
    let required = [
        ("MONGODB_URI", &s.mongodb_uri, "db-secrets", "mongodb-uri"),
        ("REDIS_URL", &s.redis_url, "cache-secrets", "redis-url"),
        ("JWT_SECRET", &s.jwt_secret, "auth-secrets", "jwt-secret"),
        ("JWT_MERCHANT_SECRET", &s.jwt_merchant_secret, "auth-secrets", "jwt-merchant-secret"),
        ("JWT_REFRESH_SECRET", &s.jwt_refresh_secret, "auth-secrets", "jwt-refresh-secret"),
    ];
    #[rustfmt::skip]
    let optional = [
        ("SENDGRID_API_KEY", &s.sendgrid_api_key, "email-secrets", "sendgrid-api-key"),
        ("CLOUDINARY_CLOUD_NAME", &s.cloudinary_cloud_name, "cloudinary-secrets", "cloud-name"),
        ("CLOUDINARY_API_KEY", &s.cloudinary_api_key, "cloudinary-secrets", "api-key"),
        ("CLOUDINARY_API_SECRET", &s.cloudinary_api_secret, "cloudinary-secrets", "api-secret"),
        ("TWILIO_ACCOUNT_SID", &s.twilio_account_sid, "sms-secrets", "twilio-account-sid"),
        ("TWILIO_AUTH_TOKEN", &s.twilio_auth_token, "sms-secrets", "twilio-auth-token"),
        ("RAZORPAY_KEY_ID", &s.razorpay_key_id, "payment-secrets", "razorpay-key-id"),
        ("RAZORPAY_KEY_SECRET", &s.razorpay_key_secret, "payment-secrets", "razorpay-key-secret"),
        ("S3_ACCESS_KEY_ID", &s.s3_access_key_id, "storage-secrets", "s3-access-key-id"),
        ("S3_SECRET_ACCESS_KEY", &s.s3_secret_access_key, "storage-secrets", "s3-secret-access-key"),
    ];
    let required = required.map(|(env, given, name, key)| binding(env, given, name, key, true));
    let optional = optional.map(|(env, given, name, key)| binding(env, given, name, key, false));
    required.into_iter().chain(optional).collect()
}

fn access_mode(mode: AccessMode) -> String {
    match mode {
        AccessMode::ReadWriteOnce => "ReadWriteOnce",
        AccessMode::ReadWriteMany => "ReadWriteMany",
        AccessMode::ReadWriteOncePod => "ReadWriteOncePod",
    }
    .to_owned()
}

fn uploads(spec: &MerchantBackendSpec) -> Option<Uploads> {
    let u = spec
        .uploads
        .as_ref()
        .filter(|u| u.enabled.unwrap_or(true))?;
    let modes = u
        .access_modes
        .clone()
        .unwrap_or_else(|| vec![AccessMode::ReadWriteMany]);
    Some(Uploads {
        size: u
            .size
            .clone()
            .unwrap_or_else(|| Quantity("50Gi".to_owned())),
        storage_class_name: u.storage_class_name.clone(),
        access_modes: modes.into_iter().map(access_mode).collect(),
        retain_on_delete: u.retain_on_delete.unwrap_or(true),
    })
}

fn public_service(spec: &MerchantBackendSpec) -> PublicService {
    let s = spec.service.clone().unwrap_or_default();
    PublicService {
        type_: match s.type_ {
            Some(ServiceType::LoadBalancer) => "LoadBalancer",
            Some(ServiceType::NodePort) => "NodePort",
            Some(ServiceType::ClusterIP) | None => "ClusterIP",
        },
        port: s.port.unwrap_or(80),
        annotations: s.annotations.unwrap_or_default(),
        session_affinity: match s.session_affinity {
            Some(SessionAffinity::ClientIP) => "ClientIP",
            Some(SessionAffinity::None) | None => "None",
        },
    }
}

/// PDB minAvailable, or None when disabled or when at most one pod can run (a budget of 1 over a
/// single pod would block every node drain).
fn pdb(spec: &MerchantBackendSpec, max_pods: i32) -> Result<Option<IntOrString>, InvalidSpec> {
    let p = spec.pod_disruption_budget.clone().unwrap_or_default();
    if !p.enabled.unwrap_or(true) || max_pods <= 1 {
        return Ok(None);
    }
    let min = p.min_available.unwrap_or(IntOrString::Int(1));
    let valid = match &min {
        IntOrString::Int(n) => *n >= 0,
        IntOrString::String(s) => s
            .strip_suffix('%')
            .and_then(|n| n.parse::<u8>().ok())
            .is_some_and(|n| n <= 100),
    };
    if !valid {
        return Err(invalid(
            "spec.podDisruptionBudget.minAvailable",
            "must be a non-negative number or a percentage such as 50%",
        ));
    }
    Ok(Some(min))
}

fn network_policy(spec: &MerchantBackendSpec) -> Option<NetworkPolicy> {
    let n = spec
        .network_policy
        .as_ref()
        .filter(|n| n.enabled.unwrap_or(false))?;
    let mut namespaces = n.allowed_namespaces.clone().unwrap_or_default();
    namespaces.sort();
    namespaces.dedup();
    Some(NetworkPolicy {
        namespaces,
        pod_labels: n.allowed_pod_labels.clone().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::backend;

    #[test]
    fn defaults_are_resolved_without_touching_the_spec() {
        let mb = backend("image: registry.example/merchant-api:1.0.0");
        let before = mb.spec.clone();
        let v = validate(&mb).expect("valid");
        assert_eq!(mb.spec, before);
        assert_eq!(v.replicas, 3);
        assert_eq!(v.port, 5001);
        assert_eq!(v.autoscaling, None);
        assert_eq!(
            v.requests,
            (Quantity("500m".into()), Quantity("512Mi".into()))
        );
        assert_eq!(v.limits, (Quantity("1000m".into()), Quantity("1Gi".into())));
        assert_eq!(v.pdb_min_available, Some(IntOrString::Int(1)));
        assert_eq!(v.config["NODE_ENV"], "production");
        assert_eq!(v.service.type_, "ClusterIP");
    }

    #[test]
    fn conventional_secret_names_are_the_defaults() {
        let v = validate(&backend("image: a:1")).expect("valid");
        let mongo = &v.secrets[0];
        assert_eq!(
            (
                mongo.env,
                mongo.source.name.as_str(),
                mongo.source.key.as_str()
            ),
            ("MONGODB_URI", "db-secrets", "mongodb-uri")
        );
        assert!(mongo.required);
        let twilio = v
            .secrets
            .iter()
            .find(|s| s.env == "TWILIO_AUTH_TOKEN")
            .expect("twilio");
        assert!(!twilio.required, "unset third-party keys are optional");
        assert!(
            !v.secrets.iter().any(|s| s.env == "SENDGRID_API_KEY"),
            "SendGrid is wired only with a sender address"
        );
        let v =
            validate(&backend("image: a:1\nconfig: {mailFrom: shop@example.com}")).expect("valid");
        let sendgrid = v
            .secrets
            .iter()
            .find(|s| s.env == "SENDGRID_API_KEY")
            .expect("sendgrid");
        assert!(!sendgrid.required);
    }

    #[test]
    fn rollout_defaults_bring_a_bad_release_back_within_a_minute() {
        let v = validate(&backend("image: a:1")).expect("valid");
        assert_eq!(v.rollout.strategy, RolloutStrategy::RollingUpdate);
        assert_eq!(v.rollout.progress_deadline_seconds, 30);
        assert_eq!(v.rollout.max_restarts, 0);
        assert!(v.rollout.auto_promotion);
    }

    #[test]
    fn an_analysis_step_names_queries_that_exist_and_a_server_to_ask() {
        let steps = "rollout: {strategy: Canary, canary: {steps: [{setWeight: 20}, {analysis: {queries: [errors, latency]}}]}, analysis: {prometheusURL: 'http://p:9090', queries: [{name: errors, query: 'x', threshold: 0.1}]}}";
        let err = validate(&backend(&format!("image: a:1\n{steps}"))).expect_err("unknown query");
        assert_eq!(err.field, "spec.rollout.canary.steps[1].analysis.queries");
        assert!(err.reason.contains("\"latency\""), "{}", err.reason);

        let no_url = "rollout: {analysis: {queries: [{name: errors, query: 'x', threshold: 0.1}]}}";
        let err = validate(&backend(&format!("image: a:1\n{no_url}"))).expect_err("no URL");
        assert_eq!(err.field, "spec.rollout.analysis.prometheusURL");

        let fine = "rollout: {strategy: Canary, canary: {steps: [{setWeight: 20}, {analysis: {}}, {pause: {durationSeconds: 30}}]}, analysis: {prometheusURL: 'http://p:9090', queries: [{name: errors, query: 'x', threshold: 0.1, intervalSeconds: 5}]}}";
        let v = validate(&backend(&format!("image: a:1\n{fine}"))).expect("valid");
        assert_eq!(
            v.rollout.steps,
            vec![
                Step::Weight(20),
                Step::Analysis(vec![0]),
                Step::Pause(Some(30))
            ]
        );
        assert_eq!(
            v.rollout.queries[0].interval,
            std::time::Duration::from_secs(5)
        );
        assert_eq!(
            (
                v.rollout.queries[0].count,
                v.rollout.queries[0].failure_limit
            ),
            (3, 0)
        );
    }

    #[test]
    fn an_explicit_sendgrid_key_needs_a_sender() {
        let err = validate(&backend(
            "image: a:1\nsecrets:\n  sendgridApiKey: {name: mail, key: k}",
        ))
        .expect_err("no mailFrom");
        assert_eq!(err.field, "spec.config.mailFrom");
    }

    #[test]
    fn rate_limits_map_to_the_api_limiters() {
        let v = validate(&backend(
            "image: a:1\nconfig: {rateLimit: {enabled: false, general: 900, productRead: 50}}",
        ))
        .expect("valid");
        assert_eq!(v.config["DISABLE_RATE_LIMIT"], "true");
        assert_eq!(v.config["RATE_LIMIT_GENERAL_MAX"], "900");
        assert_eq!(v.config["RATE_LIMIT_PRODUCT_READ_MAX"], "50");
        assert!(!v.config.contains_key("RATE_LIMIT_AUTH_MAX"), "API default");
    }

    #[test]
    fn an_explicit_third_party_secret_is_required() {
        let v = validate(&backend(
            "image: a:1\nconfig: {mailFrom: shop@example.com}\nsecrets:\n  sendgridApiKey: {name: mail, key: k}",
        ))
        .expect("valid");
        let sendgrid = v
            .secrets
            .iter()
            .find(|s| s.env == "SENDGRID_API_KEY")
            .expect("sendgrid");
        assert!(sendgrid.required);
        assert_eq!(sendgrid.source.name, "mail");
    }

    #[test]
    fn an_autoscaling_block_enables_the_hpa_with_production_defaults() {
        let v = validate(&backend("image: a:1\nautoscaling: {}")).expect("valid");
        let a = v.autoscaling.expect("hpa");
        assert_eq!(
            (a.min_replicas, a.max_replicas, a.cpu, a.memory),
            (3, 10, 70, 80)
        );
        assert_eq!(a.scale_up, (0, 100, 30));
        assert_eq!(a.scale_down, (300, 50, 60));
    }

    #[test]
    fn overriding_an_operator_variable_is_rejected_with_its_field() {
        let err = validate(&backend(
            "image: a:1\npodTemplate:\n  env: [{name: FOO, value: x}, {name: PORT, value: '1'}]",
        ))
        .expect_err("PORT is reserved");
        assert_eq!(err.field, "spec.podTemplate.env[1].name");
    }

    #[test]
    fn a_single_pod_gets_no_disruption_budget() {
        let v = validate(&backend("image: a:1\nreplicas: 1")).expect("valid");
        assert_eq!(v.pdb_min_available, None);
    }

    #[test]
    fn a_bad_percentage_budget_is_rejected() {
        let err = validate(&backend(
            "image: a:1\npodDisruptionBudget: {minAvailable: 'lots'}",
        ))
        .expect_err("invalid");
        assert_eq!(err.field, "spec.podDisruptionBudget.minAvailable");
    }

    #[test]
    fn uploads_default_to_a_shared_50gi_claim() {
        let v = validate(&backend("image: a:1\nuploads: {}")).expect("valid");
        let u = v.uploads.expect("uploads");
        assert_eq!(u.size, Quantity("50Gi".into()));
        assert_eq!(u.access_modes, vec!["ReadWriteMany".to_owned()]);
        assert!(u.retain_on_delete, "data first: kept by default");
    }

    #[test]
    fn object_storage_sets_the_s3_settings_and_wires_its_credentials() {
        let v = validate(&backend(
            "image: a:1\nobjectStorage: {bucket: files, endpoint: 'http://s3:8333'}",
        ))
        .expect("valid");
        assert_eq!(v.config["CLOUD_STORAGE_PROVIDER"], "s3");
        assert_eq!(v.config["S3_BUCKET"], "files");
        assert_eq!(v.config["S3_ENDPOINT"], "http://s3:8333");
        assert!(
            !v.config.contains_key("S3_REGION"),
            "the API's default applies"
        );
        let s3: Vec<_> = v
            .secrets
            .iter()
            .filter(|b| b.env.starts_with("S3_"))
            .collect();
        assert_eq!(s3.len(), 2);
        assert!(
            s3.iter()
                .all(|b| b.source.name == "storage-secrets" && !b.required)
        );
        assert!(v.uploads.is_none());
    }

    #[test]
    fn without_object_storage_no_s3_setting_is_wired() {
        let v = validate(&backend("image: a:1\nuploads: {}")).expect("valid");
        assert!(
            !v.config
                .keys()
                .any(|k| k.starts_with("S3_") || k == "CLOUD_STORAGE_PROVIDER")
        );
        assert!(!v.secrets.iter().any(|b| b.env.starts_with("S3_")));
    }

    #[test]
    fn s3_credentials_without_object_storage_are_refused() {
        let err = validate(&backend(
            "image: a:1\nsecrets: {s3SecretAccessKey: {name: bucket, key: secret}}",
        ))
        .expect_err("invalid");
        assert_eq!(err.field, "spec.objectStorage");
    }

    #[test]
    fn an_uploads_claim_beside_object_storage_is_refused() {
        let err = validate(&backend(
            "image: a:1\nobjectStorage: {bucket: files}\nuploads: {}",
        ))
        .expect_err("invalid");
        assert_eq!(err.field, "spec.objectStorage");
    }
}
