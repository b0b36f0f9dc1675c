//! The door of a served warehouse with users: every request is resolved to a caller
//! (its user and what its role sees) before any route runs, and `/login` exchanges
//! a token for a session cookie (see [`super::auth`]).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::auth::{COOKIE, SESSION_SECONDS, User, Users};
use super::{Caller, Shared};

/// Resolves the caller of every request (no users: anyone is the process's role).
pub(super) async fn auth_layer(
    State(state): State<Shared>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(served) = &state.options.users else {
        let audience = state.audiences.get("").expect("the one audience").clone();
        request.extensions_mut().insert(Caller {
            user: String::new(),
            audience,
        });
        return next.run(request).await;
    };
    if request.uri().path() == "/login" {
        return next.run(request).await;
    }
    let users = &served.users;
    let now = chrono::Utc::now().timestamp();
    let headers = request.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let user = match bearer {
        Some(token) => {
            if !users.may_try(from.ip()) {
                return too_many();
            }
            let user = users.by_token(token.trim());
            if user.is_none() {
                users.failed(from.ip());
            }
            user
        }
        None => cookie(headers).and_then(|v| users.by_session(v, now)),
    };
    let Some(user) = user else {
        return unauthorised(request.uri().path());
    };
    let Some(audience) = state.audiences.get(&user.role).cloned() else {
        return unauthorised(request.uri().path());
    };
    request.extensions_mut().insert(Caller {
        user: user.name.clone(),
        audience,
    });
    next.run(request).await
}

fn cookie(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

fn too_many() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        axum::Json(json!({"error": "too many failed attempts from this address; wait a minute"})),
    )
        .into_response()
}

/// API routes answer 401; pages send the browser to the login page.
fn unauthorised(path: &str) -> Response {
    if path.starts_with("/api/") {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))],
            axum::Json(json!({"error": "log in: a bearer token or a session from /login"})),
        )
            .into_response()
    } else {
        Redirect::to("/login").into_response()
    }
}

#[derive(Deserialize)]
pub(super) struct Login {
    token: String,
}

/// `POST /login` `{"token": ...}`: a session cookie for the token's user.
pub(super) async fn login(
    State(state): State<Shared>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    axum::Json(login): axum::Json<Login>,
) -> Response {
    let Some(served) = &state.options.users else {
        return (StatusCode::NOT_FOUND, "this server has no users").into_response();
    };
    let users: &Users = &served.users;
    if !users.may_try(from.ip()) {
        return too_many();
    }
    let Some(user) = users.by_token(login.token.trim()) else {
        users.failed(from.ip());
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "unknown token"})),
        )
            .into_response();
    };
    session_response(users, user)
}

fn session_response(users: &Users, user: &User) -> Response {
    let value = users.session(user, chrono::Utc::now().timestamp());
    let cookie =
        format!("{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={SESSION_SECONDS}");
    (
        [(
            header::SET_COOKIE,
            HeaderValue::from_str(&cookie).expect("a cookie of ASCII"),
        )],
        axum::Json(json!({"user": user.name, "role": user.role})),
    )
        .into_response()
}

/// `GET /login`: a form that exchanges a token for a session.
pub(super) async fn page() -> Html<&'static str> {
    Html(PAGE)
}

const PAGE: &str = r#"<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>lgs: log in</title><style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto}
input,button{font-size:1rem;padding:.4rem}input{width:100%;box-sizing:border-box}#error{color:#b00}</style></head>
<body><h1>Log in</h1><p>Paste the token you were given.</p>
<form id="login"><input id="token" type="password" autocomplete="current-password" autofocus>
<p><button type="submit">Log in</button></p><p id="error"></p></form>
<script>
document.getElementById('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  const r = await fetch('/login', {method: 'POST', headers: {'content-type': 'application/json'},
    body: JSON.stringify({token: document.getElementById('token').value})});
  if (r.ok) { location.href = '/'; return; }
  const j = await r.json().catch(() => ({error: r.statusText}));
  document.getElementById('error').textContent = j.error || r.statusText;
});
</script></body></html>"#;
