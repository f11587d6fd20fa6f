//! API tests against the real MongoDB-wire server, Redis and SMTP capture (one test binary).

mod analytics;
mod auth;
mod cli;
mod helpers;
mod onboarding;
mod ops;
mod products;
mod server;
mod stock;
