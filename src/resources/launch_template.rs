//! The launch template: image, instance type, the network interface (instance security
//! group, and a public IP address only when the instances share the load balancer's
//! public subnets), IMDSv2 only, the instance profile, the boot script, and the stack's
//! tags on every instance and volume launched from it. With an `app` (and no `compute.user_data`), the boot script installs
//! the release: a new release is a new version.
//!
//! A launch template version is immutable, so a changed setting becomes a new version that is
//! made the default; the Auto Scaling group launches a literal version, and rolls a new one
//! out to its instances with an instance refresh (see `rollout`).
//!
//! `compute.image: al2023` is resolved once and then pinned: AWS publishes a new Amazon
//! Linux image every few weeks, and a no-op `up` must not turn into a fleet replacement
//! on that day. The template's `modu:image-source` tag says what its image was resolved
//! from; `--refresh-image` (or another `compute.image`) moves to the latest.

use async_trait::async_trait;
use serde_json::json;

use super::toolkit::request_token;
use super::{
    Change, Context, Deps, Diff, Found, Health, Key, Observed, Outputs, Resource, ensure_owned,
};
use crate::aws::ec2::{
    LaunchTemplate as AwsLaunchTemplate, LaunchTemplateData, MetadataOptions, NetworkInterface,
    Tag, Volume,
};
use crate::aws::errors::{Absent, AwsContext};
use crate::aws::tags;
use crate::error::{Error, Result};
use crate::spec::{ImageRef, ReleaseBoot, release_boot_script};

pub struct LaunchTemplate;

const KIND: &str = "launch-template";
/// The template tag naming what its image was resolved from: `al2023` or the AMI id the
/// spec gave.
const IMAGE_SOURCE_TAG: &str = "modu:image-source";
const NOT_FOUND: &[&str] = &[
    "InvalidLaunchTemplateName.NotFoundException",
    "InvalidLaunchTemplateId.NotFound",
];

/// The settings modu owns on a launch template version, in comparable form.
#[derive(Debug, Clone, PartialEq)]
struct Settings {
    image_id: String,
    instance_type: String,
    security_group_ids: Vec<String>,
    /// Instances get a public IPv4 address: they need one in public subnets, without a NAT,
    /// to reach S3, SSM and CloudWatch; in private subnets they must not have one.
    public_ip: bool,
    user_data: String,
    imdsv2_required: bool,
    /// IMDS answers PUTs within this many network hops: 1 keeps the instance role's
    /// credentials away from anything forwarded through the instance (containers, proxies).
    metadata_hop_limit: i32,
    /// The root volume (and so every volume) is encrypted with the account's EBS key.
    encrypted_volumes: bool,
    instance_profile: Option<String>,
    /// A burstable type's credit option; only compared when the spec names one.
    cpu_credits: Option<String>,
}

/// What modu asks of every instance: IMDSv2 only, one hop, encrypted volumes.
const METADATA_HOP_LIMIT: i32 = 1;
const ROOT_VOLUME_TYPE: &str = "gp3";

impl Settings {
    fn of(data: &LaunchTemplateData) -> Self {
        let interface = data.network_interface.as_ref();
        let mut groups = match interface {
            Some(interface) => interface.security_group_ids.clone(),
            None => data.security_group_ids.clone(),
        };
        groups.sort();
        Settings {
            image_id: data.image_id.clone(),
            instance_type: data.instance_type.clone(),
            security_group_ids: groups,
            // A version without the setting (modu made those before it said it) leaves the
            // address to the subnet, and its instances run in the load balancer's public
            // subnets, which map one: it counts as `true`, so upgrading modu replaces no
            // instance.
            public_ip: interface
                .and_then(|i| i.associate_public_ip)
                .unwrap_or(true),
            user_data: data.user_data.clone(),
            imdsv2_required: data.metadata.http_tokens == "required",
            // AWS's default when a version does not say.
            metadata_hop_limit: data.metadata.hop_limit.unwrap_or(1),
            encrypted_volumes: !data.volumes.is_empty() && data.volumes.iter().all(|v| v.encrypted),
            instance_profile: data.instance_profile.clone(),
            cpu_credits: data.cpu_credits.clone(),
        }
    }
}

/// The latest version as AWS has it, what its image was resolved from, and the image the
/// spec's `compute.image` resolves to now (a read, so it happens while observing, not while
/// diffing).
#[derive(Debug, Clone)]
struct Live {
    latest_version: i64,
    default_version: i64,
    settings: Settings,
    image_source: Option<String>,
    /// The latest Amazon Linux 2023 image, with `compute.image: al2023`.
    published_image: Option<String>,
    wanted_image: String,
}

/// The image a template's next version launches. An explicit AMI is itself; `al2023` stays
/// on the image the template already has (`pinned`) unless `refresh` asks for the latest
/// or the template's image came from somewhere else. A template without the source tag
/// (made before modu pinned images) counts as pinned, so upgrading modu replaces no
/// instance.
fn image_to_launch(
    spec: &ImageRef,
    pinned: Option<(&str, Option<&str>)>,
    published: &str,
    refresh: bool,
) -> String {
    match (spec, pinned) {
        (ImageRef::Ami(id), _) => id.clone(),
        (ImageRef::Al2023, Some((image, source)))
            if !refresh && source.is_none_or(|s| s == spec.source()) =>
        {
            image.to_string()
        }
        (ImageRef::Al2023, _) => published.to_string(),
    }
}

/// A short, stable label for a boot script, so a plan shows that it changed, not its text.
fn script_label(user_data: &str) -> String {
    // FNV-1a: stable across runs and machines, unlike the standard library's hasher.
    let hash = user_data.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{} bytes (base64), #{:08x}", user_data.len(), hash as u32)
}

/// The changes from `live` to `want`; `image_source` is the template's tag (not part of a
/// version: changing only it adds no version).
fn diff_settings(
    live: &Settings,
    want: &Settings,
    image_source: (Option<&str>, &str),
) -> Vec<Change> {
    let mut diff = Diff::new();
    diff.field("image", &live.image_id, &want.image_id);
    diff.field("instance_type", &live.instance_type, &want.instance_type);
    diff.list(
        "security_groups",
        &live.security_group_ids,
        &want.security_group_ids,
    );
    diff.field("public_ip", &live.public_ip, &want.public_ip);
    diff.field(
        "user_data",
        &script_label(&live.user_data),
        &script_label(&want.user_data),
    );
    diff.field(
        "imdsv2_required",
        &live.imdsv2_required,
        &want.imdsv2_required,
    );
    diff.field(
        "metadata_hop_limit",
        &live.metadata_hop_limit,
        &want.metadata_hop_limit,
    );
    diff.field(
        "encrypted_volumes",
        &live.encrypted_volumes,
        &want.encrypted_volumes,
    );
    let profile = |p: &Option<String>| p.clone().unwrap_or_else(|| "(none)".into());
    diff.field(
        "instance_profile",
        &profile(&live.instance_profile),
        &profile(&want.instance_profile),
    );
    if let Some(credits) = &want.cpu_credits {
        diff.field(
            "credit_specification",
            live.cpu_credits.as_deref().unwrap_or("(default)"),
            credits.as_str(),
        );
    }
    let (live_source, wanted_source) = image_source;
    diff.field(
        IMAGE_SOURCE_FIELD,
        live_source.unwrap_or("(none)"),
        wanted_source,
    );
    diff.into_changes()
}

/// The change that only retags the template.
const IMAGE_SOURCE_FIELD: &str = "image_source";
/// The change that only makes the latest version the default.
const DEFAULT_VERSION_FIELD: &str = "default_version";

/// Every new version modu adds becomes the default at once; a run stopped between the two
/// calls leaves an older default, made the latest here. Not when a new version is coming
/// anyway: it becomes the default itself.
fn default_change(changes: &[Change], default: i64, latest: i64) -> Option<Change> {
    let new_version = changes.iter().any(|c| c.field != IMAGE_SOURCE_FIELD);
    (default != latest && !new_version).then(|| Change::new(DEFAULT_VERSION_FIELD, default, latest))
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
                    .get_parameter(ImageRef::AL2023_PARAMETER)
                    .await;
                if let Err(err) = &result
                    && err.code() == Some("ParameterNotFound")
                {
                    return Err(Error::fixable(
                        format!(
                            "region {} does not publish {}",
                            cx.spec.region,
                            ImageRef::AL2023_PARAMETER
                        ),
                        "set `compute.image` to an ami- id available in the region",
                    ));
                }
                result
                    .context("resolving the image of", KIND, ImageRef::AL2023_PARAMETER)?
                    .ok_or_else(|| {
                        Error::fixable(
                            "the Amazon Linux 2023 parameter has no value",
                            "set `compute.image` to an ami- id",
                        )
                    })
            }
        }
    }

    /// The settings the spec asks for. `live_user_data` stands in for the boot script when
    /// it cannot be known here: an app's release is prepared only by the commands that roll
    /// it out (`status` reports no drift for it rather than build one).
    fn desired(
        &self,
        cx: &Context,
        deps: &Deps<'_>,
        image_id: &str,
        live_user_data: Option<&str>,
    ) -> Result<Settings> {
        let instance_profile = if deps.present(Key::InstanceProfile)? {
            Some(deps.id(Key::InstanceProfile)?.to_string())
        } else {
            None
        };
        Ok(Settings {
            image_id: image_id.to_string(),
            instance_type: cx.spec.compute.instance_type.clone(),
            security_group_ids: vec![deps.id(Key::SgApp)?.to_string()],
            public_ip: !cx.spec.network.is_private(),
            user_data: match (self.boot_script(cx, deps)?, live_user_data) {
                (Some(script), _) => aws_smithy_types::base64::encode(script),
                (None, Some(live)) => live.to_string(),
                (None, None) => {
                    return Err(Error::internal(
                        "the launch template of an app needs its release prepared",
                    ));
                }
            },
            imdsv2_required: true,
            metadata_hop_limit: METADATA_HOP_LIMIT,
            encrypted_volumes: true,
            instance_profile,
            cpu_credits: cx
                .spec
                .compute
                .credit_specification
                .map(|c| c.aws_value().to_string()),
        })
    }

    /// The spec's boot script, or with an `app` the one that installs the release; `None`
    /// for an app whose release was not prepared (`status`).
    fn boot_script(&self, cx: &Context, deps: &Deps<'_>) -> Result<Option<String>> {
        let spec = &cx.spec;
        let Some(app) = spec
            .app
            .as_ref()
            .filter(|_| spec.compute.user_data.file.is_none())
        else {
            return Ok(Some(spec.compute.user_data.script.clone()));
        };
        let Some(release) = cx.release.as_ref() else {
            return Ok(None);
        };
        let key = release.key();
        let parameters = super::parameters::path(&spec.stack);
        Ok(Some(release_boot_script(&ReleaseBoot {
            release: &release.id,
            region: &spec.region,
            bucket: deps.id(Key::Bucket)?,
            key: &key,
            sha256: &release.sha256,
            parameters: &parameters,
            port: spec.compute.port,
            drain_secs: spec.load_balancer.deregistration_delay,
            env: &app.env,
        })))
    }

    /// The device of the image's root volume, which the encrypted volume must replace
    /// (a mapping at another device would add a second volume instead).
    async fn root_device(&self, cx: &Context, image_id: &str) -> Result<String> {
        cx.clients
            .ec2
            .root_device_name(image_id)
            .await
            .context("looking up the root device of", "image", image_id)?
            .ok_or_else(|| {
                Error::fixable(
                    format!(
                        "the image {image_id} does not exist or is not shared with this account"
                    ),
                    "set `compute.image` to an AMI of this region (or `al2023`)",
                )
            })
    }

    fn request_data(
        &self,
        cx: &Context,
        settings: &Settings,
        root_device: &str,
    ) -> LaunchTemplateData {
        let mut instance_tags = tags::sdk(
            &cx.spec,
            "instance",
            &format!("{}-app", cx.spec.stack),
            Tag::new,
        );
        let installs_release = cx.spec.app.is_some() && cx.spec.compute.user_data.file.is_none();
        if let Some(release) = cx.release.as_ref().filter(|_| installs_release) {
            instance_tags.push(Tag::new(tags::RELEASE, &release.id));
        }
        LaunchTemplateData {
            image_id: settings.image_id.clone(),
            instance_type: settings.instance_type.clone(),
            // With a network interface, EC2 takes the groups there only.
            security_group_ids: Vec::new(),
            network_interface: Some(NetworkInterface {
                associate_public_ip: Some(settings.public_ip),
                security_group_ids: settings.security_group_ids.clone(),
            }),
            user_data: settings.user_data.clone(),
            instance_profile: settings.instance_profile.clone(),
            cpu_credits: settings.cpu_credits.clone(),
            metadata: MetadataOptions {
                http_endpoint: "enabled".into(),
                http_tokens: if settings.imdsv2_required {
                    "required"
                } else {
                    "optional"
                }
                .into(),
                hop_limit: Some(settings.metadata_hop_limit),
            },
            volumes: vec![Volume {
                device_name: root_device.to_string(),
                encrypted: settings.encrypted_volumes,
                volume_type: ROOT_VOLUME_TYPE.into(),
            }],
            tag_specifications: vec![
                ("instance".into(), instance_tags.clone()),
                ("volume".into(), instance_tags),
            ],
        }
    }

    async fn describe(&self, cx: &Context, name: &str) -> Result<Option<AwsLaunchTemplate>> {
        Ok(cx
            .clients
            .ec2
            .describe_launch_templates(&[name.to_string()])
            .await
            .or_absent(NOT_FOUND, "looking up", KIND, name)?
            .and_then(|templates| templates.into_iter().next()))
    }

    async fn latest(&self, cx: &Context, id: &str) -> Result<(i64, LaunchTemplateData)> {
        let versions = cx
            .clients
            .ec2
            .describe_launch_template_versions(id, &["$Latest"])
            .await
            .context("reading the latest version of", KIND, id)?;
        versions.into_iter().next().ok_or_else(|| {
            Error::fixable(
                format!("launch template {id} has no version"),
                "run `modu down` then `modu up` to recreate it",
            )
        })
    }
}

fn found(id: &str, name: &str, latest_version: i64) -> Found {
    Found::new(id).with(Outputs::LaunchTemplate {
        name: name.to_string(),
        latest_version,
    })
}

#[async_trait]
impl Resource for LaunchTemplate {
    fn key(&self) -> Key {
        Key::LaunchTemplate
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        format!("{}-lt", cx.spec.stack)
    }
    fn versioned(&self) -> bool {
        true
    }
    fn depends_on(&self) -> Vec<Key> {
        // The release is uploaded before an instance could look for it.
        vec![Key::SgApp, Key::Bucket, Key::InstanceProfile, Key::Release]
    }

    async fn observe(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Observed>> {
        let name = self.name(cx);
        let Some(template) = self.describe(cx, &name).await? else {
            return Ok(None);
        };
        ensure_owned(
            cx,
            format!("launch template {name}"),
            template
                .tags
                .iter()
                .map(|t| (t.key.as_str(), t.value.as_str())),
        )?;
        let id = template.id.as_str();
        let (latest_version, data) = self.latest(cx, id).await?;
        let image_source = template
            .tags
            .iter()
            .find(|t| t.key == IMAGE_SOURCE_TAG)
            .map(|t| t.value.clone());
        let published = self.image_id(cx).await?;
        let wanted_image = image_to_launch(
            &cx.spec.compute.image,
            Some((&data.image_id, image_source.as_deref())),
            &published,
            cx.refresh_image,
        );
        let live = Live {
            latest_version,
            default_version: template.default_version,
            settings: Settings::of(&data),
            image_source,
            published_image: (cx.spec.compute.image == ImageRef::Al2023).then_some(published),
            wanted_image,
        };
        Ok(Some(Observed::new(found(id, &name, latest_version), live)))
    }

    fn diff(&self, cx: &Context, deps: &Deps<'_>, observed: &Observed) -> Result<Vec<Change>> {
        let live: &Live = observed.live()?;
        let want = self.desired(cx, deps, &live.wanted_image, Some(&live.settings.user_data))?;
        let mut changes = diff_settings(
            &live.settings,
            &want,
            (live.image_source.as_deref(), cx.spec.compute.image.source()),
        );
        changes.extend(default_change(
            &changes,
            live.default_version,
            live.latest_version,
        ));
        Ok(changes)
    }

    async fn apply(
        &self,
        cx: &Context,
        deps: &Deps<'_>,
        observed: &Observed,
        changes: &[Change],
    ) -> Result<()> {
        let live: &Live = observed.live()?;
        let id = &observed.found.id;
        if changes.iter().any(|c| c.field == IMAGE_SOURCE_FIELD) {
            let tag = Tag::new(IMAGE_SOURCE_TAG, cx.spec.compute.image.source());
            cx.clients
                .ec2
                .create_tags(&[id.as_str()], &[tag])
                .await
                .context("tagging", KIND, id)?;
        }
        let fields: Vec<&str> = changes
            .iter()
            .map(|c| c.field.as_str())
            .filter(|f| *f != IMAGE_SOURCE_FIELD && *f != DEFAULT_VERSION_FIELD)
            .collect();
        if fields.is_empty() {
            if changes.iter().any(|c| c.field == DEFAULT_VERSION_FIELD) {
                cx.clients
                    .ec2
                    .set_default_launch_template_version(id, live.latest_version)
                    .await
                    .context("setting the default version of", KIND, id)?;
            }
            return Ok(());
        }
        let want = self.desired(cx, deps, &live.wanted_image, None)?;
        let root_device = self.root_device(cx, &want.image_id).await?;
        let version = cx
            .clients
            .ec2
            .create_launch_template_version(
                id,
                &format!("modu: {}", fields.join(", ")),
                &self.request_data(cx, &want, &root_device),
                &request_token(),
            )
            .await
            .context("adding a version to", KIND, id)?;
        cx.clients
            .ec2
            .set_default_launch_template_version(id, version)
            .await
            .context("setting the default version of", KIND, id)?;
        Ok(())
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        let image = self.image_id(cx).await?;
        let settings = self.desired(cx, deps, &image, None)?;
        let root_device = self.root_device(cx, &image).await?;
        let mut template_tags = tags::sdk(&cx.spec, self.key().as_str(), &name, Tag::new);
        template_tags.push(Tag::new(IMAGE_SOURCE_TAG, cx.spec.compute.image.source()));
        let template = cx
            .clients
            .ec2
            .create_launch_template(
                &name,
                "created by modu",
                &self.request_data(cx, &settings, &root_device),
                &template_tags,
                &request_token(),
            )
            .await
            .context("creating", KIND, &name)?;
        Ok(found(&template.id, &name, template.latest_version.max(1)))
    }

    async fn health(&self, _cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let live: &Live = observed.live()?;
        let settings = &live.settings;
        let newer_image = live
            .published_image
            .as_deref()
            .filter(|published| *published != settings.image_id);
        let image = match newer_image {
            Some(published) => format!(
                "{} (pinned; {published} is published: `modu up --refresh-image` rolls it out)",
                settings.image_id
            ),
            None => settings.image_id.clone(),
        };
        Ok(Health {
            healthy: settings.imdsv2_required,
            state: format!(
                "version {}, {image}, {}{}",
                live.latest_version,
                settings.instance_type,
                if settings.imdsv2_required {
                    ", IMDSv2"
                } else {
                    ", IMDSv1 ALLOWED"
                }
            ),
            details: json!({
                "version": live.latest_version,
                "image_id": settings.image_id,
                "image_source": live.image_source,
                "published_image": live.published_image,
                "instance_type": settings.instance_type,
                "public_ip": settings.public_ip,
                "imdsv2_required": settings.imdsv2_required,
                "metadata_hop_limit": settings.metadata_hop_limit,
                "encrypted_volumes": settings.encrypted_volumes,
                "credit_specification": settings.cpu_credits,
            }),
        })
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        cx.clients
            .ec2
            .delete_launch_template(&found.id)
            .await
            .or_gone(NOT_FOUND, KIND, &found.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            image_id: "ami-1".into(),
            instance_type: "t3.micro".into(),
            security_group_ids: vec!["sg-1".into()],
            public_ip: true,
            user_data: "IyEvYmluL2Jhc2g=".into(),
            imdsv2_required: true,
            metadata_hop_limit: 1,
            encrypted_volumes: true,
            instance_profile: None,
            cpu_credits: None,
        }
    }

    const FROM_AL2023: (Option<&str>, &str) = (Some("al2023"), "al2023");

    #[test]
    fn a_credit_option_is_compared_only_when_the_spec_names_one() {
        let mut live = settings();
        live.cpu_credits = Some("unlimited".into());
        assert!(diff_settings(&live, &settings(), FROM_AL2023).is_empty());
        let mut want = settings();
        want.cpu_credits = Some("standard".into());
        let changes = diff_settings(&live, &want, FROM_AL2023);
        assert_eq!(
            changes,
            vec![Change::new("credit_specification", "unlimited", "standard")]
        );
    }

    #[test]
    fn an_older_default_is_made_the_latest_unless_a_new_version_comes() {
        assert_eq!(default_change(&[], 2, 2), None);
        assert_eq!(
            default_change(&[], 1, 2),
            Some(Change::new(DEFAULT_VERSION_FIELD, 1, 2))
        );
        let retag = [Change::new(IMAGE_SOURCE_FIELD, "(none)", "al2023")];
        assert!(default_change(&retag, 1, 2).is_some());
        let new_type = [Change::new("instance_type", "t3.micro", "t3.small")];
        assert_eq!(default_change(&new_type, 1, 2), None);
    }

    #[test]
    fn the_same_version_needs_nothing() {
        assert!(diff_settings(&settings(), &settings(), FROM_AL2023).is_empty());
    }

    #[test]
    fn only_a_new_image_source_retags_without_a_version() {
        let changes = diff_settings(&settings(), &settings(), (None, "al2023"));
        assert_eq!(changes.len(), 1);
        assert_eq!(
            (changes[0].field.as_str(), changes[0].from.as_str()),
            (IMAGE_SOURCE_FIELD, "(none)")
        );
    }

    #[test]
    fn al2023_stays_on_its_pinned_image_until_a_refresh_is_asked_for() {
        let al2023 = ImageRef::Al2023;
        let pinned = Some(("ami-old", Some("al2023")));
        assert_eq!(
            image_to_launch(&al2023, pinned, "ami-new", false),
            "ami-old"
        );
        assert_eq!(image_to_launch(&al2023, pinned, "ami-new", true), "ami-new");
        // A template made before images were pinned keeps its image too.
        let untagged = Some(("ami-old", None));
        assert_eq!(
            image_to_launch(&al2023, untagged, "ami-new", false),
            "ami-old"
        );
        // An image the spec named before moves to the latest when the spec says al2023.
        let explicit = Some(("ami-old", Some("ami-old")));
        assert_eq!(
            image_to_launch(&al2023, explicit, "ami-new", false),
            "ami-new"
        );
        // A new template starts on the latest; an explicit AMI is always itself.
        assert_eq!(image_to_launch(&al2023, None, "ami-new", false), "ami-new");
        let ami = ImageRef::Ami("ami-mine".into());
        assert_eq!(image_to_launch(&ami, pinned, "ami-new", true), "ami-mine");
    }

    #[test]
    fn the_public_address_is_explicit_and_an_older_template_counts_as_public() {
        let older = LaunchTemplateData {
            security_group_ids: vec!["sg-1".into()],
            ..LaunchTemplateData::default()
        };
        let of_older = Settings::of(&older);
        assert!(of_older.public_ip);
        assert_eq!(of_older.security_group_ids, ["sg-1"]);
        let private = LaunchTemplateData {
            network_interface: Some(NetworkInterface {
                associate_public_ip: Some(false),
                security_group_ids: vec!["sg-1".into()],
            }),
            ..LaunchTemplateData::default()
        };
        let of_private = Settings::of(&private);
        assert!(!of_private.public_ip);
        assert_eq!(of_private.security_group_ids, ["sg-1"]);
        // Moving into private subnets is a new version without a public address.
        let mut want = settings();
        want.public_ip = false;
        let changes = diff_settings(&settings(), &want, FROM_AL2023);
        assert_eq!(changes, vec![Change::new("public_ip", true, false)]);
    }

    #[test]
    fn a_new_image_and_type_are_named_and_the_script_is_summarised() {
        let mut want = settings();
        want.image_id = "ami-2".into();
        want.instance_type = "c7i.large".into();
        want.user_data = "IyEvYmluL3No".into();
        let changes = diff_settings(&settings(), &want, FROM_AL2023);
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, vec!["image", "instance_type", "user_data"]);
        assert_eq!(changes[0].to, "ami-2");
        assert!(
            changes[2].from.starts_with("16 bytes (base64), #"),
            "{}",
            changes[2].from
        );
        assert_ne!(changes[2].from, changes[2].to);
    }
}
