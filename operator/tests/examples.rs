//! The shipped examples are valid: they parse, pass the CRD's CEL rules client-side, validate
//! and render; and the CEL rules reject what the API server would reject. No cluster needed.

use kube::core::cel::validate_cel;
use merchant_operator::{
    crd::{MerchantBackend, MerchantBackup, MerchantRestore},
    render,
};

fn example(name: &str) -> String {
    let path = format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

fn parse(yaml: &str) -> MerchantBackend {
    serde_saphyr::from_str(yaml).expect("a MerchantBackend")
}

#[test]
fn the_minimal_example_renders_the_default_stack() {
    let text = example("merchantbackend-minimal.yaml");
    validate_cel(&parse(&text)).expect("passes the CRD's CEL rules");
    let out = render::render(&text).expect("renders");
    for kind in [
        "ServiceAccount",
        "ConfigMap",
        "Service",
        "Deployment",
        "PodDisruptionBudget",
    ] {
        assert!(out.contains(&format!("kind: {kind}\n")), "{kind} missing");
    }
    assert!(!out.contains("kind: HorizontalPodAutoscaler"));
}

#[test]
fn the_production_example_renders_every_child() {
    let text = example("merchantbackend-production.yaml");
    validate_cel(&parse(&text)).expect("passes the CRD's CEL rules");
    let out = render::render(&text).expect("renders");
    for kind in [
        "PersistentVolumeClaim",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "Ingress",
        "CronJob",
    ] {
        assert!(out.contains(&format!("kind: {kind}\n")), "{kind} missing");
    }
    assert!(
        out.contains("name: merchant-backend-capture\n"),
        "the change capture Deployment"
    );
}

#[test]
fn cel_rejects_min_replicas_above_max_with_a_message_naming_the_field() {
    let bad = parse(
        "apiVersion: merchant.rezapp.com/v1alpha1
kind: MerchantBackend
metadata: {name: shop}
spec: {image: 'a:1', autoscaling: {minReplicas: 9, maxReplicas: 4}}",
    );
    let error = validate_cel(&bad).expect_err("min > max");
    assert!(
        format!("{error:?}").contains("spec.autoscaling.minReplicas"),
        "{error:?}"
    );
}

#[test]
fn cel_rejects_a_read_write_once_volume_behind_several_pods() {
    let bad = parse(
        "apiVersion: merchant.rezapp.com/v1alpha1
kind: MerchantBackend
metadata: {name: shop}
spec: {image: 'a:1', uploads: {accessModes: [ReadWriteOnce]}}",
    );
    let error = validate_cel(&bad).expect_err("RWO with 3 replicas");
    assert!(format!("{error:?}").contains("ReadWriteOnce"), "{error:?}");
}

#[test]
fn cel_rejects_the_admin_port_as_the_api_port() {
    let manifest = |port: u16| {
        parse(&format!(
            "apiVersion: merchant.rezapp.com/v1alpha1
kind: MerchantBackend
metadata: {{name: shop}}
spec: {{image: 'a:1', port: {port}}}"
        ))
    };
    let error = validate_cel(&manifest(9464)).expect_err("the admin port");
    assert!(
        format!("{error:?}").contains("spec.port 9464 is the API's admin port"),
        "{error:?}"
    );
    validate_cel(&manifest(6001)).expect("another port");
}

#[test]
fn the_canary_example_renders_one_stable_deployment() {
    let text = example("merchantbackend-canary.yaml");
    validate_cel(&parse(&text)).expect("passes the CRD's CEL rules");
    let out = render::render(&text).expect("renders");
    // Offline there is no stable revision yet: the first one goes to the main Deployment.
    assert_eq!(out.matches("kind: Deployment\n").count(), 1, "{out}");
    assert!(
        out.contains("merchant.rezapp.com/revision"),
        "pods carry their revision"
    );
}

#[test]
fn cel_rejects_rollouts_that_cannot_run() {
    let manifest = |rollout: &str| {
        parse(&format!(
            "apiVersion: merchant.rezapp.com/v1alpha1
kind: MerchantBackend
metadata: {{name: shop}}
spec: {{image: 'a:1', rollout: {rollout}}}"
        ))
    };
    for (rollout, message) in [
        (
            "{strategy: Canary}",
            "spec.rollout.strategy Canary needs spec.rollout.canary.steps",
        ),
        (
            "{strategy: Canary, canary: {steps: [{setWeight: 10, pause: {}}]}}",
            "a canary step sets exactly one of setWeight, pause, analysis",
        ),
        (
            "{canary: {steps: [{setWeight: 10}]}}",
            "spec.rollout.canary needs spec.rollout.strategy: Canary",
        ),
        (
            "{strategy: Canary, canary: {steps: [{analysis: {}}]}}",
            "an analysis step in spec.rollout.canary.steps needs spec.rollout.analysis.queries",
        ),
    ] {
        let error = validate_cel(&manifest(rollout)).expect_err(rollout);
        assert!(
            format!("{error:?}").contains(message),
            "{rollout}: {error:?}"
        );
    }
    validate_cel(&manifest(
        "{strategy: BlueGreen, blueGreen: {autoPromotion: false}}",
    ))
    .expect("a valid BlueGreen");
}

#[test]
fn cel_rejects_an_uploads_claim_beside_object_storage() {
    let manifest = |uploads: &str| {
        parse(&format!(
            "apiVersion: merchant.rezapp.com/v1alpha1
kind: MerchantBackend
metadata: {{name: shop}}
spec: {{image: 'a:1', objectStorage: {{bucket: files}}{uploads}}}"
        ))
    };
    let error = validate_cel(&manifest(", uploads: {}")).expect_err("claim and bucket");
    assert!(
        format!("{error:?}").contains("spec.objectStorage and spec.uploads are exclusive"),
        "{error:?}"
    );
    validate_cel(&manifest(", uploads: {enabled: false}")).expect("claim disabled");
    validate_cel(&manifest("")).expect("bucket only");
}

fn documents<K: serde::de::DeserializeOwned>(yaml: &str) -> Vec<K> {
    serde_saphyr::from_multiple(yaml).expect("resources of the example's kind")
}

#[test]
fn the_backup_and_restore_examples_pass_their_crds_rules() {
    let backups: Vec<MerchantBackup> = documents(&example("merchantbackup.yaml"));
    let restores: Vec<MerchantRestore> = documents(&example("merchantrestore.yaml"));
    assert_eq!((backups.len(), restores.len()), (1, 3));
    for b in &backups {
        validate_cel(b).expect("backup example valid");
    }
    for r in &restores {
        validate_cel(r).expect("restore example valid");
    }
    assert_eq!(
        restores[0].spec.backup.as_deref(),
        Some(backups[0].metadata.name.as_deref().expect("named"))
    );
}

#[test]
fn cel_rejects_an_in_place_restore_with_a_target_database() {
    let bad: MerchantRestore = serde_saphyr::from_str(
        "apiVersion: merchant.rezapp.com/v1alpha1
kind: MerchantRestore
metadata: {name: r}
spec: {backendRef: shop, inPlace: true, targetDatabase: copy}",
    )
    .expect("a MerchantRestore");
    let error = validate_cel(&bad).expect_err("exclusive");
    assert!(
        format!("{error:?}").contains("spec.inPlace and spec.targetDatabase are exclusive"),
        "{error:?}"
    );
}

#[test]
fn cel_rejects_a_point_in_time_restore_naming_a_backup() {
    let bad: MerchantRestore = serde_saphyr::from_str(
        "apiVersion: merchant.rezapp.com/v1alpha1
kind: MerchantRestore
metadata: {name: r}
spec: {backendRef: shop, backup: nightly, until: '2026-12-06T02:30:00Z'}",
    )
    .expect("a MerchantRestore");
    let error = validate_cel(&bad).expect_err("exclusive");
    assert!(
        error
            .to_string()
            .contains("spec.until and spec.backup are exclusive"),
        "{error}"
    );
}

#[test]
fn the_blue_green_and_s3_backup_examples_pass_the_crds_rules_and_render() {
    let blue_green = example("merchantbackend-blue-green.yaml");
    validate_cel(&parse(&blue_green)).expect("blue-green example valid");
    let out = render::render(&blue_green).expect("renders");
    assert!(out.contains("kind: Deployment\n"));
    let s3 = example("merchantbackend-backup-s3.yaml");
    validate_cel(&parse(&s3)).expect("S3 backup example valid");
    let out = render::render(&s3).expect("renders");
    assert!(out.contains("kind: CronJob\n"), "the scheduled backups");
}

/// (Secret name, key) pairs of `examples/secrets.yaml`.
fn template_keys() -> std::collections::BTreeSet<(String, String)> {
    let secrets: Vec<k8s_openapi::api::core::v1::Secret> = documents(&example("secrets.yaml"));
    secrets
        .iter()
        .flat_map(|s| {
            let name = s.metadata.name.clone().expect("named");
            s.string_data
                .iter()
                .flatten()
                .map(move |(key, _)| (name.clone(), key.clone()))
        })
        .collect()
}

#[test]
fn the_secrets_template_holds_every_secret_the_examples_reference() {
    let have = template_keys();
    let production = parse(&example("merchantbackend-production.yaml"));
    let refs = serde_json::to_value(production.spec.secrets.expect("spec.secrets")).expect("json");
    let mut wanted: Vec<(String, String)> = refs
        .as_object()
        .expect("an object")
        .values()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or_default().to_owned(),
                r["key"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let s3 = parse(&example("merchantbackend-backup-s3.yaml"));
    let credentials = s3
        .spec
        .backup
        .and_then(|b| b.destination.credentials_secret)
        .expect("credentialsSecret");
    for key in ["s3-access-key-id", "s3-secret-access-key"] {
        wanted.push((credentials.clone(), key.to_owned()));
    }
    assert!(wanted.len() > 10, "{wanted:?}");
    for pair in &wanted {
        assert!(have.contains(pair), "examples/secrets.yaml lacks {pair:?}");
    }
}
