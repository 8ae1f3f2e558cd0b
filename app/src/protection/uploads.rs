//! Bounds on what uploads may cost.
//!
//! Memory: a resume form is read whole before anything is written (so a refused form
//! writes nothing), so every upload in flight holds its body in memory. Rather than
//! counting uploads, which would make a hundred 4 KiB saves wait behind two 50 MiB ones,
//! the uploads share a budget of bytes: each reserves its declared `Content-Length`
//! (the largest body when it declares none) before its body is read, and gives it back
//! once its save is over. An upload that cannot get its share within the wait is
//! answered 503 with `Retry-After`; until then its body stays unread, in the client's
//! and the kernel's buffers, so the process's memory stays flat however many arrive.
//! Waiting a little absorbs a burst of large saves (one user's "save 10 times"); a
//! longer queue would only turn into request timeouts.
//!
//! Storage: each user may keep at most a quota of image bytes over all their resumes.
//! The check reads the current total before the save; two saves of one user racing
//! can overshoot it by at most one form, which is the price of not locking the user's
//! rows for every save.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::http::header::{CONTENT_LENGTH, RETRY_AFTER};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::db::Db;
use crate::error::{Context, Error, ErrorBody};
use crate::security::audit;
use crate::security::client::ClientAddr;

/// Budget units: KiB keeps the largest body within the semaphore's `u32` counts.
const UNIT: usize = 1024;
/// What a client refused for a full budget is told to wait, in seconds.
const RETRY_AFTER_SECS: &str = "5";

/// The upload memory budget, shared by every handler that reads a multipart body.
#[derive(Clone)]
pub struct UploadBudget {
    units: Arc<Semaphore>,
    total_units: usize,
    wait: Duration,
}

/// A share of the budget, given back when dropped.
pub struct Reservation(#[allow(dead_code)] OwnedSemaphorePermit);

/// The budget stayed full for the whole wait.
#[derive(Debug)]
pub struct BudgetFull;

impl UploadBudget {
    pub fn new(total_bytes: usize, wait: Duration) -> Self {
        let total_units = total_bytes.div_ceil(UNIT).clamp(1, u32::MAX as usize);
        UploadBudget {
            units: Arc::new(Semaphore::new(total_units)),
            total_units,
            wait,
        }
    }

    /// Reserves room for the body these headers announce, at most `max_body` bytes
    /// (the body limit refuses anything longer).
    pub async fn reserve(
        &self,
        headers: &HeaderMap,
        max_body: usize,
    ) -> Result<Reservation, BudgetFull> {
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(max_body)
            .min(max_body);
        let units = declared.div_ceil(UNIT).clamp(1, self.total_units) as u32;
        let acquire = self.units.clone().acquire_many_owned(units);
        match tokio::time::timeout(self.wait, acquire).await {
            Ok(permit) => Ok(Reservation(permit.expect("the budget is never closed"))),
            Err(_) => Err(BudgetFull),
        }
    }
}

impl IntoResponse for BudgetFull {
    fn into_response(self) -> Response {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(RETRY_AFTER, RETRY_AFTER_SECS)],
            Json(ErrorBody::new(
                "too many uploads at once; try again in a few seconds",
                "body",
            )),
        )
            .into_response()
    }
}

/// Image bytes `owner_id` stores now, over all their resumes.
// On the edge of `db`'s rule that it holds every statement: `db::resumes` is the
// natural home, and this query can move there as is.
pub async fn stored_bytes(db: &Db, owner_id: i64) -> Result<u64, Error> {
    let total: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(i.size_bytes), 0) AS BIGINT) \
         FROM resume_images i JOIN resumes r ON r.id = i.resume_id WHERE r.owner_id = $1",
    )
    .bind(owner_id)
    .fetch_one(&db.read)
    .await
    .context("summing a user's stored images")?;
    Ok(total.max(0) as u64)
}

/// Refuses a change that would leave the user above `quota` bytes: `stored` now, plus
/// `added`, minus `removed`.
pub fn check_quota(stored: u64, added: u64, removed: u64, quota: u64) -> Result<(), Error> {
    let after = stored.saturating_add(added).saturating_sub(removed);
    if added > 0 && after > quota {
        return Err(Error::too_large(
            "image",
            format!(
                "storage quota exceeded: {} of {} MiB used, this upload adds {}",
                mib(stored),
                mib(quota),
                human(added)
            ),
        ));
    }
    Ok(())
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1024.0 * 1024.0))
}

fn human(bytes: u64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{} MiB", mib(bytes))
    } else {
        format!("{} KiB", bytes.div_ceil(1024))
    }
}

/// Logs a refused upload as an audit event: who, which check (`quota`, `busy`, `form`),
/// and the answer's reason, which names what was wrong and never carries content.
pub fn audit_rejected(client: &ClientAddr, username: &str, check: &str, reason: &str) {
    audit::event(
        audit::UPLOAD_REJECTED,
        client,
        Some(username),
        &format!("{check}: {reason}"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_counts_what_an_edit_removes() {
        let mib = 1024 * 1024;
        assert!(check_quota(9 * mib, mib, 0, 10 * mib).is_ok());
        let over = check_quota(9 * mib, 2 * mib, 0, 10 * mib).unwrap_err();
        assert_eq!(over.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(check_quota(9 * mib, 2 * mib, mib, 10 * mib).is_ok());
        // Already above (the quota was lowered): removing or renaming stays possible.
        assert!(check_quota(20 * mib, 0, mib, 10 * mib).is_ok());
    }

    #[tokio::test]
    async fn reservations_wait_for_room_then_give_up() {
        let budget = UploadBudget::new(10 * UNIT, Duration::from_millis(50));
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, "6144".parse().unwrap());
        let first = budget.reserve(&headers, usize::MAX).await.unwrap();
        assert!(budget.reserve(&headers, usize::MAX).await.is_err());
        drop(first);
        let _second = budget.reserve(&headers, usize::MAX).await.unwrap();
        // Without a length the largest body is assumed; capped at the whole budget.
        let _third = budget.reserve(&HeaderMap::new(), 4 * UNIT).await.unwrap();
        assert!(budget.reserve(&HeaderMap::new(), 4 * UNIT).await.is_err());
    }
}
