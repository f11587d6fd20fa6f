//! Link options of the static release binary the images hold (`scripts/image`, Dockerfile:
//! `-C target-feature=+crt-static`): identical code folding and packed relative relocations
//! (RELR) take about 2.6 MB off the API binary (docs/testing.md, "Image sizes"). Only there:
//! rustc links x86-64 Linux with its bundled lld, which has both; RELR needs glibc 2.36 at run
//! time, which a static binary carries itself; other builds link as before.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let cfg = |key: &str| std::env::var(key).unwrap_or_default();
    let static_x86_64_gnu = cfg("CARGO_CFG_TARGET_ARCH") == "x86_64"
        && cfg("CARGO_CFG_TARGET_OS") == "linux"
        && cfg("CARGO_CFG_TARGET_ENV") == "gnu"
        && cfg("CARGO_CFG_TARGET_FEATURE")
            .split(',')
            .any(|f| f == "crt-static");
    if static_x86_64_gnu {
        for arg in ["-Wl,--icf=all", "-Wl,-z,pack-relative-relocs"] {
            println!("cargo:rustc-link-arg-bin=merchant-operator={arg}");
        }
    }
}
