//! What the policies issued above a unit amount to for it.

use crate::{Deadline, DeadlineKind, IncidentTimeliness, Level, OrgId, Policy, PrivacyPolicy};

impl PrivacyPolicy {
    /// The stricter of two: crosses only if both allow them, the smaller budgets.
    pub fn stricter(&self, other: &PrivacyPolicy) -> PrivacyPolicy {
        PrivacyPolicy {
            demographic_crosses: self.demographic_crosses && other.demographic_crosses,
            epsilon_per_release_millionths: self
                .epsilon_per_release_millionths
                .min(other.epsilon_per_release_millionths),
            epsilon_per_school_year_millionths: self
                .epsilon_per_school_year_millionths
                .min(other.epsilon_per_school_year_millionths),
            reader_tables: match (&self.reader_tables, &other.reader_tables) {
                (Some(mine), Some(theirs)) => Some(mine.stricter(theirs)),
                (mine, theirs) => mine.or(*theirs),
            },
        }
    }
}

/// A rule in force, with the office and document it comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sourced<T> {
    pub rule: T,
    pub issuing_org: OrgId,
    pub number: String,
}

/// The policies in force for one unit and school year. Privacy limits only
/// tighten on the way down: every office's limits apply, the stricter wins.
/// Deadlines and incident timeliness are the nearest office's word (a district
/// may set its schools an earlier date than the province set it), and of one
/// office's policies the latest issued.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyInForce {
    pub privacy: Option<PrivacyPolicy>,
    pub deadlines: Vec<Sourced<Deadline>>,
    pub incident_timeliness: Option<Sourced<IncidentTimeliness>>,
    /// How many policies this was drawn from.
    pub policies: usize,
}

impl<T> Sourced<T> {
    fn from(policy: &Policy, rule: T) -> Sourced<T> {
        Sourced { rule, issuing_org: policy.issuing_org.clone(), number: policy.number.clone() }
    }
}

fn depth(org: &OrgId) -> usize {
    org.as_str().split('.').count()
}

impl PolicyInForce {
    pub fn of<'a>(policies: impl IntoIterator<Item = &'a Policy>) -> PolicyInForce {
        let mut ordered: Vec<&Policy> = policies.into_iter().collect();
        // Farthest office first, and within an office the oldest first, so that
        // a later entry overrides an earlier one.
        ordered.sort_by(|a, b| {
            (depth(&a.issuing_org), a.issued_on, &a.number).cmp(&(depth(&b.issuing_org), b.issued_on, &b.number))
        });
        let mut in_force = PolicyInForce { policies: ordered.len(), ..PolicyInForce::default() };
        let mut deadlines: std::collections::BTreeMap<(DeadlineKind, Level), Sourced<Deadline>> = Default::default();
        for policy in ordered {
            if let Some(privacy) = &policy.privacy {
                in_force.privacy = Some(match &in_force.privacy {
                    Some(held) => held.stricter(privacy),
                    None => privacy.clone(),
                });
            }
            for deadline in &policy.deadlines {
                deadlines.insert((deadline.report, deadline.level), Sourced::from(policy, deadline.clone()));
            }
            if let Some(timeliness) = &policy.incident_timeliness {
                in_force.incident_timeliness = Some(Sourced::from(policy, timeliness.clone()));
            }
        }
        in_force.deadlines = deadlines.into_values().collect();
        in_force
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SchoolYear;

    fn policy(org: &str, day: u32, privacy: Option<(bool, u64, u64)>, due: Option<u32>) -> Policy {
        Policy {
            number: format!("{org}/{day}"),
            issued_on: chrono::NaiveDate::from_ymd_opt(2025, 9, day).expect("date"),
            issuing_org: OrgId::parse("org", org).expect("org"),
            school_year: "2025-2026".parse::<SchoolYear>().expect("year"),
            deadlines: due
                .map(|day| Deadline {
                    report: DeadlineKind::SchoolYearReport,
                    level: Level::School,
                    due_on: chrono::NaiveDate::from_ymd_opt(2026, 7, day).expect("date"),
                })
                .into_iter()
                .collect(),
            incident_timeliness: None,
            privacy: privacy.map(|(crosses, release, year)| PrivacyPolicy {
                demographic_crosses: crosses,
                epsilon_per_release_millionths: release,
                epsilon_per_school_year_millionths: year,
                reader_tables: None,
            }),
        }
    }

    #[test]
    fn privacy_only_tightens_and_the_nearest_office_sets_the_date() {
        let province = policy("VN.BT", 1, Some((true, 500_000, 2_000_000)), Some(31));
        let district = policy("VN.BT.D03", 5, Some((true, 800_000, 1_000_000)), Some(25));
        let loosening = policy("VN.BT.D03", 9, Some((true, 900_000, 9_000_000)), None);
        let in_force = PolicyInForce::of([&district, &loosening, &province]);
        let privacy = in_force.privacy.expect("set");
        assert_eq!(
            (
                privacy.demographic_crosses,
                privacy.epsilon_per_release_millionths,
                privacy.epsilon_per_school_year_millionths
            ),
            (true, 500_000, 1_000_000),
            "a looser word below never widens the limits above"
        );
        assert_eq!(in_force.deadlines.len(), 1);
        assert_eq!(in_force.deadlines[0].rule.due_on, chrono::NaiveDate::from_ymd_opt(2026, 7, 25).expect("date"));
        assert_eq!(in_force.deadlines[0].issuing_org.as_str(), "VN.BT.D03");
        let off = policy("VN", 2, Some((false, 1_000_000, 1_000_000)), None);
        assert!(!PolicyInForce::of([&province, &off]).privacy.expect("set").demographic_crosses);
        assert_eq!(PolicyInForce::of([]), PolicyInForce::default());
    }
}
