//! The RDS PostgreSQL instance every app instance shares: encrypted gp3 storage, in the
//! stack's subnets behind the database security group, not publicly accessible, TLS
//! required (`rds.force_ssl`, on by default from PostgreSQL 15), daily backups kept 7 days.
//!
//! The master password is managed by RDS in Secrets Manager (`ManageMasterUserPassword`):
//! nobody, modu included, ever sees it; the service reads it with its instance role. (RDS
//! refuses a managed master password on instances with read replicas; modu offers none.)
//!
//! It holds the service's data, so `down` keeps it unless `--delete-data`; then it takes a
//! final snapshot unless `--no-final-snapshot`.

use async_trait::async_trait;
use serde_json::json;

use super::security_group::POSTGRES_PORT;
use super::{
    Change, Context, Deps, Diff, Found, Health, Key, Observed, OnDown, Outputs, Resource,
    ensure_owned, touches,
};
use crate::aws::errors::{Absent, AwsContext};
use crate::aws::tags;
use crate::aws::wait::Poll;
use crate::aws::wire::xml::Element;
use crate::error::{Error, Result};
use crate::spec::{Database as DatabaseSpec, Spec};

pub struct Database;

const KIND: &str = "db-instance";
const NOT_FOUND: &[&str] = &["DBInstanceNotFound", "DBInstanceNotFoundFault"];
/// The database and master user the service connects as.
pub const DATABASE_NAME: &str = "modu";
const MASTER_USER: &str = "modu";
const BACKUP_DAYS: u32 = 7;

/// The settings modu owns, as RDS has them.
#[derive(Debug, Clone, PartialEq)]
struct Live {
    status: String,
    instance_class: String,
    storage_gb: u32,
    multi_az: bool,
    engine_version: String,
    encrypted: bool,
}

fn live_of(db: &Element) -> Live {
    Live {
        status: db.string("DBInstanceStatus"),
        instance_class: db.string("DBInstanceClass"),
        storage_gb: db.number("AllocatedStorage").unwrap_or_default(),
        multi_az: db.text_of("MultiAZ") == Some("true"),
        engine_version: db.string("EngineVersion"),
        encrypted: db.text_of("StorageEncrypted") == Some("true"),
    }
}

fn found(id: &str, db: &Element) -> Found {
    let endpoint = db
        .child("Endpoint")
        .map(|e| format!("{}:{}", e.string("Address"), e.string("Port")))
        .unwrap_or_default();
    Found::new(id).with(Outputs::Database {
        endpoint,
        name: DATABASE_NAME.to_string(),
        secret_arn: db
            .child("MasterUserSecret")
            .map(|s| s.string("SecretArn"))
            .unwrap_or_default(),
    })
}

/// `16.4` → `16`: RDS upgrades minor versions itself; only the major is the spec's.
fn major(version: &str) -> &str {
    version.split('.').next().unwrap_or(version)
}

fn diff_settings(live: &Live, want: &DatabaseSpec) -> Vec<Change> {
    let mut diff = Diff::new();
    diff.field(
        "instance_class",
        live.instance_class.as_str(),
        &want.instance_class,
    );
    diff.field("storage_gb", &live.storage_gb, &want.storage_gb);
    diff.field("multi_az", &live.multi_az, &want.multi_az);
    diff.field(
        "engine_version",
        major(&live.engine_version),
        major(&want.engine_version),
    );
    diff.into_changes()
}

impl Database {
    fn spec<'a>(&self, cx: &'a Context) -> Result<&'a DatabaseSpec> {
        cx.spec
            .database
            .as_ref()
            .ok_or_else(|| Error::internal("the database is not in the spec"))
    }

    async fn describe(&self, cx: &Context, id: &str) -> Result<Option<Element>> {
        let mut params = cx.clients.rds.params("DescribeDBInstances");
        params.set("DBInstanceIdentifier", id);
        Ok(cx
            .clients
            .rds
            .call(&params)
            .await
            .or_absent(NOT_FOUND, "looking up", KIND, id)?
            .and_then(|r| r.list("DBInstances").next().cloned()))
    }

    async fn wait_available(&self, cx: &Context, id: &str) -> Result<Element> {
        cx.wait_for(self, "to become available", || async {
            Ok(match self.describe(cx, id).await? {
                None => Poll::Pending("not visible yet".into()),
                Some(db) if db.text_of("DBInstanceStatus") == Some("available") => Poll::Ready(db),
                Some(db) => Poll::Pending(db.string("DBInstanceStatus")),
            })
        })
        .await
    }
}

#[async_trait]
impl Resource for Database {
    fn key(&self) -> Key {
        Key::Database
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn name(&self, cx: &Context) -> String {
        format!("{}-db", cx.spec.stack)
    }
    fn depends_on(&self) -> Vec<Key> {
        vec![Key::DbSubnets, Key::SgDb]
    }
    fn wanted(&self, spec: &Spec) -> bool {
        spec.database.is_some()
    }

    async fn observe(&self, cx: &Context, _deps: &Deps<'_>) -> Result<Option<Observed>> {
        let name = self.name(cx);
        let Some(db) = self.describe(cx, &name).await? else {
            return Ok(None);
        };
        let tags: Vec<(String, String)> = db
            .list("TagList")
            .map(|t| (t.string("Key"), t.string("Value")))
            .collect();
        ensure_owned(
            cx,
            format!("RDS instance {name}"),
            tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        )?;
        Ok(Some(Observed::new(found(&name, &db), live_of(&db))))
    }

    fn diff(&self, cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Vec<Change>> {
        let live: &Live = observed.live()?;
        Ok(diff_settings(live, self.spec(cx)?))
    }

    async fn apply(
        &self,
        cx: &Context,
        _deps: &Deps<'_>,
        observed: &Observed,
        changes: &[Change],
    ) -> Result<()> {
        let want = self.spec(cx)?;
        let mut params = cx.clients.rds.params("ModifyDBInstance");
        params
            .set("DBInstanceIdentifier", &observed.found.id)
            .set("ApplyImmediately", true);
        if touches(changes, "instance_class") {
            params.set("DBInstanceClass", &want.instance_class);
        }
        if touches(changes, "storage_gb") {
            params.set("AllocatedStorage", want.storage_gb);
        }
        if touches(changes, "multi_az") {
            params.set("MultiAZ", want.multi_az);
        }
        if touches(changes, "engine_version") {
            params
                .set("EngineVersion", &want.engine_version)
                .set("AllowMajorVersionUpgrade", true);
        }
        cx.clients
            .rds
            .call(&params)
            .await
            .context("modifying", KIND, &observed.found.id)?;
        self.wait_available(cx, &observed.found.id)
            .await
            .map(|_| ())
    }

    async fn create(&self, cx: &Context, deps: &Deps<'_>) -> Result<Found> {
        let name = self.name(cx);
        let want = self.spec(cx)?;
        let tags = tags::pairs(&cx.spec, self.key().as_str(), &name);
        let mut params = cx.clients.rds.params("CreateDBInstance");
        params
            .set("DBInstanceIdentifier", &name)
            .set("Engine", "postgres")
            .set("EngineVersion", &want.engine_version)
            .set("DBInstanceClass", &want.instance_class)
            .set("AllocatedStorage", want.storage_gb)
            .set("StorageType", "gp3")
            .set("StorageEncrypted", true)
            .set("MultiAZ", want.multi_az)
            .set("DBName", DATABASE_NAME)
            .set("MasterUsername", MASTER_USER)
            .set("ManageMasterUserPassword", true)
            .set("Port", POSTGRES_PORT)
            .set("PubliclyAccessible", false)
            .set("BackupRetentionPeriod", BACKUP_DAYS)
            .set("CopyTagsToSnapshot", true)
            .set("DBSubnetGroupName", deps.id(Key::DbSubnets)?)
            .members(
                "VpcSecurityGroupIds",
                "VpcSecurityGroupId",
                &[deps.id(Key::SgDb)?],
            )
            .member_tags("Tags", "Tag", &tags);
        cx.clients
            .rds
            .call(&params)
            .await
            .context("creating", KIND, &name)?;
        let db = self.wait_available(cx, &name).await?;
        Ok(found(&name, &db))
    }

    async fn health(&self, _cx: &Context, _deps: &Deps<'_>, observed: &Observed) -> Result<Health> {
        let live: &Live = observed.live()?;
        let endpoint = match &observed.found.outputs {
            Outputs::Database { endpoint, .. } => endpoint.clone(),
            _ => String::new(),
        };
        let details = json!({
            "status": live.status,
            "endpoint": endpoint,
            "instance_class": live.instance_class,
            "engine_version": live.engine_version,
            "storage_gb": live.storage_gb,
            "multi_az": live.multi_az,
            "encrypted": live.encrypted,
        });
        let state = format!("{}, {} {}", live.status, live.instance_class, endpoint);
        Ok(if live.status == "available" {
            Health::ok(state, details)
        } else {
            Health::unhealthy(state, details)
        })
    }

    async fn delete(&self, cx: &Context, found: &Found) -> Result<()> {
        let mut params = cx.clients.rds.params("DeleteDBInstance");
        params
            .set("DBInstanceIdentifier", &found.id)
            .set("DeleteAutomatedBackups", true);
        if cx.skip_final_snapshot {
            params.set("SkipFinalSnapshot", true);
        } else {
            params.set(
                "FinalDBSnapshotIdentifier",
                super::unique_reference(&format!("{}-final", found.id)),
            );
        }
        let deleting = cx.clients.rds.call(&params).await;
        // Already being deleted (an earlier `down` was interrupted) is on the way to gone.
        if !matches!(&deleting, Err(err) if err.code() == Some("InvalidDBInstanceState")) {
            deleting.or_gone(NOT_FOUND, KIND, &found.id)?;
        }
        cx.wait_gone(self, || async {
            Ok(self
                .describe(cx, &found.id)
                .await?
                .map(|db| db.string("DBInstanceStatus")))
        })
        .await
    }

    fn on_down(&self, cx: &Context, _found: &Found) -> OnDown {
        if cx.delete_data {
            OnDown::Delete
        } else {
            OnDown::Keep("holds the service's data: `down --delete-data` deletes it")
        }
    }

    fn stack_outputs(&self, _cx: &Context, found: &Found) -> Vec<(&'static str, String)> {
        match &found.outputs {
            Outputs::Database { endpoint, .. } => vec![("database_endpoint", endpoint.clone())],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> Live {
        Live {
            status: "available".into(),
            instance_class: "db.t4g.micro".into(),
            storage_gb: 20,
            multi_az: false,
            engine_version: "16.4".into(),
            encrypted: true,
        }
    }

    #[test]
    fn minor_versions_are_rds_business() {
        let want = DatabaseSpec {
            engine_version: "16".into(),
            instance_class: "db.t4g.micro".into(),
            storage_gb: 20,
            multi_az: false,
        };
        assert!(diff_settings(&live(), &want).is_empty());
        let bigger = DatabaseSpec {
            storage_gb: 50,
            multi_az: true,
            ..want
        };
        let fields: Vec<String> = diff_settings(&live(), &bigger)
            .into_iter()
            .map(|c| c.field)
            .collect();
        assert_eq!(fields, ["storage_gb", "multi_az"]);
    }
}
