//! How long a province's roll-up takes to follow one school's new revision:
//! 1 province, its districts and 1,000 schools, each school with a school
//! year of synthetic records, derived and rolled up with the node's own
//! code; then one school reports one more incident, and the district and
//! the province ingest and re-derive what changed. The hops between them are
//! links, not computing, so they are left out: this is the work a parent
//! does when a child's revision arrives.

use std::time::Instant;

use chrono::Utc;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use edusync_config::NodeConfig;
use edusync_core::{LogStream, OrgId, Record, SchoolYear, Seq};
use edusync_demo::{school_year_records, SchoolProfile};
use edusync_envelope::NodeKey;
use edusync_node::{certify_by_anchor, enrol_in_process, init_key, load_key, Node};

use crate::fixture::{config_text, setup, write_config};
use crate::BenchError;

const PROVINCE: &str = "VN.BT";

#[derive(Clone, Debug, serde::Serialize)]
pub struct Rederive {
    pub schools: u32,
    pub districts: u32,
    /// Records the schools wrote, all told.
    pub school_records: u64,
    /// Aggregates the province's roll-up rests on (every school's and district's, every period).
    pub aggregates_below: u64,
    /// One school's new revisions ingested and re-derived at its district, then the
    /// district's at the province.
    pub seconds: f64,
    pub district_seconds: f64,
    pub province_seconds: f64,
    /// Aggregate revisions that went up from the school and from the district.
    pub revisions_from_school: usize,
    pub revisions_from_district: usize,
}

fn open(root: &std::path::Path, name: &str, text: &str) -> Result<Node, BenchError> {
    Ok(open_with_config(root, name, text)?.0)
}

fn open_with_config(root: &std::path::Path, name: &str, text: &str) -> Result<(Node, NodeConfig), BenchError> {
    let config = write_config(&root.join(name), text)?;
    init_key(&config.data_dir).map_err(setup)?;
    let node = Node::open(&config, load_key(&config.data_dir).map_err(setup)?).map_err(setup)?;
    Ok((node, config))
}

/// The envelopes of `node`'s shared log after `after`.
fn shared_after(node: &Node, after: u64) -> Result<Vec<Vec<u8>>, BenchError> {
    let log = node.store().read_log(node.org(), LogStream::Shared, Seq(after + 1), usize::MAX).map_err(setup)?;
    Ok(log.into_iter().map(|stored| stored.bytes).collect())
}

fn head(node: &Node) -> Result<u64, BenchError> {
    Ok(node.store().head(node.org(), LogStream::Shared).map_err(setup)?.map_or(0, |(seq, _)| seq.0))
}

fn ingest(parent: &Node, envelopes: Vec<Vec<u8>>) -> Result<(), BenchError> {
    let report = parent.ingest(envelopes, Utc::now()).map_err(setup)?;
    match report.refused.first() {
        Some(refusal) => Err(setup(format!("{} refused: {}", parent.org(), refusal.reason))),
        None => Ok(()),
    }
}

/// A province of `schools` schools in `districts` districts, each school
/// with a school year (2024-2025) of synthetic records, derived and rolled
/// up with the node's own code, in `root`. One school and its district are
/// kept open; the others are closed (and the schools' stores removed).
pub(crate) struct SyntheticProvince {
    pub(crate) province: Node,
    pub(crate) province_config: NodeConfig,
    pub(crate) school: Node,
    pub(crate) district: Node,
    pub(crate) district_config: NodeConfig,
    pub(crate) year: SchoolYear,
    pub(crate) school_records: u64,
    pub(crate) aggregates_below: u64,
}

pub(crate) fn synthetic_province(
    root: &std::path::Path,
    schools: u32,
    districts: u32,
    seed: u64,
) -> Result<SyntheticProvince, BenchError> {
    let anchor = NodeKey::generate();
    let now = Utc::now();
    let year = SchoolYear::new("school_year", 2024).map_err(setup)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let (province, province_config) =
        open_with_config(root, "province", &config_text(PROVINCE, "province", "127.0.0.1:0", None, 1024, &anchor))?;
    certify_by_anchor(&province, &OrgId::parse("anchor", "VN").map_err(setup)?, &[&anchor], now).map_err(setup)?;
    let (mut school_records, mut aggregates_below) = (0u64, 0u64);
    let mut watched: Option<(Node, Node, NodeConfig)> = None;
    for district_index in 0..districts {
        let district_org = format!("{PROVINCE}.D{:02}", district_index + 1);
        let (district, district_config) = open_with_config(
            root,
            &district_org,
            &config_text(&district_org, "district", "127.0.0.1:0", Some((PROVINCE, "127.0.0.1:1")), 1024, &anchor),
        )?;
        enrol_in_process(&province, &district, now).map_err(setup)?;
        let here = (district_index..schools).step_by(districts as usize).count() as u32;
        let mut kept_school = None;
        for school_index in 0..here {
            let org = format!("{district_org}.S{:03}", school_index + 1);
            let school = open(
                root,
                &org,
                &config_text(&org, "school", "127.0.0.1:0", Some((&district_org, "127.0.0.1:1")), 1024, &anchor),
            )?;
            enrol_in_process(&district, &school, now).map_err(setup)?;
            let profile = SchoolProfile {
                org: school.org().clone(),
                display_name: org.clone(),
                staff: rng.gen_range(25..90),
                students: rng.gen_range(300..1500),
                district_plan: format!("{}/KH-PGDĐT", district_index + 1),
            };
            let mut school_rng = StdRng::seed_from_u64(rng.gen());
            let records = school_year_records(&mut school_rng, &profile, year, 100 + school_index);
            school_records += records.len() as u64;
            school.submit_all(records, now).map_err(setup)?;
            school.derive_dirty(now).map_err(setup)?;
            let envelopes = shared_after(&school, 0)?;
            aggregates_below += envelopes.len() as u64;
            ingest(&district, envelopes)?;
            if district_index == 0 && school_index == 0 {
                kept_school = Some(school);
            } else {
                drop(school);
                let _ = std::fs::remove_dir_all(root.join(&org));
            }
        }
        district.derive_dirty(now).map_err(setup)?;
        let envelopes = shared_after(&district, 0)?;
        aggregates_below += envelopes.len() as u64;
        ingest(&province, envelopes)?;
        match kept_school {
            Some(school) => watched = Some((school, district, district_config)),
            None => {
                drop(district);
            }
        }
    }
    province.derive_dirty(now).map_err(setup)?;
    let (school, district, district_config) = watched.ok_or_else(|| setup("no school was kept to revise"))?;
    Ok(SyntheticProvince {
        province,
        province_config,
        school,
        district,
        district_config,
        year,
        school_records,
        aggregates_below,
    })
}

pub fn measure_rederive(schools: u32, districts: u32, seed: u64) -> Result<Rederive, BenchError> {
    let root = tempfile::tempdir().map_err(setup)?;
    let now = Utc::now();
    let SyntheticProvince { province, school, district, year, school_records, aggregates_below, .. } =
        synthetic_province(root.path(), schools, districts, seed)?;

    // One more incident at the watched school: its new aggregate revisions go up.
    let incident = school_year_records(&mut StdRng::seed_from_u64(seed ^ 1), &profile_of(&school), year, 999)
        .into_iter()
        .find(|record| matches!(record, Record::Incident(_)))
        .ok_or_else(|| setup("the synthetic year has no incident"))?;
    let (school_head, district_head) = (head(&school)?, head(&district)?);
    school.submit_all(vec![incident], now).map_err(setup)?;
    school.derive_dirty(now).map_err(setup)?;
    let from_school = shared_after(&school, school_head)?;
    let revisions_from_school = from_school.len();

    let started = Instant::now();
    ingest(&district, from_school)?;
    district.derive_dirty(now).map_err(setup)?;
    let district_seconds = started.elapsed().as_secs_f64();
    let from_district = shared_after(&district, district_head)?;
    let revisions_from_district = from_district.len();
    let province_started = Instant::now();
    ingest(&province, from_district)?;
    province.derive_dirty(now).map_err(setup)?;
    let province_seconds = province_started.elapsed().as_secs_f64();
    Ok(Rederive {
        schools,
        districts,
        school_records,
        aggregates_below,
        seconds: district_seconds + province_seconds,
        district_seconds,
        province_seconds,
        revisions_from_school,
        revisions_from_district,
    })
}

fn profile_of(school: &Node) -> SchoolProfile {
    SchoolProfile {
        org: school.org().clone(),
        display_name: school.org().to_string(),
        staff: 40,
        students: 800,
        district_plan: "1/KH-PGDĐT".into(),
    }
}
