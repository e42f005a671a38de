//! The dashboard of `orch serve`: server-rendered HTML pages on the bounded
//! HTTP server (docs/http.md, "Dashboard"), and the operator's actions.
//!
//! - `GET /`: the Board (attention first: blocked tasks, open alerts; then
//!   one column per stage). `GET /tasks/N`: one task. `GET /runners`
//!   (and `/runners/roadmap`), `GET /workers`. `GET /assets/*`: the style sheet and the small script
//!   (live updates), compiled in.
//! - `POST /tasks/N/retry|cancel|abandon`, `POST /alerts/N/ack`: the
//!   actions, each answered `303` back to the page, or `403` when a
//!   protection refuses it (nothing is changed then).
//!
//! The protections of an action, checked in this order before anything is
//! read from the database: `ORCH_HTTP_READ_ONLY` off; an `Origin` that is
//! this very server (`http://` + the request's `Host`), or with no
//! `Origin`, `Sec-Fetch-Site: same-origin`; the form's `token` equal to this
//! process's random token (embedded in every page, new at every start). The
//! `Host` check (loopback or `ORCH_HTTP_ALLOWED_HOSTS`) and the bearer token
//! (`ORCH_HTTP_TOKEN`) come before, in `http`.

mod actions;
mod data;
mod pages;

use std::io::Read;

use crate::web::{Answer, Context, Method, Request, answer};

pub(crate) use crate::web::Dashboard;

impl Dashboard {
    /// A dashboard with a fresh random token from the kernel.
    ///
    /// # Errors
    ///
    /// When `/dev/urandom` cannot be read.
    pub(crate) fn new(
        read_only: bool,
        bearer: Option<String>,
        roadmap: crate::roadmap_cache::RoadmapCache,
    ) -> std::io::Result<Dashboard> {
        let mut bytes = [0u8; 16];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
        let csrf = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Ok(Dashboard {
            csrf,
            read_only,
            bearer,
            roadmap: std::sync::Arc::new(roadmap),
        })
    }
}

/// Whether an `Authorization` header carries `Bearer <token>`; compared in
/// time independent of where the first difference is.
pub(crate) fn bearer_matches(header: Option<&str>, token: &str) -> bool {
    let Some(given) = header.and_then(|h| {
        h.strip_prefix("Bearer ")
            .or_else(|| h.strip_prefix("bearer "))
    }) else {
        return false;
    };
    same_secret(given.trim().as_bytes(), token.as_bytes())
}

/// `a == b` without an early exit on the first differing byte.
pub(crate) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `path` is one of the actions (`POST /tasks/N/retry` ...), the
/// only requests whose body the server reads.
pub(crate) fn is_action(path: &str) -> bool {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    matches!(
        segments.as_slice(),
        ["tasks", _, "retry" | "cancel" | "abandon"] | ["alerts", _, "ack"]
    )
}

const STYLE: &str = include_str!("style.css");
const SCRIPT: &str = include_str!("live.js");

/// The dashboard's answer for `path`, `None` for a path it does not serve.
pub(crate) fn route(request: &Request, path: &str, context: &Context<'_>) -> Option<Answer> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let page = match segments.as_slice() {
        [""] | ["tasks", _] | ["runners" | "workers"] | ["runners", "roadmap"] => true,
        ["assets", "style.css" | "live.js"] => true,
        ["tasks", _, "retry" | "cancel" | "abandon"] | ["alerts", _, "ack"] => false,
        _ => return None,
    };
    if page {
        if !matches!(request.method, Method::Get | Method::Head) {
            return Some(html_error(
                405,
                "only GET is allowed for a page; actions are POSTs to /tasks/N/retry and the like",
            ));
        }
        return Some(match segments.as_slice() {
            ["assets", "style.css"] => asset("text/css; charset=utf-8", STYLE),
            ["assets", "live.js"] => asset("text/javascript; charset=utf-8", SCRIPT),
            [""] => render(data::Board::load(context).map(|b| pages::board(&b, context.dashboard))),
            ["runners"] => render(data::Runners::load(context).map(|r| pages::runners(&r))),
            ["runners", "roadmap"] => render(Ok(pages::roadmap(
                &context.dashboard.roadmap.show(context.store),
            ))),
            ["workers"] => render(data::Workers::load(context).map(|w| pages::workers(&w))),
            ["tasks", id] => match id.parse::<i64>() {
                Ok(id) => render(
                    data::TaskPage::load(context, id).map(|t| pages::task(&t, context.dashboard)),
                ),
                Err(_) => html_error(404, &format!("{id:?} is not a task id")),
            },
            _ => html_error(404, "no such page"),
        });
    }
    if request.method != Method::Post {
        return Some(html_error(
            405,
            "an action is a POST from the dashboard's own form",
        ));
    }
    Some(actions::act(request, &segments, context))
}

fn asset(content_type: &'static str, text: &str) -> Answer {
    answer(200, content_type, text.to_owned())
}

/// A page, or the error that kept it from being made.
fn render(page: Result<String, data::PageError>) -> Answer {
    match page {
        Ok(html) => answer(200, "text/html; charset=utf-8", html),
        Err(data::PageError::NotFound(what)) => html_error(404, &what),
        Err(data::PageError::Store(why)) => html_error(
            503,
            &format!("the database does not answer: {why}; try again"),
        ),
    }
}

/// An error page: the status and what was wrong.
pub(crate) fn html_error(status: u16, message: &str) -> Answer {
    answer(
        status,
        "text/html; charset=utf-8",
        pages::error(status, message),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_must_match_exactly() {
        let token = "0123456789abcdef-secret";
        assert!(bearer_matches(
            Some("Bearer 0123456789abcdef-secret"),
            token
        ));
        assert!(!bearer_matches(
            Some("Bearer 0123456789abcdef-secreT"),
            token
        ));
        assert!(!bearer_matches(Some("Bearer 0123456789abcdef"), token));
        assert!(!bearer_matches(
            Some("Basic 0123456789abcdef-secret"),
            token
        ));
        assert!(!bearer_matches(None, token));
    }

    #[test]
    fn every_process_gets_its_own_token() {
        let cache = || {
            crate::roadmap_cache::RoadmapCache::new(
                Box::new(|| Err("no database in this test".to_owned())),
                Box::new(|_| Ok(String::new())),
            )
        };
        let a = Dashboard::new(false, None, cache()).unwrap();
        let b = Dashboard::new(false, None, cache()).unwrap();
        assert_eq!(a.csrf.len(), 32);
        assert_ne!(a.csrf, b.csrf);
    }
}
