//! What every resource file needs and would otherwise write again: ownership checks,
//! bounded retries on one named error code, waiting until something is gone, and the
//! numbers and references AWS calls take.

use std::future::Future;

use super::{Context, Resource};
use crate::aws::tags;
use crate::aws::wait::Poll;
use crate::error::{Error, Result};
use crate::output::Phase;

/// A spec number as the `i32` the AWS APIs take (validation keeps spec values far below
/// `i32::MAX`; saturating keeps this total anyway).
pub fn aws_int(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// A caller reference no earlier request used: AWS treats a repeated one as a retry of
/// that request, which a re-create after a delete is not.
pub fn unique_reference(prefix: &str) -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("{prefix}-{millis}")
}

/// A fresh UUID (version 4) for the idempotency tokens AWS asks of callers that build
/// requests themselves (Secrets Manager's `ClientRequestToken`): the SDKs would make one.
pub fn request_token() -> String {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The one ownership rule: a resource of the stack's name is the stack's only when it
/// carries the stack's marker (the `modu:stack` tag, or for kinds without tags a marker in a
/// field modu sets). Anything else is refused, changed by nobody, and left alone by `down`.
pub fn refuse_unless(
    cx: &Context,
    owned: bool,
    what: impl Into<String>,
    help: String,
) -> Result<()> {
    if owned {
        return Ok(());
    }
    Err(Error::NotOwned {
        what: what.into(),
        stack: cx.spec.stack.clone(),
        help: Some(help),
    })
}

/// [`refuse_unless`] for kinds that carry tags.
pub fn ensure_owned<'a>(
    cx: &Context,
    what: impl Into<String>,
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<()> {
    refuse_unless(
        cx,
        tags::owned_by(tags, &cx.spec.stack),
        what,
        format!(
            "delete or rename it, or tag it `{}={}` to let modu manage it",
            tags::STACK,
            cx.spec.stack
        ),
    )
}

/// True when `err` is AWS answering `code`.
pub fn is_code(err: &Error, code: &str) -> bool {
    matches!(err, Error::Aws { code: Some(c), .. } if c == code)
}

impl Context {
    /// Polls until `probe` is ready, showing what it sees on `resource`'s progress line.
    pub async fn wait_for<T, F, Fut>(
        &self,
        resource: &dyn Resource,
        what: &str,
        probe: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Poll<T>>>,
    {
        let name = resource.name(self);
        let label = format!("{} {name} {what}", resource.kind());
        let key = resource.key().as_str();
        crate::aws::wait::until(
            &self.clock,
            &label,
            &self.backoff(),
            |state| {
                self.progress.update(
                    key,
                    resource.kind(),
                    &name,
                    Phase::Waiting(state.to_string()),
                )
            },
            probe,
        )
        .await
    }

    /// Waits until `state` says the resource is gone (`None`); `Some(text)` is what it is
    /// still doing.
    pub async fn wait_gone<F, Fut>(&self, resource: &dyn Resource, mut state: F) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<String>>>,
    {
        self.wait_for(resource, "to be deleted", || {
            let seen = state();
            async move {
                Ok(match seen.await? {
                    None => Poll::Ready(()),
                    Some(text) => Poll::Pending(text),
                })
            }
        })
        .await
    }

    /// Retries `op` while AWS answers `code` (e.g. `DependencyViolation` while network
    /// interfaces detach), bounded by the timeout; any other error ends it at once.
    pub async fn retry_on<T, F, Fut>(
        &self,
        resource: &dyn Resource,
        code: &'static str,
        what: &str,
        mut op: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.wait_for(resource, what, || {
            let attempt = op();
            async move {
                match attempt.await {
                    Ok(value) => Ok(Poll::Ready(value)),
                    Err(err) if is_code(&err, code) => Ok(Poll::Pending(err.to_string())),
                    Err(err) => Err(err),
                }
            }
        })
        .await
    }
}
