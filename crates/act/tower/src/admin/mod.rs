//! An operator's (or `ballast heal`'s) control over the running layers, over HTTP: force the
//! concurrency limit, force answers from the fallback cache, force a breaker open, and hand
//! each back to automatic.
//!
//! [`AdminConfig`] → [`build`](AdminConfig::build) with the [`Handles`] of the layers to steer
//! → [`Admin`], a tower service (any `http_body::Body` in, `http::Response<String>` out) that
//! answers by the request path's last segment, so it can be routed under any prefix; with the
//! `axum` feature [`Admin::router`] routes it under `/admin`:
//!
//! | Request | Body | Effect |
//! |---|---|---|
//! | `GET /admin/state` | | the state below |
//! | `POST /admin/limit` | `{"max": N}` / `{"max": null}` | at most N calls in flight, shedding the rest with 503 / the static or learned limit again |
//! | `POST /admin/fallback` | `{"force": true}` / `{"force": false}` | requests with a cached answer get it (degraded) without calling the dependency / only failures do |
//! | `POST /admin/breaker` | `{"name": "inventory", "state": "open"}` / `"auto"` | the breaker rejects every call / the mode it was built with again |
//!
//! Every answer with 200 is the state after the change:
//! `{"limit": {"max": N, "forced": bool}, "fallback": {"forced": bool}, "breakers": {"NAME":
//! {"state": "closed|open|half_open", "forced": "open|none"}}}` (`limit` and `fallback` are
//! `null` when none is wired; a forced-open breaker's `state` is `open`, as callers see it).
//!
//! **Authentication.** Every request needs `Authorization: Bearer <token>` ([`AdminConfig::token`],
//! which must not be empty), compared in constant time: 401 without it, 403 when it is wrong.
//! A bad body is 400 naming the field and what was expected; unknown fields are refused, so
//! a typo never passes as "no change". Every change is logged (`tracing`, info) and shown as
//! the gauge `ballast_admin_forced{what="limit|fallback|breaker",name="…"}` ([`Admin::register`]).
//!
//! ```
//! use ballast_tower::admin::{AdminConfig, Handles};
//! use ballast_tower::limit::{LimitConfig, LimitKind};
//! use tower::ServiceExt;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let limit = LimitConfig { limit: LimitKind::Static { max_in_flight: 100 }, ..Default::default() }.build()?;
//! let admin = AdminConfig { token: "s3cret".into() }.build(Handles::new().limit(&limit))?;
//!
//! let request = http::Request::post("/admin/limit")
//!     .header("authorization", "Bearer s3cret")
//!     .body(r#"{"max": 5}"#.to_string())?;
//! let answer = admin.clone().oneshot(request).await?;
//! assert_eq!(answer.status(), 200);
//! assert_eq!(limit.stats().limit, 5);
//!
//! let typo = http::Request::post("/admin/limit")
//!     .header("authorization", "Bearer s3cret")
//!     .body(r#"{"maximum": 5}"#.to_string())?;
//! let answer = admin.oneshot(typo).await?;
//! assert_eq!(answer.status(), 400);
//! assert!(answer.body().contains("maximum"));
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! ```

mod body;
mod config;
mod service;
#[cfg(test)]
mod tests;

pub use config::{AdminConfig, Handles};
pub use service::{Admin, ResponseFuture};
