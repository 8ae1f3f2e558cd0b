//! Accounts and sessions: sign up, log in, log out, and the `CurrentUser` extractor
//! that every protected handler takes. API clients send `Authorization: Bearer
//! <token>`; the web page gets the same token as an HttpOnly, SameSite=Strict cookie,
//! so page scripts never see it.
//!
//! Login and sign-up are what anyone may call before being anyone, so they are where
//! abuse lands: both take JSON only (a foreign page's plain form cannot post it), both
//! are rate limited per client address and logins per account too (see
//! `security::rate_limit`), their password hashing waits in a bounded queue (see
//! `security::hashing`), and what they refuse is logged to the audit trail.

use std::sync::{Arc, LazyLock};
use std::time::Instant;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::json_body;
use crate::db::{self, now_ms};
use crate::domain::{Password, Username};
use crate::error::{Error, ErrorBody};
use crate::security::client::ClientAddr;
use crate::security::hashing::{self, HashingError};
use crate::security::rate_limit::{Limit, Limiter};
use crate::security::{Refusal, Rejection, audit};
use crate::state::AppState;
use crate::storage::SessionUser;

/// The session cookie over plain HTTP (a local run).
pub const COOKIE_NAME: &str = "modu_session";
/// The session cookie when the viewer uses HTTPS. A browser accepts a `__Host-` cookie
/// only if it is Secure, has `Path=/` and no `Domain`, so no other host (a sibling
/// subdomain) and no plain-HTTP page can set or overwrite it.
pub const SECURE_COOKIE_NAME: &str = "__Host-modu_session";

/// The rate-limit and audit context of one login or sign-up.
struct Attempt<'a> {
    limiter: &'a Limiter,
    client: ClientAddr,
    client_key: String,
}

impl<'a> Attempt<'a> {
    /// A sign-up or login from `client`, refused unless it is a JSON request (a plain HTML
    /// form cannot send one, so another site cannot post it) within the client's `limit`.
    fn begin(
        limiter: &'a Limiter,
        client: ClientAddr,
        headers: &HeaderMap,
        limit: Limit,
    ) -> Result<Self, Refusal> {
        require_json(headers)?;
        let attempt = Attempt {
            limiter,
            client,
            client_key: client.limit_key(),
        };
        attempt.limit(None, &[(limit, &attempt.client_key)])?;
        Ok(attempt)
    }

    /// Takes a token of each limit, or refuses with 429 (and says so in the audit log).
    fn limit(&self, username: Option<&str>, wanted: &[(Limit, &str)]) -> Result<(), Refusal> {
        self.limiter
            .take_all(wanted, Instant::now())
            .map_err(|exceeded| {
                let limit = exceeded.limit;
                audit::event(audit::RATE_LIMITED, &self.client, username, limit.name());
                let field = match limit {
                    Limit::LoginFailuresPerAccountAndClient | Limit::LoginFailuresPerAccount => {
                        "username"
                    }
                    Limit::LoginPerClient | Limit::SignupPerClient => "client",
                };
                Refusal::too_many(
                    field,
                    format!("too many attempts ({}); try again later", limit.name()),
                    exceeded.wait,
                )
            })
    }

    /// A full hashing queue is a 503 and an audit event; stopped threads are a bug.
    fn hashing_failed(&self, username: &str, e: HashingError) -> Rejection {
        match e {
            HashingError::Busy => {
                audit::event(
                    audit::HASHING_BUSY,
                    &self.client,
                    Some(username),
                    "password hashing queue full",
                );
                Refusal::busy().into()
            }
            HashingError::Stopped => Error::internal("hashing a password", e).into(),
        }
    }
}

/// A new account. Missing fields are refused like empty ones: 422 naming the field.
#[derive(Deserialize, ToSchema)]
pub struct SignupBody {
    /// 3 to 32 letters (any script), digits, `_`, `.` or `-`; unique (case counts).
    #[schema(required = true, value_type = String, min_length = 3, max_length = 32, example = "kim_01")]
    username: Option<String>,
    /// 8 to 128 characters, not the username (ignoring case), not one of the most
    /// common passwords.
    #[schema(required = true, value_type = String, min_length = 8, max_length = 128, example = "correct horse battery")]
    password: Option<String>,
    /// The same password again.
    #[schema(required = true, value_type = String, min_length = 8, max_length = 128, example = "correct horse battery")]
    password_confirm: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct LoginBody {
    #[schema(required = true, value_type = String, min_length = 1, example = "kim_01")]
    username: Option<String>,
    #[schema(required = true, value_type = String, min_length = 1, max_length = 1024, example = "correct horse battery")]
    password: Option<String>,
}

/// A session just opened: the token also travels as the session cookie.
#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    /// Send it as `Authorization: Bearer <token>`; valid for a week.
    pub token: String,
    pub username: String,
    pub user_id: i64,
}

/// The logged-in user.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub id: i64,
    pub username: String,
}

/// Signs up and logs in: the account and a session.
#[utoipa::path(
    post,
    path = "/api/auth/signup",
    operation_id = "signup",
    tag = "auth",
    request_body = SignupBody,
    security(()),
    responses(
        (status = 201, description = "Signed up and logged in.", body = Session,
            headers(("set-cookie" = String, description = "The session cookie (HttpOnly, \
                SameSite=Strict; `__Host-modu_session`, Secure, when the viewer uses HTTPS)."))),
        (status = 400, description = "The body is not the JSON object described.", body = ErrorBody),
        (status = 409, description = "The username is taken (`field`: `username`).", body = ErrorBody),
        (status = 413, description = "The body is larger than 64 KiB.", body = ErrorBody),
        (status = 415, description = "Not sent as `application/json`.", body = ErrorBody),
        (status = 422, description = "A field is refused; `field` names it.", body = ErrorBody),
        (status = 429, description = "Too many sign-ups from this client.", body = ErrorBody,
            headers(("retry-after" = u64, description = "Seconds to wait."))),
        (status = 503, description = "Too many password hashes at once.", body = ErrorBody,
            headers(("retry-after" = u64, description = "Seconds to wait."))),
    )
)]
pub async fn signup(
    State(state): State<AppState>,
    Extension(limiter): Extension<Arc<Limiter>>,
    client: ClientAddr,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Rejection> {
    let attempt = Attempt::begin(&limiter, client, &headers, Limit::SignupPerClient)?;
    let body: SignupBody = json_body(body)?;
    let username = Username::parse(body.username.as_deref().unwrap_or_default())?;
    let password = Password::parse_new(body.password.as_deref().unwrap_or_default(), &username)?;
    if body.password_confirm.as_deref() != Some(password.expose()) {
        return Err(Error::invalid("password_confirm", "passwords do not match").into());
    }
    if db::users::is_taken(&state.db, username.as_str()).await? {
        return Err(username_taken().into());
    }

    let hash = hash_password(password)
        .await
        .map_err(|e| attempt.hashing_failed(username.as_str(), e))??;
    // `None` also when two sign-ups with one name raced past the check above.
    let Some(user_id) = db::users::insert(&state.db, username.as_str(), &hash, now_ms()).await?
    else {
        return Err(username_taken().into());
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

/// Logs in: a new session.
#[utoipa::path(
    post,
    path = "/api/auth/login",
    operation_id = "login",
    tag = "auth",
    request_body = LoginBody,
    security(()),
    responses(
        (status = 200, description = "Logged in.", body = Session,
            headers(("set-cookie" = String, description = "The session cookie, as sign-up sets it."))),
        (status = 400, description = "The body is not the JSON object described.", body = ErrorBody),
        (status = 401, description = "Wrong username or password.", body = ErrorBody),
        (status = 413, description = "The body is larger than 64 KiB.", body = ErrorBody),
        (status = 415, description = "Not sent as `application/json`.", body = ErrorBody),
        (status = 422, description = "A field is missing or empty.", body = ErrorBody),
        (status = 429, description = "Too many attempts from this client, or wrong passwords \
            for this account (`field`: `client` or `username`).", body = ErrorBody,
            headers(("retry-after" = u64, description = "Seconds to wait."))),
        (status = 503, description = "Too many password hashes at once.", body = ErrorBody,
            headers(("retry-after" = u64, description = "Seconds to wait."))),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    Extension(limiter): Extension<Arc<Limiter>>,
    client: ClientAddr,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Rejection> {
    let attempt = Attempt::begin(&limiter, client, &headers, Limit::LoginPerClient)?;
    let body: LoginBody = json_body(body)?;
    let username = body.username.unwrap_or_default();
    let password = body.password.unwrap_or_default();
    if username.is_empty() {
        return Err(Error::invalid("username", "username is required").into());
    }
    if password.is_empty() || password.len() > 1024 {
        return Err(Error::invalid("password", "password is required").into());
    }
    // No account has a longer name; refusing it here also bounds the limiter's keys.
    if username.chars().count() > Username::MAX_CHARS {
        audit::event(audit::LOGIN_FAILED, &client, None, "username too long");
        return Err(Error::BadCredentials.into());
    }

    // A wrong password is counted before it is checked, so that concurrent guesses
    // cannot all pass the limit; a correct one gives its tokens back.
    let account = username.to_lowercase();
    let account_and_client = format!("{account} {}", attempt.client_key);
    let failures = [
        (
            Limit::LoginFailuresPerAccountAndClient,
            account_and_client.as_str(),
        ),
        (Limit::LoginFailuresPerAccount, account.as_str()),
    ];
    attempt.limit(Some(&username), &failures)?;
    let give_back = || {
        for (limit, key) in failures {
            limiter.give_back(limit, key);
        }
    };

    let credentials = db::users::credentials(&state.db, &username).await;
    let credentials = credentials.inspect_err(|_| give_back())?;
    // Verify against a dummy hash for unknown users too, so timing does not reveal
    // which usernames exist.
    let (user_id, hash) = match credentials {
        Some(c) => (Some(c.user_id), c.password_hash),
        None => (None, String::new()),
    };
    let ok = match verify_password(password, hash).await {
        Ok(ok) => ok?,
        Err(e) => {
            give_back();
            return Err(attempt.hashing_failed(&username, e));
        }
    };
    let Some(user_id) = user_id.filter(|_| ok) else {
        let reason = if user_id.is_some() {
            "wrong password"
        } else {
            "no such user"
        };
        audit::event(audit::LOGIN_FAILED, &client, Some(&username), reason);
        return Err(Error::BadCredentials.into());
    };
    give_back();
    let user = SessionUser { user_id, username };
    let token = state.sessions.create(&user).await?;
    Ok(session_response(StatusCode::OK, &user, &token, &headers))
}

/// Logs out: revokes the presented session and clears the cookie.
#[utoipa::path(
    post,
    path = "/api/auth/logout",
    operation_id = "logout",
    tag = "auth",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "The session is revoked.",
            headers(("set-cookie" = String, description = "Clears the session cookie."))),
        (status = 401, description = "No valid session.", body = ErrorBody),
    )
)]
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, Error> {
    let token = presented_token(&headers).ok_or(Error::Unauthorized)?;
    if state.sessions.lookup(&token).await?.is_none() {
        return Err(Error::Unauthorized);
    }
    state.sessions.revoke(&token).await?;
    let https = viewer_used_https(&headers);
    let mut clear = vec![format!(
        "{COOKIE_NAME}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{}",
        if https { "; Secure" } else { "" }
    )];
    if https || cookie(&headers, SECURE_COOKIE_NAME).is_some() {
        clear.push(format!(
            "{SECURE_COOKIE_NAME}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0; Secure"
        ));
    }
    let clear = clear.into_iter().map(|c| (header::SET_COOKIE, c));
    Ok((StatusCode::NO_CONTENT, AppendHeaders(clear)).into_response())
}

/// Who is logged in.
#[utoipa::path(
    get,
    path = "/api/auth/me",
    operation_id = "me",
    tag = "auth",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The logged-in user.", body = Me),
        (status = 401, description = "No valid session.", body = ErrorBody),
    )
)]
pub async fn me(user: CurrentUser) -> Json<Me> {
    Json(Me {
        id: user.0.user_id,
        username: user.0.username,
    })
}

fn username_taken() -> Error {
    Error::Conflict {
        field: "username",
        message: "username is already taken".into(),
    }
}

/// Login and sign-up read JSON, and say so: a body sent as `text/plain` or a form
/// (what a foreign page can post without the service's consent) is refused.
fn require_json(headers: &HeaderMap) -> Result<(), Refusal> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if json {
        Ok(())
    } else {
        Err(Refusal::not_json())
    }
}

/// Did the viewer reach the service over HTTPS? The edge that ended TLS says so (see
/// [`crate::protection::headers::viewer_used_https`]), except the load balancer when CloudFront talks to
/// it over HTTP, whatever the viewer used. A browser says it too: the `Origin` of its
/// login or sign-up is the page's own, `https://…` on an HTTPS page. A plain
/// `http://127.0.0.1` run has none of these, and keeps a cookie that is not Secure, which
/// the browser would otherwise drop.
fn viewer_used_https(headers: &HeaderMap) -> bool {
    let origin_https = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.get(..8))
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"));
    crate::protection::headers::viewer_used_https(headers) || origin_https
}

fn session_response(
    status: StatusCode,
    user: &SessionUser,
    token: &str,
    headers: &HeaderMap,
) -> Response {
    let cookie = if viewer_used_https(headers) {
        format!(
            "{SECURE_COOKIE_NAME}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=604800; Secure"
        )
    } else {
        format!("{COOKIE_NAME}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=604800")
    };
    let body = Session {
        token: token.to_owned(),
        username: user.username.clone(),
        user_id: user.user_id,
    };
    (status, [(header::SET_COOKIE, cookie)], Json(body)).into_response()
}

/// Argon2id with the crate's defaults (19 MiB, 2 passes), on the hashing threads.
async fn hash_password(password: Password) -> Result<Result<String, Error>, HashingError> {
    let hashed = hashing::pool()
        .run(move || {
            Argon2::default()
                .hash_password(password.expose().as_bytes())
                .map(|h| h.to_string())
        })
        .await?;
    Ok(hashed.map_err(|e| Error::internal("hashing a password", e.to_string())))
}

async fn verify_password(
    password: String,
    hash: String,
) -> Result<Result<bool, Error>, HashingError> {
    let verified = hashing::pool()
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
        .await?;
    Ok(verified.map_err(|e| Error::internal("verifying a password", e)))
}

static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    Argon2::default()
        .hash_password(b"not anyone's password")
        .map(|h| h.to_string())
        .unwrap_or_default()
});

/// The token from `Authorization: Bearer …`, else from a session cookie.
pub fn presented_token(headers: &HeaderMap) -> Option<String> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))?;
        return Some(token.trim().to_owned());
    }
    // The `__Host-` cookie first: a plain-HTTP page on the same host could have
    // planted the other one, but not this.
    cookie(headers, SECURE_COOKIE_NAME).or_else(|| cookie(headers, COOKIE_NAME))
}

fn cookie(headers: &HeaderMap, wanted: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == wanted)
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
