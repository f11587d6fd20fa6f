//! merchant-api: the merchant e-commerce HTTP API and its data commands.

pub mod cli;
