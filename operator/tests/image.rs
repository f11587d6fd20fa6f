//! The images `scripts/image` packs without Docker must match what the Dockerfile's targets
//! declare: entrypoint, user, exposed ports and labels (the Dockerfile stays the production
//! path; both must start the same way).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use serde_json::Value;

/// What a Dockerfile stage (with what it inherits) declares about the runtime.
#[derive(Debug, Default, Clone, PartialEq)]
struct Runtime {
    entrypoint: Vec<String>,
    user: String,
    ports: Vec<String>,
    labels: BTreeMap<String, String>,
    /// HEALTHCHECK: the test command and interval, timeout, start period (ns) and retries.
    healthcheck: Option<(Vec<String>, [i64; 4])>,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Dockerfile instructions with line continuations joined.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() && current.is_empty() {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                let (op, rest) = current.split_once(' ').unwrap_or((&current, ""));
                out.push((op.to_uppercase(), rest.trim().to_owned()));
                current.clear();
            }
        }
    }
    out
}

/// `KEY="value" KEY2="value"` pairs of a LABEL instruction.
fn labels(args: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = args.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let after = after.trim_start();
        let (value, tail) = match after.strip_prefix('"') {
            Some(quoted) => quoted.split_once('"').expect("closing quote"),
            None => after.split_once(' ').unwrap_or((after, "")),
        };
        out.push((key.trim().to_owned(), value.to_owned()));
        rest = tail.trim();
    }
    out
}

/// The runtime each named stage declares, following `FROM <stage>` inheritance.
fn stages(dockerfile: &str) -> BTreeMap<String, Runtime> {
    let mut stages: BTreeMap<String, Runtime> = BTreeMap::new();
    let mut name = String::new();
    for (op, args) in instructions(dockerfile) {
        match op.as_str() {
            "FROM" => {
                let words: Vec<&str> = args.split_whitespace().collect();
                let base = stages.get(words[0]).cloned().unwrap_or_default();
                name = words.last().expect("stage").to_string();
                stages.insert(name.clone(), base);
            }
            "ENTRYPOINT" => {
                stages.get_mut(&name).expect("stage").entrypoint =
                    serde_json::from_str(&args).expect("exec-form ENTRYPOINT");
            }
            "USER" => stages.get_mut(&name).expect("stage").user = args,
            "EXPOSE" => {
                stages
                    .get_mut(&name)
                    .expect("stage")
                    .ports
                    .extend(args.split_whitespace().map(|p| {
                        if p.contains('/') {
                            p.to_owned()
                        } else {
                            format!("{p}/tcp")
                        }
                    }))
            }
            "HEALTHCHECK" => {
                stages.get_mut(&name).expect("stage").healthcheck = Some(healthcheck(&args))
            }
            "LABEL" => stages
                .get_mut(&name)
                .expect("stage")
                .labels
                .extend(labels(&args)),
            _ => {}
        }
    }
    stages
}

/// `--interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["a", "b"]` as the image
/// config records it: Test `["CMD", "a", "b"]`, durations in nanoseconds (Docker's defaults for
/// flags not given).
fn healthcheck(args: &str) -> (Vec<String>, [i64; 4]) {
    let (flags, command) = args.split_once("CMD").expect("HEALTHCHECK ... CMD [...]");
    let mut test = vec!["CMD".to_owned()];
    test.extend(serde_json::from_str::<Vec<String>>(command.trim()).expect("exec form"));
    let seconds =
        |s: &str| s.trim_end_matches('s').parse::<i64>().expect("seconds") * 1_000_000_000;
    let mut values = [30 * 1_000_000_000, 30 * 1_000_000_000, 0, 3];
    for flag in flags.split_whitespace() {
        let (key, value) = flag.split_once('=').expect("--flag=value");
        match key {
            "--interval" => values[0] = seconds(value),
            "--timeout" => values[1] = seconds(value),
            "--start-period" => values[2] = seconds(value),
            "--retries" => values[3] = value.parse().expect("retries"),
            other => panic!("unexpected HEALTHCHECK flag {other}"),
        }
    }
    (test, values)
}

/// The runtime recorded in the config of an image `scripts/image` wrote.
fn packed(config: &Value) -> Runtime {
    let c = &config["config"];
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    };
    Runtime {
        entrypoint: strings(&c["Entrypoint"]),
        user: c["User"].as_str().unwrap_or_default().to_owned(),
        ports: c["ExposedPorts"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default(),
        labels: c["Labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default(),
        healthcheck: c["Healthcheck"].as_object().map(|h| {
            let n = |k: &str| h[k].as_i64().unwrap_or_default();
            (
                strings(&h["Test"]),
                [n("Interval"), n("Timeout"), n("StartPeriod"), n("Retries")],
            )
        }),
    }
}

#[test]
fn dockerfile_targets_declare_a_nonroot_exec_entrypoint() {
    let stages = stages(&std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile"));
    for target in ["merchant-api", "merchant-operator"] {
        let runtime = &stages[target];
        assert_eq!(runtime.entrypoint, ["/usr/local/bin/app"], "{target}");
        assert_eq!(runtime.user, "65532:65532", "{target}");
        assert_eq!(runtime.ports.len(), 1, "{target}: {runtime:?}");
    }
    let (test, _) = stages["merchant-api"]
        .healthcheck
        .clone()
        .expect("API HEALTHCHECK");
    assert_eq!(
        test,
        ["CMD", "/usr/local/bin/app", "healthcheck"],
        "exec form, no shell"
    );
}

/// Both paths ship static binaries on a base without shared libraries: the Dockerfile builds
/// with crt-static onto distroless/static, and `scripts/image` (which packs whatever `ldd`
/// lists) refuses a binary that is not static.
#[test]
fn both_build_paths_ship_static_binaries_on_a_static_base() {
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile");
    let instructions = instructions(&dockerfile);
    let has = |op: &str, needle: &str| {
        instructions
            .iter()
            .any(|(o, args)| o == op && args.contains(needle))
    };
    assert!(
        has("ENV", "target-feature=+crt-static"),
        "builder links statically"
    );
    assert!(
        has("RUN", "cargo build --release --locked --target"),
        "--target keeps build scripts dynamic"
    );
    assert!(has(
        "FROM",
        "gcr.io/distroless/static-debian12:nonroot AS runtime"
    ));
    assert!(!has("FROM", "distroless/cc"), "no glibc base");
    let script = std::fs::read_to_string(root().join("scripts/image")).expect("scripts/image");
    assert!(script.contains("RUSTFLAGS=\"-C target-feature=+crt-static\""));
    assert!(
        script.contains("not statically linked"),
        "scripts/image checks the binaries"
    );
}

#[test]
fn scripts_image_builds_what_the_dockerfile_declares() {
    let stages = stages(&std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile"));
    for target in ["merchant-api", "merchant-operator"] {
        let config = root().join(format!("target/images/{target}.config.json"));
        let Ok(text) = std::fs::read_to_string(&config) else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{} missing: CI runs scripts/image before the tests",
                config.display()
            );
            eprintln!("skipping: run scripts/image first");
            return;
        };
        let image = packed(&serde_json::from_str(&text).expect("config JSON"));
        assert_eq!(
            image, stages[target],
            "{target}: scripts/image vs Dockerfile"
        );
    }
}
