//! API tests against the real MongoDB-wire server, Redis and SMTP capture (one test binary).

mod analytics;
mod audit;
mod auth;
mod backup;
mod bulk;
mod cashback;
mod cli;
mod dashboard;
mod helpers;
mod notifications;
mod onboarding;
mod ops;
mod order_fixtures;
mod orders;
mod permissions;
mod products;
mod server;
mod sessions;
mod shapes;
mod snapshot;
mod stock;
mod team;
mod telemetry;
mod uploads;
