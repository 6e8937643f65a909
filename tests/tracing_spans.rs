//! The `tracing` span and event names users filter on, pinned: every name
//! the library emits follows one style (`area.event`, lower case, words
//! joined by `_`), the names below exist, and node events carry the node's
//! configured name (`node`) beside its index (`node_id`).
//!
//! One test in this file: it installs the process's global subscriber.

mod support;

use allot::{Fault, NodeId, NodeSpec, Resources, Task};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use support::{builder, eventually, fast_restarts};
use tracing::field::{Field, Visit};
use tracing::span::Attributes;
use tracing::{Event, Id, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// A span or event seen: its name (an event's message) and its fields.
#[derive(Clone, Debug)]
struct Seen {
    span: bool,
    name: String,
    fields: BTreeMap<String, String>,
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

impl<S: Subscriber> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        self.0.lock().unwrap().push(Seen {
            span: true,
            name: attrs.metadata().name().to_owned(),
            fields: fields.0,
        });
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let name = fields.0.remove("message").unwrap_or_default();
        self.0.lock().unwrap().push(Seen {
            span: false,
            name,
            fields: fields.0,
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
    .supervision(fast_restarts());
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
}
