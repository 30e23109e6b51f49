//! School years (September to August) and their two semesters.
//!
//! Semester 1 runs from 1 September to 31 January, semester 2 from 1 February
//! to 31 August: the split used by the Vietnamese school calendar, with the
//! summer counted in semester 2 so that every date falls in exactly one period.
//! Incidents are also counted by calendar month (`2024-2025/M10` is October 2024).

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};

use crate::{Reason, ValidationError};

const FIRST_YEAR: u16 = 2000;
const LAST_YEAR: u16 = 2100;

/// A school year, named by the calendar year it starts in: 2024 is "2024-2025".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SchoolYear(u16);

impl SchoolYear {
    pub fn new(field: &str, start_year: u32) -> Result<Self, ValidationError> {
        if !(u32::from(FIRST_YEAR)..=u32::from(LAST_YEAR)).contains(&start_year) {
            return Err(ValidationError::new(
                field,
                Reason::SchoolYearOutOfRange { first: FIRST_YEAR.into(), last: LAST_YEAR.into(), got: start_year },
            ));
        }
        Ok(SchoolYear(start_year as u16))
    }

    pub fn start_year(self) -> u16 {
        self.0
    }

    /// The school year a date falls in.
    pub fn containing(date: NaiveDate) -> Option<Self> {
        let year = date.year();
        let start = if date.month() >= 9 { year } else { year - 1 };
        u16::try_from(start).ok().filter(|y| (FIRST_YEAR..=LAST_YEAR).contains(y)).map(SchoolYear)
    }

    pub fn first_day(self) -> NaiveDate {
        ymd(i32::from(self.0), 9, 1)
    }

    pub fn last_day(self) -> NaiveDate {
        ymd(i32::from(self.0) + 1, 8, 31)
    }

    pub fn contains(self, date: NaiveDate) -> bool {
        (self.first_day()..=self.last_day()).contains(&date)
    }
}

fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    // Only called with fixed, valid month/day pairs and years 2000..=2101.
    NaiveDate::from_ymd_opt(year, month, day).unwrap_or(NaiveDate::MIN)
}

impl fmt::Display for SchoolYear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.0, self.0 + 1)
    }
}

impl FromStr for SchoolYear {
    type Err = ValidationError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || ValidationError::new("school_year", Reason::NotASchoolYear { text: text.to_owned() });
        let (first, second) = text.split_once('-').ok_or_else(bad)?;
        // One spelling only (`2024-2025`): signed and compared as text.
        let four_digits = |part: &str| part.len() == 4 && part.bytes().all(|byte| byte.is_ascii_digit());
        if !four_digits(first) || !four_digits(second) {
            return Err(bad());
        }
        let first: u32 = first.parse().map_err(|_| bad())?;
        let second: u32 = second.parse().map_err(|_| bad())?;
        if second != first + 1 {
            return Err(ValidationError::new("school_year", Reason::SecondYearMustFollow { text: text.to_owned() }));
        }
        SchoolYear::new("school_year", first)
    }
}

impl serde::Serialize for SchoolYear {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for SchoolYear {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(|error: ValidationError| serde::de::Error::custom(error.reason))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PeriodSpan {
    SchoolYear,
    Semester1,
    Semester2,
    /// A calendar month (1 to 12) of the school year.
    Month(u8),
}

/// A reporting period: a whole school year or one of its semesters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    pub school_year: SchoolYear,
    pub span: PeriodSpan,
}

impl Period {
    pub fn school_year(school_year: SchoolYear) -> Self {
        Period { school_year, span: PeriodSpan::SchoolYear }
    }

    /// The semester a date falls in.
    pub fn semester_containing(date: NaiveDate) -> Option<Self> {
        let school_year = SchoolYear::containing(date)?;
        let span = if date.month() >= 9 || date.month() == 1 { PeriodSpan::Semester1 } else { PeriodSpan::Semester2 };
        Some(Period { school_year, span })
    }

    pub fn is_semester(self) -> bool {
        matches!(self.span, PeriodSpan::Semester1 | PeriodSpan::Semester2)
    }

    pub fn is_month(self) -> bool {
        matches!(self.span, PeriodSpan::Month(_))
    }

    /// The month a date falls in.
    pub fn month_containing(date: NaiveDate) -> Option<Self> {
        let school_year = SchoolYear::containing(date)?;
        Some(Period { school_year, span: PeriodSpan::Month(date.month() as u8) })
    }

    /// The calendar year of a month of this school year.
    fn year_of_month(self, month: u8) -> i32 {
        i32::from(self.school_year.0) + i32::from(month < 9)
    }

    pub fn first_day(self) -> NaiveDate {
        match self.span {
            PeriodSpan::SchoolYear | PeriodSpan::Semester1 => self.school_year.first_day(),
            PeriodSpan::Semester2 => ymd(i32::from(self.school_year.0) + 1, 2, 1),
            PeriodSpan::Month(month) => ymd(self.year_of_month(month), u32::from(month), 1),
        }
    }

    pub fn last_day(self) -> NaiveDate {
        match self.span {
            PeriodSpan::SchoolYear | PeriodSpan::Semester2 => self.school_year.last_day(),
            PeriodSpan::Semester1 => ymd(i32::from(self.school_year.0) + 1, 1, 31),
            PeriodSpan::Month(month) => {
                let (year, next) = if month == 12 {
                    (self.year_of_month(month) + 1, 1)
                } else {
                    (self.year_of_month(month), u32::from(month) + 1)
                };
                ymd(year, next, 1).pred_opt().unwrap_or(NaiveDate::MIN)
            }
        }
    }

    pub fn contains(self, date: NaiveDate) -> bool {
        (self.first_day()..=self.last_day()).contains(&date)
    }

    /// A compact, order-preserving key: school year, then year before its semesters.
    pub fn sort_key(self) -> [u8; 3] {
        let [high, low] = self.school_year.0.to_be_bytes();
        let span = match self.span {
            PeriodSpan::SchoolYear => 0,
            PeriodSpan::Semester1 => 1,
            PeriodSpan::Semester2 => 2,
            PeriodSpan::Month(month) => 10 + month,
        };
        [high, low, span]
    }

    pub fn from_sort_key(key: [u8; 3]) -> Option<Self> {
        let school_year = SchoolYear(u16::from_be_bytes([key[0], key[1]]));
        let span = match key[2] {
            0 => PeriodSpan::SchoolYear,
            1 => PeriodSpan::Semester1,
            2 => PeriodSpan::Semester2,
            11..=22 => PeriodSpan::Month(key[2] - 10),
            _ => return None,
        };
        Some(Period { school_year, span })
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.span {
            PeriodSpan::SchoolYear => write!(f, "{}", self.school_year),
            PeriodSpan::Semester1 => write!(f, "{}/S1", self.school_year),
            PeriodSpan::Semester2 => write!(f, "{}/S2", self.school_year),
            PeriodSpan::Month(month) => write!(f, "{}/M{month:02}", self.school_year),
        }
    }
}

impl FromStr for Period {
    type Err = ValidationError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (year, span) = match text.split_once('/') {
            None => (text, PeriodSpan::SchoolYear),
            Some((year, "S1")) => (year, PeriodSpan::Semester1),
            Some((year, "S2")) => (year, PeriodSpan::Semester2),
            Some((year, month))
                if month.len() == 3
                    && month.starts_with('M')
                    && month[1..].bytes().all(|byte| byte.is_ascii_digit()) =>
            {
                match month[1..].parse::<u8>() {
                    Ok(month) if (1..=12).contains(&month) => (year, PeriodSpan::Month(month)),
                    _ => return Err(ValidationError::new("period", Reason::NotAMonth { text: text.to_owned() })),
                }
            }
            Some(_) => return Err(ValidationError::new("period", Reason::NotAPeriod { text: text.to_owned() })),
        };
        let school_year =
            year.parse().map_err(|error: ValidationError| ValidationError { field: "period".into(), ..error })?;
        Ok(Period { school_year, span })
    }
}

impl serde::Serialize for Period {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Period {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(|error: ValidationError| serde::de::Error::custom(error.reason))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_period_has_one_spelling() {
        for text in ["+2024-2025", "2024-+2025", "02024-2025", "2024-2025/M+1", "2024-2025/M 1", "2024-2025/m01"] {
            assert!(text.parse::<Period>().is_err(), "{text}");
        }
        assert_eq!("2024-2025/M01".parse::<Period>().expect("canonical").to_string(), "2024-2025/M01");
    }

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn school_year_and_semesters_cover_september_to_august() {
        let year: SchoolYear = "2024-2025".parse().expect("valid");
        assert_eq!(year.first_day(), ymd(2024, 9, 1));
        assert_eq!(year.last_day(), ymd(2025, 8, 31));
        assert_eq!(
            Period::semester_containing(ymd(2025, 1, 31)).map(|p| p.to_string()).as_deref(),
            Some("2024-2025/S1")
        );
        assert_eq!(
            Period::semester_containing(ymd(2025, 2, 1)).map(|p| p.to_string()).as_deref(),
            Some("2024-2025/S2")
        );
        assert_eq!(SchoolYear::containing(ymd(2024, 8, 31)).map(|y| y.to_string()).as_deref(), Some("2023-2024"));
    }

    #[test]
    fn malformed_school_years_are_rejected() {
        for bad in ["2024", "2024-2026", "abcd-efgh", "1999-2000", "2024-2025/S3", "2024-2025/M13", "2024-2025/M1"] {
            assert!(bad.parse::<Period>().is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn every_date_lies_in_exactly_one_semester_of_its_school_year(days in 0i64..36_000) {
            let date = ymd(2000, 9, 1) + chrono::Duration::days(days);
            if let Some(semester) = Period::semester_containing(date) {
                prop_assert!(semester.contains(date));
                prop_assert!(Period::school_year(semester.school_year).contains(date));
                let other = Period { span: if semester.span == PeriodSpan::Semester1 { PeriodSpan::Semester2 } else { PeriodSpan::Semester1 }, ..semester };
                prop_assert!(!other.contains(date));
                prop_assert_eq!(Period::from_sort_key(semester.sort_key()), Some(semester));
                prop_assert_eq!(semester.to_string().parse::<Period>().ok(), Some(semester));
                let month = Period::month_containing(date).expect("same school year");
                prop_assert!(month.contains(date) && month.first_day() <= date && date <= month.last_day());
                prop_assert_eq!(month.school_year, semester.school_year);
                prop_assert_eq!(Period::from_sort_key(month.sort_key()), Some(month));
                prop_assert_eq!(month.to_string().parse::<Period>().ok(), Some(month));
            }
        }
    }
}
