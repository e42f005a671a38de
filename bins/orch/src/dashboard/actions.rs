//! The dashboard's actions (`POST`): retry at a stage, cancel, abandon,
//! acknowledge an alert; each behind the protections of `super`'s header
//! comment, and each the same library call as its CLI command.

use orch_launcher::operator;
use orch_pipeline::Stage;
use orch_store::{AlertId, TaskId};

use super::{html_error, same_secret};
use crate::web::{Answer, Context, Request, answer};

/// Why an action was refused before anything was read or written.
fn refuse(why: &str) -> Answer {
    html_error(403, why)
}

/// Checks the protections, then does the action of `segments`.
pub(super) fn act(request: &Request, segments: &[&str], context: &Context<'_>) -> Answer {
    if let Err(refusal) = admitted(request, context) {
        return refusal;
    }
    let form = Form::parse(&request.body);
    match segments {
        ["tasks", id, action] => {
            let Ok(id) = id.parse::<i64>() else {
                return html_error(404, &format!("{id:?} is not a task id"));
            };
            task_action(id, action, &form, context)
        }
        ["alerts", id, "ack"] => {
            let Ok(id) = id.parse::<i64>() else {
                return html_error(404, &format!("{id:?} is not an alert id"));
            };
            match context.store.acknowledge_alert(AlertId::new(id)) {
                Ok(()) => see_other(form.get("back").filter(|b| is_local(b)).unwrap_or("/")),
                Err(error) => store_error(&error),
            }
        }
        _ => html_error(404, "no such action"),
    }
}

/// The protections: read-only off, same origin, the page's token.
fn admitted(request: &Request, context: &Context<'_>) -> Result<(), Answer> {
    if context.dashboard.read_only {
        return Err(refuse(
            "this dashboard is read-only (ORCH_HTTP_READ_ONLY=true): actions are refused; use the orch CLI",
        ));
    }
    let own = format!("http://{}", request.host);
    match (&request.origin, request.sec_fetch_site.as_deref()) {
        (Some(origin), _) if origin.eq_ignore_ascii_case(&own) => {}
        (Some(origin), _) => {
            return Err(refuse(&format!(
                "the request comes from {origin:?}, not from this dashboard ({own}); an action is accepted from the dashboard's own page only"
            )));
        }
        (None, Some("same-origin")) => {}
        (None, _) => {
            return Err(refuse(
                "the request says neither its Origin nor Sec-Fetch-Site: same-origin; an action is accepted from the dashboard's own page only (scripts use the orch CLI)",
            ));
        }
    }
    let form = Form::parse(&request.body);
    let token = form.get("token").unwrap_or_default();
    if !same_secret(token.as_bytes(), context.dashboard.csrf.as_bytes()) {
        return Err(refuse(
            "the form's token is missing or not this server's (it changes at every start of orch serve); reload the page and try again",
        ));
    }
    Ok(())
}

fn task_action(id: i64, action: &str, form: &Form, context: &Context<'_>) -> Answer {
    let task = TaskId::new(id);
    let reason = form
        .get("reason")
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .unwrap_or("from the dashboard");
    let reason = format!("{reason} (dashboard)");
    let back = format!("/tasks/{id}");
    let done = match action {
        "retry" => {
            let stage = match form.get("stage").map(str::trim).filter(|s| !s.is_empty()) {
                None => None,
                Some(text) => match text.parse::<Stage>() {
                    Ok(stage) => Some(stage),
                    Err(error) => return html_error(400, &format!("stage: {error}")),
                },
            };
            operator::retry(context.store, task, stage, &reason, false).map(|_| ())
        }
        "abandon" => {
            let git = orch_launcher::worktree::Git::new(context.launcher);
            operator::abandon(context.store, &git, task, &reason).map(|_| ())
        }
        "cancel" => context
            .store
            .request_cancel(task)
            .map(|_| ())
            .map_err(operator::OperatorError::from),
        _ => return html_error(404, "no such action"),
    };
    match done {
        Ok(()) => see_other(&back),
        Err(operator::OperatorError::Store(error)) => store_error(&error),
        Err(error) => html_error(409, &error.to_string()),
    }
}

fn store_error(error: &orch_store::StoreError) -> Answer {
    use orch_store::StoreError;
    let status = if matches!(error, StoreError::NotFound { .. }) {
        404
    } else if matches!(
        error,
        StoreError::TaskState { .. } | StoreError::InvalidInput { .. }
    ) {
        409
    } else {
        503
    };
    html_error(status, &error.to_string())
}

/// A path of this server (no scheme, no host): where an action may send the
/// browser back to.
fn is_local(path: &str) -> bool {
    path.starts_with('/') && !path.starts_with("//") && !path.contains('\\')
}

fn see_other(location: &str) -> Answer {
    let mut reply = answer(
        303,
        "text/plain; charset=utf-8",
        format!("done; see {location}\n"),
    );
    reply.location = Some(location.to_owned());
    reply
}

/// An `application/x-www-form-urlencoded` body.
#[derive(Debug, Default)]
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    pub(crate) fn parse(body: &[u8]) -> Form {
        let text = String::from_utf8_lossy(body);
        Form(
            text.split('&')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                    (decode(name), decode(value))
                })
                .collect(),
        )
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Percent-decoding with `+` as a space; a malformed escape is kept as is.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |at: usize| {
            bytes
                .get(at)
                .and_then(|c| char::from(*c).to_digit(16))
                .and_then(|d| u8::try_from(d).ok())
        };
        match b {
            b'+' => out.push(b' '),
            b'%' => match (hex(i + 1), hex(i + 2)) {
                (Some(hi), Some(lo)) => {
                    out.push(hi * 16 + lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_is_decoded() {
        let form = Form::parse(b"token=ab%2Fc&reason=host+fixed%21&stage=&bad=%zz");
        assert_eq!(form.get("token"), Some("ab/c"));
        assert_eq!(form.get("reason"), Some("host fixed!"));
        assert_eq!(form.get("stage"), Some(""));
        assert_eq!(form.get("bad"), Some("%zz"));
        assert_eq!(form.get("none"), None);
    }

    #[test]
    fn only_a_local_path_is_a_way_back() {
        assert!(is_local("/tasks/3"));
        assert!(!is_local("//evil.example/"));
        assert!(!is_local("https://evil.example/"));
    }
}
