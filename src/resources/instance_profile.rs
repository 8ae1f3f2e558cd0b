//! The instance profile that hands the instance role to EC2: the launch template names it,
//! and IMDS serves the role's credentials to the service through it.

use async_trait::async_trait;
use serde_json::json;

use super::instance_role::path;
use super::toolkit::refuse_unless;
use super::{Context, Deps, Found, Health, Key, Observed, Outputs, Resource};
use crate::aws::errors::{Absent, AwsContext};
use crate::aws::tags;
use crate::error::Result;
use crate::spec::Spec;

pub struct InstanceProfile;

const KIND: &str = "instance-profile";
const NOT_FOUND: &[&str] = &["NoSuchEntity"];

/// The profile as IAM has it: its roles.
#[derive(Debug, Clone, PartialEq)]
struct Live {
    roles: Vec<String>,
}

impl InstanceProfile {
    async fn add_role(&self, cx: &Context, name: &str, role: &str) -> Result<()> {
        let mut params = cx.clients.iam.params("AddRoleToInstanceProfile");
        params
            .set("InstanceProfileName", name)
            .set("RoleName", role);
        cx.clients
            .iam
            .call(&params)
            .await
            .context("adding the role to", KIND, name)?;
        Ok(())
    }
}

#[async_trait]
impl Resource for InstanceProfile {
    fn key(&self) -> Key {
        Key::InstanceProfile
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        format!("{}-instance", cx.spec.stack)
    }
    fn depends_on(&self) -> Vec<Key> {
        vec![Key::InstanceRole]
    }
    fn wanted(&self, spec: &Spec) -> bool {
        spec.app.is_some()
    }

    async fn observe(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Observed>> {
        let name = self.name(cx);
        let mut params = cx.clients.iam.params("GetInstanceProfile");
        params.set("InstanceProfileName", &name);
        let Some(result) =
            cx.clients
                .iam
                .call(&params)
                .await
                .or_absent(NOT_FOUND, "looking up", KIND, &name)?
        else {
            return Ok(None);
        };
        let profile = result.child("InstanceProfile").cloned().unwrap_or_default();
        refuse_unless(
            cx,
            profile.text_of("Path") == Some(path(&cx.spec.stack).as_str()),
            format!("instance profile {name}"),
            format!(
                "delete or rename it; modu creates its own under the path `{}`",
                path(&cx.spec.stack)
            ),
        )?;
        let roles = profile
            .list("Roles")
            .map(|r| r.string("RoleName"))
            .collect();
        let found = Found::new(&name).with(Outputs::Arn {
            arn: profile.string("Arn"),
        });
        Ok(Some(Observed::new(found, Live { roles })))
    }

    fn diff(
        &self,
        _cx: &Context,
        deps: &Deps<'_>,
        observed: &Observed,
    ) -> Result<Vec<super::Change>> {
        let live: &Live = observed.live()?;
        let mut diff = super::Diff::new();
        diff.list(
            "roles",
            &live.roles,
            &[deps.id(Key::InstanceRole)?.to_string()],
        );
        Ok(diff.into_changes())
    }

    async fn apply(
        &self,
        cx: &Context,
        deps: &Deps<'_>,
        observed: &Observed,
        _changes: &[super::Change],
    ) -> Result<()> {
        let live: &Live = observed.live()?;
        let role = deps.id(Key::InstanceRole)?;
        for other in live.roles.iter().filter(|r| *r != role) {
            let mut params = cx.clients.iam.params("RemoveRoleFromInstanceProfile");
            params
                .set("InstanceProfileName", &observed.found.id)
                .set("RoleName", other);
            cx.clients
                .iam
                .call(&params)
                .await
                .or_gone(NOT_FOUND, KIND, &observed.found.id)?;
        }
        if !live.roles.iter().any(|r| r == role) {
            self.add_role(cx, &observed.found.id, role).await?;
        }
        Ok(())
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        let tags = tags::pairs(&cx.spec, self.key().as_str(), &name);
        let mut params = cx.clients.iam.params("CreateInstanceProfile");
        params
            .set("InstanceProfileName", &name)
            .set("Path", path(&cx.spec.stack))
            .member_tags("Tags", "member", &tags);
        let created = cx
            .clients
            .iam
            .call(&params)
            .await
            .context("creating", KIND, &name)?;
        self.add_role(cx, &name, deps.id(Key::InstanceRole)?)
            .await?;
        let arn = created
            .child("InstanceProfile")
            .map(|p| p.string("Arn"))
            .unwrap_or_default();
        Ok(Found::new(&name).with(Outputs::Arn { arn }))
    }

    async fn health(&self, _cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let live: &Live = observed.live()?;
        let state = match live.roles.first() {
            Some(role) => format!("role {role}"),
            None => "no role".to_string(),
        };
        let details = json!({ "roles": live.roles });
        Ok(if live.roles.is_empty() {
            Health::unhealthy(state, details)
        } else {
            Health::ok(state, details)
        })
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        let iam = &cx.clients.iam;
        let mut params = iam.params("GetInstanceProfile");
        params.set("InstanceProfileName", &found.id);
        let Some(result) =
            iam.call(&params)
                .await
                .or_absent(NOT_FOUND, "looking up", KIND, &found.id)?
        else {
            return Ok(());
        };
        let roles: Vec<String> = result
            .child("InstanceProfile")
            .map(|p| p.list("Roles").map(|r| r.string("RoleName")).collect())
            .unwrap_or_default();
        for role in roles {
            let mut params = iam.params("RemoveRoleFromInstanceProfile");
            params
                .set("InstanceProfileName", &found.id)
                .set("RoleName", &role);
            iam.call(&params)
                .await
                .or_gone(NOT_FOUND, KIND, &found.id)?;
        }
        let mut params = iam.params("DeleteInstanceProfile");
        params.set("InstanceProfileName", &found.id);
        iam.call(&params).await.or_gone(NOT_FOUND, KIND, &found.id)
    }
}
