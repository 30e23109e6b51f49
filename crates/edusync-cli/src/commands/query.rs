//! `edusync query`: a node's children's totals for a period by one dimension,
//! and its own trend over past semesters; exact for its operator, after
//! disclosure control for readers (hidden values print as `·`).

use edusync_core::{Period, PeriodSpan, SchoolYear};
use edusync_proto::wire;

use super::NodeTarget;
use crate::failure::Failure;
use crate::output::{json, pad};

#[derive(clap::Args)]
pub(crate) struct QueryArgs {
    /// e.g. 2024-2025, 2024-2025/S1 or 2024-2025/M10
    #[arg(long)]
    period: String,
    /// category, severity, status, channel, place, notified or investigation
    #[arg(long, default_value = "category")]
    by: String,
    /// School years of semesters in the trend rows, this one included (0: none).
    #[arg(long, default_value_t = 3)]
    trend_years: u16,
    #[command(flatten)]
    target: NodeTarget,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
}

fn shown(count: Option<&wire::ShownCount>) -> String {
    match count {
        Some(count) if !count.suppressed => count.value.to_string(),
        Some(_) => "·".into(),
        None => "-".into(),
    }
}

fn shown_json(count: Option<&wire::ShownCount>) -> serde_json::Value {
    match count {
        Some(count) if !count.suppressed => serde_json::Value::from(count.value),
        _ => serde_json::Value::Null,
    }
}

pub(crate) async fn run(args: QueryArgs) -> Result<(), Failure> {
    let period = super::period_arg(&args.period)?;
    if args.trend_years > 10 {
        return Err(Failure::input("--trend-years: at most 10"));
    }
    let mut trend = Vec::new();
    let start = period.school_year.start_year();
    for year in start.saturating_sub(args.trend_years.saturating_sub(1))..=start {
        if args.trend_years == 0 {
            break;
        }
        let Ok(school_year) = SchoolYear::new("school_year", u32::from(year)) else { continue };
        for span in [PeriodSpan::Semester1, PeriodSpan::Semester2] {
            trend.push(edusync_proto::period_to_wire(Period { school_year, span }));
        }
    }
    let mut client = args.target.connect().await?;
    let table = client
        .query(wire::QueryRequest {
            period: Some(edusync_proto::period_to_wire(period)),
            dimension: args.by.clone(),
            trend,
        })
        .await
        .map_err(Failure::from_status)?
        .into_inner();
    if args.json {
        let row = |row: &wire::QueryRow| {
            serde_json::json!({
                "label": (!row.label.is_empty()).then_some(&row.label),
                "cells": row.cells.iter().map(|cell| shown_json(Some(cell))).collect::<Vec<_>>(),
                "total": shown_json(row.total.as_ref()),
            })
        };
        let document = serde_json::json!({
            "org_id": table.org_id,
            "period": table.period,
            "dimension": table.dimension,
            "disclosed": table.disclosed,
            "columns": table.columns,
            "rows": table.rows.iter().map(row).collect::<Vec<_>>(),
            "column_totals": table.column_totals.iter().map(|cell| shown_json(Some(cell))).collect::<Vec<_>>(),
            "grand_total": shown_json(table.grand_total.as_ref()),
            "trend": table.trend.iter().map(row).collect::<Vec<_>>(),
        });
        println!("{}", json(&document));
        return Ok(());
    }
    println!(
        "{} {} by {}: {}",
        table.org_id,
        table.period,
        table.dimension,
        if table.disclosed {
            "as a reader may see it (· = hidden by disclosure control; units of fewer than 3 schools pooled as unallocated)"
        } else {
            "exact (this node's operator)"
        }
    );
    let widths: Vec<usize> = table.columns.iter().map(|column| column.chars().count().max(5)).collect();
    let print_row = |label: &str, cells: &[wire::ShownCount], total: Option<&wire::ShownCount>| {
        let mut line = pad(label, 20);
        for (cell, width) in cells.iter().zip(&widths) {
            line.push(' ');
            line.push_str(&pad(&shown(Some(cell)), *width));
        }
        line.push(' ');
        line.push_str(&shown(total));
        println!("{line}");
    };
    let mut header = pad("UNIT", 20);
    for (column, width) in table.columns.iter().zip(&widths) {
        header.push(' ');
        header.push_str(&pad(column, *width));
    }
    println!("{header} TOTAL");
    for row in &table.rows {
        print_row(if row.label.is_empty() { "(unallocated)" } else { &row.label }, &row.cells, row.total.as_ref());
    }
    print_row("TOTAL", &table.column_totals, table.grand_total.as_ref());
    if !table.trend.is_empty() {
        println!("\n{} over time", table.org_id);
        for row in &table.trend {
            print_row(&row.label, &row.cells, row.total.as_ref());
        }
    }
    Ok(())
}
