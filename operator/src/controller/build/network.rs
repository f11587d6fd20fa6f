//! Traffic children: NetworkPolicy (ingress to the API port from listed peers) and Ingress.

use k8s_openapi::{
    api::networking::v1::{
        HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
        IngressServiceBackend, IngressSpec, IngressTLS, NetworkPolicy, NetworkPolicyIngressRule,
        NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec, ServiceBackendPort,
    },
    apimachinery::pkg::{
        apis::meta::v1::{LabelSelector, LabelSelectorRequirement},
        util::intstr::IntOrString,
    },
};

use super::{object_meta, selector};
use crate::controller::validate::ValidatedBackend;

/// NetworkPolicy admitting only the listed pods/namespaces to the API port, or None.
pub fn network_policy(b: &ValidatedBackend) -> Option<NetworkPolicy> {
    let n = b.network_policy.as_ref()?;
    let mut from = vec![NetworkPolicyPeer {
        pod_selector: Some(LabelSelector {
            match_labels: (!n.pod_labels.is_empty()).then(|| n.pod_labels.clone()),
            ..Default::default()
        }),
        ..Default::default()
    }];
    if !n.namespaces.is_empty() {
        from.push(NetworkPolicyPeer {
            namespace_selector: Some(LabelSelector {
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: "kubernetes.io/metadata.name".to_owned(),
                    operator: "In".to_owned(),
                    values: Some(n.namespaces.clone()),
                }]),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    Some(NetworkPolicy {
        metadata: object_meta(b, b.name.clone()),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(selector(b)),
            policy_types: Some(vec!["Ingress".to_owned()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(from),
                ports: Some(vec![NetworkPolicyPort {
                    port: Some(IntOrString::Int(b.port)),
                    protocol: Some("TCP".to_owned()),
                    ..Default::default()
                }]),
            }]),
            egress: None,
        }),
    })
}

/// Ingress routing the host to the public Service, or None.
pub fn ingress(b: &ValidatedBackend) -> Option<Ingress> {
    let i = b.ingress.as_ref()?;
    let mut metadata = object_meta(b, b.name.clone());
    metadata.annotations = i.annotations.clone().filter(|a| !a.is_empty());
    let backend = IngressBackend {
        service: Some(IngressServiceBackend {
            name: b.name.clone(),
            port: Some(ServiceBackendPort {
                number: Some(b.service.port),
                name: None,
            }),
        }),
        ..Default::default()
    };
    Some(Ingress {
        metadata,
        spec: Some(IngressSpec {
            ingress_class_name: i.class_name.clone(),
            rules: Some(vec![IngressRule {
                host: Some(i.host.clone()),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some("/".to_owned()),
                        path_type: "Prefix".to_owned(),
                        backend,
                    }],
                }),
            }]),
            tls: i.tls_secret_name.as_ref().map(|secret| {
                vec![IngressTLS {
                    hosts: Some(vec![i.host.clone()]),
                    secret_name: Some(secret.clone()),
                }]
            }),
            ..Default::default()
        }),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{controller::validate::validate, fixtures::backend};

    #[test]
    fn the_network_policy_admits_listed_namespaces_on_the_api_port() {
        let v = validate(&backend(
            "image: a:1\nnetworkPolicy: {enabled: true, allowedNamespaces: [ingress-nginx]}",
        ))
        .expect("valid");
        let spec = network_policy(&v).and_then(|n| n.spec).expect("policy");
        let rule = &spec.ingress.expect("ingress")[0];
        assert_eq!(rule.from.as_ref().map(Vec::len), Some(2));
        assert_eq!(
            rule.ports.as_ref().expect("ports")[0].port,
            Some(IntOrString::Int(5001))
        );
    }

    #[test]
    fn the_ingress_terminates_tls_for_its_host() {
        let v = validate(&backend("image: a:1\ningress: {host: api.example.com, tlsSecretName: api-tls, className: nginx}")).expect("valid");
        let spec = ingress(&v).and_then(|i| i.spec).expect("ingress");
        assert_eq!(spec.ingress_class_name.as_deref(), Some("nginx"));
        assert_eq!(
            spec.tls.expect("tls")[0].secret_name.as_deref(),
            Some("api-tls")
        );
    }
}
