//! API tests against the real MongoDB-wire server, Redis and SMTP capture (one test binary).

mod audit;
mod auth;
mod cashback;
mod cli;
mod helpers;
mod onboarding;
mod ops;
mod permissions;
mod products;
mod server;
mod stock;
mod team;
mod telemetry;
