//! The two Services: `<name>-internal` (ClusterIP on the API port, always) and the public
//! `<name>` (type, port, annotations and affinity from spec.service).

use k8s_openapi::{
    api::core::v1::{Service, ServicePort, ServiceSpec},
    apimachinery::pkg::util::intstr::IntOrString,
};

use super::{HTTP_PORT_NAME, names, object_meta, selector_labels};
use crate::controller::validate::ValidatedBackend;

fn port(port: i32) -> ServicePort {
    ServicePort {
        name: Some(HTTP_PORT_NAME.to_owned()),
        port,
        target_port: Some(IntOrString::String(HTTP_PORT_NAME.to_owned())),
        protocol: Some("TCP".to_owned()),
        ..Default::default()
    }
}

/// Internal ClusterIP Service for in-cluster callers, on the API port.
pub fn internal(b: &ValidatedBackend) -> Service {
    Service {
        metadata: object_meta(b, names::internal_service(&b.name)),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            selector: Some(selector_labels(b)),
            ports: Some(vec![port(b.port)]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Public Service.
pub fn public(b: &ValidatedBackend) -> Service {
    let mut metadata = object_meta(b, b.name.clone());
    if !b.service.annotations.is_empty() {
        metadata.annotations = Some(b.service.annotations.clone());
    }
    Service {
        metadata,
        spec: Some(ServiceSpec {
            type_: Some(b.service.type_.to_owned()),
            selector: Some(selector_labels(b)),
            ports: Some(vec![port(b.service.port)]),
            session_affinity: Some(b.service.session_affinity.to_owned()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{controller::validate::validate, fixtures::backend};

    #[test]
    fn the_public_service_forwards_its_port_to_the_api_port() {
        let v = validate(&backend(
            "image: a:1\nservice: {type: LoadBalancer, port: 8080, sessionAffinity: ClientIP}",
        ))
        .expect("valid");
        let spec = public(&v).spec.expect("spec");
        assert_eq!(spec.type_.as_deref(), Some("LoadBalancer"));
        assert_eq!(spec.session_affinity.as_deref(), Some("ClientIP"));
        let p = &spec.ports.expect("ports")[0];
        assert_eq!(
            (p.port, p.target_port.clone()),
            (8080, Some(IntOrString::String("http".into())))
        );
    }

    #[test]
    fn the_internal_service_is_cluster_ip_on_5001() {
        let v = validate(&backend("image: a:1")).expect("valid");
        let s = internal(&v);
        assert_eq!(s.metadata.name.as_deref(), Some("shop-internal"));
        assert_eq!(s.spec.and_then(|s| s.ports).expect("ports")[0].port, 5001);
    }
}
