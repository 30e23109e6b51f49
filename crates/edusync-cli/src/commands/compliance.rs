//! `edusync compliance`: each child's reports, staff commitments, incident
//! timeliness and repeated incidents for a school year, and the alerts, said
//! in the user's language.

use edusync_i18n::Language;
use edusync_proto::wire;

use super::NodeTarget;
use crate::failure::Failure;
use crate::output::{json, pad};

#[derive(clap::Args)]
pub(crate) struct ComplianceArgs {
    /// e.g. 2024-2025 (default: the school year of today at the node); --period, as report and query
    /// call it, says the same.
    #[arg(long, visible_alias = "period")]
    school_year: Option<String>,
    #[command(flatten)]
    pub(crate) target: NodeTarget,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
}

/// The compliance of a node's children, as the node judges it now.
pub(crate) async fn fetch(target: &NodeTarget, school_year: Option<&str>) -> Result<wire::Compliance, Failure> {
    let mut client = target.connect().await?;
    Ok(client
        .get_compliance(wire::GetComplianceRequest { school_year: school_year.unwrap_or_default().to_owned() })
        .await
        .map_err(Failure::from_status)?
        .into_inner())
}

pub(crate) use edusync_proto::alert_text;

fn filing(filing: Option<&wire::Filing>, language: Language) -> String {
    match filing {
        None => "-".into(),
        Some(filing) => match filing.status.as_str() {
            "on_time" => language.pick([
                format!("on time {}", filing.filed_on),
                format!("đúng hạn {}", filing.filed_on),
                format!("按时 {}", filing.filed_on),
            ]),
            "late" => language.pick([
                format!("LATE +{}d", filing.days_late),
                format!("MUỘN +{} ngày", filing.days_late),
                format!("逾期 +{} 天", filing.days_late),
            ]),
            "missing" => language.pick([
                format!("MISSING (due {})", filing.due_on),
                format!("CHƯA NỘP (hạn {})", filing.due_on),
                format!("缺报（截止 {}）", filing.due_on),
            ]),
            _ => language.pick([
                format!("due {}", filing.due_on),
                format!("hạn {}", filing.due_on),
                format!("截止 {}", filing.due_on),
            ]),
        },
    }
}

fn filing_json(filing: Option<&wire::Filing>) -> serde_json::Value {
    filing.map_or(serde_json::Value::Null, |filing| {
        serde_json::json!({
            "status": filing.status,
            "due_on": filing.due_on,
            "filed_on": (!filing.filed_on.is_empty()).then_some(&filing.filed_on),
            "days_late": filing.days_late,
        })
    })
}

pub(crate) async fn run(args: ComplianceArgs, language: Language) -> Result<(), Failure> {
    if let Some(year) = &args.school_year {
        year.parse::<edusync_core::SchoolYear>()
            .map_err(|error| Failure::input(format!("--school-year: {}", error.reason)))?;
    }
    let compliance = fetch(&args.target, args.school_year.as_deref()).await?;
    let names = super::unit_names(&args.target).await?;
    if args.json {
        let document = serde_json::json!({
            "school_year": compliance.school_year,
            "as_of": compliance.as_of,
            "children": compliance.children.iter().map(|child| serde_json::json!({
                "org_id": child.org_id,
                "display_name": names.get(&child.org_id),
                "level": child.level,
                "school_year_report": filing_json(child.school_year_report.as_ref()),
                "semester1_report": filing_json(child.semester1_report.as_ref()),
                "staff_commitments": filing_json(child.staff_commitments.as_ref()),
                "notified_late": child.notified_late,
                "notified_in_time": child.notified_in_time,
                "investigations_overdue": child.investigations_overdue,
                "cases_semester1": child.cases_semester1,
                "cases_semester2": child.cases_semester2,
                // 0: exact; else the 90% margin of the three timeliness counts (a reader's view).
                "timeliness_margin": child.timeliness_margin,
            })).collect::<Vec<_>>(),
            "alerts": compliance.alerts.iter().map(|alert| serde_json::json!({
                "org_id": alert.org_id, "code": alert.code, "message": alert.message,
                "text": alert_text(alert, language),
            })).collect::<Vec<_>>(),
        });
        println!("{}", json(&document));
        return Ok(());
    }
    let say = |words: [&'static str; 3]| language.pick(words);
    let count = compliance.children.len();
    println!(
        "{}",
        language.pick([
            format!("{} as of {}: {count} children", compliance.school_year, compliance.as_of),
            format!("{} tính đến {}: {count} đơn vị cấp dưới", compliance.school_year, compliance.as_of),
            format!("{}，截至 {}：{count} 个下级单位", compliance.school_year, compliance.as_of),
        ])
    );
    println!(
        "{} {} {} {} {} {} {} {}",
        pad(say(["CHILD", "ĐƠN VỊ", "下级单位"]), 20),
        pad(say(["YEAR REPORT", "BÁO CÁO NĂM HỌC", "学年报告"]), 24),
        pad(say(["SEMESTER 1", "HỌC KỲ I", "第一学期"]), 24),
        pad(say(["STAFF PLEDGES", "CAM KẾT CỦA CÁN BỘ", "教职工承诺书"]), 24),
        pad(say(["NOTIFIED LATE", "BÁO CÁO MUỘN", "逾时上报"]), 14),
        pad(say(["INVESTIGATIONS OVERDUE", "XÁC MINH QUÁ HẠN", "调查逾期"]), 23),
        pad(say(["CASES S1/S2", "SỐ VỤ HK I/II", "案件 一/二"]), 14),
        say(["NAME", "TÊN", "名称"]),
    );
    for child in &compliance.children {
        println!(
            "{} {} {} {} {} {} {} {}",
            pad(&child.org_id, 20),
            pad(&filing(child.school_year_report.as_ref(), language), 24),
            pad(&filing(child.semester1_report.as_ref(), language), 24),
            pad(&filing(child.staff_commitments.as_ref(), language), 24),
            pad(&with_margin(child.notified_late, child.timeliness_margin), 14),
            pad(&with_margin(child.investigations_overdue, child.timeliness_margin), 23),
            pad(&format!("{}/{}", child.cases_semester1, child.cases_semester2), 14),
            names.get(&child.org_id).map_or("", String::as_str),
        );
    }
    if compliance.alerts.is_empty() {
        println!("{}", say(["no alerts", "không có cảnh báo", "无提醒"]));
    } else {
        let alerts = compliance.alerts.len();
        println!(
            "{}",
            language.pick([
                format!("alerts ({alerts}):"),
                format!("cảnh báo ({alerts}):"),
                format!("提醒（{alerts}）：")
            ])
        );
        for alert in &compliance.alerts {
            println!("  {}", alert_text(alert, language));
        }
    }
    Ok(())
}

/// A count as a reader is shown it: `3±2` when released with noise.
fn with_margin(value: u64, margin: u64) -> String {
    if margin == 0 {
        value.to_string()
    } else {
        format!("{value}±{margin}")
    }
}
