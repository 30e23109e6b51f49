//! `edusync report`: a node's totals for a period, its units' incident cases
//! by category, its trend by semester and its compliance table, fetched and
//! verified here, then rendered as a table, CSV, JSON or one HTML file.

use std::path::PathBuf;

use edusync_core::{IncidentCategory, Period, PeriodSpan, SchoolYear};
use edusync_i18n::Language;
use edusync_proto::wire;
use edusync_report::{ComplianceRow, Report, Standing, TrendPoint, UnitRow};

use super::NodeTarget;
use crate::failure::Failure;

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum Format {
    Table,
    Csv,
    Json,
    Html,
}

#[derive(clap::Args)]
pub(crate) struct ReportArgs {
    /// e.g. 2024-2025 or 2024-2025/S1
    #[arg(long)]
    period: String,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Write here instead of standard output (refused if it exists).
    #[arg(long)]
    out: Option<PathBuf>,
    /// School years of semesters in the trend, this one included.
    #[arg(long, default_value_t = 3)]
    trend_years: u16,
    #[command(flatten)]
    pub(crate) target: NodeTarget,
}

fn standing(filing: Option<&wire::Filing>) -> Standing {
    match filing.map(|filing| filing.status.as_str()) {
        None => Standing::NoDeadline,
        Some("on_time") => Standing::OnTime,
        Some("late") => Standing::Late,
        Some("missing") => Standing::Missing,
        Some(_) => Standing::NotYetDue,
    }
}

fn flagged(flag: bool) -> Standing {
    if flag {
        Standing::Flagged
    } else {
        Standing::Clear
    }
}

pub(crate) async fn run(args: ReportArgs, language: Language) -> Result<(), Failure> {
    let period = super::period_arg(&args.period)?;
    if !(1..=10).contains(&args.trend_years) {
        return Err(Failure::input("--trend-years: between 1 and 10"));
    }
    if let Some(out) = &args.out {
        if out.exists() {
            return Err(Failure::input(format!("--out: {} exists; choose a new file name", out.display())));
        }
    }
    let checked = super::rollup::fetch_verified(period, &args.target).await?.ok_or_else(|| {
        Failure::input(format!("--period: the node has no aggregate for {period}; nothing has been counted for it"))
    })?;
    let units = checked
        .children
        .iter()
        .map(|child| UnitRow {
            org: child.org.to_string(),
            cases: IncidentCategory::ALL.iter().map(|category| child.total.cases_of(*category)).collect(),
            total: child.total.incident_cases(),
            contributing_schools: child.total.get(edusync_core::Cell::ContributingSchools),
        })
        .collect();

    let mut trend = Vec::new();
    let first = period.school_year.start_year().saturating_sub(args.trend_years - 1);
    for start in first..=period.school_year.start_year() {
        let Ok(school_year) = SchoolYear::new("school_year", u32::from(start)) else { continue };
        for span in [PeriodSpan::Semester1, PeriodSpan::Semester2] {
            let semester = Period { school_year, span };
            // A semester nothing was counted for is left out of the line.
            if let Some(checked) = super::rollup::fetch_verified(semester, &args.target).await? {
                trend
                    .push(TrendPoint { period: semester.to_string(), cases: checked.aggregate.total.incident_cases() });
            }
        }
    }

    let compliance = super::compliance::fetch(&args.target, Some(&period.school_year.to_string())).await?;
    let repeated =
        |org: &str| compliance.alerts.iter().any(|alert| alert.org_id == org && alert.code.starts_with("repeated_"));
    let report = Report {
        org: checked.aggregate.org.to_string(),
        period: period.to_string(),
        as_of: compliance.as_of.clone(),
        total_cases: checked.aggregate.total.incident_cases(),
        contributing_schools: checked.aggregate.total.get(edusync_core::Cell::ContributingSchools),
        verified: true,
        units,
        trend,
        compliance: compliance
            .children
            .iter()
            .map(|child| ComplianceRow {
                org: child.org_id.clone(),
                school_year_report: standing(child.school_year_report.as_ref()),
                semester1_report: standing(child.semester1_report.as_ref()),
                staff_commitments: standing(child.staff_commitments.as_ref()),
                notifications: flagged(child.notified_late > 0),
                investigations: flagged(child.investigations_overdue > 0),
                repeated_incidents: flagged(repeated(&child.org_id)),
            })
            .collect(),
        alerts: compliance.alerts.iter().map(|alert| super::compliance::alert_text(alert, language)).collect(),
        names: super::unit_names(&args.target).await?,
    };
    let text = match args.format {
        Format::Table => edusync_report::table(&report, language),
        Format::Csv => edusync_report::csv(&report, language),
        Format::Json => format!("{}\n", crate::output::json(&report)),
        Format::Html => edusync_report::html(&report, language),
    };
    match &args.out {
        None => print!("{text}"),
        Some(out) => {
            super::write_new(out, text.as_bytes(), 0o644)?;
            eprintln!(
                "{}: {} {}, {} units, {} semesters in the trend",
                out.display(),
                report.org,
                report.period,
                report.units.len(),
                report.trend.len()
            );
        }
    }
    Ok(())
}
