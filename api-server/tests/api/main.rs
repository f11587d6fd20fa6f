//! API tests against the real MongoDB-wire server, Redis and SMTP capture (one test binary).

mod auth;
mod bulk;
mod cli;
mod helpers;
mod onboarding;
mod ops;
mod products;
mod server;
mod stock;
mod uploads;
