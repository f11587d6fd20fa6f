# syntax=docker/dockerfile:1.7
# One Dockerfile for both binaries:
#   docker build --build-arg BIN=merchant-operator -t merchant-operator .
#   docker build --build-arg BIN=merchant-api      -t merchant-api .
# Dependencies are cooked in their own layer (cargo-chef), so a source change rebuilds only
# the workspace crates. The runtime image is distroless, non-root, with no shell.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS chef
RUN cargo install --locked cargo-chef@0.1.73 && apt-get update \
 && apt-get install -y --no-install-recommends cmake clang && rm -rf /var/lib/apt/lists/*
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
ARG BIN=merchant-api
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --bin ${BIN} && cp target/release/${BIN} /app

FROM gcr.io/distroless/cc-debian12:nonroot
ARG BIN=merchant-api
LABEL org.opencontainers.image.source="https://github.com/rezapp/merchant-stack" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /app /usr/local/bin/app
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/app"]
