//! The operator's environment contract matches the API's, read from `merchant-api`'s own CLI:
//! every variable the rendered ConfigMap and Deployment set is one `merchant-api serve` reads,
//! and the rendered environment (Secrets replaced by stand-in values) passes the API's own
//! configuration validation with the values the spec asked for. No cluster needed.

use std::collections::BTreeMap;

use clap::CommandFactory;
use merchant_api::{
    cli::Cli,
    config::{Config, MailSettings, Settings, StorageSettings},
};
use merchant_operator::render;
use serde_json::Value;

/// Every variable `merchant-api serve` reads, with the long flag that takes the same value.
fn api_env() -> BTreeMap<String, String> {
    let cli = Cli::command();
    let serve = cli.find_subcommand("serve").expect("a serve subcommand");
    serve
        .get_arguments()
        .filter_map(|a| {
            let env = a.get_env()?.to_str()?.to_owned();
            Some((env, a.get_long()?.to_owned()))
        })
        .collect()
}

fn example(name: &str) -> String {
    let path = format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// Every field of spec.config set, so each mapping is exercised.
const EVERY_CONFIG_FIELD: &str = "apiVersion: merchant.rezapp.com/v1alpha1
kind: MerchantBackend
metadata: {name: shop, namespace: contract}
spec:
  image: a:1
  port: 6001
  config:
    environment: production
    logLevel: debug
    corsOrigins: [https://a.example, https://b.example]
    frontendUrl: https://shop.example
    mailFrom: shop@example.com
    trustProxy: true
    rateLimit: {enabled: false, general: 11, auth: 12, register: 13, passwordReset: 14,
                productRead: 15, productWrite: 16, productDelete: 17}
    auditRetentionDays: 90
    analyticsCacheTtlSeconds: 60
  objectStorage: {bucket: shop-files, region: eu-west-1, endpoint: 'http://s3.example:8333'}
  secrets:
    sendgridApiKey: {name: mail, key: api-key}
    s3AccessKeyId: {name: bucket, key: id}
    s3SecretAccessKey: {name: bucket, key: secret}
";

/// A stand-in value the API accepts for a Secret-backed variable.
fn stand_in(name: &str) -> String {
    match name {
        "MONGODB_URI" => "mongodb://db.example:27017/merchant".to_owned(),
        "REDIS_URL" => "redis://cache.example:6379".to_owned(),
        other => format!("{other}-stand-in-value-long-enough-for-a-jwt-key"),
    }
}

/// The environment the API container would see: the ConfigMap (envFrom) then the container's
/// own variables, Secret references replaced by stand-ins.
fn rendered_env(input: &str) -> BTreeMap<String, String> {
    let parsed = render::parse(input).expect("parses");
    let manifests = render::manifests(&parsed).expect("renders");
    let of_kind = |kind: &str| {
        manifests
            .iter()
            .find(|m| m["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind}"))
            .clone()
    };
    let mut env = BTreeMap::new();
    let config_map = of_kind("ConfigMap");
    for (key, value) in config_map["data"].as_object().expect("data") {
        env.insert(key.clone(), value.as_str().expect("string").to_owned());
    }
    let deployment = of_kind("Deployment");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["envFrom"][0]["configMapRef"]["name"],
        config_map["metadata"]["name"]
    );
    for var in container["env"].as_array().expect("env") {
        let name = var["name"].as_str().expect("name").to_owned();
        let value = match &var["value"] {
            Value::String(v) => v.clone(),
            _ => stand_in(&name),
        };
        env.insert(name, value);
    }
    env
}

/// Feed `env` to the API's parser as the equivalent flags and validate it.
fn api_settings(env: &BTreeMap<String, String>) -> Settings {
    let flags = api_env();
    let mut args = vec!["merchant-api".to_owned()];
    for (name, value) in env {
        let long = flags
            .get(name)
            .unwrap_or_else(|| panic!("{name} is set by the operator but not read by the API"));
        args.push(format!("--{long}"));
        args.push(value.clone());
    }
    Config::from_args(args)
        .expect("the API parses the rendered environment")
        .validate()
        .unwrap_or_else(|e| panic!("the API rejects the rendered environment: {e}"))
}

#[test]
fn every_variable_the_operator_sets_is_read_by_the_api() {
    let known = api_env();
    assert!(known.contains_key("MONGODB_URI"), "reads the API's CLI");
    for input in [
        example("merchantbackend-minimal.yaml"),
        example("merchantbackend-production.yaml"),
        EVERY_CONFIG_FIELD.to_owned(),
    ] {
        let unknown: Vec<String> = rendered_env(&input)
            .into_keys()
            .filter(|name| !known.contains_key(name))
            .collect();
        assert!(unknown.is_empty(), "not read by merchant-api: {unknown:?}");
    }
}

#[test]
fn the_examples_environment_passes_the_api_validation() {
    let minimal = api_settings(&rendered_env(&example("merchantbackend-minimal.yaml")));
    assert!(minimal.production);
    assert_eq!(minimal.port, 5001);
    assert!(minimal.cors_origins.is_empty(), "same origin only");
    let production = api_settings(&rendered_env(&example("merchantbackend-production.yaml")));
    assert_eq!(production.cors_origins, ["https://merchant.rezapp.com"]);
    assert!(matches!(
        production.mail,
        Some(MailSettings::SendGrid { ref from, .. }) if from == "no-reply@merchant.rezapp.com"
    ));
}

#[test]
fn every_config_field_reaches_its_api_setting() {
    let s = api_settings(&rendered_env(EVERY_CONFIG_FIELD));
    assert_eq!(s.port, 6001);
    assert!(s.production);
    assert_eq!(s.log_level, "debug");
    assert_eq!(s.cors_origins, ["https://a.example", "https://b.example"]);
    assert_eq!(s.frontend_url, "https://shop.example");
    assert!(matches!(
        s.mail,
        Some(MailSettings::SendGrid { ref from, .. }) if from == "shop@example.com"
    ));
    // trustProxy: true is one proxy hop in front (the Ingress).
    assert_eq!(s.trust_proxy, merchant_api::config::ProxyTrust::Hops(1));
    assert_eq!(s.admin_port, 9464);
    let r = &s.rate_limits;
    assert!(r.disabled);
    assert_eq!(
        [
            r.general,
            r.auth,
            r.register,
            r.password_reset,
            r.product_read,
            r.product_write,
            r.product_delete
        ],
        [11, 12, 13, 14, 15, 16, 17]
    );
    assert_eq!(s.audit_retention_days, 90);
    assert_eq!(s.analytics_cache_ttl.as_secs(), 60);
    assert!(matches!(
        s.uploads.storage,
        StorageSettings::S3 { ref bucket, ref region, endpoint: Some(ref endpoint), credentials: Some(_) }
            if bucket == "shop-files" && region == "eu-west-1" && endpoint == "http://s3.example:8333"
    ));
}

#[test]
fn without_object_storage_uploads_stay_on_the_volume() {
    let s = api_settings(&rendered_env(&example("merchantbackend-production.yaml")));
    assert!(matches!(
        s.uploads.storage,
        StorageSettings::Local { ref dir } if dir.as_os_str() == "/app/uploads"
    ));
}
