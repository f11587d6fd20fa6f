//! Where each revision runs, applied to the built children: the main Deployment's template
//! (stable or new), the canary / preview Deployment, the Services' revision selection. Pure.

use k8s_openapi::api::{
    apps::v1::Deployment,
    core::v1::{PodTemplateSpec, Service},
};

use super::machine::{Layout, Selects, Template};
use crate::{
    controller::build::{Children, Desired, names, restamp},
    crd::{REVISION_LABEL, rollout::RolloutStrategy},
    error::Result,
};

/// The revisions the layout names.
pub struct Revisions<'a> {
    /// The stable revision's id and template (None: no stable revision, or it is the new one).
    pub stable: Option<(&'a str, &'a PodTemplateSpec)>,
    /// The new revision's id (its template is the built one).
    pub candidate: &'a str,
}

/// Rewrite `children` (built for the new revision) to `layout`.
///
/// # Errors
/// `SerializeChild` if an edited manifest cannot be serialized for its hash.
pub fn arrange(
    children: &mut Children,
    strategy: RolloutStrategy,
    layout: &Layout,
    revisions: &Revisions<'_>,
) -> Result<()> {
    let Desired::Present(built) = &children.deployment else {
        return Ok(());
    };
    let name = built.metadata.name.clone().unwrap_or_default();
    let second = layout
        .second
        .map(|pods| second_deployment(built, revisions.candidate, pods));
    let (canary, preview) = match (strategy, second) {
        (RolloutStrategy::Canary, Some(d)) => (Some(named(d, names::canary(&name))), None),
        (RolloutStrategy::BlueGreen, Some(d)) => (None, Some(named(d, names::preview(&name)))),
        _ => (None, None),
    };
    if let (Template::Stable, Some((_, template))) = (layout.main, revisions.stable) {
        let mut main = built.clone();
        if let Some(spec) = main.spec.as_mut() {
            spec.template = (*template).clone();
        }
        children.deployment = Desired::Present(restamp(main)?);
    }
    children.canary = desired(canary)?;
    children.preview_service = desired(
        (strategy == RolloutStrategy::BlueGreen)
            .then(|| preview_service(&children.public_service, &name, revisions)),
    )?;
    children.preview = desired(preview)?;
    let selected = match layout.selects {
        Selects::All => None,
        Selects::Stable => revisions
            .stable
            .map(|(id, _)| id)
            .or(Some(revisions.candidate)),
        Selects::Candidate => Some(revisions.candidate),
    };
    if let Some(revision) = selected {
        children.public_service = restamp(select(children.public_service.clone(), revision))?;
        children.internal_service = restamp(select(children.internal_service.clone(), revision))?;
    }
    Ok(())
}

fn desired<K: serde::Serialize + kube::Resource<DynamicType = ()>>(
    k: Option<K>,
) -> Result<Desired<K>> {
    Ok(match k {
        Some(k) => Desired::Present(restamp(k)?),
        None => Desired::Absent,
    })
}

/// The new revision's second Deployment: the built one with `pods` replicas, selecting only its
/// revision (the main Deployment's selector is immutable and selects every revision).
fn second_deployment(built: &Deployment, revision: &str, pods: i32) -> Deployment {
    let mut d = built.clone();
    if let Some(spec) = d.spec.as_mut() {
        spec.replicas = Some(pods);
        spec.selector
            .match_labels
            .get_or_insert_with(Default::default)
            .insert(REVISION_LABEL.to_owned(), revision.to_owned());
    }
    d
}

fn named(mut d: Deployment, name: String) -> Deployment {
    d.metadata.name = Some(name);
    d
}

/// `<name>-preview`: the public Service's twin selecting the revision under test (the stable
/// one when nothing rolls out).
fn preview_service(public: &Service, name: &str, revisions: &Revisions<'_>) -> Service {
    let mut s = public.clone();
    s.metadata.name = Some(names::preview(name));
    if let Some(spec) = s.spec.as_mut() {
        // ClusterIP only: a preview is for testers inside the cluster, not a second load balancer.
        spec.type_ = Some("ClusterIP".to_owned());
        spec.external_traffic_policy = None;
    }
    select(s, revisions.candidate)
}

fn select(mut s: Service, revision: &str) -> Service {
    if let Some(spec) = s.spec.as_mut() {
        spec.selector
            .get_or_insert_with(Default::default)
            .insert(REVISION_LABEL.to_owned(), revision.to_owned());
    }
    s
}
