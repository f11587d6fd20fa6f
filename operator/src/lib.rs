//! merchant-operator: reconciles `MerchantBackend` resources into the merchant API stack.

pub mod cli;
