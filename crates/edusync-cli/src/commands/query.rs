//! `edusync query`: a node's children's totals for a period by one dimension,
//! and its own trend over past semesters; exact for its operator, and for
//! readers released under differential privacy: each count with its 90%
//! margin (`12±4`), case counts exact, and the privacy ledger behind it.

use edusync_core::{Period, PeriodSpan, SchoolYear};
use edusync_i18n::Language;
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
        Some(count) if !count.suppressed && count.margin > 0 => format!("{}±{}", count.value, count.margin),
        Some(count) if !count.suppressed => count.value.to_string(),
        Some(_) => "·".into(),
        None => "-".into(),
    }
}

/// A count in JSON: a number when exact; `{"value", "margin", "low", "high"}`
/// when released with noise (the 90% interval, within 0 and the row's cases).
fn shown_json(count: Option<&wire::ShownCount>, row_total: Option<u64>) -> serde_json::Value {
    match count {
        Some(count) if !count.suppressed && count.margin > 0 => serde_json::json!({
            "value": count.value,
            "margin": count.margin,
            "low": count.value.saturating_sub(count.margin),
            "high": row_total.map_or(count.value + count.margin, |total| (count.value + count.margin).min(total)),
        }),
        Some(count) if !count.suppressed => serde_json::Value::from(count.value),
        _ => serde_json::Value::Null,
    }
}

fn rho(millionths: u64) -> f64 {
    millionths as f64 / 1e6
}

fn releases_json(releases: &[wire::ReaderRelease]) -> serde_json::Value {
    releases
        .iter()
        .map(|release| {
            serde_json::json!({
                "period": release.period,
                "sigma": release.sigma_thousandths as f64 / 1000.0,
                "rho_spent": rho(release.rho_spent_millionths),
                "rho_cap": rho(release.rho_cap_millionths),
                "not_fresher": (!release.not_fresher.is_empty()).then_some(&release.not_fresher),
                "ledger": release.ledger.iter().map(|entry| serde_json::json!({
                    "slot": entry.slot,
                    "released_at": entry.released_at.as_ref().map(|at| at.seconds),
                    "rho": rho(entry.rho_millionths),
                })).collect::<Vec<_>>(),
            })
        })
        .collect()
}

pub(crate) async fn run(args: QueryArgs, language: Language) -> Result<(), Failure> {
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
            let total = row.total.as_ref().map(|total| total.value);
            serde_json::json!({
                "label": (!row.label.is_empty()).then_some(&row.label),
                "cells": row.cells.iter().map(|cell| shown_json(Some(cell), total)).collect::<Vec<_>>(),
                "total": shown_json(row.total.as_ref(), None),
            })
        };
        let grand_total = table.grand_total.as_ref().map(|total| total.value);
        let document = serde_json::json!({
            "org_id": table.org_id,
            "period": table.period,
            "dimension": table.dimension,
            "disclosed": table.disclosed,
            "columns": table.columns,
            "rows": table.rows.iter().map(row).collect::<Vec<_>>(),
            "column_totals": table.column_totals.iter().map(|cell| shown_json(Some(cell), grand_total)).collect::<Vec<_>>(),
            "grand_total": shown_json(table.grand_total.as_ref(), None),
            "trend": table.trend.iter().map(row).collect::<Vec<_>>(),
            "releases": releases_json(&table.releases),
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
            "as released to readers (differential privacy: each count ± its 90% margin; cases per unit exact)"
        } else {
            "exact (this node's operator)"
        }
    );
    let widest = |column: usize| {
        table
            .rows
            .iter()
            .chain(&table.trend)
            .filter_map(|row| row.cells.get(column))
            .chain(table.column_totals.get(column))
            .map(|cell| shown(Some(cell)).chars().count())
            .max()
            .unwrap_or(0)
    };
    // Columns as every table and form names them; the JSON keeps the codes.
    let columns: Vec<String> = table.columns.iter().map(|code| edusync_i18n::value_name(code, language)).collect();
    let names = super::unit_names(&args.target).await.unwrap_or_default();
    let label_width = table
        .rows
        .iter()
        .filter_map(|row| names.get(&row.label).map(|name| name.chars().count() + row.label.len() + 3))
        .max()
        .unwrap_or(0)
        .max(20);
    let widths: Vec<usize> =
        columns.iter().enumerate().map(|(at, column)| column.chars().count().max(5).max(widest(at))).collect();
    let print_row = |label: &str, cells: &[wire::ShownCount], total: Option<&wire::ShownCount>| {
        let mut line = pad(label, label_width);
        for (cell, width) in cells.iter().zip(&widths) {
            line.push(' ');
            line.push_str(&pad(&shown(Some(cell)), *width));
        }
        line.push(' ');
        line.push_str(&shown(total));
        println!("{line}");
    };
    let mut header = pad(language.pick(["UNIT", "ĐƠN VỊ", "单位"]), label_width);
    for (column, width) in columns.iter().zip(&widths) {
        header.push(' ');
        header.push_str(&pad(column, *width));
    }
    println!("{header} TOTAL");
    for row in &table.rows {
        let named;
        let label = match (row.label.is_empty(), table.disclosed) {
            (false, _) => {
                named =
                    names.get(&row.label).map_or_else(|| row.label.clone(), |name| format!("{name} ({})", row.label));
                named.as_str()
            }
            (true, true) => "(office's own)",
            (true, false) => "(unallocated)",
        };
        print_row(label, &row.cells, row.total.as_ref());
    }
    print_row("TOTAL", &table.column_totals, table.grand_total.as_ref());
    if !table.trend.is_empty() {
        println!("\n{} over time", table.org_id);
        for row in &table.trend {
            print_row(&row.label, &row.cells, row.total.as_ref());
        }
    }
    for release in &table.releases {
        println!(
            "\n{}: noise sigma {}, privacy budget {} of {} rho spent ({} release(s))",
            release.period,
            release.sigma_thousandths as f64 / 1000.0,
            rho(release.rho_spent_millionths),
            rho(release.rho_cap_millionths),
            release.ledger.len()
        );
        for entry in &release.ledger {
            let at = entry
                .released_at
                .as_ref()
                .and_then(|at| chrono::DateTime::from_timestamp(at.seconds, 0))
                .map_or_else(String::new, |at| at.format("%Y-%m-%d %H:%M UTC").to_string());
            println!("  {:<18} {at}  rho {}", entry.slot, rho(entry.rho_millionths));
        }
        if !release.not_fresher.is_empty() {
            println!("  not refreshed: {}", release.not_fresher);
        }
    }
    Ok(())
}
