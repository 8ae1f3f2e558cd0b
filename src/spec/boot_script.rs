//! The boot script each instance runs (EC2 user data): modu's own, filled in
//! with the app port and health-check path, or the user's file named by
//! `compute.user_data`, checked for what EC2 and cloud-init need of it.

use std::path::Path;

/// modu's boot script for specs that set no `compute.user_data`.
const DEFAULT_BOOT_SCRIPT: &str = include_str!("default_boot.sh");
const APP_PORT_PLACEHOLDER: &str = "__MODU_APP_PORT__";
const HEALTH_PATH_PLACEHOLDER: &str = "__MODU_HEALTH_PATH__";

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
    let bytes = std::fs::read(path).map_err(|err| format!("cannot read {shown}: {err}"))?;
    if bytes.is_empty() {
        return Err(format!("{shown} is empty"));
    }
    if bytes.len() > MAX_USER_DATA_BYTES {
        return Err(format!(
            "{shown} is {} bytes; EC2 user data is limited to {MAX_USER_DATA_BYTES} bytes (16 KiB)",
            bytes.len()
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
