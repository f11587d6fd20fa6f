# syntax=docker/dockerfile:1.7
# One Dockerfile, one target per binary:
#   docker build --target merchant-api      -t merchant-api .
#   docker build --target merchant-operator -t merchant-operator .
# Dependencies are cooked in their own layer (cargo-chef), so a source change rebuilds only
# the workspace crates. The binaries link glibc statically (crt-static), so the runtime images are
# distroless/static: non-root, no shell, no shared libraries.
# scripts/image builds the same images without Docker (operator/tests/image.rs compares them).

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS chef
RUN cargo install --locked cargo-chef@0.1.73 && apt-get update \
 && apt-get install -y --no-install-recommends cmake clang && rm -rf /var/lib/apt/lists/*
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
# --target keeps crt-static off build scripts and proc macros; the copy gives the stages below
# one path whatever the platform.
ENV RUSTFLAGS="-C target-feature=+crt-static"
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --target "$(uname -m)-unknown-linux-gnu" --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --target "$(uname -m)-unknown-linux-gnu" \
      --bin merchant-api --bin merchant-operator \
 && mkdir -p /out && cp "target/$(uname -m)-unknown-linux-gnu/release/merchant-api" \
      "target/$(uname -m)-unknown-linux-gnu/release/merchant-operator" /out/

FROM gcr.io/distroless/static-debian12:nonroot AS runtime
LABEL org.opencontainers.image.source="https://github.com/rezapp/merchant-stack" \
      org.opencontainers.image.licenses="Apache-2.0"
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/app"]

FROM runtime AS merchant-operator
LABEL org.opencontainers.image.title="merchant-operator"
COPY --from=builder /out/merchant-operator /usr/local/bin/app
# /healthz, /readyz, /metrics
EXPOSE 8080

FROM runtime AS merchant-api
LABEL org.opencontainers.image.title="merchant-api"
COPY --from=builder /out/merchant-api /usr/local/bin/app
EXPOSE 5001
# No shell or curl in the image: the binary asks its own admin listener (Kubernetes uses the
# pod's probes instead; this is for docker and compose).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["/usr/local/bin/app", "healthcheck"]
