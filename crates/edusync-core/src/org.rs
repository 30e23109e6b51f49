//! Organisations: ids that encode the path from the ministry down, and levels.

use std::fmt;
use std::str::FromStr;

use crate::text::normalize_text;
use crate::{Reason, ValidationError};

const MAX_SEGMENTS: usize = 8;
const MAX_SEGMENT_LEN: usize = 32;
/// What one length byte can count.
const MAX_ORG_ID_BYTES: usize = 255;

/// An organisation id such as `VN.BT.D03.S017`: dot-separated segments from the
/// root down, so that "is under" is a prefix test on whole segments. Segments
/// are 1 to 32 ASCII letters, digits, `-` or `_`; at most 8 of them.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrgId(String);

impl OrgId {
    pub fn parse(field: &str, text: &str) -> Result<Self, ValidationError> {
        if text.is_empty() {
            return Err(ValidationError::new(field, Reason::OrganisationRequired));
        }
        // Signed statements carry an org id after a one-byte length.
        if text.len() > MAX_ORG_ID_BYTES {
            return Err(ValidationError::new(
                field,
                Reason::malformed(format!(
                    "an org id is at most {MAX_ORG_ID_BYTES} characters; this one has {}",
                    text.len()
                )),
            ));
        }
        let segments: Vec<&str> = text.split('.').collect();
        if segments.len() > MAX_SEGMENTS {
            return Err(ValidationError::new(
                field,
                Reason::TooManySegments { max: MAX_SEGMENTS as u64, got: segments.len() as u64 },
            ));
        }
        for segment in &segments {
            if segment.is_empty() || segment.len() > MAX_SEGMENT_LEN {
                return Err(ValidationError::new(
                    field,
                    Reason::BadSegment { text: text.to_owned(), max: MAX_SEGMENT_LEN as u64 },
                ));
            }
            if !segment.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                return Err(ValidationError::new(field, Reason::BadCharacters { text: text.to_owned() }));
            }
        }
        Ok(OrgId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn depth(&self) -> usize {
        self.0.split('.').count()
    }

    /// The id one level up, or `None` for a root.
    pub fn parent(&self) -> Option<OrgId> {
        self.0.rsplit_once('.').map(|(parent, _)| OrgId(parent.to_owned()))
    }

    /// True when `self` is `other` or lies below it, comparing whole segments
    /// (`VN.BT1` is not under `VN.BT`).
    pub fn is_within(&self, other: &OrgId) -> bool {
        self.0 == other.0
            || (self.0.len() > other.0.len()
                && self.0.starts_with(&other.0)
                && self.0.as_bytes()[other.0.len()] == b'.')
    }

    /// True when `self` is exactly one level below `parent`.
    pub fn is_child_of(&self, parent: &OrgId) -> bool {
        self.parent().as_ref() == Some(parent)
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrgId({})", self.0)
    }
}

impl FromStr for OrgId {
    type Err = ValidationError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        OrgId::parse("org_id", text)
    }
}

impl serde::Serialize for OrgId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for OrgId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        OrgId::parse("org_id", &text).map_err(|error| serde::de::Error::custom(error.reason))
    }
}

/// The level of an organisation in the hierarchy. Depth of the id and level
/// are independent on purpose: some provinces report schools straight to the
/// province, so a school may sit at depth 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Ministry,
    Province,
    District,
    School,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::Ministry, Level::Province, Level::District, Level::School];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ministry => "ministry",
            Level::Province => "province",
            Level::District => "district",
            Level::School => "school",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = ValidationError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Level::ALL
            .into_iter()
            .find(|level| level.as_str() == text)
            .ok_or_else(|| ValidationError::new("level", Reason::UnknownLevel { text: text.to_owned() }))
    }
}

/// An organisation as a node knows itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Organisation {
    pub id: OrgId,
    pub level: Level,
    pub display_name: String,
}

impl Organisation {
    pub fn new(id: OrgId, level: Level, display_name: &str) -> Result<Self, ValidationError> {
        let display_name = normalize_text("display_name", display_name, 1, 200, false)?;
        Ok(Organisation { id, level, display_name })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_org_id_fits_the_one_length_byte_statements_give_it() {
        let long = vec!["A".repeat(31); 8].join(".");
        assert_eq!(long.len(), 255);
        assert!(OrgId::parse("org", &long).is_ok());
        let longer = vec!["A".repeat(32); 8].join(".");
        assert!(OrgId::parse("org", &longer).is_err(), "{} bytes", longer.len());
    }

    use super::*;

    fn org(text: &str) -> OrgId {
        OrgId::parse("org", text).expect("valid test id")
    }

    #[test]
    fn prefix_test_compares_whole_segments() {
        assert!(org("VN.BT.D03.S017").is_within(&org("VN.BT")));
        assert!(org("VN.BT").is_within(&org("VN.BT")));
        assert!(!org("VN.BT1").is_within(&org("VN.BT")));
        assert!(!org("VN").is_within(&org("VN.BT")));
        assert!(org("VN.BT.D03").is_child_of(&org("VN.BT")));
        assert!(!org("VN.BT.D03.S017").is_child_of(&org("VN.BT")));
    }

    #[test]
    fn malformed_org_ids_are_rejected_with_the_field_named() {
        for bad in ["", "VN..BT", ".VN", "VN.", "VN.B T", "VN.Bến", "A.B.C.D.E.F.G.H.I"] {
            let error = OrgId::parse("author_org", bad).expect_err(bad);
            assert_eq!(error.field, "author_org", "{bad}");
        }
    }
}
