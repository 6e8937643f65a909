//! The `tracing` span and event names users filter on, pinned: every name
//! the library emits follows one style (`area.event`, lower case, words
//! joined by `_`), the names below exist, and node events carry the node's
//! configured name (`node`) beside its index (`node_id`).
//!
//! Each task attempt runs in a `task.attempt` span whose fields carry the
//! state API's (and so the dashboard's JSON) names.
//!
//! One test in this file: it installs the process's global subscriber.

mod support;

use allot::{Fault, NodeId, NodeSpec, Resources, Task, TaskKind};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use support::{builder, eventually, fast_restarts};
use tracing::field::{Field, Visit};
use tracing::span::Attributes;
use tracing::{Event, Id, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// A span or event seen: its name (an event's message) and its fields.
#[derive(Clone, Debug)]
struct Seen {
    span: bool,
    name: String,
    fields: BTreeMap<String, String>,
    /// The span an event happened in (its name and fields).
    parent: Option<(String, BTreeMap<String, String>)>,
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Seen>>>);

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_owned(),
            format!("{value:?}").trim_matches('"').to_owned(),
        );
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

/// A span's fields, kept in its extensions for the events inside it.
struct SpanFields(BTreeMap<String, String>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields.0.clone()));
        }
        self.0.lock().unwrap().push(Seen {
            span: true,
            name: attrs.metadata().name().to_owned(),
            fields: fields.0,
            parent: None,
        });
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let name = fields.0.remove("message").unwrap_or_default();
        let parent = ctx.event_span(event).map(|span| {
            let fields = span
                .extensions()
                .get::<SpanFields>()
                .map(|f| f.0.clone())
                .unwrap_or_default();
            (span.name().to_owned(), fields)
        });
        self.0.lock().unwrap().push(Seen {
            span: false,
            name,
            fields: fields.0,
            parent,
        });
    }
}

/// `area.event` or `area.event.detail`: lower case, `_` inside words.
fn well_formed(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() >= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && !p.starts_with('_')
                && p.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        })
}

#[test]
fn span_and_event_names_follow_one_style_and_name_the_node() {
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    let mut b = builder(0);
    b.nodes([
        NodeSpec::new(Resources::cpu(2_000)).name("cpu"),
        NodeSpec::new(Resources::cpu(2_000)).name("gpu"),
    ])
    .supervision(fast_restarts())
    .retain_finished(1_000);
    let runtime = b.build().unwrap();
    let h = runtime.handle().clone();
    // A task that fails on the node named `gpu`, and reports the name.
    let failed = h
        .submit_to(
            NodeId(1),
            Task::new(|ctx| Err::<(), String>(format!("failed on {}", ctx.node_name()))),
        )
        .unwrap()
        .wait()
        .unwrap_err();
    assert!(failed.to_string().contains("on gpu"), "{failed}");
    let named = h
        .submit_to(
            NodeId(0),
            Task::new(|ctx| Ok::<_, String>(ctx.node_name().to_owned())),
        )
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!(named, "cpu");
    // A named closure: its span and its state API summary agree.
    let embed = h
        .submit_to(
            NodeId(1),
            Task::new(|_| Ok::<_, String>(()))
                .kind(TaskKind::Inference)
                .name("embed"),
        )
        .unwrap();
    let embed_id = embed.id();
    embed.wait().unwrap();
    eventually("the named task's record", || {
        h.task(embed_id).is_some_and(|d| d.summary.node.is_some())
    });
    let summary = serde_json::to_value(h.task(embed_id).unwrap().summary).unwrap();
    // A node failure and its restart.
    h.inject(Fault::PanicNode { node: NodeId(1) }).unwrap();
    eventually("node 1 to restart", || h.metrics().nodes[1].restarts >= 1);
    // Placement spans need work through the policy.
    let hs = h
        .submit_batch((0..8).map(|i| Task::new(move |_| Ok::<_, String>(i))))
        .unwrap();
    for t in hs {
        t.wait().unwrap();
    }
    runtime.shutdown();

    let seen = recorder.0.lock().unwrap().clone();
    let allot_names: Vec<&Seen> = seen
        .iter()
        .filter(|s| !s.name.is_empty())
        .filter(|s| {
            // Events from dependencies (actix) have other names; ours are
            // the ones with a known area.
            let area = s.name.split('.').next().unwrap_or("");
            [
                "runtime",
                "node",
                "attempt",
                "fault",
                "balancer",
                "task",
                "supervisor",
                "hook",
                "replay",
            ]
            .contains(&area)
                || s.name.contains(' ')
        })
        .collect();
    let bad: Vec<&str> = allot_names
        .iter()
        .map(|s| s.name.as_str())
        .filter(|n| !well_formed(n))
        .collect();
    assert!(
        bad.is_empty(),
        "names not in the `area.event` style: {bad:?}"
    );
    for (name, span) in [
        ("runtime.start", false),
        ("runtime.stop", false),
        ("fault.inject", false),
        ("node.start", false),
        ("node.down", false),
        ("node.evict", false),
        ("node.restart", true),
        ("node.restarted", false),
        ("attempt.failed", false),
        ("task.allocate", true),
        ("task.attempt", true),
    ] {
        assert!(
            seen.iter().any(|s| s.name == name && s.span == span),
            "no {} named {name}",
            if span { "span" } else { "event" }
        );
    }
    for name in ["node.down", "node.restarted", "attempt.failed"] {
        let e = seen.iter().find(|s| s.name == name).unwrap();
        assert_eq!(
            e.fields.get("node").map(String::as_str),
            Some("gpu"),
            "{e:?}"
        );
        assert_eq!(
            e.fields.get("node_id").map(String::as_str),
            Some("1"),
            "{e:?}"
        );
    }
    // The failed attempt's event is inside its attempt's span.
    let failed = seen.iter().find(|s| s.name == "attempt.failed").unwrap();
    let (span, fields) = failed.parent.as_ref().expect("inside a span");
    assert_eq!(span, "task.attempt");
    for (k, v) in [("node", "gpu"), ("node_id", "1"), ("attempt", "0")] {
        assert_eq!(fields.get(k).map(String::as_str), Some(v), "{fields:?}");
    }
    assert_eq!(
        fields.get("id"),
        failed
            .fields
            .get("task")
            .map(|t| t.trim_start_matches("task-").to_owned())
            .as_ref()
    );
    // The named task's span: every field but `node_id` and `node` is the
    // JSON's field of that name with the same value; `node` is the
    // node's name, `node_id` the JSON's `node` (its index).
    let attempt = seen
        .iter()
        .find(|s| {
            s.span
                && s.name == "task.attempt"
                && s.fields.get("name").map(String::as_str) == Some("embed")
        })
        .expect("the named task's attempt span");
    let f = &attempt.fields;
    assert_eq!(f["id"], summary["id"].to_string(), "{f:?} {summary}");
    assert_eq!(f["attempt"], summary["attempt"].to_string());
    assert_eq!(Some(f["kind"].as_str()), summary["kind"].as_str());
    assert_eq!(Some(f["name"].as_str()), summary["name"].as_str());
    assert_eq!(f["node_id"], summary["node"].to_string());
    assert_eq!(f["node"], "gpu");
    let keys: Vec<&str> = f.keys().map(String::as_str).collect();
    assert_eq!(keys, ["attempt", "id", "kind", "name", "node", "node_id"]);
    // An unnamed closure's span has no `name`.
    let unnamed = seen
        .iter()
        .find(|s| {
            s.span
                && s.name == "task.attempt"
                && s.fields.get("node").map(String::as_str) == Some("cpu")
        })
        .expect("an unnamed task's attempt span");
    assert!(!unnamed.fields.contains_key("name"), "{unnamed:?}");
}
