//! The launch template: image, instance type, instance security group, IMDSv2 only, the boot
//! script, and the stack's tags on every instance and volume launched from it.
//!
//! A launch template version is immutable, so a changed setting becomes a new version that is
//! made the default; the Auto Scaling group launches `$Latest`, so new instances pick it up.

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    InstanceType, LaunchTemplate as AwsLaunchTemplate, LaunchTemplateHttpTokensState,
    LaunchTemplateInstanceMetadataEndpointState, LaunchTemplateInstanceMetadataOptionsRequest,
    LaunchTemplateTagSpecificationRequest, RequestLaunchTemplateData, ResourceType,
    ResponseLaunchTemplateData, Tag, TagSpecification,
};
use serde_json::json;

use super::{Context, Deps, Found, Health, Resource, ensure_owned};
use crate::aws::errors::{self, AwsContext};
use crate::aws::tags;
use crate::error::{Error, Result};
use crate::spec::ImageRef;

pub struct LaunchTemplate;

const KIND: &str = "launch-template";

/// The settings modu owns on a launch template version, in comparable form.
#[derive(Debug, PartialEq)]
struct Settings {
    image_id: String,
    instance_type: String,
    security_group_ids: Vec<String>,
    user_data: String,
    imdsv2_required: bool,
}

impl Settings {
    fn of(data: &ResponseLaunchTemplateData) -> Self {
        let mut groups = data.security_group_ids().to_vec();
        groups.sort();
        Settings {
            image_id: data.image_id().unwrap_or_default().to_string(),
            instance_type: data
                .instance_type()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            security_group_ids: groups,
            user_data: data.user_data().unwrap_or_default().to_string(),
            imdsv2_required: data.metadata_options().and_then(|m| m.http_tokens())
                == Some(&LaunchTemplateHttpTokensState::Required),
        }
    }

    fn differences(&self, desired: &Settings) -> Vec<String> {
        let mut changes = Vec::new();
        if self.image_id != desired.image_id {
            changes.push(format!("image {} -> {}", self.image_id, desired.image_id));
        }
        if self.instance_type != desired.instance_type {
            changes.push(format!(
                "instance type {} -> {}",
                self.instance_type, desired.instance_type
            ));
        }
        if self.security_group_ids != desired.security_group_ids {
            changes.push("security groups".into());
        }
        if self.user_data != desired.user_data {
            changes.push("user data".into());
        }
        if self.imdsv2_required != desired.imdsv2_required {
            changes.push("IMDSv2 required".into());
        }
        changes
    }
}

impl LaunchTemplate {
    /// The AMI the spec names, resolving `al2023` through the public SSM parameter.
    async fn image_id(&self, cx: &Context) -> Result<String> {
        match &cx.spec.compute.image {
            ImageRef::Ami(id) => Ok(id.clone()),
            ImageRef::Al2023 => {
                let result = cx
                    .clients
                    .ssm
                    .get_parameter()
                    .name(ImageRef::AL2023_PARAMETER)
                    .send()
                    .await;
                if let Err(err) = &result
                    && errors::is_code(err, &["ParameterNotFound"])
                {
                    return Err(Error::precondition(
                        format!(
                            "region {} does not publish {}",
                            cx.spec.region,
                            ImageRef::AL2023_PARAMETER
                        ),
                        "set `compute.image` to an ami- id available in the region",
                    ));
                }
                let out =
                    result.context("resolving the image of", KIND, ImageRef::AL2023_PARAMETER)?;
                out.parameter()
                    .and_then(|p| p.value())
                    .map(str::to_string)
                    .ok_or_else(|| {
                        Error::precondition(
                            "the Amazon Linux 2023 parameter has no value",
                            "set `compute.image` to an ami- id",
                        )
                    })
            }
        }
    }

    async fn desired(&self, cx: &Context, deps: &Deps<'_>) -> Result<Settings> {
        Ok(Settings {
            image_id: self.image_id(cx).await?,
            instance_type: cx.spec.compute.instance_type.clone(),
            security_group_ids: vec![deps.id("sg-app")?.to_string()],
            user_data: aws_smithy_types::base64::encode(&cx.spec.compute.user_data.script),
            imdsv2_required: true,
        })
    }

    fn request_data(&self, cx: &Context, settings: &Settings) -> RequestLaunchTemplateData {
        let instance_tags: Vec<Tag> =
            tags::for_resource(&cx.spec, "instance", &format!("{}-app", cx.spec.stack))
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect();
        let tag_spec = |kind: ResourceType| {
            LaunchTemplateTagSpecificationRequest::builder()
                .resource_type(kind)
                .set_tags(Some(instance_tags.clone()))
                .build()
        };
        RequestLaunchTemplateData::builder()
            .image_id(&settings.image_id)
            .instance_type(InstanceType::from(settings.instance_type.as_str()))
            .set_security_group_ids(Some(settings.security_group_ids.clone()))
            .user_data(&settings.user_data)
            .metadata_options(
                LaunchTemplateInstanceMetadataOptionsRequest::builder()
                    .http_endpoint(LaunchTemplateInstanceMetadataEndpointState::Enabled)
                    .http_tokens(LaunchTemplateHttpTokensState::Required)
                    // Two hops, so containers on the instance can still reach IMDS.
                    .http_put_response_hop_limit(2)
                    .build(),
            )
            .tag_specifications(tag_spec(ResourceType::Instance))
            .tag_specifications(tag_spec(ResourceType::Volume))
            .build()
    }

    async fn describe(&self, cx: &Context, name: &str) -> Result<Option<AwsLaunchTemplate>> {
        let result = cx
            .clients
            .ec2
            .describe_launch_templates()
            .launch_template_names(name)
            .send()
            .await;
        match result {
            Err(err)
                if errors::is_code(
                    &err,
                    &[
                        "InvalidLaunchTemplateName.NotFoundException",
                        "InvalidLaunchTemplateId.NotFound",
                    ],
                ) =>
            {
                Ok(None)
            }
            other => Ok(other
                .context("looking up", KIND, name)?
                .launch_templates
                .unwrap_or_default()
                .into_iter()
                .next()),
        }
    }

    async fn latest(&self, cx: &Context, id: &str) -> Result<(i64, ResponseLaunchTemplateData)> {
        let out = cx
            .clients
            .ec2
            .describe_launch_template_versions()
            .launch_template_id(id)
            .versions("$Latest")
            .send()
            .await
            .context("reading the latest version of", KIND, id)?;
        let version = out.launch_template_versions().first().ok_or_else(|| {
            Error::precondition(
                format!("launch template {id} has no version"),
                "run `modu down` then `modu up` to recreate it",
            )
        })?;
        Ok((
            version.version_number().unwrap_or_default(),
            version
                .launch_template_data()
                .cloned()
                .unwrap_or_else(|| ResponseLaunchTemplateData::builder().build()),
        ))
    }
}

#[async_trait]
impl Resource for LaunchTemplate {
    fn key(&self) -> &'static str {
        "launch-template"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        format!("{}-lt", cx.spec.stack)
    }
    fn depends_on(&self) -> Vec<&'static str> {
        vec!["sg-app"]
    }

    async fn find(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Found>> {
        let name = self.name(cx);
        let Some(template) = self.describe(cx, &name).await? else {
            return Ok(None);
        };
        ensure_owned(
            cx,
            format!("launch template {name}"),
            template
                .tags()
                .iter()
                .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
        )?;
        Ok(Some(
            Found::new(template.launch_template_id().unwrap_or_default())
                .with("name", name)
                .with(
                    "latest_version",
                    template
                        .latest_version_number()
                        .unwrap_or_default()
                        .to_string(),
                ),
        ))
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        let settings = self.desired(cx, deps).await?;
        let template_tags: Vec<Tag> = tags::for_resource(&cx.spec, self.key(), &name)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        let out = cx
            .clients
            .ec2
            .create_launch_template()
            .launch_template_name(&name)
            .version_description("created by modu")
            .launch_template_data(self.request_data(cx, &settings))
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::LaunchTemplate)
                    .set_tags(Some(template_tags))
                    .build(),
            )
            .send()
            .await
            .context("creating", KIND, &name)?;
        let template = out.launch_template();
        Ok(Found::new(
            template
                .and_then(|t| t.launch_template_id())
                .unwrap_or_default(),
        )
        .with("name", name)
        .with(
            "latest_version",
            template
                .and_then(|t| t.latest_version_number())
                .unwrap_or(1)
                .to_string(),
        ))
    }

    async fn converge(&self, cx: &Context, deps: &Deps<'_>, found: &Found) -> Result<Vec<String>> {
        let desired = self.desired(cx, deps).await?;
        let (_, data) = self.latest(cx, &found.id).await?;
        let changes = Settings::of(&data).differences(&desired);
        if changes.is_empty() {
            return Ok(changes);
        }
        let out = cx
            .clients
            .ec2
            .create_launch_template_version()
            .launch_template_id(&found.id)
            .version_description(format!("modu: {}", changes.join(", ")))
            .launch_template_data(self.request_data(cx, &desired))
            .send()
            .await
            .context("adding a version to", KIND, &found.id)?;
        let version = out
            .launch_template_version()
            .and_then(|v| v.version_number())
            .unwrap_or_default();
        cx.clients
            .ec2
            .modify_launch_template()
            .launch_template_id(&found.id)
            .default_version(version.to_string())
            .send()
            .await
            .context("setting the default version of", KIND, &found.id)?;
        Ok(changes)
    }

    async fn health(&self, cx: &Context, _deps: &Deps<'_>, found: &Found) -> Result<Health> {
        let (version, data) = self.latest(cx, &found.id).await?;
        let settings = Settings::of(&data);
        Ok(Health {
            healthy: settings.imdsv2_required,
            state: format!(
                "version {version}, {}, {}{}",
                settings.image_id,
                settings.instance_type,
                if settings.imdsv2_required {
                    ", IMDSv2"
                } else {
                    ", IMDSv1 ALLOWED"
                }
            ),
            details: json!({
                "version": version,
                "image_id": settings.image_id,
                "instance_type": settings.instance_type,
                "imdsv2_required": settings.imdsv2_required,
            }),
        })
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        let result = cx
            .clients
            .ec2
            .delete_launch_template()
            .launch_template_id(&found.id)
            .send()
            .await;
        match result {
            Err(err)
                if errors::is_code(
                    &err,
                    &[
                        "InvalidLaunchTemplateId.NotFound",
                        "InvalidLaunchTemplateName.NotFoundException",
                    ],
                ) =>
            {
                Ok(())
            }
            other => other.map(|_| ()).context("deleting", KIND, &found.id),
        }
    }
}
