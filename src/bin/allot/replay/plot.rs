//! `allot replay --plot FILE.svg`: GPU and CPU allocation, fragmentation and
//! queue length over time, one line per policy, the busy window shaded.

use super::{span, thin, ReplayOutput, TIMELINE_POINTS};
use allot::sim::replay::TimelinePoint;
use plotters::prelude::*;
use std::error::Error;
use std::path::Path;

const SIZE: (u32, u32) = (1100, 1100);

/// Line colours, one per policy: distinct and dark enough on white.
const COLORS: [RGBColor; 6] = [
    RGBColor(230, 25, 75),
    RGBColor(60, 180, 75),
    RGBColor(0, 130, 200),
    RGBColor(245, 130, 48),
    RGBColor(145, 30, 180),
    RGBColor(70, 70, 70),
];

/// One chart: a value per timeline point.
struct Panel<'a> {
    title: &'a str,
    y_desc: &'a str,
    value: Box<dyn Fn(&TimelinePoint) -> f64 + 'a>,
    /// Whether the value is a percentage (the axis goes to at most 100).
    percent: bool,
}

/// What the x axis covers: the whole replay, or, when the busy window is
/// under a twentieth of it (arrivals sped up: the load comes early and
/// the long pods trail on for days), from 0 to twice the window's end.
fn view(output: &ReplayOutput, end: u64) -> u64 {
    let (b0, b1) = output.trace.busy_window_s;
    if (b1 - b0).saturating_mul(20) < end {
        b1.saturating_mul(2).clamp(1, end)
    } else {
        end
    }
}

/// The x axis unit: days for a long replay, hours for a shorter one,
/// minutes below that.
fn unit(end_s: u64) -> (f64, &'static str) {
    if end_s >= 3 * 86_400 {
        (86_400.0, "days")
    } else if end_s >= 3 * 3_600 {
        (3_600.0, "hours")
    } else {
        (60.0, "minutes")
    }
}

/// Decimals on an axis that goes to `max`: none from 10 up, so that ticks
/// read 0, 20, 40 rather than 0.0, 20.0, 40.0, and one or two below.
fn decimals(max: f64) -> usize {
    if max >= 10.0 {
        0
    } else if max >= 1.0 {
        1
    } else {
        2
    }
}

/// Renders the plot of `output` as SVG text.
///
/// # Errors
///
/// If plotters fails to lay the chart out.
pub(super) fn render(output: &ReplayOutput) -> Result<String, Box<dyn Error>> {
    let gpu = output.cluster.gpu_milli.max(1) as f64;
    let cpu = output.cluster.cpu_milli.max(1) as f64;
    let panels = [
        Panel {
            title: "GPU allocated (% of the cluster's GPUs)",
            y_desc: "GPU %",
            value: Box::new(move |p| 100.0 * p.gpu_milli as f64 / gpu),
            percent: true,
        },
        Panel {
            title: "CPU allocated (% of the cluster's CPU)",
            y_desc: "CPU %",
            value: Box::new(move |p| 100.0 * p.cpu_milli as f64 / cpu),
            percent: true,
        },
        Panel {
            title: "fragmentation (FGD: free GPU the typical pods could not use, % of the GPUs)",
            y_desc: "fragmented GPU %",
            value: Box::new(move |p| 100.0 * p.fragmentation_milli / gpu),
            percent: true,
        },
        Panel {
            title: "queue length (pods waiting)",
            y_desc: "pods",
            value: Box::new(|p| p.queued as f64),
            percent: false,
        },
    ];
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let end = output
            .policies
            .iter()
            .map(|p| p.report.end_s)
            .max()
            .unwrap_or(0)
            .max(1);
        let shown = view(output, end);
        let title = format!(
            "allot replay: {} pods on {} nodes ({} GPUs) · queue {} · arrivals {}× · {} · busy window shaded",
            output.trace.replayed,
            output.cluster.nodes,
            output.cluster.gpus,
            output.queue,
            output.arrival_speedup,
            if shown < end {
                format!("first {} of {}", span(shown as f64), span(end as f64))
            } else {
                format!("{} of trace", span(end as f64))
            }
        );
        let root = root.titled(&title, ("sans-serif", 18))?;
        let areas = root.split_evenly((panels.len(), 1));
        let lines: Vec<Vec<TimelinePoint>> = output
            .policies
            .iter()
            .map(|p| thin(&p.full_timeline, 0, shown, TIMELINE_POINTS))
            .collect();
        for (area, panel) in areas.iter().zip(&panels) {
            draw_panel(area, panel, output, &lines, shown)?;
        }
        root.present()?;
    }
    Ok(svg)
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel<'_>,
    output: &ReplayOutput,
    lines: &[Vec<TimelinePoint>],
    end: u64,
) -> Result<(), Box<dyn Error>>
where
    DB::ErrorType: 'static,
{
    let (per, unit_name) = unit(end);
    let x_max = end as f64 / per;
    let peak = lines
        .iter()
        .flat_map(|l| l.iter().map(|q| (panel.value)(q)))
        .fold(0.0f64, f64::max);
    let y_max = if peak > 0.0 { peak * 1.15 } else { 1.0 };
    let y_max = if panel.percent {
        y_max.min(100.0)
    } else {
        y_max
    };

    let mut chart = ChartBuilder::on(area)
        .caption(panel.title, ("sans-serif", 15))
        .margin(10)
        .x_label_area_size(32)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc(format!("replay time ({unit_name})"))
        .y_desc(panel.y_desc)
        .y_labels(6)
        .x_label_formatter(&|v| format!("{v:.*}", decimals(x_max)))
        .y_label_formatter(&|v| format!("{v:.*}", decimals(y_max)))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;

    let (b0, b1) = output.trace.busy_window_s;
    chart.draw_series(std::iter::once(Rectangle::new(
        [
            (b0.min(end) as f64 / per, 0.0),
            (b1.min(end) as f64 / per, y_max),
        ],
        BLACK.mix(0.06).filled(),
    )))?;

    for (k, (p, line)) in output.policies.iter().zip(lines).enumerate() {
        let color = COLORS[k % COLORS.len()];
        // A step function: each value holds until the next point.
        let mut points = Vec::with_capacity(2 * line.len());
        let mut last: Option<f64> = None;
        for q in line {
            let x = q.time as f64 / per;
            if let Some(y) = last {
                points.push((x, y));
            }
            let y = (panel.value)(q);
            points.push((x, y));
            last = Some(y);
        }
        if let Some(y) = last {
            points.push((p.report.end_s.min(end) as f64 / per, y));
        }
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(p.report.policy.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// Writes the plot of `output` to `path`.
///
/// # Errors
///
/// A message naming the file when it cannot be drawn or written.
pub(super) fn write(output: &ReplayOutput, path: &Path) -> Result<(), String> {
    let svg = render(output).map_err(|e| format!("cannot draw {}: {e}", path.display()))?;
    std::fs::write(path, svg).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
