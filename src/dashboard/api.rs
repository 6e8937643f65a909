//! The dashboard's routes: the page, the JSON endpoints, `/metrics`.
//! Every error is a 4xx with a JSON body `{"error": "…"}`.

use super::prometheus;
use crate::ids::{NodeId, TaskId};
use crate::inspect::{Cursor, TaskQuery, TaskState};
use crate::runtime::RuntimeHandle;
use crate::spec::TaskKind;
use actix_web::http::{header, StatusCode};
use actix_web::{web, App, HttpRequest, HttpResponse, ResponseError};
use std::fmt;
use std::sync::Arc;

/// The page: one static file, embedded.
const PAGE: &str = include_str!("page.html");

/// What every route shares.
#[derive(Clone)]
pub(super) struct State {
    handle: RuntimeHandle,
    token: Option<Arc<str>>,
    registry: Arc<prometheus_client::registry::Registry>,
}

impl State {
    pub(super) fn new(handle: RuntimeHandle, token: Option<String>) -> Self {
        let registry = prometheus::registry(handle.clone());
        State {
            handle,
            token: token.map(Into::into),
            registry: Arc::new(registry),
        }
    }
}

/// A refused request: its status and what to say.
#[derive(Debug)]
pub(super) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn bad(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(serde_json::json!({ "error": self.message }))
    }
}

type Reply = Result<HttpResponse, ApiError>;

/// The application: routes and extractor settings.
pub(super) fn app(
    state: State,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::new(state))
        .app_data(
            web::QueryConfig::default()
                .error_handler(|e, _| ApiError::bad(format!("bad query: {e}")).into()),
        )
        .app_data(
            web::PathConfig::default()
                .error_handler(|e, _| ApiError::bad(format!("bad path: {e}")).into()),
        )
        .route("/", web::get().to(page))
        .route("/api/overview", web::get().to(overview))
        .route("/api/nodes", web::get().to(nodes))
        .route("/api/tasks", web::get().to(tasks))
        .route("/api/tasks/{id}", web::get().to(task))
        .route("/api/tasks/{id}/cancel", web::post().to(cancel))
        .route("/api/events", web::get().to(events))
        .route("/metrics", web::get().to(metrics))
        .default_service(web::to(not_found))
}

async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(PAGE)
}

async fn not_found(req: HttpRequest) -> Reply {
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no such endpoint: {} {}", req.method(), req.path()),
    ))
}

async fn overview(state: web::Data<State>) -> Reply {
    let h = &state.handle;
    let nodes = h.node_status();
    let up = nodes
        .iter()
        .filter(|n| n.health == crate::inspect::NodeHealth::Up)
        .count();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "health": h.health(),
        "counts": h.state_counts(),
        "rates": h.rates(),
        "nodes": nodes.len(),
        "nodes_up": up,
    })))
}

async fn nodes(state: web::Data<State>) -> Reply {
    Ok(HttpResponse::Ok().json(state.handle.node_status()))
}

async fn events(state: web::Data<State>) -> Reply {
    Ok(HttpResponse::Ok().json(state.handle.events()))
}

/// A kind as the page and scripts write it: `training`, `custom:NAME`, …
fn parse_kind(s: &str) -> Result<TaskKind, ApiError> {
    Ok(match s {
        "training" => TaskKind::Training,
        "inference" => TaskKind::Inference,
        "preprocessing" => TaskKind::Preprocessing,
        "evaluation" => TaskKind::Evaluation,
        "unspecified" => TaskKind::Unspecified,
        other => match other.strip_prefix("custom:") {
            Some(name) => TaskKind::Custom(name.to_owned()),
            None => {
                return Err(ApiError::bad(format!(
                    "unknown kind `{other}` (expected training, inference, preprocessing, evaluation, unspecified or custom:NAME)"
                )))
            }
        },
    })
}

/// A node by index or by name.
fn parse_node(h: &RuntimeHandle, s: &str) -> Result<NodeId, ApiError> {
    let nodes = h.node_status();
    if let Ok(i) = s.parse::<usize>() {
        if i < nodes.len() {
            return Ok(NodeId(i));
        }
    }
    nodes
        .iter()
        .find(|n| n.name == s)
        .map(|n| n.id)
        .ok_or_else(|| ApiError::bad(format!("no node `{s}`")))
}

fn parse_id(s: &str) -> Result<TaskId, ApiError> {
    s.strip_prefix("task-")
        .unwrap_or(s)
        .parse::<u64>()
        .map(TaskId)
        .map_err(|_| ApiError::bad(format!("malformed task id `{s}`")))
}

async fn tasks(state: web::Data<State>, query: web::Query<Vec<(String, String)>>) -> Reply {
    let h = &state.handle;
    let mut q = TaskQuery::default();
    for (key, value) in query.into_inner() {
        if value.is_empty() {
            continue;
        }
        match key.as_str() {
            "state" => {
                q.state = Some(
                    value
                        .parse::<TaskState>()
                        .map_err(|e| ApiError::bad(e.to_string()))?,
                )
            }
            "kind" => q.kind = Some(parse_kind(&value)?),
            "node" => q.node = Some(parse_node(h, &value)?),
            "name" => q.name = Some(value),
            "after" => {
                q.after = Some(
                    value
                        .parse::<Cursor>()
                        .map_err(|e| ApiError::bad(e.to_string()))?,
                )
            }
            "limit" => {
                q.limit = value.parse::<usize>().map_err(|_| {
                    ApiError::bad(format!(
                        "page size `{value}` is not a number from 1 to {}",
                        TaskQuery::MAX_LIMIT
                    ))
                })?
            }
            other => return Err(ApiError::bad(format!("unknown parameter `{other}`"))),
        }
    }
    let page = h.tasks(&q).map_err(|e| ApiError::bad(e.to_string()))?;
    Ok(HttpResponse::Ok().json(page))
}

async fn task(state: web::Data<State>, id: web::Path<String>) -> Reply {
    let id = parse_id(&id)?;
    let detail = state.handle.task(id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no task {id} (never submitted, or ended and not retained)"),
        )
    })?;
    let mut body = serde_json::to_value(&detail)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    if let Some(why) = &detail.why {
        body["why_text"] = serde_json::Value::String(why.to_string());
    }
    Ok(HttpResponse::Ok().json(body))
}

async fn cancel(state: web::Data<State>, req: HttpRequest, id: web::Path<String>) -> Reply {
    let Some(token) = &state.token else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "cancelling is off: the dashboard was started without a token",
        ));
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        None => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "cancelling needs `Authorization: Bearer TOKEN`",
            ))
        }
        Some(t) if t != &**token => {
            return Err(ApiError::new(StatusCode::FORBIDDEN, "wrong token"))
        }
        Some(_) => {}
    }
    let id = parse_id(&id)?;
    if state.handle.cancel(id) {
        tracing::info!(task = %id, "dashboard.cancel");
        return Ok(HttpResponse::Ok().json(serde_json::json!({ "cancelled": true })));
    }
    match state.handle.task(id) {
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no task {id} (never submitted, or ended and not retained)"),
        )),
        Some(_) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("{id} has already ended"),
        )),
    }
}

async fn metrics(state: web::Data<State>) -> Reply {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &state.registry)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(out))
}
