//! What a node's answer says to a person, in their language, from the values
//! it carries rather than its English sentence.

use edusync_i18n::{Language, Message};

use crate::wire;

/// A compliance alert in `language`, from the values the node sent; an alert
/// this edusync does not know reads as the node wrote it (English).
pub fn alert_text(alert: &wire::ComplianceAlert, language: Language) -> String {
    let org = alert.org_id.clone();
    let message = match alert.code.as_str() {
        "report_late" => Message::AlertReportLate {
            org,
            report: alert.report.clone(),
            due_on: alert.due_on.clone(),
            filed_on: alert.filed_on.clone(),
            days_late: alert.days_late,
        },
        "report_missing" => {
            Message::AlertReportMissing { org, report: alert.report.clone(), due_on: alert.due_on.clone() }
        }
        "notifications_late" => Message::AlertNotificationsLate { org, cases: alert.cases },
        "investigations_overdue" => Message::AlertInvestigationsOverdue { org, cases: alert.cases },
        "repeated_incidents" => {
            Message::AlertRepeatedIncidents { org, period: alert.period.clone(), cases: alert.cases }
        }
        "repeated_two_semesters_in_a_row" => {
            Message::AlertRepeatedTwoSemesters { org, first: alert.period.clone(), second: alert.second_period.clone() }
        }
        _ => return alert.message.clone(),
    };
    message.text(language)
}
