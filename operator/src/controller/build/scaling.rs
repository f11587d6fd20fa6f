//! Scaling and availability children: HorizontalPodAutoscaler (autoscaling/v2) and
//! PodDisruptionBudget (policy/v1).

use k8s_openapi::api::{
    autoscaling::v2::{
        CrossVersionObjectReference, HPAScalingPolicy, HPAScalingRules, HorizontalPodAutoscaler,
        HorizontalPodAutoscalerBehavior, HorizontalPodAutoscalerSpec, MetricSpec, MetricTarget,
        ResourceMetricSource,
    },
    policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec},
};

use super::{object_meta, selector};
use crate::controller::validate::ValidatedBackend;

fn utilization(resource: &str, percent: i32) -> MetricSpec {
    MetricSpec {
        type_: "Resource".to_owned(),
        resource: Some(ResourceMetricSource {
            name: resource.to_owned(),
            target: MetricTarget {
                type_: "Utilization".to_owned(),
                average_utilization: Some(percent),
                ..Default::default()
            },
        }),
        ..Default::default()
    }
}

fn rules((window, percent, period): (i32, i32, i32), select: &str) -> HPAScalingRules {
    HPAScalingRules {
        stabilization_window_seconds: Some(window),
        select_policy: Some(select.to_owned()),
        policies: Some(vec![HPAScalingPolicy {
            type_: "Percent".to_owned(),
            value: percent,
            period_seconds: period,
        }]),
        ..Default::default()
    }
}

/// HPA on the Deployment, or None when autoscaling is off.
pub fn hpa(b: &ValidatedBackend) -> Option<HorizontalPodAutoscaler> {
    let a = b.autoscaling.as_ref()?;
    Some(HorizontalPodAutoscaler {
        metadata: object_meta(b, b.name.clone()),
        spec: HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".to_owned()),
                kind: "Deployment".to_owned(),
                name: b.name.clone(),
            },
            min_replicas: Some(a.min_replicas),
            max_replicas: a.max_replicas,
            metrics: Some(vec![
                utilization("cpu", a.cpu),
                utilization("memory", a.memory),
            ]),
            behavior: Some(HorizontalPodAutoscalerBehavior {
                scale_up: Some(rules(a.scale_up, "Max")),
                scale_down: Some(rules(a.scale_down, "Min")),
            }),
        },
        ..Default::default()
    })
}

/// PDB over the API pods, or None when disabled or pointless (one pod).
pub fn pdb(b: &ValidatedBackend) -> Option<PodDisruptionBudget> {
    let min_available = b.pdb_min_available.clone()?;
    Some(PodDisruptionBudget {
        metadata: object_meta(b, b.name.clone()),
        spec: Some(PodDisruptionBudgetSpec {
            min_available: Some(min_available),
            selector: Some(selector(b)),
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
    fn the_hpa_scales_up_fast_and_down_slowly() {
        let v = validate(&backend("image: a:1\nautoscaling: {maxReplicas: 12}")).expect("valid");
        let spec = hpa(&v).map(|h| h.spec).expect("hpa");
        assert_eq!((spec.min_replicas, spec.max_replicas), (Some(3), 12));
        let behavior = spec.behavior.expect("behavior");
        let up = behavior.scale_up.expect("up");
        let down = behavior.scale_down.expect("down");
        assert_eq!(up.stabilization_window_seconds, Some(0));
        assert_eq!(down.stabilization_window_seconds, Some(300));
        assert_eq!(down.policies.expect("policies")[0].value, 50);
        let metrics = spec.metrics.expect("metrics");
        assert_eq!(
            metrics[0]
                .resource
                .as_ref()
                .and_then(|r| r.target.average_utilization),
            Some(70)
        );
        assert_eq!(
            metrics[1]
                .resource
                .as_ref()
                .and_then(|r| r.target.average_utilization),
            Some(80)
        );
    }

    #[test]
    fn no_hpa_without_autoscaling() {
        assert!(hpa(&validate(&backend("image: a:1")).expect("valid")).is_none());
    }
}
