//! `MerchantBackendSpec`: what a platform engineer asks for. Every field is documented (the text
//! becomes `kubectl explain`), optional fields stay `None` when unset, and defaults are resolved
//! in memory by `controller::validate`, never written back into the user's object.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::core::v1::{Affinity, EnvVar, Toleration, TopologySpreadConstraint},
    apimachinery::pkg::{api::resource::Quantity, util::intstr::IntOrString},
};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::status::MerchantBackendStatus;

/// Desired state of one merchant API stack: Deployment, Services, HPA, PVC, PDB, NetworkPolicy,
/// Ingress, ConfigMap and ServiceAccount, all owned by this resource.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "merchant.rezapp.com",
    version = "v1alpha1",
    kind = "MerchantBackend",
    plural = "merchantbackends",
    shortname = "mb",
    namespaced,
    status = "MerchantBackendStatus",
    derive = "PartialEq",
    doc = "MerchantBackend runs the merchant API stack (Deployment, Services, HPA, PVC, PDB, NetworkPolicy, Ingress) from one resource.",
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Replicas", type_ = "integer", json_path = ".status.readyReplicas"),
    printcolumn(name = "Image", type_ = "string", json_path = ".status.image"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("self.metadata.name.size() <= 54 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')")
        .message("metadata.name must be a DNS-1035 label of at most 54 characters (child names append suffixes such as -internal)"),
)]
#[x_kube(
    validation = Rule::new("!(has(self.uploads) && (!has(self.uploads.enabled) || self.uploads.enabled) && has(self.uploads.accessModes) && self.uploads.accessModes.exists(m, m == 'ReadWriteOnce')) || (!(has(self.autoscaling) && (!has(self.autoscaling.enabled) || self.autoscaling.enabled)) && has(self.replicas) && self.replicas <= 1)")
        .message("spec.uploads.accessModes ReadWriteOnce needs spec.replicas <= 1 and spec.autoscaling disabled: pods on different nodes cannot share a ReadWriteOnce volume"),
    validation = Rule::new("!(has(self.secrets) && has(self.secrets.sendgridApiKey)) || (has(self.config) && has(self.config.mailFrom))")
        .message("spec.config.mailFrom is required when spec.secrets.sendgridApiKey is set (the API needs SENDGRID_FROM_EMAIL to send through SendGrid)"),
    validation = Rule::new("!(has(self.objectStorage) && has(self.uploads) && (!has(self.uploads.enabled) || self.uploads.enabled))")
        .message("spec.objectStorage and spec.uploads are exclusive: files go to the bucket, so no uploads claim is needed (remove spec.uploads or set spec.uploads.enabled: false)"),
    validation = Rule::new("!has(self.port) || self.port != 9464")
        .message("spec.port 9464 is the API's admin port (metrics, probes): pick another"),
)]
#[serde(rename_all = "camelCase")]
pub struct MerchantBackendSpec {
    /// Container image of the merchant API (`merchant-api serve`). Pin a tag or digest: the
    /// operator never changes it on its own.
    #[schemars(length(min = 1, max = 512))]
    pub image: String,

    /// Image pull policy of the API container. Default: IfNotPresent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<PullPolicy>,

    /// Names of Secrets (type kubernetes.io/dockerconfigjson) used to pull the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub image_pull_secrets: Option<Vec<String>>,

    /// Number of API pods when autoscaling is off. Ignored while spec.autoscaling is enabled (the
    /// HPA owns the replica count then). Default: 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub replicas: Option<i32>,

    /// Horizontal pod autoscaling (autoscaling/v2). Absent: no HPA. Present: an HPA is created
    /// unless `enabled` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<AutoscalingSpec>,

    /// CPU and memory of the API container. Defaults: requests 500m / 512Mi, limits 1000m / 1Gi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourcesSpec>,

    /// Port the API listens on inside the pod (the PORT variable). Default: 5001.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1024, max = 65535))]
    pub port: Option<i32>,

    /// Non-secret settings of the API, rendered into a ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ApiConfigSpec>,

    /// Where the API's credentials live. Every reference defaults to the conventional Secret
    /// name and key (db-secrets/mongodb-uri, cache-secrets/redis-url, auth-secrets/jwt-secret,
    /// ...), so existing Secrets work unchanged. Values are never copied anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<SecretsSpec>,

    /// Persistent volume for user uploads mounted at /app/uploads. Absent or disabled: an
    /// emptyDir (uploads are lost when a pod goes; prefer object storage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploads: Option<UploadsSpec>,

    /// Keep uploaded files in an S3 (or S3-compatible) bucket instead of a volume
    /// (CLOUD_STORAGE_PROVIDER=s3). Credentials: secrets.s3AccessKeyId and
    /// secrets.s3SecretAccessKey, else the pod's own cloud identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_storage: Option<ObjectStorageSpec>,

    /// The public Service in front of the API (an internal ClusterIP Service named
    /// `<name>-internal` always exists besides it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceSpec>,

    /// Optional Ingress routing a host to the public Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressSpec>,

    /// PodDisruptionBudget of the API pods. Default: enabled with minAvailable 1 (created only
    /// when more than one pod can run, so a single pod never blocks node drains).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_disruption_budget: Option<PodDisruptionBudgetSpec>,

    /// NetworkPolicy restricting who may reach the API port. Default: disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_policy: Option<NetworkPolicySpec>,

    /// Escape hatches for the pod template: scheduling, extra metadata, extra environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_template: Option<PodTemplateSpec>,

    /// Scheduled backups of the database, the uploads and this spec to an S3-compatible bucket,
    /// with retention and scheduled restore drills (verification). Unset: no backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupSpec>,

    /// Schema migrations: how a new image's migrations gate its release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrations: Option<MigrationsSpec>,

    /// How a new revision (image, configuration, Secret checksums, pod settings) replaces the
    /// serving one, and when it rolls back on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<super::rollout::RolloutSpec>,

    /// Stop reconciling: children are left exactly as they are until paused is false again.
    /// Acknowledged by the Paused condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
}

/// Image pull policy of the API container.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullPolicy {
    /// Always pull.
    Always,
    /// Pull when the image is not on the node.
    IfNotPresent,
    /// Never pull.
    Never,
}

/// HPA settings. Defaults: 3 to 10 replicas, 70% CPU, 80% memory, scale up 100% per 30 s without
/// stabilisation, scale down 50% per 60 s after 300 s of stabilisation.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(
    validation = Rule::new("(has(self.minReplicas) ? self.minReplicas : 3) <= (has(self.maxReplicas) ? self.maxReplicas : 10)")
        .message("spec.autoscaling.minReplicas must be less than or equal to spec.autoscaling.maxReplicas (defaults 3 and 10)"),
)]
#[serde(rename_all = "camelCase")]
pub struct AutoscalingSpec {
    /// Create the HPA. Default: true when the autoscaling block is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Lowest replica count the HPA may choose. Default: 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub min_replicas: Option<i32>,
    /// Highest replica count the HPA may choose. Default: 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_replicas: Option<i32>,
    /// Target average CPU utilisation in percent of the request (1-100). Default: 70.
    #[serde(
        default,
        rename = "targetCPUUtilization",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(range(min = 1, max = 100))]
    pub target_cpu_utilization: Option<i32>,
    /// Target average memory utilisation in percent of the request (1-100). Default: 80.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub target_memory_utilization: Option<i32>,
    /// Scale-up behaviour. Defaults: 0 s stabilisation, at most +100% per 30 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_up: Option<ScalingBehaviorSpec>,
    /// Scale-down behaviour. Defaults: 300 s stabilisation, at most -50% per 60 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down: Option<ScalingBehaviorSpec>,
}

/// One direction of HPA scaling: how long to wait and how fast to move.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScalingBehaviorSpec {
    /// Seconds of recommendations the HPA considers before acting (0-3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 3600))]
    pub stabilization_window_seconds: Option<i32>,
    /// Largest change per period, in percent of the current replicas (1-1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub percent: Option<i32>,
    /// Length of one period in seconds (1-1800).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1800))]
    pub period_seconds: Option<i32>,
}

/// Requests and limits of the API container.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ResourcesSpec {
    /// Guaranteed resources. Defaults: cpu 500m, memory 512Mi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<ComputeResources>,
    /// Upper bounds. Defaults: cpu 1000m, memory 1Gi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<ComputeResources>,
}

/// A CPU and memory pair; an unset member keeps its default.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ComputeResources {
    /// CPU quantity, e.g. 500m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Quantity>,
    /// Memory quantity, e.g. 512Mi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Quantity>,
}

/// Non-secret API settings, delivered as environment variables through a ConfigMap. Every
/// field maps to one variable of the API's contract (api-server/src/config.rs); an unset field
/// leaves the API's own default in force.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApiConfigSpec {
    /// Environment (NODE_ENV): production enables the GST/PAN/IFSC checks and the strict CORS
    /// allow-list. Default: production.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// Log level (LOG_LEVEL). Default: info.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<LogLevel>,
    /// Allowed CORS origins such as https://shop.example (CORS_ORIGIN, comma separated).
    /// Default: none (same origin only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub cors_origins: Option<Vec<String>>,
    /// Public URL of the merchant front end (FRONTEND_URL): prefix of links in e-mails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub frontend_url: Option<String>,
    /// Sender address of e-mails sent through SendGrid (SENDGRID_FROM_EMAIL). Required when
    /// secrets.sendgridApiKey is set; without it the conventional SendGrid Secret is not wired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 3, max = 254))]
    pub mail_from: Option<String>,
    /// One proxy (a load balancer or Ingress) stands in front of the API (TRUST_PROXY): the
    /// client IP, for rate limits and audit, is the address it appended to X-Forwarded-For, never
    /// what the client wrote there. Default: false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_proxy: Option<bool>,
    /// Per-client request budgets of the API's rate limiters (RATE_LIMIT_*_MAX). Unset members
    /// keep the API's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitSpec>,
    /// Days audit records are kept before MongoDB's TTL index removes them
    /// (AUDIT_RETENTION_DAYS). Default: 365.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 36500))]
    pub audit_retention_days: Option<i32>,
    /// Seconds a dashboard or analytics answer is served from cache (ANALYTICS_CACHE_TTL_SECS;
    /// Redis when configured). Default: 300.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 86400))]
    pub analytics_cache_ttl_seconds: Option<i32>,
}

/// Environment the API runs in (NODE_ENV).
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Production checks and CORS allow-list.
    Production,
    /// Development origins allowed.
    Development,
    /// Tests.
    Test,
}

/// Log verbosity of the API.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// Normal operation.
    Info,
    /// Verbose.
    Debug,
    /// Very verbose.
    Trace,
}

/// The API's rate limiters; the windows are fixed by the API contract (15 min, 1 h, 1 min).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitSpec {
    /// Turn every limiter on or off (DISABLE_RATE_LIMIT is its negation). Default: true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Requests per 15 minutes per client (RATE_LIMIT_GENERAL_MAX). API default: 500.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000000))]
    pub general: Option<i64>,
    /// Failed sign-ins per 15 minutes per client (RATE_LIMIT_AUTH_MAX). API default: 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000000))]
    pub auth: Option<i64>,
    /// Registrations per hour per client (RATE_LIMIT_REGISTER_MAX). API default: 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000000))]
    pub register: Option<i64>,
    /// Password-reset requests per hour per client (RATE_LIMIT_PASSWORD_RESET_MAX). API
    /// default: 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000000))]
    pub password_reset: Option<i64>,
    /// Product reads per minute per client (RATE_LIMIT_PRODUCT_READ_MAX). API default: 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000000))]
    pub product_read: Option<i64>,
    /// Product writes per minute per client (RATE_LIMIT_PRODUCT_WRITE_MAX). API default: 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000000))]
    pub product_write: Option<i64>,
    /// Product deletes per minute per client (RATE_LIMIT_PRODUCT_DELETE_MAX). API default: 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000000))]
    pub product_delete: Option<i64>,
}

/// A key of a Secret in the MerchantBackend's namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Secret name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key inside the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// References to the API's credentials. Required ones (MongoDB, Redis, the three JWT secrets)
/// must exist or the stack is not rolled out; third-party ones are optional: unset, the
/// conventional Secret is wired if it exists; set, it must exist.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretsSpec {
    /// MONGODB_URI. Default: db-secrets/mongodb-uri.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mongodb_uri: Option<SecretKeyRef>,
    /// REDIS_URL. Default: cache-secrets/redis-url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<SecretKeyRef>,
    /// JWT_SECRET. Default: auth-secrets/jwt-secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_secret: Option<SecretKeyRef>,
    /// JWT_MERCHANT_SECRET. Default: auth-secrets/jwt-merchant-secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_merchant_secret: Option<SecretKeyRef>,
    /// JWT_REFRESH_SECRET. Default: auth-secrets/jwt-refresh-secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_refresh_secret: Option<SecretKeyRef>,
    /// SENDGRID_API_KEY (optional; needs config.mailFrom). Default: email-secrets/sendgrid-api-key
    /// if present and config.mailFrom is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sendgrid_api_key: Option<SecretKeyRef>,
    /// CLOUDINARY_CLOUD_NAME (optional). Default: cloudinary-secrets/cloud-name if present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudinary_cloud_name: Option<SecretKeyRef>,
    /// CLOUDINARY_API_KEY (optional). Default: cloudinary-secrets/api-key if present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudinary_api_key: Option<SecretKeyRef>,
    /// CLOUDINARY_API_SECRET (optional). Default: cloudinary-secrets/api-secret if present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudinary_api_secret: Option<SecretKeyRef>,
    /// TWILIO_ACCOUNT_SID (optional). Default: sms-secrets/twilio-account-sid if present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twilio_account_sid: Option<SecretKeyRef>,
    /// TWILIO_AUTH_TOKEN (optional). Default: sms-secrets/twilio-auth-token if present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twilio_auth_token: Option<SecretKeyRef>,
    /// RAZORPAY_KEY_ID (optional). Default: payment-secrets/razorpay-key-id if present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub razorpay_key_id: Option<SecretKeyRef>,
    /// RAZORPAY_KEY_SECRET (optional). Default: payment-secrets/razorpay-key-secret if present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub razorpay_key_secret: Option<SecretKeyRef>,
    /// S3_ACCESS_KEY_ID for spec.objectStorage (optional). Default:
    /// storage-secrets/s3-access-key-id if present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_access_key_id: Option<SecretKeyRef>,
    /// S3_SECRET_ACCESS_KEY for spec.objectStorage (optional). Default:
    /// storage-secrets/s3-secret-access-key if present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_secret_access_key: Option<SecretKeyRef>,
}

/// The bucket uploaded files are stored in.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStorageSpec {
    /// Bucket name (S3_BUCKET).
    #[schemars(length(min = 3, max = 63))]
    pub bucket: String,
    /// Bucket region (S3_REGION). Default: us-east-1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub region: Option<String>,
    /// Endpoint of an S3-compatible server such as MinIO or SeaweedFS (S3_ENDPOINT). Default:
    /// AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub endpoint: Option<String>,
}

/// The uploads PersistentVolumeClaim `<name>-uploads`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(
    validation = Rule::new("has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)")
        .message("spec.uploads.storageClassName is immutable: a bound volume cannot move to another storage class"),
    validation = Rule::new("has(self.accessModes) == has(oldSelf.accessModes) && (!has(self.accessModes) || self.accessModes == oldSelf.accessModes)")
        .message("spec.uploads.accessModes is immutable: a claim's access modes cannot change after creation"),
)]
#[serde(rename_all = "camelCase")]
pub struct UploadsSpec {
    /// Create the claim and mount it. Default: true when the uploads block is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Requested size. Default: 50Gi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<Quantity>,
    /// Storage class of the claim (immutable). Default: the cluster's default class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub storage_class_name: Option<String>,
    /// Access modes (immutable). Default: [ReadWriteMany], so pods on different nodes share it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 3))]
    pub access_modes: Option<Vec<AccessMode>>,
    /// Keep the claim and its data when the MerchantBackend is deleted or spec.uploads is
    /// removed or disabled. Default: true (data first). When true the claim carries no
    /// ownerReference, so garbage collection never deletes it and the operator never does; an
    /// Event names it with the command to delete it by hand, and a MerchantBackend of the same
    /// name adopts it again. When false the claim is owned by the MerchantBackend: deleted with
    /// it, and deleted when uploads are disabled. Switching the flag adds or removes the
    /// ownerReference on the existing claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain_on_delete: Option<bool>,
}

/// Volume access mode.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessMode {
    /// Mounted read-write by pods on one node.
    ReadWriteOnce,
    /// Mounted read-write by pods on many nodes.
    ReadWriteMany,
    /// Mounted read-write by a single pod.
    ReadWriteOncePod,
}

/// The public Service `<name>`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    /// Service type. Default: ClusterIP.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<ServiceType>,
    /// Port the Service exposes (forwarded to the API port). Default: 80.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
    /// Annotations of the public Service (e.g. cloud load-balancer settings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Session affinity. Default: None.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_affinity: Option<SessionAffinity>,
}

/// Kind of public Service.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceType {
    /// Cluster-internal virtual IP.
    ClusterIP,
    /// A port on every node.
    NodePort,
    /// A cloud load balancer.
    LoadBalancer,
}

/// Session affinity of the public Service.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionAffinity {
    /// Spread requests.
    None,
    /// Stick a client IP to one pod.
    ClientIP,
}

/// Ingress `<name>` routing `host` to the public Service.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IngressSpec {
    /// Host name served, e.g. api.example.com.
    #[schemars(length(min = 1, max = 253))]
    pub host: String,
    /// IngressClass name. Default: the cluster's default class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    /// Secret holding the TLS certificate for host. Unset: plain HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_secret_name: Option<String>,
    /// Annotations of the Ingress (controller-specific settings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// PodDisruptionBudget `<name>`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PodDisruptionBudgetSpec {
    /// Create the budget. Default: true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Pods that must stay available during voluntary disruptions (number or percentage).
    /// Default: 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_available: Option<IntOrString>,
}

/// NetworkPolicy `<name>`: ingress to the API port only from the listed peers (egress untouched).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicySpec {
    /// Create the policy. Default: false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Namespaces (by name) whose pods may reach the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub allowed_namespaces: Option<Vec<String>>,
    /// Labels of pods in this namespace that may reach the API. Empty: every pod of the namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_pod_labels: Option<BTreeMap<String, String>>,
}

/// Pod template escape hatches, merged into what the operator builds.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplateSpec {
    /// Node labels the pods must run on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    /// Tolerations of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<Toleration>>,
    /// Affinity rules of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// Topology spread constraints of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology_spread_constraints: Option<Vec<TopologySpreadConstraint>>,
    /// Extra pod annotations (e.g. for a service mesh).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Extra pod labels. The operator's app.kubernetes.io labels win on conflict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Extra environment variables of the API container, appended after the operator's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<EnvVar>>,
}

/// Scheduled backups: CronJobs `<name>-backup` and `<name>-verify` running the API image's
/// `merchant-api backup` and `merchant-api verify` (contract: docs/backups.md).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BackupSpec {
    /// Take scheduled backups. Default: true when the backup block is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Cron schedule of backups, in UTC. Default: `0 2 * * *` (daily at 02:00).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 9, max = 128))]
    pub schedule: Option<String>,
    /// Backups older than this many days are deleted after each good backup. Default: 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 3650))]
    pub retention_days: Option<i32>,
    /// The newest this many good backups are kept whatever their age. Default: 7.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub min_backups: Option<i32>,
    /// Where backups are written.
    pub destination: BackupDestination,
    /// Cron schedule of restore drills (`verify --latest`: checksums and a trial restore into a
    /// scratch database), in UTC. Default: `0 4 * * 0` (weekly, Sunday 04:00).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 9, max = 128))]
    pub verify_schedule: Option<String>,
    /// Longest a backup or drill may run before it is stopped and counted failed. Default: 21600
    /// (6 hours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 60, max = 604800))]
    pub deadline_seconds: Option<i64>,
    /// Continuous change capture for point-in-time restores: a Deployment `<name>-capture`
    /// runs `merchant-api capture` against the database's change stream (needs a replica set)
    /// and writes segments under the destination; a MerchantRestore with `until` replays them
    /// over the newest backup before that time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point_in_time: Option<PointInTimeSpec>,
}

/// Continuous change capture (point-in-time restore).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PointInTimeSpec {
    /// Run the capture. Default: true when the block is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// A segment is closed (and becomes restorable) after this many seconds: the most recent
    /// changes a restore can reach are this old at worst. Default: 60.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 5, max = 3600))]
    pub segment_seconds: Option<i32>,
}

/// The S3-compatible bucket backups go to.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BackupDestination {
    /// Bucket name.
    #[schemars(length(min = 3, max = 63))]
    pub bucket: String,
    /// Folder in the bucket; every backup is a new folder under it. Default: the
    /// MerchantBackend's namespace/name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub prefix: Option<String>,
    /// Endpoint of an S3-compatible server (MinIO, SeaweedFS, ...). Default: AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub endpoint: Option<String>,
    /// Region. Default: us-east-1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub region: Option<String>,
    /// Secret (same namespace) with keys `s3-access-key-id` and `s3-secret-access-key`, mounted
    /// read-only into the backup pods. Unset: the pod's own cloud credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub credentials_secret: Option<String>,
}

/// How schema migrations gate a release.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MigrationsSpec {
    /// Run migrations as Jobs before the new image serves. Default: true. When false the
    /// operator runs none and the image is rolled out directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Attempts of one migration before the release is held until the spec changes. Default: 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10))]
    pub max_attempts: Option<i32>,
    /// Longest one migration Job may run. Default: 1800.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 30, max = 86400))]
    pub deadline_seconds: Option<i64>,
    /// Accept a database whose identity differs from the one recorded in status (after a
    /// deliberate switch of database): set it to that identity. Without it, migrations and
    /// in-place restores against a changed database are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub accept_database_identity: Option<String>,
    /// Seconds the new version must have run healthy before its `contract` (destructive)
    /// migrations run: while the window is open, rolling back to the previous image needs no
    /// restore. Default: 86400 (one day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 2592000))]
    pub rollback_window_seconds: Option<i64>,
    /// Take a MerchantBackup (linked in status.release) before any migration `migrate plan`
    /// marks irreversible runs against a database holding data; without spec.backup.destination
    /// such a release is held (UpgradeBlocked). Default: true. False migrates without a backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_before_irreversible: Option<bool>,
}
