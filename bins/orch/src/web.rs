//! What an HTTP handler sees and answers: the [`Request`], its
//! [`Context`] (with the [`Dashboard`]'s secrets) and the [`Answer`]. Below
//! `http`, which serves them, and `dashboard`, which answers its pages.

use orch_launcher::{LauncherConfig, Monitor};
use orch_store::Store;

/// What a handler needs besides the request: its own database connection,
/// the configuration, the workers' health, the dashboard's secrets.
pub(crate) struct Context<'a> {
    pub(crate) store: &'a Store,
    pub(crate) launcher: &'a LauncherConfig,
    pub(crate) monitor: &'a Monitor,
    pub(crate) dashboard: &'a Dashboard,
}

/// A request as a handler sees it.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) method: Method,
    pub(crate) target: String,
    /// The `Host` header (checked already).
    pub(crate) host: String,
    /// The `Origin` header, if sent.
    pub(crate) origin: Option<String>,
    /// The `Sec-Fetch-Site` header, if sent.
    pub(crate) sec_fetch_site: Option<String>,
    /// The body (a `POST`'s form; empty otherwise), at most
    /// [`MAX_BODY_BYTES`](crate::http::MAX_BODY_BYTES).
    pub(crate) body: Vec<u8>,
}

/// The request methods told apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Head,
    Post,
    Other(String),
}

/// A response: status, content type, body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    pub(crate) body: String,
    pub(crate) allow: bool,
    /// A redirect's target (`303 See Other` after an action).
    pub(crate) location: Option<String>,
}

pub(crate) fn answer(status: u16, content_type: &'static str, body: String) -> Answer {
    Answer {
        status,
        content_type,
        body,
        allow: false,
        location: None,
    }
}

/// The dashboard's secrets and switches, one per `serve` process.
#[derive(Debug)]
pub(crate) struct Dashboard {
    /// The per-process token every action's form carries (hex, 128 bits).
    pub(crate) csrf: String,
    /// `ORCH_HTTP_READ_ONLY`: no actions shown, every `POST` refused.
    pub(crate) read_only: bool,
    /// `ORCH_HTTP_TOKEN`, when set.
    pub(crate) bearer: Option<String>,
    /// The roadmap page's last computation (`roadmap_cache`).
    pub(crate) roadmap: std::sync::Arc<crate::roadmap_cache::RoadmapCache>,
}
