//! Accounts and sessions: sign up, log in, log out, and the `CurrentUser` extractor
//! that every protected handler takes. API clients send `Authorization: Bearer
//! <token>`; the web page gets the same token as an HttpOnly, SameSite=Strict cookie,
//! so page scripts never see it.

use std::sync::LazyLock;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::json_body;
use crate::db::{self, now_ms};
use crate::domain::{Password, Username};
use crate::error::{Context, Error};
use crate::state::AppState;
use crate::storage::SessionUser;

pub const COOKIE_NAME: &str = "modu_session";

#[derive(Deserialize)]
pub struct SignupBody {
    username: Option<String>,
    password: Option<String>,
    password_confirm: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginBody {
    username: Option<String>,
    password: Option<String>,
}

pub async fn signup(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Error> {
    let body: SignupBody = json_body(body)?;
    let username = Username::parse(body.username.as_deref().unwrap_or_default())?;
    let password = Password::parse(body.password.as_deref().unwrap_or_default())?;
    if body.password_confirm.as_deref() != Some(password.expose()) {
        return Err(Error::invalid("password_confirm", "passwords do not match"));
    }
    if db::users::is_taken(&state.db, username.as_str()).await? {
        return Err(username_taken());
    }

    let hash = hash_password(password).await?;
    // `None` also when two sign-ups with one name raced past the check above.
    let Some(user_id) = db::users::insert(&state.db, username.as_str(), &hash, now_ms()).await?
    else {
        return Err(username_taken());
    };
    let user = SessionUser {
        user_id,
        username: username.as_str().to_owned(),
    };
    let token = state.sessions.create(&user).await?;
    Ok(session_response(
        StatusCode::CREATED,
        &user,
        &token,
        &headers,
    ))
}

pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Error> {
    let body: LoginBody = json_body(body)?;
    let username = body.username.unwrap_or_default();
    let password = body.password.unwrap_or_default();
    if username.is_empty() {
        return Err(Error::invalid("username", "username is required"));
    }
    if password.is_empty() || password.len() > 1024 {
        return Err(Error::invalid("password", "password is required"));
    }
    let credentials = db::users::credentials(&state.db, &username).await?;
    // Verify against a dummy hash for unknown users too, so timing does not reveal
    // which usernames exist.
    let (user_id, hash) = match credentials {
        Some(c) => (Some(c.user_id), c.password_hash),
        None => (None, String::new()),
    };
    let ok = verify_password(password, hash).await?;
    let (Some(user_id), true) = (user_id, ok) else {
        return Err(Error::BadCredentials);
    };
    let user = SessionUser { user_id, username };
    let token = state.sessions.create(&user).await?;
    Ok(session_response(StatusCode::OK, &user, &token, &headers))
}

pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, Error> {
    let token = presented_token(&headers).ok_or(Error::Unauthorized)?;
    if state.sessions.lookup(&token).await?.is_none() {
        return Err(Error::Unauthorized);
    }
    state.sessions.revoke(&token).await?;
    let clear = format!(
        "{COOKIE_NAME}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{}",
        secure_attribute(&headers)
    );
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response())
}

pub async fn me(user: CurrentUser) -> Json<serde_json::Value> {
    Json(json!({ "id": user.0.user_id, "username": user.0.username }))
}

fn username_taken() -> Error {
    Error::Conflict {
        field: "username",
        message: "username is already taken".into(),
    }
}

/// `; Secure` when the viewer reached us over HTTPS: CloudFront and the load balancer say so
/// in `X-Forwarded-Proto`, so the cookie is never sent back over plain HTTP there, while a
/// local `http://127.0.0.1` session still works.
fn secure_attribute(headers: &HeaderMap) -> &'static str {
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .next()
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
        });
    if https { "; Secure" } else { "" }
}

fn session_response(
    status: StatusCode,
    user: &SessionUser,
    token: &str,
    headers: &HeaderMap,
) -> Response {
    let cookie = format!(
        "{COOKIE_NAME}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=604800{}",
        secure_attribute(headers)
    );
    let body = json!({ "token": token, "username": user.username, "user_id": user.user_id });
    (status, [(header::SET_COOKIE, cookie)], Json(body)).into_response()
}

/// Argon2id with the crate's defaults (19 MiB, 2 passes), off the async workers.
async fn hash_password(password: Password) -> Result<String, Error> {
    hashing_pool()
        .run(move || {
            Argon2::default()
                .hash_password(password.expose().as_bytes())
                .map(|h| h.to_string())
        })
        .await
        .context("hashing a password")?
        .map_err(|e| Error::internal("hashing a password", e.to_string()))
}

async fn verify_password(password: String, hash: String) -> Result<bool, Error> {
    hashing_pool()
        .run(move || {
            // Unknown users are checked against a dummy hash, made here (off the async
            // workers) the first time it is needed.
            let hash = if hash.is_empty() {
                DUMMY_HASH.as_str()
            } else {
                hash.as_str()
            };
            match Argon2::default().verify_password(password.as_bytes(), hash) {
                Ok(()) => Ok(true),
                Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
                Err(e) => Err(e.to_string()),
            }
        })
        .await
        .context("verifying a password")?
        .map_err(|e| Error::internal("verifying a password", e))
}

/// Password hashing runs on its own threads, one per core, rather than on tokio's
/// blocking pool. Each Argon2 run takes a core and 19 MiB for its whole length: a burst
/// of sign-ups (a load test makes hundreds at once) spread over the blocking pool's
/// many threads left hundreds of MiB resident in the allocator's per-thread arenas and
/// starved the other requests of CPU. Here hashes queue and memory stays bounded.
struct HashingPool {
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>>,
}

#[derive(Debug, thiserror::Error)]
#[error("the password hashing threads have stopped")]
struct HashingStopped;

impl HashingPool {
    fn start() -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-hash-{i}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        HashingPool {
            jobs: std::sync::Mutex::new(tx),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashingStopped> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Box<dyn FnOnce() + Send> = Box::new(move || {
            let _ = done.send(f());
        });
        self.jobs
            .lock()
            .map_err(|_| HashingStopped)?
            .send(job)
            .map_err(|_| HashingStopped)?;
        result.await.map_err(|_| HashingStopped)
    }
}

fn hashing_pool() -> &'static HashingPool {
    static POOL: LazyLock<HashingPool> = LazyLock::new(HashingPool::start);
    &POOL
}

static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    Argon2::default()
        .hash_password(b"not anyone's password")
        .map(|h| h.to_string())
        .unwrap_or_default()
});

/// The token from `Authorization: Bearer …`, else from the session cookie.
pub fn presented_token(headers: &HeaderMap) -> Option<String> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))?;
        return Some(token.trim().to_owned());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.to_owned())
}

/// The logged-in user; extracting it answers 401 when there is no valid session.
pub struct CurrentUser(pub SessionUser);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let token = presented_token(&parts.headers).ok_or(Error::Unauthorized)?;
        let user = state
            .sessions
            .lookup(&token)
            .await?
            .ok_or(Error::Unauthorized)?;
        Ok(CurrentUser(user))
    }
}
