//! The release the instances run: the service's binary, built for them or given, and the
//! id that names it together with how it is configured.
//!
//! The binary goes to the stack's bucket under `releases/<sha256>/modu-app` (content
//! addressed: uploading it again is skipped, and an instance checks what it fetched against
//! the hash in its user data). User data is capped at 16 KiB, so the binary never goes in it.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::spec::{Artifact, Spec};

/// The instances are x86_64 Amazon Linux 2023, whose glibc is 2.34: cargo-zigbuild links
/// against exactly that version, whatever the building machine has.
pub const TARGET: &str = "x86_64-unknown-linux-gnu.2.34";
/// The folder cargo writes the target's build to (the glibc suffix is not part of it).
const TARGET_DIR: &str = "x86_64-unknown-linux-gnu";

/// One release: the binary and its identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub path: PathBuf,
    /// Hex SHA-256 of the binary.
    pub sha256: String,
    pub bytes: u64,
    /// Short hash of the binary and the configuration it starts with: a new id is a new
    /// launch template version, which `deploy` rolls out.
    pub id: String,
}

impl Release {
    /// Where the binary lives in the bucket.
    pub fn key(&self) -> String {
        format!("releases/{}/modu-app", self.sha256)
    }
}

/// The release `spec` asks for (building it when `app.artifact` is `build`), or `None`
/// when the spec has no `app`.
pub fn prepare(spec: &Spec) -> Result<Option<Release>> {
    let Some(app) = &spec.app else {
        return Ok(None);
    };
    let path = match &app.artifact {
        Artifact::File(path) => path.clone(),
        Artifact::Build => build(&workspace_of(&spec.source)?)?,
    };
    let bytes = std::fs::read(&path).map_err(|err| {
        Error::fixable(
            format!("cannot read the release {}: {err}", path.display()),
            "check `app.artifact` in the spec",
        )
    })?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let config = serde_json::json!({
        "env": app.env,
        "port": spec.compute.port,
        "drain": spec.load_balancer.deregistration_delay,
    });
    let id =
        hex::encode(Sha256::digest(format!("{sha256}\n{config}").as_bytes()))[..12].to_string();
    Ok(Some(Release {
        path,
        sha256,
        bytes: bytes.len() as u64,
        id,
    }))
}

/// The modu workspace that holds the spec (the folder with `app/Cargo.toml`).
fn workspace_of(spec_file: &Path) -> Result<PathBuf> {
    let start = std::fs::canonicalize(spec_file.parent().unwrap_or(Path::new(".")))
        .unwrap_or_else(|_| PathBuf::from("."));
    start
        .ancestors()
        .find(|dir| dir.join("app").join("Cargo.toml").is_file() && dir.join("Cargo.toml").is_file())
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            Error::fixable(
                format!(
                    "`app.artifact: build` builds modu-app from the modu source tree, and {} is not inside one",
                    spec_file.display()
                ),
                "set `app.artifact` to the path of a built modu-app, or keep the spec in a modu checkout",
            )
        })
}

/// Builds modu-app for the instances with cargo-zigbuild; the binary's path.
pub fn build(workspace: &Path) -> Result<PathBuf> {
    let status = Command::new("cargo")
        .args([
            "zigbuild",
            "--release",
            "--locked",
            "-p",
            "modu-app",
            "--target",
            TARGET,
        ])
        .current_dir(workspace)
        .status()
        .map_err(|err| {
            Error::fixable(
                format!("cannot run cargo to build modu-app: {err}"),
                "install Rust (https://rustup.rs), then `scripts/release-tools.sh`",
            )
        })?;
    if !status.success() {
        return Err(Error::fixable(
            format!("building modu-app for {TARGET} failed ({status})"),
            "`scripts/release-tools.sh` installs cargo-zigbuild and zig; the build's own output above says more",
        ));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    Ok(target.join(TARGET_DIR).join("release").join("modu-app"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_follows_the_binary_and_its_configuration() {
        let dir = std::env::temp_dir().join(format!("modu-release-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("modu-app"), b"binary").unwrap();
        let spec_of = |env: &str| {
            let yaml = format!(
                "stack: s\nregion: us-east-1\ncompute:\n  instance_type: t3.micro\napp:\n  artifact: modu-app\n  env:\n    RUST_LOG: {env}\n"
            );
            crate::spec::parse_str(&yaml, &dir.join("modu.yaml")).unwrap()
        };
        let first = prepare(&spec_of("info")).unwrap().unwrap();
        assert_eq!(first.sha256, hex::encode(Sha256::digest(b"binary")));
        assert_eq!(first.key(), format!("releases/{}/modu-app", first.sha256));
        assert_eq!(prepare(&spec_of("info")).unwrap().unwrap().id, first.id);
        let other = prepare(&spec_of("debug")).unwrap().unwrap();
        assert_eq!(other.sha256, first.sha256);
        assert_ne!(other.id, first.id);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
