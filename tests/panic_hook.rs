//! A panic hook can tell the panics fault injection raises from the
//! program's own. A test binary of its own: it installs a process-wide hook.

mod support;

use allot::{Fault, FaultPlan, FaultSpec, NodeId, Task, TaskError};
use support::{builder, expect};

#[test]
fn a_panic_hook_tells_injected_panics_from_the_programs_own() {
    let (tx, seen) = crossbeam_channel::unbounded::<(bool, String)>();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        let _ = tx.send((allot::is_injected_panic(info.payload()), message));
    }));
    let next = || expect(&seen, "the hook to see a panic");

    // The program's own panic, in task code.
    let runtime = builder(2).build().unwrap();
    let h = runtime.handle();
    let own = h
        .submit(Task::new(|_| -> Result<(), String> { panic!("model diverged") }).max_retries(0))
        .unwrap();
    assert!(matches!(own.wait(), Err(TaskError::Failed { .. })));
    assert_eq!(next(), (false, "model diverged".to_string()));
    let own_formatted = h
        .submit(
            Task::new(|ctx| -> Result<(), String> {
                panic!("loss {} on {}", f64::NAN, ctx.node())
            })
            .max_retries(0),
        )
        .unwrap();
    assert!(own_formatted.wait().is_err());
    let (injected, message) = next();
    assert!(!injected, "{message}");

    // An injected panic in a node actor.
    h.inject(Fault::PanicNode { node: NodeId(1) }).unwrap();
    let (injected, message) = next();
    assert!(injected, "{message}");
    assert!(message.contains("node-1"), "{message}");
    runtime.shutdown();

    // An injected panic in task code.
    let plan = FaultPlan::new(7).with(FaultSpec::PanicTask { p: 1.0 });
    let runtime = builder(1).fault_plan(plan).build().unwrap();
    let task = runtime
        .handle()
        .submit(Task::new(|_| Ok::<_, String>(())).max_retries(0))
        .unwrap();
    assert!(task.wait().is_err());
    let (injected, message) = next();
    assert!(injected, "{message}");
    runtime.shutdown();
    let _ = std::panic::take_hook();
    assert!(seen.try_recv().is_err(), "no other panic");
}
