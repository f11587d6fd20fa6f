//! merchant-api: the merchant e-commerce HTTP API and its data commands.

pub mod audit;
pub mod backup;
pub mod body_limit;
pub mod cache;
pub mod cli;
pub mod config;
pub mod domain;
pub mod error;
pub mod extract;
pub mod mail;
pub mod metrics;
pub mod middleware;
pub mod notifications;
pub mod openapi;
pub mod ops;
pub mod probe;
pub mod ratelimit;
pub mod routes;
pub mod security;
pub mod startup;
pub mod state;
pub mod store;
pub mod tabular;
pub mod telemetry;
pub mod uploads;
pub mod validate;
