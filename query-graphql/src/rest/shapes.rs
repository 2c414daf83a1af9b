//! The seed's JSON shapes (`aurora-inventory.md` §1.1, §2.2, §2.6, §2.7) and the pure functions
//! that fill them from the read model: what `send`, `touch` and `simple/touch` answer, and the
//! worker and FaaS lists. Ids keep the seed's prefixes (`task_`, `graph_`, `group_`).

use aurora_coord::WorkerInfo;
use aurora_projector::TaskView;
use aurora_schemas::seed::{Request, Signature};
use aurora_schemas::{GraphId, LabelSelector, TaskId, TaskState, TypedValue};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// `task_<uuid>`: a task id as the seed writes it.
pub fn task_uuid(id: TaskId) -> String {
    format!("task_{}", id.0)
}

/// `graph_<uuid>` (for `graph`) or `group_<uuid>` (for `group`): a run's id as the seed writes it.
pub fn run_uuid(kind: &str, id: GraphId) -> String {
    format!("{}_{}", if kind == "group" { "group" } else { "graph" }, id.0)
}

/// The UUID in `prefix_<uuid>` (or a bare UUID).
pub fn parse_uuid(s: &str, prefix: &str) -> Option<uuid::Uuid> {
    let bare = s.strip_prefix(prefix).and_then(|r| r.strip_prefix('_')).unwrap_or(s);
    uuid::Uuid::parse_str(bare).ok()
}

/// A task of a response: the request's signature with what the server assigned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SignatureOut {
    /// The client's tag, echoed.
    pub id: String,
    /// The task's id (`task_<uuid>`).
    pub uuid: String,
    /// The handler.
    pub name: String,
    /// Empty: Aurora routes by handler and label selector, not by routing key.
    pub routing_key: String,
    /// The selector the task runs under (its own, else the request's).
    #[schema(value_type = BTreeMap<String, String>)]
    pub label_selector: LabelSelector,
    /// Earliest start, as sent.
    pub eta: Option<String>,
    /// For group and chord members: the group's id.
    pub group_uuid: String,
    /// For group and chord members: how many members.
    pub group_task_count: usize,
    /// For graph vertices: the graph's id.
    pub graph_uuid: String,
    /// For graph vertices: how many vertices.
    pub graph_task_count: usize,
    /// The args as sent.
    #[schema(value_type = Vec<Object>)]
    pub args: Vec<TypedValue>,
    /// Always null (the seed blanked it in answers).
    #[schema(value_type = Option<Object>)]
    pub headers: Option<Value>,
    /// As sent.
    pub priority: u8,
    /// As sent.
    pub immutable: bool,
    /// As sent.
    pub retry_count: u32,
    /// As sent (seconds).
    pub retry_timeout: u64,
    /// Always null.
    #[schema(value_type = Option<Object>)]
    pub on_success: Option<Value>,
    /// Always null.
    #[schema(value_type = Option<Object>)]
    pub on_error: Option<Value>,
    /// Always null.
    #[schema(value_type = Option<Object>)]
    pub chord_callback: Option<Value>,
    /// Always empty (an SQS field of the seed).
    pub broker_message_group_id: String,
    /// Always empty (an SQS field of the seed).
    pub sqs_receipt_handle: String,
    /// Always false.
    pub stop_task_deletion_on_error: bool,
    /// Always false.
    pub ignore_when_task_not_registered: bool,
}

/// Where a signature sits in its run, for the group and graph fields of its answer.
#[derive(Debug, Clone, Copy)]
pub struct Placement<'a> {
    /// The request's `task_type`.
    pub kind: &'a str,
    /// The run.
    pub graph: GraphId,
    /// Tasks in the request's `signatures`.
    pub members: usize,
}

/// The answer's form of `sig`, run as `task`.
pub fn signature_out(
    sig: &Signature,
    task: TaskId,
    request_selector: Option<&LabelSelector>,
    at: Placement<'_>,
) -> SignatureOut {
    let (group_uuid, group_task_count, graph_uuid, graph_task_count) = match at.kind {
        "group" | "chord" => (run_uuid("group", at.graph), at.members, String::new(), 0),
        "graph" => (String::new(), 0, run_uuid("graph", at.graph), at.members),
        _ => (String::new(), 0, String::new(), 0),
    };
    SignatureOut {
        id: sig.id.clone().unwrap_or_default(),
        uuid: task_uuid(task),
        name: sig.name.clone(),
        routing_key: String::new(),
        label_selector: sig.label_selector.clone().or_else(|| request_selector.cloned()).unwrap_or_default(),
        eta: sig.eta.clone().filter(|e| !e.is_empty()),
        group_uuid,
        group_task_count,
        graph_uuid,
        graph_task_count,
        args: sig.args.clone(),
        headers: None,
        priority: sig.priority.unwrap_or(0),
        immutable: sig.immutable,
        retry_count: sig.retry_count,
        retry_timeout: sig.retry_timeout.unwrap_or(0),
        on_success: None,
        on_error: None,
        chord_callback: None,
        broker_message_group_id: String::new(),
        sqs_receipt_handle: String::new(),
        stop_task_deletion_on_error: false,
        ignore_when_task_not_registered: false,
    }
}

/// One entry of `task_responses`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskResponse {
    /// The task's results as plain JSON values once it succeeded, else null.
    #[schema(value_type = Option<Vec<Object>>)]
    pub results: Option<Vec<Value>>,
    /// The task's state: PENDING, RECEIVED, STARTED, RETRY, SUCCESS, FAILURE (and Aurora's
    /// WAITING, CANCELLED, SKIPPED).
    pub state: String,
    /// The signatures this entry stands for.
    pub signatures: Vec<SignatureOut>,
    /// A chord's callback.
    #[serde(rename = "callBack")]
    pub call_back: Option<SignatureOut>,
}

/// The answer of `send` and `touch` (the seed's `CenterResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CenterResponse {
    /// The session's id (stable for one login).
    pub uuid: String,
    /// Who sent it.
    pub user: String,
    /// This request's id (touch: echoed).
    pub batch_id: String,
    /// The server's clock, Unix seconds.
    pub timestamp: i64,
    /// As sent.
    pub task_type: String,
    /// The id to touch: the task, the group, the graph, the chord's callback, the chain's last task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_uuid: Option<String>,
    /// The tasks' states and results.
    pub task_responses: Vec<TaskResponse>,
}

/// The tasks of one request, in the order the seed answers about them, with the read model's
/// view of each (`None`: not in the read model yet).
pub struct Answered<'a> {
    /// The request.
    pub request: &'a Request,
    /// Where its tasks sit.
    pub at: Placement<'a>,
    /// Each signature's task id, then the callback's (chords).
    pub ids: &'a [TaskId],
    /// The views, by task id.
    pub views: &'a BTreeMap<TaskId, TaskView>,
}

fn state_of(view: Option<&TaskView>) -> TaskState {
    view.map_or(TaskState::Waiting, |v| v.shown_state(Utc::now()))
}

fn results_of(view: Option<&TaskView>) -> Option<Vec<Value>> {
    view.filter(|v| v.state == TaskState::Success)
        .map(|v| v.results.iter().flatten().map(|r| r.value.clone()).collect())
}

impl Answered<'_> {
    fn sig(&self, i: usize) -> SignatureOut {
        let sig = if i < self.request.signatures.len() {
            &self.request.signatures[i]
        } else {
            self.request.call_back.as_ref().unwrap_or(&self.request.signatures[0])
        };
        signature_out(sig, self.ids[i], self.request.label_selector.as_ref(), self.at)
    }

    fn entry(&self, of: usize, signatures: Vec<SignatureOut>, call_back: Option<SignatureOut>) -> TaskResponse {
        let view = self.views.get(&self.ids[of]);
        TaskResponse { results: results_of(view), state: state_of(view).to_string(), signatures, call_back }
    }

    /// `task_responses`: one per task for `task`, `group` and `graph`; for `chain` one with the last
    /// task's state and results and every signature; for `chord` one with the callback's, the
    /// members as `signatures` and the callback as `callBack`.
    pub fn task_responses(&self) -> Vec<TaskResponse> {
        let n = self.request.signatures.len();
        match self.at.kind {
            "chain" => vec![self.entry(n - 1, (0..n).map(|i| self.sig(i)).collect(), None)],
            "chord" => vec![self.entry(n, (0..n).map(|i| self.sig(i)).collect(), Some(self.sig(n)))],
            "task" => vec![self.entry(0, vec![self.sig(0)], None)],
            _ => (0..n).map(|i| self.entry(i, vec![self.sig(i)], None)).collect(),
        }
    }

    /// The envelope's message: `""` when every task succeeded; `Task has failed with error: …` (the
    /// first failed task's key and error) once a task failed; `The run was cancelled` once it was;
    /// else `"continue"` (not finished yet: touch it later).
    pub fn message(&self) -> String {
        let views: Vec<Option<&TaskView>> = self.ids.iter().map(|id| self.views.get(id)).collect();
        verdict(&views)
    }
}

/// The seed's message for tasks in these states (see [`Answered::message`]).
pub fn verdict(views: &[Option<&TaskView>]) -> String {
    if let Some(failed) = views.iter().flatten().find(|v| v.state == TaskState::Failure) {
        let error = failed.error.as_deref().unwrap_or("no error was recorded");
        return format!("Task has failed with error: task `{}` ({}): {error}", failed.key, task_uuid(failed.task_id));
    }
    if views.iter().flatten().any(|v| v.state == TaskState::Cancelled) {
        return "The run was cancelled".to_string();
    }
    if views.iter().all(|v| v.is_some_and(|v| v.state == TaskState::Success)) {
        String::new()
    } else {
        "continue".to_string()
    }
}

/// A typed value with the seed's PascalCase keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct TypedOut {
    /// The type name.
    #[serde(rename = "Type")]
    pub ty: String,
    /// The value.
    #[schema(value_type = Object)]
    pub value: Value,
}

/// One task's stored state, as `simple/touch` answers (the seed's `TaskState`, PascalCase keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct StateRow {
    /// `task_<uuid>`.
    #[serde(rename = "TaskUUID")]
    pub task_uuid: String,
    /// The handler.
    pub task_name: String,
    /// Its state.
    pub state: String,
    /// Its results once it succeeded, else null.
    pub results: Option<Vec<TypedOut>>,
    /// The last error, or empty.
    pub error: String,
    /// When the task came into being (RFC 3339).
    pub created_at: String,
    /// Always 0: Aurora keeps every task's history.
    #[serde(rename = "TTL")]
    pub ttl: i64,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The row of one task.
pub fn state_row(view: &TaskView) -> StateRow {
    StateRow {
        task_uuid: task_uuid(view.task_id),
        task_name: view.name.clone(),
        state: view.shown_state(Utc::now()).to_string(),
        results: (view.state == TaskState::Success).then(|| {
            view.results.iter().flatten().map(|r| TypedOut { ty: r.ty.clone(), value: r.value.clone() }).collect()
        }),
        error: view.error.clone().unwrap_or_default(),
        created_at: rfc3339(view.created_at),
        ttl: 0,
    }
}

/// An arg or result type of a handler, as the seed lists it (`value` is always null).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ArgShape {
    /// The type name (`int64`, `[]string`, `...int64` for a variadic tail).
    #[serde(rename = "type")]
    pub ty: String,
    /// Always null.
    #[schema(value_type = Option<Object>)]
    pub value: Option<Value>,
}

/// A handler a worker offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HandlerShape {
    /// The name tasks use.
    pub name: String,
    /// What it does.
    pub usage: String,
    /// Its arg types.
    pub in_args: Vec<ArgShape>,
    /// Its result types.
    pub out_args: Vec<ArgShape>,
}

/// A live worker (the seed's `WorkerResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WorkerResponse {
    /// The worker's id.
    pub uuid: String,
    /// Empty: Aurora has no per-worker queue.
    pub spec_queue: String,
    /// Always null (worker metrics are on each worker's `/metrics`).
    #[schema(value_type = Option<Object>)]
    pub metrics: Option<Value>,
    /// What it runs.
    pub handlers: Vec<HandlerShape>,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its last heartbeat, Unix seconds.
    pub timestamp: i64,
}

fn shapes(types: &[String]) -> Vec<ArgShape> {
    types.iter().map(|t| ArgShape { ty: t.clone(), value: None }).collect()
}

/// The list entry of a worker.
pub fn worker_response(w: &WorkerInfo) -> WorkerResponse {
    WorkerResponse {
        uuid: w.id.clone(),
        spec_queue: String::new(),
        metrics: None,
        handlers: w
            .handlers
            .iter()
            .map(|h| HandlerShape {
                name: h.name.clone(),
                usage: h.usage.clone(),
                in_args: shapes(&h.arg_types),
                out_args: shapes(&h.result_types),
            })
            .collect(),
        labels: w.labels.clone(),
        timestamp: w.last_seen_at.timestamp(),
    }
}

/// A FaaS function (the seed's `FaasResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FaasResponse {
    /// The provider's id of the function.
    pub function_id: String,
    /// `openfaas` or `aliyunfc`.
    pub driver: String,
    /// The name tasks pass as the first arg of the provider's handler.
    pub function_name: String,
    /// What the provider says about it.
    pub description: String,
    /// When it was listed, Unix seconds.
    pub timestamp: i64,
}

/// The user of a session (the seed's `UserMeta`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserMeta {
    /// The user's role.
    pub roles: Vec<String>,
    /// Who.
    pub user: UserDetails,
}

/// The user's details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserDetails {
    /// When this answer was made (RFC 3339; Aurora's users live in the configuration).
    pub create_time: String,
    /// Always true (a disabled user cannot log in).
    pub enabled: bool,
    /// The user name.
    pub nick_name: String,
    /// The user name.
    pub username: String,
}

/// The user meta of `user` with `role`.
pub fn user_meta(user: &str, role: &str, now: DateTime<Utc>) -> UserMeta {
    UserMeta {
        roles: vec![role.to_string()],
        user: UserDetails {
            create_time: rfc3339(now),
            enabled: true,
            nick_name: user.to_string(),
            username: user.to_string(),
        },
    }
}

/// `POST /auth/login`'s body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
}

/// `POST /auth/login`'s answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoginData {
    /// Who logged in.
    pub user: UserMeta,
    /// Send it as `Authorization: <token>` (or `Authorization: Bearer <token>`).
    pub token: String,
    /// When the token stops working (RFC 3339).
    pub expires_at: String,
}

/// `POST /api/task/simple/touch`'s body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimpleTouch {
    /// `task`, `group`, `chain`, `chord` or `graph`.
    pub task_type: String,
    /// What `send` answered as `task_uuid`.
    pub task_uuid: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn view(key: &str, state: TaskState, results: Option<Vec<TypedValue>>, error: Option<&str>) -> TaskView {
        let graph = GraphId(uuid::Uuid::nil());
        let now = Utc::now();
        TaskView {
            task_id: TaskId::derive(graph, key),
            graph_id: graph,
            key: key.into(),
            name: "add".into(),
            state,
            spec_args: vec![],
            args: None,
            results,
            error: error.map(Into::into),
            attempts: 1,
            worker_id: None,
            retry_at: None,
            label_selector: Default::default(),
            retry_count: 0,
            retry_backoff_ms: 0,
            timeout_ms: None,
            created_at: now,
            updated_at: now,
            version: 3,
            progress: None,
            not_before: None,
            priority: 0,
            reused_from: None,
        }
    }

    #[test]
    fn ids_keep_the_seed_prefixes_and_parse_back_with_or_without_them() {
        let g = GraphId::new();
        let t = TaskId::derive(g, "a");
        assert_eq!(task_uuid(t), format!("task_{}", t.0));
        assert_eq!(run_uuid("group", g), format!("group_{}", g.0));
        assert_eq!(run_uuid("graph", g), format!("graph_{}", g.0));
        assert_eq!(parse_uuid(&task_uuid(t), "task"), Some(t.0));
        assert_eq!(parse_uuid(&t.0.to_string(), "task"), Some(t.0));
        assert_eq!(parse_uuid("task_nope", "task"), None);
        assert_eq!(parse_uuid(&run_uuid("graph", g), "group"), None, "a graph id is not a group id");
    }

    #[test]
    fn the_verdict_is_empty_when_all_succeeded_continue_while_running_and_names_a_failure() {
        let ok = view("a", TaskState::Success, Some(vec![TypedValue::new("int64", 3)]), None);
        let running = view("b", TaskState::Started, None, None);
        let failed = view("c", TaskState::Failure, None, Some("boom"));
        let cancelled = view("d", TaskState::Cancelled, None, None);
        assert_eq!(verdict(&[Some(&ok)]), "");
        assert_eq!(verdict(&[Some(&ok), Some(&running)]), "continue");
        assert_eq!(verdict(&[Some(&ok), None]), "continue", "a task not in the read model yet is not finished");
        let m = verdict(&[Some(&running), Some(&failed)]);
        assert!(m.starts_with("Task has failed with error: task `c` (task_") && m.ends_with("): boom"), "{m}");
        assert_eq!(verdict(&[Some(&ok), Some(&cancelled)]), "The run was cancelled");
    }

    #[test]
    fn chains_answer_with_the_last_task_and_chords_with_the_callback() {
        let sig = |id: &str| Signature { id: Some(id.into()), name: "add".into(), ..Default::default() };
        let g = GraphId::new();
        let request = Request {
            task_type: "chord".into(),
            signatures: vec![sig("a"), sig("b")],
            call_back: Some(sig("cb")),
            label_selector: Some([("k".to_string(), "v".to_string())].into()),
            ..Default::default()
        };
        let ids: Vec<TaskId> = ["a", "b", "cb"].iter().map(|k| TaskId::derive(g, k)).collect();
        let mut cb = view("cb", TaskState::Success, Some(vec![TypedValue::new("int64", 10)]), None);
        cb.task_id = ids[2];
        let views: BTreeMap<TaskId, TaskView> = [(ids[2], cb)].into();
        let answered = Answered {
            request: &request,
            at: Placement { kind: "chord", graph: g, members: 2 },
            ids: &ids,
            views: &views,
        };
        let responses = answered.task_responses();
        assert_eq!(responses.len(), 1);
        assert_eq!(responses[0].results, Some(vec![json!(10)]));
        assert_eq!(responses[0].state, "SUCCESS");
        assert_eq!(responses[0].signatures.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        let call_back = responses[0].call_back.as_ref().expect("the callback");
        assert_eq!(call_back.uuid, task_uuid(ids[2]));
        assert_eq!(responses[0].signatures[0].group_uuid, run_uuid("group", g));
        assert_eq!(
            responses[0].signatures[0].label_selector["k"], "v",
            "the request's selector, where a task has none"
        );
        assert_eq!(answered.message(), "continue", "the members are not in the read model");
    }

    #[test]
    fn a_graph_answers_per_vertex_in_the_seed_signature_shape() {
        let g = GraphId::new();
        let request = Request {
            task_type: "graph".into(),
            signatures: vec![Signature { id: Some("y4".into()), name: "add".into(), ..Default::default() }],
            ..Default::default()
        };
        let ids = [TaskId::derive(g, "y4")];
        let mut v = view("y4", TaskState::Success, Some(vec![TypedValue::new("int64", 3)]), None);
        v.task_id = ids[0];
        let views: BTreeMap<TaskId, TaskView> = [(ids[0], v)].into();
        let answered = Answered {
            request: &request,
            at: Placement { kind: "graph", graph: g, members: 1 },
            ids: &ids,
            views: &views,
        };
        let out = serde_json::to_value(answered.task_responses()).expect("json");
        let sig = &out[0]["signatures"][0];
        for key in [
            "id",
            "uuid",
            "name",
            "routing_key",
            "label_selector",
            "eta",
            "group_uuid",
            "group_task_count",
            "graph_uuid",
            "graph_task_count",
            "args",
            "headers",
            "priority",
            "immutable",
            "retry_count",
            "retry_timeout",
            "on_success",
            "on_error",
            "chord_callback",
            "broker_message_group_id",
            "sqs_receipt_handle",
            "stop_task_deletion_on_error",
            "ignore_when_task_not_registered",
        ] {
            assert!(sig.get(key).is_some(), "the seed's Signature has `{key}`");
        }
        assert_eq!(sig["graph_uuid"], json!(run_uuid("graph", g)));
        assert_eq!(out[0]["results"], json!([3]));
        assert_eq!(out[0]["callBack"], Value::Null);
        assert_eq!(answered.message(), "");
    }

    #[test]
    fn state_rows_have_the_seed_pascal_case_keys() {
        let v = view("a", TaskState::Success, Some(vec![TypedValue::new("int64", 3)]), None);
        let row = serde_json::to_value(state_row(&v)).expect("json");
        assert_eq!(row["Results"], json!([{"Type": "int64", "Value": 3}]));
        for key in ["TaskUUID", "TaskName", "State", "Error", "CreatedAt", "TTL"] {
            assert!(row.get(key).is_some(), "`{key}`");
        }
        let pending = state_row(&view("b", TaskState::Pending, None, None));
        assert_eq!(pending.results, None);
    }
}
