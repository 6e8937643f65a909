//! The trace loader on small texts: every refusal names its place.

use super::table::{U32_RANGE, U64_RANGE};
use super::*;

#[test]
fn a_node_with_more_gpus_than_any_machine_is_refused_naming_the_column() {
    let mut m = ModelTable::default();
    let text = "sn,cpu_milli,memory_mib,gpu,model\nn0,1,1,4000000000,A\n";
    let e = parse_nodes("n.csv", text, &mut m).unwrap_err();
    assert!(
        matches!(&e.kind, TraceErrorKind::OutOfRange { value, .. } if value == "4000000000"),
        "{e}"
    );
}

const NODES: &str = "sn,cpu_milli,memory_mib,gpu,model\n";
const PODS: &str = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\n";

fn nodes(rows: &str) -> Result<Vec<TraceNode>, TraceError> {
    parse_nodes(
        "n.csv",
        &format!("{NODES}{rows}"),
        &mut ModelTable::default(),
    )
}

fn pods(rows: &str) -> Result<Vec<TracePod>, TraceError> {
    parse_pods(
        "p.csv",
        &format!("{PODS}{rows}"),
        &mut ModelTable::default(),
    )
}

#[test]
fn errors_name_the_file_line_and_column() {
    let mut m = ModelTable::default();
    let e = pods("p,1,2,1,x,\n").unwrap_err();
    assert_eq!(
        (e.line, e.char_column, e.column.as_deref()),
        (2, Some(9), Some("gpu_milli"))
    );
    assert!(
        e.to_string().starts_with("p.csv:2:9: column `gpu_milli`"),
        "{e}"
    );
    let e = parse_nodes("n.csv", "sn,cpu_milli,memory_mib,model\n", &mut m).unwrap_err();
    assert!(matches!(e.kind, TraceErrorKind::MissingColumn));
    assert_eq!(e.column.as_deref(), Some("gpu"));
}

#[test]
fn a_quoted_field_with_a_comma_is_one_field() {
    let p = pods("\"p,0\",1000,2048,1,500,\"A10|T4\"\n").unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].name, "p,0");
    assert_eq!(
        p[0].demand,
        GpuDemand::shared(1000, 2048, 500).on_models(GpuModelSet::ANY.with(0).with(1))
    );
}

#[test]
fn the_column_of_an_error_counts_the_raw_text_of_quoted_fields_before_it() {
    // `"p,""0"""` is 10 characters on the line but one field.
    let e = pods("\"p,\"\"0\"\"\",1000, -5,1,500,\n").unwrap_err();
    assert_eq!((e.line, e.char_column), (2, Some(17)), "{e}");
    // A quoted field spanning two lines: the error is on the second.
    let e = pods("\"p\n0\",1000,x,1,500,\n").unwrap_err();
    assert_eq!((e.line, e.char_column), (3, Some(9)), "{e}");
}

#[test]
fn a_byte_order_mark_does_not_hide_the_first_column() {
    let text = format!("\u{feff}{NODES}n0,32000,65536,2,T4\n");
    let n = parse_nodes("n.csv", &text, &mut ModelTable::default()).unwrap();
    assert_eq!(n[0].name, "n0");
    let e = parse_nodes(
        "n.csv",
        &format!("{text}n1,x,1,1,\n"),
        &mut ModelTable::default(),
    )
    .unwrap_err();
    assert_eq!((e.line, e.char_column), (3, Some(4)));
}

#[test]
fn negative_and_overlong_numbers_are_out_of_range_naming_the_value_and_the_range() {
    let e = nodes("n0,-1000,65536,2,T4\n").unwrap_err();
    assert_eq!(e.column.as_deref(), Some("cpu_milli"));
    assert!(
        matches!(&e.kind, TraceErrorKind::OutOfRange { value, expected }
            if value == "-1000" && *expected == U64_RANGE),
        "{e}"
    );
    assert!(e
        .to_string()
        .ends_with("`-1000` is out of range (a whole number from 0 to 18446744073709551615)"));
    let huge = "123456789012345678901234567890";
    let e = nodes(&format!("n0,1,{huge},2,T4\n")).unwrap_err();
    assert!(matches!(&e.kind, TraceErrorKind::OutOfRange { value, .. } if value == huge));
    let e = nodes("n0,1,1,4294967296,T4\n").unwrap_err();
    assert!(
        matches!(&e.kind, TraceErrorKind::OutOfRange { expected, .. } if *expected == U32_RANGE)
    );
    // The largest values of each column are read.
    let n = nodes("n0,18446744073709551615,+7,1024,\n").unwrap();
    assert_eq!(
        (n[0].cpu_milli, n[0].memory_mib, n[0].gpus),
        (u64::MAX, 7, MAX_NODE_GPUS)
    );
    let e = nodes("n0,1e3,1,1,\n").unwrap_err();
    assert!(matches!(&e.kind, TraceErrorKind::BadNumber { value } if value == "1e3"));
    let e = nodes("n0,,1,1,\n").unwrap_err();
    assert!(
        e.to_string().ends_with("empty, expected a whole number"),
        "{e}"
    );
}

#[test]
fn an_empty_file_has_its_own_error() {
    for text in ["", "\n\n", "  \n\r\n"] {
        let e = parse_nodes("n.csv", text, &mut ModelTable::default()).unwrap_err();
        assert!(matches!(e.kind, TraceErrorKind::Empty), "{text:?}: {e}");
        assert_eq!(
            e.to_string(),
            "n.csv:1: the file is empty: expected a header row naming the columns"
        );
    }
    // A header and no rows is a valid, empty list.
    assert!(nodes("").unwrap().is_empty());
}

#[test]
fn duplicate_node_names_are_refused_naming_both_lines() {
    let e = nodes("n0,1,1,1,T4\nn1,1,1,1,T4\n\n n0 ,2,2,2,T4\n").unwrap_err();
    assert_eq!(
        (e.line, e.char_column, e.column.as_deref()),
        (5, Some(2), Some("sn"))
    );
    assert!(
        matches!(&e.kind, TraceErrorKind::DuplicateName { name, first_line: 2 } if name == "n0")
    );
    assert!(
        e.to_string()
            .ends_with("`n0` is named twice: first on line 2"),
        "{e}"
    );
}

#[test]
fn duplicate_pod_names_are_refused_naming_both_lines() {
    let e = pods("p0,1,1,0,0,\np0,1,1,0,0,\n").unwrap_err();
    assert_eq!((e.line, e.column.as_deref()), (3, Some("name")));
    assert!(matches!(
        &e.kind,
        TraceErrorKind::DuplicateName { first_line: 2, .. }
    ));
}

#[test]
fn a_header_naming_a_column_twice_is_refused() {
    let e = parse_nodes(
        "n.csv",
        "sn,cpu_milli,memory_mib,gpu,model,gpu\n",
        &mut ModelTable::default(),
    )
    .unwrap_err();
    assert_eq!(
        (e.line, e.char_column, e.column.as_deref()),
        (1, Some(35), Some("gpu"))
    );
    assert!(matches!(e.kind, TraceErrorKind::DuplicateColumn { .. }));
}

#[test]
fn rows_of_the_wrong_length_point_at_the_extra_field_or_past_the_end() {
    let e = nodes("n0,1,2,3\n").unwrap_err();
    assert_eq!((e.line, e.char_column), (2, Some(9)));
    assert!(matches!(
        e.kind,
        TraceErrorKind::FieldCount {
            expected: 5,
            got: 4
        }
    ));
    let e = nodes("n0,1,2,3,T4,\"x,y\"\r\n").unwrap_err();
    assert_eq!((e.line, e.char_column), (2, Some(13)));
    assert!(matches!(
        e.kind,
        TraceErrorKind::FieldCount {
            expected: 5,
            got: 6
        }
    ));
}

#[test]
fn a_pod_list_without_gpu_spec_allows_any_model() {
    let text = "name,cpu_milli,memory_mib,num_gpu,gpu_milli\np0,1000,1024,2,1000\n";
    let p = parse_pods("p.csv", text, &mut ModelTable::default()).unwrap();
    assert_eq!(p[0].demand, GpuDemand::whole(1000, 1024, 2));
}

#[test]
fn a_node_list_without_model_has_gpus_of_no_known_model() {
    let text = "sn,cpu_milli,memory_mib,gpu\nn0,32000,65536,2\n";
    let n = parse_nodes("n.csv", text, &mut ModelTable::default()).unwrap();
    assert_eq!((n[0].gpus, n[0].model), (2, None));
}
