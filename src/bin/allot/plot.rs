//! `--plot FILE.svg`: per-node load and queue depth over time.
//!
//! Marked on both panels: restarts (a red vertical line, a triangle on top,
//! the node's name beside it where there is room), retirements (a black
//! line and cross), the periods a node ran slow (a band shaded in the
//! node's colour, its factor written at the bottom), and migrations (a dot
//! on the receiving node's line). The legend sits in a column of its own,
//! right of the panels, so it covers no data.

use crate::report::{EventKind, NodeSample, Report};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::error::Error;
use std::path::Path;

const SIZE: (u32, u32) = (1200, 820);
/// Width of the legend column.
const LEGEND_W: u32 = 210;
/// Most y-axis labels per panel.
const Y_LABELS: usize = 8;

/// Node colours: dark enough to read on white, none of them red (restarts
/// are red) or a faint yellow; cycled past ten nodes.
const COLOURS: [RGBColor; 10] = [
    RGBColor(0x1f, 0x77, 0xb4), // blue
    RGBColor(0xff, 0x7f, 0x0e), // orange
    RGBColor(0x2c, 0xa0, 0x2c), // green
    RGBColor(0x94, 0x67, 0xbd), // purple
    RGBColor(0x8c, 0x56, 0x4b), // brown
    RGBColor(0xe3, 0x77, 0xc2), // pink
    RGBColor(0x17, 0xa2, 0xb8), // teal
    RGBColor(0x7f, 0x7f, 0x7f), // grey
    RGBColor(0x8c, 0x6d, 0x31), // dark gold
    RGBColor(0x39, 0x3b, 0x79), // navy
];

fn colour(node: usize) -> RGBColor {
    COLOURS[node % COLOURS.len()]
}

/// One chart's series: a value per sample per node.
struct Panel<'a> {
    title: &'a str,
    y_desc: &'a str,
    value: fn(&NodeSample) -> f64,
    /// Whole numbers only (tick labels at whole numbers).
    counts: bool,
}

/// A slow period of one node: from `from` to `to` seconds at `factor` ×
/// its nominal speed.
struct SlowPeriod {
    node: usize,
    from: f64,
    to: f64,
    factor: f64,
}

/// The periods in which each node ran below its nominal speed, from the
/// snapshots.
fn slow_periods(report: &Report) -> Vec<SlowPeriod> {
    let samples = &report.samples.list;
    let mut out = Vec::new();
    let nominal = |i: usize| report.metrics.nodes.get(i).map_or(1.0, |n| n.speed);
    let nodes = samples.first().map_or(0, |s| s.nodes.len());
    for i in 0..nodes {
        let mut open: Option<(f64, f64)> = None;
        for s in samples {
            let Some(n) = s.nodes.get(i) else { continue };
            let slow = n.speed < nominal(i) * 0.999;
            match (open, slow) {
                (None, true) => open = Some((s.t_s, n.speed / nominal(i))),
                (Some((from, factor)), false) => {
                    out.push(SlowPeriod {
                        node: i,
                        from,
                        to: s.t_s,
                        factor,
                    });
                    open = None;
                }
                _ => {}
            }
        }
        if let (Some((from, factor)), Some(last)) = (open, samples.last()) {
            out.push(SlowPeriod {
                node: i,
                from,
                to: last.t_s,
                factor,
            });
        }
    }
    out
}

/// Decimals that tell apart labels `y_max / Y_LABELS` or more apart.
fn decimals(y_max: f64) -> usize {
    let step = y_max / Y_LABELS as f64;
    if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil().clamp(0.0, 9.0) as usize
    }
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
        let (charts, legend) = root.split_horizontally(SIZE.0 - LEGEND_W);
        let areas = charts.split_evenly((2, 1));
        let panels = [
            Panel {
                title: "load per node (estimated cost queued and running, s)",
                y_desc: "load (s)",
                value: |n| n.load_s,
                counts: false,
            },
            Panel {
                title: "queue depth per node (tasks waiting)",
                y_desc: "queued tasks",
                value: |n| n.queued as f64,
                counts: true,
            },
        ];
        let slow = slow_periods(report);
        for (area, panel) in areas.iter().zip(&panels) {
            draw_panel(area, panel, report, &slow)?;
        }
        draw_legend(&legend, report)?;
        root.present()?;
    }
    Ok(svg)
}

fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    report: &Report,
) -> Result<(), Box<dyn Error>>
where
    DB::ErrorType: 'static,
{
    let font = ("sans-serif", 13).into_font();
    let row = 18;
    let (_, height) = area.dim_in_pixel();
    let mut y = 40;
    let text = |s: String, y: i32| {
        Text::new(
            s,
            (36, y),
            TextStyle::from(font.clone()).pos(Pos::new(HPos::Left, VPos::Center)),
        )
    };
    let markers = 5;
    let nodes = report.samples.names.len();
    // Room for the nodes, the markers and a "more" line.
    let fit = ((height as i32 - y - (markers + 2) * row) / row).max(1) as usize;
    for (i, name) in report.samples.names.iter().enumerate().take(fit) {
        let c = colour(i);
        area.draw(&PathElement::new(vec![(6, y), (30, y)], c.stroke_width(3)))?;
        area.draw(&text(name.clone(), y))?;
        y += row;
    }
    if nodes > fit {
        area.draw(&text(format!("… {} more nodes", nodes - fit), y))?;
        y += row;
    }
    y += row / 2;
    area.draw(&PathElement::new(
        vec![(18, y - 7), (18, y + 7)],
        RED.stroke_width(1),
    ))?;
    area.draw(&TriangleMarker::new((18, y - 4), 5, RED.filled()))?;
    area.draw(&text("node restart".into(), y))?;
    y += row;
    area.draw(&PathElement::new(
        vec![(18, y - 7), (18, y + 7)],
        BLACK.stroke_width(2),
    ))?;
    area.draw(&Cross::new((18, y - 4), 4, BLACK.stroke_width(2)))?;
    area.draw(&text("node retired".into(), y))?;
    y += row;
    area.draw(&Rectangle::new(
        [(8, y - 7), (28, y + 7)],
        colour(0).mix(0.15).filled(),
    ))?;
    area.draw(&text("node slowed (× speed)".into(), y))?;
    y += row;
    area.draw(&Circle::new((18, y), 3, BLACK.filled()))?;
    area.draw(&text("tasks migrated in".into(), y))?;
    Ok(())
}

/// Labels placed in rows along the top of a panel, each where it overlaps
/// no other and is not cut off by the panel's edge; a label with no room
/// left is not drawn (its marker still is).
struct LabelRows {
    ends: Vec<i32>,
    width: i32,
}

impl LabelRows {
    const ROWS: usize = 4;
    const ROW_H: i32 = 13;
    const CHAR_W: i32 = 6;

    fn new(width: i32) -> LabelRows {
        LabelRows {
            ends: vec![i32::MIN; Self::ROWS],
            width,
        }
    }

    /// Where a label of `text` beside `x` goes: its anchor and row, or
    /// `None`.
    fn place(&mut self, x: i32, text: &str) -> Option<((i32, i32), HPos)> {
        let w = text.chars().count() as i32 * Self::CHAR_W;
        let (start, end, anchor, hpos) = if x + 4 + w <= self.width {
            (x + 4, x + 4 + w, x + 4, HPos::Left)
        } else {
            (x - 4 - w, x - 4, x - 4, HPos::Right)
        };
        if start < 0 {
            return None;
        }
        let row = self.ends.iter().position(|&e| start >= e + 6)?;
        self.ends[row] = end;
        Some(((anchor, 14 + row as i32 * Self::ROW_H), hpos))
    }
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel<'_>,
    report: &Report,
    slow: &[SlowPeriod],
) -> Result<(), Box<dyn Error>>
where
    DB::ErrorType: 'static,
{
    let samples = &report.samples.list;
    let nodes = samples.first().map_or(0, |s| s.nodes.len());
    let t_max = samples.last().map_or(0.0, |s| s.t_s).max(1e-3);
    let y_peak = samples
        .iter()
        .flat_map(|s| s.nodes.iter().map(panel.value))
        .fold(0.0f64, f64::max);
    // Headroom for the labels along the top.
    let y_max = if y_peak > 0.0 { y_peak * 1.3 } else { 1.0 };
    let (labels, decimals) = if panel.counts {
        ((y_max.floor() as usize + 1).clamp(2, Y_LABELS), 0)
    } else {
        (Y_LABELS, decimals(y_max))
    };

    let mut chart = ChartBuilder::on(area)
        .caption(panel.title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..t_max, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc(panel.y_desc)
        .y_labels(labels)
        .y_label_formatter(&|v| format!("{v:.decimals$}"))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;

    for p in slow {
        let c = colour(p.node);
        chart.draw_series(std::iter::once(Rectangle::new(
            [(p.from, 0.0), (p.to, y_max)],
            c.mix(0.12).filled(),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            format!(" {} ×{:.2}", report.node_name(p.node), p.factor),
            (p.from, y_max * 0.02),
            ("sans-serif", 11)
                .into_font()
                .color(&c)
                .pos(Pos::new(HPos::Left, VPos::Bottom)),
        )))?;
    }

    for i in 0..nodes {
        let c = colour(i);
        let points = samples.iter().map(|s| (s.t_s, (panel.value)(&s.nodes[i])));
        chart.draw_series(LineSeries::new(points, c.stroke_width(2)))?;
    }

    let plot = chart.plotting_area().strip_coord_spec();
    let base = plot.get_base_pixel();
    let mut rows = LabelRows::new(plot.dim_in_pixel().0 as i32);
    for ev in &report.events {
        let top = (ev.t_s, y_max);
        let x = chart.backend_coord(&top).0 - base.0;
        let label = match ev.kind {
            EventKind::Restart { .. } => {
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(ev.t_s, 0.0), top],
                    RED.stroke_width(1),
                )))?;
                chart.draw_series(std::iter::once(TriangleMarker::new(top, 6, RED.filled())))?;
                Some((ev.node.clone(), colour(ev.index)))
            }
            EventKind::Retirement => {
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(ev.t_s, 0.0), top],
                    BLACK.stroke_width(2),
                )))?;
                chart.draw_series(std::iter::once(Cross::new(top, 5, BLACK.stroke_width(2))))?;
                Some((format!("{} retired", ev.node), BLACK))
            }
            EventKind::Migration { .. } => {
                // On the receiving node's line, at the sample that saw it.
                let y = samples
                    .iter()
                    .find(|s| s.t_s >= ev.t_s)
                    .and_then(|s| s.nodes.get(ev.index))
                    .map_or(0.0, panel.value);
                chart.draw_series(std::iter::once(Circle::new(
                    (ev.t_s, y),
                    3,
                    colour(ev.index).filled(),
                )))?;
                None
            }
            // Drawn as bands, above.
            EventKind::SpeedChange { .. } => None,
        };
        if let Some((text, c)) = label {
            if let Some((at, hpos)) = rows.place(x, &text) {
                plot.draw(&Text::new(
                    text,
                    at,
                    ("sans-serif", 11)
                        .into_font()
                        .color(&c)
                        .pos(Pos::new(hpos, VPos::Top)),
                ))?;
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_of_a_light_run_have_decimals_enough_to_differ() {
        assert_eq!(decimals(0.0046), 4);
        assert_eq!(decimals(1.15), 1);
        assert_eq!(decimals(115.0), 0);
        for y_max in [0.0003, 0.004, 0.05, 0.6, 7.0, 80.0] {
            let d = decimals(y_max);
            let step = y_max / Y_LABELS as f64;
            let labels: Vec<String> = (0..Y_LABELS)
                .map(|k| format!("{:.d$}", k as f64 * step))
                .collect();
            let mut unique = labels.clone();
            unique.dedup();
            assert_eq!(unique.len(), labels.len(), "{labels:?}");
        }
    }

    #[test]
    fn labels_take_free_rows_and_never_leave_the_panel() {
        let mut rows = LabelRows::new(300);
        let (at, pos) = rows.place(10, "cpu-1").unwrap();
        assert!(at == (14, 14) && matches!(pos, HPos::Left), "{at:?}");
        // Beside it: the next row.
        assert_eq!(rows.place(12, "cpu-2").unwrap().0 .1, 14 + LabelRows::ROW_H);
        // Near the right edge: drawn leftwards, ending before the line.
        let (at, pos) = rows.place(295, "cpu-3").unwrap();
        assert!(at.0 == 291 && matches!(pos, HPos::Right), "{at:?}");
        // Every row taken at this spot: no label.
        for _ in 0..2 {
            rows.place(14, "cpu-x");
        }
        assert!(rows.place(16, "cpu-y").is_none());
    }
}
