//! Test fixtures: a MerchantBackend `shop` in namespace `prod` (with a uid, as from the API
//! server) built from a YAML spec fragment.

use crate::crd::{MerchantBackend, MerchantBackendSpec};

/// MerchantBackend `prod/shop` with the given spec (YAML).
pub fn backend(spec_yaml: &str) -> MerchantBackend {
    let spec: MerchantBackendSpec = serde_saphyr::from_str(spec_yaml).expect("fixture spec parses");
    let mut mb = MerchantBackend::new("shop", spec);
    mb.metadata.namespace = Some("prod".to_owned());
    mb.metadata.uid = Some("6f1f3b2e-0000-4000-8000-000000000001".to_owned());
    mb.metadata.generation = Some(1);
    mb
}
