//! `modu schema`: the spec's JSON Schema, for editors.

use std::process::ExitCode;

use crate::cli::exit;
use crate::error::Result;

pub fn run() -> Result<ExitCode> {
    let schema = crate::spec::json_schema();
    crate::output::stdout(&format!(
        "{}\n",
        serde_json::to_string_pretty(&schema).unwrap_or_default()
    ));
    Ok(ExitCode::from(exit::OK))
}
