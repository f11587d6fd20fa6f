//! GitOps health: the Argo CD health checks (gitops/argocd/*/health.lua) run by a real Lua 5.4
//! on the recorded status fixtures (gitops/fixtures), and the Flux `healthCheckExprs` of
//! examples/gitops/flux-kustomization.yaml evaluated with CEL on the same fixtures, the way
//! Flux's status evaluator does. Also checks that the examples install what is tested here.
//! No cluster: the fixtures are objects as the API server returns them.

use std::{
    collections::BTreeSet,
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use kube::core::cel::cel::{Context, Program, Value as Cel};
use serde::Deserialize;
use serde_json::Value;

const KINDS: [&str; 3] = ["MerchantBackend", "MerchantBackup", "MerchantRestore"];
const API_VERSION: &str = "merchant.rezapp.com/v1alpha1";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the operator crate sits in the workspace")
        .to_path_buf()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Every document of a YAML file, as JSON values.
fn documents(path: &Path) -> Vec<Value> {
    serde_saphyr::from_multiple(&read(path))
        .unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

fn fixture(name: &str) -> Value {
    let path = repo().join("gitops/fixtures").join(name);
    let mut docs = documents(&path);
    assert_eq!(docs.len(), 1, "{name}: one object per fixture");
    docs.remove(0)
}

/// Fixture file names of one kind, sorted.
fn fixtures_of(kind: &str) -> BTreeSet<String> {
    std::fs::read_dir(repo().join("gitops/fixtures"))
        .expect("gitops/fixtures")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .into_string()
                .expect("utf-8")
        })
        .filter(|name| fixture(name)["kind"] == kind)
        .collect()
}

// ---- Argo CD -------------------------------------------------------------------------------

/// `health_test.yaml` in the layout of Argo CD's resource_customizations tests.
#[derive(Deserialize)]
struct HealthTests {
    tests: Vec<HealthTest>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HealthTest {
    health_status: Health,
    input_path: String,
}

#[derive(Deserialize, Debug, PartialEq)]
struct Health {
    status: String,
    message: String,
}

/// The Lua interpreter, or None (after saying so) when it is missing outside CI. Under CI the
/// test must not pass without running the scripts.
fn lua() -> Option<&'static str> {
    const LUA: &str = "lua5.4";
    let found = Command::new(LUA)
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some(LUA);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{LUA} is not installed; scripts/testenv installs it (Debian package lua5.4)");
    }
    eprintln!(
        "skipped: {LUA} is not installed (Debian package lua5.4; scripts/testenv installs it)"
    );
    None
}

/// Runs `script` with `obj` set to `object`, as Argo CD does, through the test harness.
fn run_health(lua: &str, script: &Path, object: &Value) -> Health {
    let harness = repo().join("gitops/argocd/test/harness.lua");
    let mut child = Command::new(lua)
        .arg(&harness)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start lua");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(object.to_string().as_bytes())
        .expect("write the object");
    let out = child.wait_with_output().expect("lua runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: {stderr}", script.display());
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let mut lines = stdout.lines();
    Health {
        status: lines.next().unwrap_or_default().to_owned(),
        message: lines.next().unwrap_or_default().to_owned(),
    }
}

#[test]
fn argocd_health_checks_give_the_recorded_health_of_every_fixture() {
    let Some(lua) = lua() else { return };
    for kind in KINDS {
        let dir = repo().join("gitops/argocd").join(kind);
        let tests: HealthTests =
            serde_saphyr::from_str(&read(&dir.join("health_test.yaml"))).expect("health_test.yaml");
        let mut covered = BTreeSet::new();
        for t in &tests.tests {
            let name = Path::new(&t.input_path)
                .file_name()
                .and_then(|n| n.to_str())
                .expect("inputPath names a file")
                .to_owned();
            let object = fixture(&name);
            assert_eq!(object["kind"], kind, "{}", t.input_path);
            let health = run_health(lua, &dir.join("health.lua"), &object);
            assert_eq!(health, t.health_status, "{kind} {}", t.input_path);
            covered.insert(name);
        }
        assert_eq!(
            covered,
            fixtures_of(kind),
            "{kind}: every fixture has an expected health"
        );
    }
}

/// The rules of docs/gitops.md, independent of the recorded messages.
#[test]
fn argocd_health_statuses_follow_the_documented_rules() {
    let Some(lua) = lua() else { return };
    let cases = [
        ("backend-new.yaml", "Progressing"),
        ("backend-stale.yaml", "Progressing"),
        ("backend-ready.yaml", "Healthy"),
        ("backend-rolling-out.yaml", "Progressing"),
        ("backend-rollout-queued.yaml", "Progressing"),
        ("backend-paused.yaml", "Suspended"),
        ("backend-rollout-paused.yaml", "Suspended"),
        ("backend-rolled-back.yaml", "Degraded"),
        ("backend-aborted.yaml", "Degraded"),
        ("backend-rollback-blocked.yaml", "Degraded"),
        ("backend-stalled.yaml", "Degraded"),
        ("backend-crash-loop.yaml", "Degraded"),
        ("backup-new.yaml", "Progressing"),
        ("backup-running.yaml", "Progressing"),
        ("backup-succeeded.yaml", "Healthy"),
        ("backup-failed.yaml", "Degraded"),
        ("restore-pending.yaml", "Progressing"),
        ("restore-running.yaml", "Progressing"),
        ("restore-succeeded.yaml", "Healthy"),
        ("restore-failed.yaml", "Degraded"),
    ];
    for (name, want) in cases {
        let object = fixture(name);
        let kind = object["kind"].as_str().expect("kind");
        let script = repo().join("gitops/argocd").join(kind).join("health.lua");
        let health = run_health(lua, &script, &object);
        assert_eq!(health.status, want, "{name}: {}", health.message);
        assert!(!health.message.is_empty(), "{name}: a message says why");
    }
    // The messages Argo CD shows are the operator's own words.
    let script = repo().join("gitops/argocd/MerchantBackend/health.lua");
    let stalled = fixture("backend-stalled.yaml");
    let condition = stalled
        .pointer("/status/conditions/3")
        .expect("4 conditions");
    assert_eq!(condition["type"], "Stalled");
    let health = run_health(lua, &script, &stalled);
    assert_eq!(Value::from(health.message), condition["message"]);
    let rolled_back = fixture("backend-rolled-back.yaml");
    let health = run_health(lua, &script, &rolled_back);
    assert_eq!(
        Value::from(health.message),
        rolled_back["status"]["rollout"]["message"]
    );
}

#[test]
fn argocd_cm_patch_installs_each_health_script_verbatim() {
    let docs = documents(&repo().join("gitops/argocd/argocd-cm-patch.yaml"));
    assert_eq!(docs.len(), 1);
    let cm = &docs[0];
    assert_eq!(cm["kind"], "ConfigMap");
    assert_eq!(cm["metadata"]["name"], "argocd-cm");
    let data = cm["data"].as_object().expect("data");
    assert_eq!(data.len(), KINDS.len());
    for kind in KINDS {
        let key = format!("resource.customizations.health.merchant.rezapp.com_{kind}");
        let script = read(&repo().join("gitops/argocd").join(kind).join("health.lua"));
        assert_eq!(
            data[&key], script,
            "{key} is gitops/argocd/{kind}/health.lua"
        );
    }
}

// ---- Flux ----------------------------------------------------------------------------------

/// One entry of a Kustomization's spec.healthCheckExprs.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct HealthCheckExpr {
    api_version: String,
    kind: String,
    current: String,
    #[serde(default)]
    in_progress: Option<String>,
    #[serde(default)]
    failed: Option<String>,
}

fn flux_documents() -> Vec<Value> {
    documents(&repo().join("examples/gitops/flux-kustomization.yaml"))
}

/// The health expressions exactly as the example Kustomization ships them.
fn health_check_exprs() -> Vec<HealthCheckExpr> {
    let docs = flux_documents();
    let ks = docs
        .iter()
        .find(|d| d["kind"] == "Kustomization")
        .expect("a Kustomization");
    assert_eq!(ks["apiVersion"], "kustomize.toolkit.fluxcd.io/v1");
    assert_eq!(
        ks["spec"]["wait"], true,
        "health checks run with wait: true"
    );
    serde_json::from_value(ks["spec"]["healthCheckExprs"].clone()).expect("healthCheckExprs")
}

/// Flux's verdict for `object`: what fluxcd/pkg runtime/cel StatusEvaluator.Evaluate does. A
/// differing status.observedGeneration is InProgress; then inProgress, failed and current in
/// that order, the first true one wins; none true is InProgress. An expression that cannot be
/// evaluated is an error, which the poller reports as Unknown and polls again.
fn flux_status(check: &HealthCheckExpr, object: &Value) -> Result<&'static str, String> {
    let observed = object.pointer("/status/observedGeneration");
    let generation = object.pointer("/metadata/generation");
    if let (Some(o), Some(g)) = (observed, generation)
        && o != g
    {
        return Ok("InProgress");
    }
    // As in Flux, the variables are the object's top-level fields (apiVersion, metadata, spec,
    // status): a missing `status` is an undeclared reference.
    let mut ctx = Context::default();
    for (key, value) in object.as_object().expect("an object") {
        ctx.add_variable(key.as_str(), value.clone())
            .map_err(|e| format!("{key}: {e}"))?;
    }
    let ordered = [
        (check.in_progress.as_deref(), "InProgress"),
        (check.failed.as_deref(), "Failed"),
        (Some(check.current.as_str()), "Current"),
    ];
    for (expr, status) in ordered {
        let Some(expr) = expr else { continue };
        let program = Program::compile(expr).map_err(|e| format!("parse {expr:?}: {e}"))?;
        match program.execute(&ctx) {
            Ok(Cel::Bool(true)) => return Ok(status),
            Ok(Cel::Bool(false)) => {}
            Ok(other) => return Err(format!("{expr:?} is not a boolean: {other:?}")),
            Err(e) => return Err(format!("{expr:?}: {e}")),
        }
    }
    Ok("InProgress")
}

#[test]
fn flux_health_expressions_cover_the_three_kinds() {
    let exprs = health_check_exprs();
    let kinds: Vec<&str> = exprs.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, KINDS);
    for e in &exprs {
        assert_eq!(e.api_version, API_VERSION);
        for expr in [Some(&e.current), e.in_progress.as_ref(), e.failed.as_ref()]
            .into_iter()
            .flatten()
        {
            Program::compile(expr).unwrap_or_else(|err| panic!("{}: {expr:?}: {err}", e.kind));
        }
    }
}

#[test]
fn flux_health_expressions_classify_every_fixture() {
    // Unknown: no status yet, so `status` is undeclared; Flux polls again until the timeout.
    let cases = [
        ("backend-new.yaml", "Unknown"),
        ("backend-stale.yaml", "InProgress"),
        ("backend-ready.yaml", "Current"),
        ("backend-rolling-out.yaml", "InProgress"),
        ("backend-rollout-queued.yaml", "InProgress"),
        // spec.paused asks for nothing to happen: nothing to wait for.
        ("backend-paused.yaml", "Current"),
        // A canary held at a pause step is not done: Flux waits for the promotion.
        ("backend-rollout-paused.yaml", "InProgress"),
        ("backend-rolled-back.yaml", "Failed"),
        ("backend-aborted.yaml", "Failed"),
        ("backend-rollback-blocked.yaml", "Failed"),
        ("backend-stalled.yaml", "Failed"),
        ("backend-crash-loop.yaml", "Failed"),
        ("backup-new.yaml", "Unknown"),
        ("backup-running.yaml", "InProgress"),
        ("backup-succeeded.yaml", "Current"),
        ("backup-failed.yaml", "Failed"),
        ("restore-pending.yaml", "InProgress"),
        ("restore-running.yaml", "InProgress"),
        ("restore-succeeded.yaml", "Current"),
        ("restore-failed.yaml", "Failed"),
    ];
    let exprs = health_check_exprs();
    let mut seen = BTreeSet::new();
    for (name, want) in cases {
        let object = fixture(name);
        let check = exprs
            .iter()
            .find(|e| object["kind"] == e.kind.as_str())
            .unwrap_or_else(|| panic!("{name}: no expressions for its kind"));
        let got = match flux_status(check, &object) {
            Ok(status) => status,
            Err(e) => {
                assert_eq!(want, "Unknown", "{name}: {e}");
                assert!(object.get("status").is_none(), "{name}: {e}");
                "Unknown"
            }
        };
        assert_eq!(got, want, "{name}");
        seen.insert(name.to_owned());
    }
    let all: BTreeSet<String> = KINDS.iter().flat_map(|k| fixtures_of(k)).collect();
    assert_eq!(seen, all, "every fixture has an expected Flux status");
}

/// kstatus's verdict for each fixture, from tools/kstatus-check (sigs.k8s.io/cli-utils, what Flux
/// uses without health expressions), or None (after saying so) without Go outside CI.
fn kstatus_of_fixtures() -> Option<Vec<(String, String)>> {
    let files: Vec<PathBuf> = KINDS
        .iter()
        .flat_map(|k| fixtures_of(k))
        .map(|name| repo().join("gitops/fixtures").join(name))
        .collect();
    let out = match Command::new("go")
        .args(["run", "."])
        .args(&files)
        .current_dir(repo().join("tools/kstatus-check"))
        .output()
    {
        Ok(out) => out,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => panic!("go: {e}"),
        Err(e) => {
            eprintln!("skipped: go is not installed ({e})");
            return None;
        }
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tools/kstatus-check: {stderr}");
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    Some(
        stdout
            .lines()
            .map(|l| {
                let mut words = l.split(' ');
                let name = words.next().unwrap_or_default().to_owned();
                (name, words.next().unwrap_or_default().to_owned())
            })
            .collect(),
    )
}

#[test]
fn kstatus_generic_rules_read_the_operator_status_like_the_flux_expressions() {
    let Some(verdicts) = kstatus_of_fixtures() else {
        return;
    };
    // Where the generic rules differ from the expressions, and why that is acceptable.
    let differs = [
        // No status yet: kstatus calls it Current, the expressions wait (Unknown).
        ("backend-new.yaml", "Current"),
        ("backup-new.yaml", "Current"),
        // A crash loop stays InProgress until the Deployment's progress deadline, when the
        // operator rolls back (Stalled) or reports RolloutFailed; the expressions fail at once.
        ("backend-crash-loop.yaml", "InProgress"),
    ];
    let exprs = health_check_exprs();
    assert_eq!(verdicts.len(), 20, "{verdicts:?}");
    for (name, got) in verdicts {
        let object = fixture(&name);
        let check = exprs
            .iter()
            .find(|e| object["kind"] == e.kind.as_str())
            .expect("expressions of its kind");
        let want = match differs.iter().find(|(n, _)| *n == name) {
            Some((_, status)) => (*status).to_owned(),
            None => flux_status(check, &object)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .to_owned(),
        };
        assert_eq!(got, want, "{name}: kstatus");
    }
}

// ---- examples ------------------------------------------------------------------------------

#[test]
fn flux_examples_install_the_chart_and_sync_a_merchant_backend() {
    let docs = documents(&repo().join("examples/gitops/flux-helmrelease.yaml"));
    let repo_doc = docs
        .iter()
        .find(|d| d["kind"] == "HelmRepository")
        .expect("a HelmRepository");
    assert_eq!(repo_doc["spec"]["type"], "oci");
    assert_eq!(repo_doc["spec"]["url"], "oci://ghcr.io/rezapp/charts");
    let release = docs
        .iter()
        .find(|d| d["kind"] == "HelmRelease")
        .expect("a HelmRelease");
    assert_eq!(release["apiVersion"], "helm.toolkit.fluxcd.io/v2");
    let chart = &release["spec"]["chart"]["spec"];
    assert_eq!(chart["sourceRef"]["name"], repo_doc["metadata"]["name"]);
    let chart_yaml: Value =
        serde_saphyr::from_str(&read(&repo().join("charts/merchant-operator/Chart.yaml")))
            .expect("Chart.yaml");
    assert_eq!(chart["chart"], chart_yaml["name"]);
    // "0.1.x" must admit the chart's own version.
    let range = chart["version"].as_str().expect("version");
    let version = chart_yaml["version"].as_str().expect("chart version");
    assert!(
        version.starts_with(range.trim_end_matches('x')),
        "{range} admits {version}"
    );
    // Every value the example sets is a value of the chart.
    let values: Value =
        serde_saphyr::from_str(&read(&repo().join("charts/merchant-operator/values.yaml")))
            .expect("values.yaml");
    for key in release["spec"]["values"]
        .as_object()
        .expect("values")
        .keys()
    {
        assert!(values.get(key).is_some(), "values.yaml has {key}");
    }

    // The Kustomization waits for the release and syncs a real MerchantBackend manifest.
    let docs = flux_documents();
    let ks = docs
        .iter()
        .find(|d| d["kind"] == "Kustomization")
        .expect("a Kustomization");
    assert_eq!(
        ks["spec"]["dependsOn"][0]["name"],
        release["metadata"]["name"]
    );
    let git = docs
        .iter()
        .find(|d| d["kind"] == "GitRepository")
        .expect("a GitRepository");
    assert_eq!(ks["spec"]["sourceRef"]["name"], git["metadata"]["name"]);
    let ignore = git["spec"]["ignore"].as_str().expect("ignore");
    let path = ks["spec"]["path"]
        .as_str()
        .expect("path")
        .trim_start_matches("./");
    let kept: Vec<&str> = ignore
        .lines()
        .filter_map(|l| l.strip_prefix("!/"))
        .collect();
    assert!(!kept.is_empty());
    for file in kept {
        assert!(file.starts_with(path), "{file} is under {path}");
        let manifest = documents(&repo().join(file));
        assert_eq!(manifest[0]["apiVersion"], API_VERSION, "{file}");
    }
}

#[test]
fn argocd_application_syncs_a_merchant_backend_with_server_side_apply() {
    let docs = documents(&repo().join("examples/gitops/argocd-application.yaml"));
    assert_eq!(docs.len(), 1);
    let app = &docs[0];
    assert_eq!(app["apiVersion"], "argoproj.io/v1alpha1");
    assert_eq!(app["kind"], "Application");
    let options: Vec<&str> = app["spec"]["syncPolicy"]["syncOptions"]
        .as_array()
        .expect("syncOptions")
        .iter()
        .map(|o| o.as_str().expect("a string"))
        .collect();
    assert!(options.contains(&"ServerSideApply=true"), "{options:?}");
    let source = &app["spec"]["source"];
    let file = repo()
        .join(source["path"].as_str().expect("path"))
        .join(source["directory"]["include"].as_str().expect("include"));
    let manifest = documents(&file);
    assert_eq!(manifest[0]["kind"], "MerchantBackend", "{}", file.display());
}
