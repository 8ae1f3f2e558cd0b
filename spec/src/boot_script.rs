//! The boot script each instance runs (EC2 user data): modu's own, filled in
//! with the app port and health-check path, or the user's file named by
//! `compute.user_data`, checked for what EC2 and cloud-init need of it.

use std::io::Read;
use std::path::Path;

/// modu's boot script for specs that set no `compute.user_data`.
const DEFAULT_BOOT_SCRIPT: &str = include_str!("default_boot.sh");
const APP_PORT_PLACEHOLDER: &str = "__MODU_APP_PORT__";
const HEALTH_PATH_PLACEHOLDER: &str = "__MODU_HEALTH_PATH__";

/// modu's boot script for stacks with an `app`: fetches, checks and starts the release.
const RELEASE_BOOT_SCRIPT: &str = include_str!("release_boot.sh");

/// What the release boot script is filled in with.
#[derive(Debug, Clone)]
pub struct ReleaseBoot<'a> {
    pub release: &'a str,
    pub region: &'a str,
    pub bucket: &'a str,
    pub key: &'a str,
    pub sha256: &'a str,
    /// The stack's parameter path, `/modu/<stack>/`.
    pub parameters: &'a str,
    pub port: u16,
    /// Seconds the service keeps serving after SIGTERM (the deregistration delay).
    pub drain_secs: u32,
    /// The spec's `app.env`.
    pub env: &'a std::collections::BTreeMap<String, String>,
}

/// Extra seconds systemd gives the service past its drain before it kills it.
const STOP_GRACE_SECS: u32 = 30;

/// The release boot script filled in. Every value goes into a single-quoted shell string
/// or a quoted here-document, so none is interpreted by the shell.
pub fn release_boot_script(boot: &ReleaseBoot<'_>) -> String {
    let quote = |value: &str| value.replace('\'', "'\\''");
    let mut env = vec![
        format!("BIND=0.0.0.0:{}", boot.port),
        format!("MODU_PARAMETERS={}", systemd_quote(boot.parameters)),
        format!("DRAIN_SECS={}", boot.drain_secs),
        format!("AWS_REGION={}", systemd_quote(boot.region)),
    ];
    env.extend(
        boot.env
            .iter()
            .map(|(name, value)| format!("{name}={}", systemd_quote(value))),
    );
    RELEASE_BOOT_SCRIPT
        .replace("__MODU_RELEASE__", &quote(boot.release))
        .replace("__MODU_REGION__", &quote(boot.region))
        .replace("__MODU_BUCKET__", &quote(boot.bucket))
        .replace("__MODU_KEY__", &quote(boot.key))
        .replace("__MODU_SHA256__", &quote(boot.sha256))
        .replace("__MODU_PARAMETERS__", &quote(boot.parameters))
        .replace("__MODU_PORT__", &boot.port.to_string())
        .replace("__MODU_DRAIN_SECS__", &boot.drain_secs.to_string())
        .replace(
            "__MODU_STOP_TIMEOUT_SECS__",
            &(boot.drain_secs + STOP_GRACE_SECS).to_string(),
        )
        .replace("__MODU_ENV__", &env.join("\n"))
}

/// A value in double quotes, as systemd's EnvironmentFile= reads it.
fn systemd_quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// EC2 refuses user data above 16 KiB (counted before base64 encoding).
const MAX_USER_DATA_BYTES: usize = 16 * 1024;

/// modu's boot script with the app port and health-check path filled in.
pub(super) fn default_boot_script(port: u16, health_path: &str) -> String {
    DEFAULT_BOOT_SCRIPT
        .replace(APP_PORT_PLACEHOLDER, &port.to_string())
        .replace(HEALTH_PATH_PLACEHOLDER, health_path)
}

/// Reads a boot script, checking what EC2 and cloud-init need of it.
pub(super) fn check_user_data(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let cannot_read = |err: std::io::Error| format!("cannot read {shown}: {err}");
    // A regular file only: a device or a pipe (`/dev/zero`, `/dev/stdin`) would be read
    // for ever, or wait for input, before anything could be said about it.
    let metadata = std::fs::metadata(path).map_err(cannot_read)?;
    if !metadata.is_file() {
        return Err(format!("{shown} is not a file"));
    }
    if metadata.len() > MAX_USER_DATA_BYTES as u64 {
        return Err(format!(
            "{shown} is {} bytes; EC2 user data is limited to {MAX_USER_DATA_BYTES} bytes (16 KiB)",
            metadata.len()
        ));
    }
    // Bounded all the same: the file may have grown since.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| {
            file.take(MAX_USER_DATA_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
        })
        .map_err(cannot_read)?;
    if bytes.is_empty() {
        return Err(format!("{shown} is empty"));
    }
    if bytes.len() > MAX_USER_DATA_BYTES {
        return Err(format!(
            "{shown} is larger than {MAX_USER_DATA_BYTES} bytes, the limit of EC2 user data (16 KiB)"
        ));
    }
    let script = String::from_utf8(bytes).map_err(|_| format!("{shown} is not UTF-8 text"))?;
    if !(script.starts_with("#!") || script.starts_with("#cloud-config")) {
        return Err(format!(
            "{shown} must start with `#!` (a script) or `#cloud-config`, or cloud-init ignores it"
        ));
    }
    Ok(script)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_boot_script_is_valid_bash_with_every_value_in_place() {
        let env = std::collections::BTreeMap::from([(
            "GREETING".to_string(),
            "it's \"quoted\"".to_string(),
        )]);
        let script = release_boot_script(&ReleaseBoot {
            release: "abc123",
            region: "eu-west-1",
            bucket: "shop-images-1",
            key: "releases/ff/modu-app",
            sha256: "ff",
            parameters: "/modu/shop/",
            port: 8000,
            drain_secs: 30,
            env: &env,
        });
        assert!(!script.contains("__MODU_"), "a value is not filled in");
        assert!(script.contains("TimeoutStopSec=${STOP_TIMEOUT_SECS}"));
        assert!(script.contains("STOP_TIMEOUT_SECS='60'"));
        assert!(
            script.contains("GREETING=\"it's \\\"quoted\\\"\""),
            "{script}"
        );
        assert!(script.len() < MAX_USER_DATA_BYTES);
        let output = std::process::Command::new("bash")
            .args(["-n", "-c", &script])
            .output()
            .expect("bash");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Instances run the script with bash, and bash belongs on every machine
    /// that builds modu: without it this test fails instead of passing unchecked.
    #[test]
    fn default_boot_script_is_valid_bash() {
        let script = default_boot_script(8000, "/healthz");
        let output = std::process::Command::new("bash")
            .args(["-n", "-c", &script])
            .output()
            .unwrap_or_else(|err| {
                panic!(
                    "cannot run `bash` to check the default boot script ({err}): \
                     install bash, which building and testing modu needs"
                )
            });
        assert!(
            output.status.success(),
            "bash -n rejects the default boot script: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
