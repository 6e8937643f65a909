//! `--plot FILE.svg`: per-node load and queue depth over time, restarts as
//! red vertical lines with a triangle on top, migrations as dots on the
//! receiving node's line.

use crate::report::{EventKind, Report};
use plotters::prelude::*;
use std::error::Error;
use std::path::Path;

const SIZE: (u32, u32) = (1100, 800);

/// One chart's series: a value per sample per node.
struct Panel<'a> {
    title: &'a str,
    y_desc: &'a str,
    value: fn(&crate::report::NodeSample) -> f64,
    /// Decimals on the y axis.
    decimals: usize,
}

/// Renders the plot of `report` as SVG text.
///
/// # Errors
///
/// If plotters fails to lay the chart out.
pub(crate) fn render(report: &Report) -> Result<String, Box<dyn Error>> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let title = format!(
            "allot run: {} ({} nodes, policy {}, discipline {})",
            report.workload.name,
            report.config.nodes.len(),
            report.config.policy,
            report.config.discipline
        );
        let root = root.titled(&title, ("sans-serif", 22))?;
        let areas = root.split_evenly((2, 1));
        let panels = [
            Panel {
                title: "load per node (estimated cost queued and running, s)",
                y_desc: "load (s)",
                value: |n| n.load,
                decimals: 2,
            },
            Panel {
                title: "queue depth per node (tasks waiting)",
                y_desc: "queued tasks",
                value: |n| n.queued as f64,
                decimals: 0,
            },
        ];
        for (area, panel) in areas.iter().zip(&panels) {
            draw_panel(area, panel, report)?;
        }
        root.present()?;
    }
    Ok(svg)
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel<'_>,
    report: &Report,
) -> Result<(), Box<dyn Error>>
where
    DB::ErrorType: 'static,
{
    let samples = &report.samples;
    let nodes = samples.first().map_or(0, |s| s.nodes.len());
    let t_max = samples.last().map_or(0.0, |s| s.t_s).max(1e-3);
    let y_peak = samples
        .iter()
        .flat_map(|s| s.nodes.iter().map(panel.value))
        .fold(0.0f64, f64::max);
    let y_max = if y_peak > 0.0 { y_peak * 1.15 } else { 1.0 };

    let mut chart = ChartBuilder::on(area)
        .caption(panel.title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..t_max, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc(panel.y_desc)
        .y_label_formatter(&|v| format!("{v:.*}", panel.decimals))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;

    for i in 0..nodes {
        let color = Palette99::pick(i).to_rgba();
        let points = samples.iter().map(|s| (s.t_s, (panel.value)(&s.nodes[i])));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(report.node_name(i))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }

    let mut restart_labelled = false;
    let mut restarts_drawn = 0usize;
    let mut migration_labelled = false;
    for ev in &report.events {
        match ev.kind {
            EventKind::Restart => {
                let style = RED.stroke_width(1);
                let line = chart.draw_series(std::iter::once(PathElement::new(
                    vec![(ev.t_s, 0.0), (ev.t_s, y_max)],
                    style,
                )))?;
                if !restart_labelled {
                    restart_labelled = true;
                    line.label("node restart")
                        .legend(|(x, y)| TriangleMarker::new((x + 9, y), 5, RED.filled()));
                }
                chart.draw_series(std::iter::once(TriangleMarker::new(
                    (ev.t_s, y_max * 0.97),
                    6,
                    RED.filled(),
                )))?;
                // Staggered, so that labels of nearby restarts do not overlap.
                let row = restarts_drawn % 4;
                restarts_drawn += 1;
                chart.draw_series(std::iter::once(Text::new(
                    format!(" {}", report.node_name(ev.node)),
                    (ev.t_s, y_max * (0.92 - 0.06 * row as f64)),
                    ("sans-serif", 11).into_font().color(&RED),
                )))?;
            }
            EventKind::Migration => {
                // On the receiving node's line, at the sample that saw it.
                let y = samples
                    .iter()
                    .find(|s| s.t_s >= ev.t_s)
                    .and_then(|s| s.nodes.get(ev.node))
                    .map_or(0.0, panel.value);
                let color = Palette99::pick(ev.node).to_rgba();
                let dot = chart.draw_series(std::iter::once(Circle::new(
                    (ev.t_s, y),
                    3,
                    color.filled(),
                )))?;
                if !migration_labelled {
                    migration_labelled = true;
                    dot.label("migration in (dot on the receiving node)")
                        .legend(|(x, y)| Circle::new((x + 9, y), 3, BLACK.filled()));
                }
            }
        }
    }

    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// Writes the plot of `report` to `path`.
///
/// # Errors
///
/// A message naming the file when it cannot be drawn or written.
pub(crate) fn write(report: &Report, path: &Path) -> Result<(), String> {
    let svg = render(report).map_err(|e| format!("cannot draw {}: {e}", path.display()))?;
    std::fs::write(path, svg).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
