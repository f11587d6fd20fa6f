//! merchant-operator: reconciles `MerchantBackend` resources into the merchant API stack.

pub mod admin;
pub mod app;
pub mod cli;
pub mod client;
pub mod controller;
pub mod crd;
pub mod data;
pub mod error;
pub mod healthcheck;
pub mod leader;
pub mod memory;
pub mod metrics;
pub mod plugin;
pub mod render;
pub mod telemetry;

#[cfg(test)]
mod fixtures;
