//! `modu iam-policy`: the IAM policy the other commands need for a spec, printed as JSON
//! without calling AWS (it is what an operator needs before they can call it).

use std::process::ExitCode;

use crate::cli::{Cli, IamPolicyArgs, exit};
use crate::error::Result;

pub fn run(cli: &Cli, args: &IamPolicyArgs) -> Result<ExitCode> {
    let spec = super::load_spec(cli)?;
    let policy = crate::iam_policy::for_spec(&spec, &args.account_id);
    crate::output::stdout(&format!(
        "{}\n",
        serde_json::to_string_pretty(&policy).unwrap_or_default()
    ));
    Ok(ExitCode::from(exit::OK))
}
