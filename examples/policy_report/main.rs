//! Measures every allocation policy against optima, lower bounds and
//! published results, and writes the tables into `docs/policies.md`.
//!
//! What it shows: how good each policy in `allot::policy` is on the 72
//! OR-Library GAP instances with known optima, on generated P‖Cmax
//! families, on the Alibaba openb GPU trace under the FGD paper's method
//! (checked against the authors' published numbers) and on every variant
//! of its family, how the trace replay scales to 10 000 nodes, on two
//! heterogeneous
//! shapes from Ray's issue tracker run on the real runtime, for UCB against
//! an oracle, what one placement decision costs, and the worst overshoot of
//! each time budget (elapsed / budget over every budgeted run it makes).
//!
//! Run it in release (a few minutes; `--quick` for a fast subset):
//!
//! ```sh
//! cargo run --release --example policy_report               # writes docs/policies.md
//! cargo run --release --example policy_report -- --json     # prints one JSON object
//! cargo run --release --example policy_report -- --quick --out /tmp/p.md
//! cargo run --release --example policy_report -- --gap my_instance.txt --pods my_pods.csv
//! ```
//!
//! Options: `--json`, `--quick`, `--out PATH`, `--data DIR` (with `gap/` and
//! `openb/`; default `../shared/data` when present, else `data/`), `--gap
//! FILE` (another OR-Library GAP instance; repeatable), `--pods FILE`
//! (another pod list with the openb columns; repeatable), `--nodes FILE`
//! (the node list to use with it).
//!
//! What to look for: the "Goals" table at the top of the output.
//!
//! How it is built: `run` below calls one section per file beside this one
//! (`gap.rs`, `makespan.rs`, `openb.rs`, `scale.rs`, `hetero.rs`, `ucb.rs`,
//! `locality.rs`, `decision.rs`, `budgets.rs`), each writing its table and
//! adding its goals, and fills `template.md` with them.

mod args;
mod budgets;
mod decision;
mod gap;
mod hetero;
mod locality;
mod makespan;
mod openb;
mod report;
mod scale;
mod ucb;

use args::Args;
use budgets::budget_section;
use clap::Parser;
use decision::decision_cost;
use gap::gap_section;
use hetero::hetero_section;
use locality::locality_section;
use makespan::makespan_section;
use openb::openb_section;
use report::note;
use scale::scale_section;
use serde_json::json;
use std::fmt::Write as _;
use std::time::Instant;
use ucb::ucb_section;

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("policy_report: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), String> {
    if args.section.is_some() {
        return scale::splice_scale(args, DOC);
    }
    let started = Instant::now();
    let mut goals = Vec::new();
    let mut js = json!({"quick": args.quick, "data": args.data.display().to_string()});
    let mut budgets = Vec::new();
    let mut bud = String::new();
    let mut sc = String::new();
    let (mut gap, mut mk, mut ob, mut het, mut ucb, mut loc, mut dc) = (
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    );
    let mut groups_md = String::new();
    locality_section(&mut loc, &mut groups_md, &mut js, &mut goals);
    gap_section(args, &mut gap, &mut js, &mut goals, &mut budgets)?;
    makespan_section(args, &mut mk, &mut js, &mut goals, &mut budgets);
    openb_section(args, &mut ob, &mut js, &mut goals)?;
    scale_section(args, &mut sc, &mut js, &mut goals)?;
    hetero_section(args, &mut het, &mut js, &mut goals)?;
    ucb_section(&mut ucb, &mut js, &mut goals);
    decision_cost(&mut dc, &mut js, &mut goals, args.quick);
    budget_section(&mut bud, &mut js, &mut goals, args.quick, budgets);
    js["goals"] = goals
        .iter()
        .map(|g| json!({"goal": g.goal, "measured": g.measured, "met": g.met}))
        .collect();
    js["seconds"] = json!(started.elapsed().as_secs_f64());
    if args.json {
        let text = serde_json::to_string_pretty(&js).map_err(|e| e.to_string())?;
        let mut out = std::io::stdout().lock();
        std::io::Write::write_all(&mut out, text.as_bytes()).map_err(|e| e.to_string())?;
        std::io::Write::write_all(&mut out, b"\n").map_err(|e| e.to_string())?;
        return Ok(());
    }
    let mut goal_table = String::from("| goal | measured | met |\n|---|---|---|\n");
    for g in &goals {
        let _ = writeln!(
            goal_table,
            "| {} | {} | {} |",
            g.goal,
            g.measured,
            if g.met { "yes" } else { "**no**" }
        );
    }
    let doc = DOC
        .replace(
            "{{MODE}}",
            if args.quick {
                " (quick run: a subset)"
            } else {
                ""
            },
        )
        .replace("{{GOALS}}", &goal_table)
        .replace("{{GAP}}", &gap)
        .replace("{{MAKESPAN}}", &mk)
        .replace("{{OPENB}}", &ob)
        .replace("{{SCALE}}", &sc)
        .replace("{{HETERO}}", &het)
        .replace("{{UCB}}", &ucb)
        .replace("{{LOCALITY}}", &loc)
        .replace("{{GROUPS}}", &groups_md)
        .replace("{{DECISION}}", &dc)
        .replace("{{BUDGETS}}", &bud)
        .replace(
            "{{SECONDS}}",
            &format!("{:.0}", started.elapsed().as_secs_f64()),
        );
    if let Some(dir) = args.out.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
    }
    std::fs::write(&args.out, doc).map_err(|e| format!("{}: {e}", args.out.display()))?;
    note(&format!(
        "wrote {} in {:.0} s",
        args.out.display(),
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// The document; `{{…}}` marks are filled in by `run`.
const DOC: &str = include_str!("template.md");
