//! A province on flaky links, simulated in one process from a seed: schools
//! write a school year's records over some weeks whether or not they are
//! online, every node's link comes and goes (outages of days), push sessions
//! are cut mid-batch and lose their acknowledgements, and retries resume from
//! stale cursors. The nodes are real (`Node`: sled stores, signatures,
//! verification, aggregation, roll-up); only the network and the clock are
//! simulated, so a run is the same run for the same seed.
//!
//! When it has converged the simulation proves, rather than assumes, that
//! nothing was lost or duplicated: every parent holds exactly its child's
//! shared log, every envelope was stored exactly once however often it was
//! offered, and the province's signed total equals the sum of what the
//! schools themselves derived and counts every incident they were given.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use edusync_core::{Counts, LogStream, OrgId, Period, Record, SchoolYear, Seq};
use edusync_demo::{school_year_records, SchoolProfile};
use edusync_envelope::NodeKey;
use edusync_node::{certify_by_anchor, enrol_in_process, Node};

use crate::fixture::{config_text, setup, write_config};
use crate::BenchError;

const PROVINCE: &str = "VN.BT";
/// Simulated time advances in quarters of a day.
const TICKS_PER_DAY: u32 = 4;

#[derive(Clone, Debug, serde::Serialize)]
pub struct SimulationOptions {
    pub schools: u32,
    pub districts: u32,
    pub seed: u64,
    /// Days over which each school writes its school year's records.
    pub writing_days: u32,
    /// Long-run share of time each node is online.
    pub online_probability: f64,
    /// Mean length of an outage, in days.
    pub mean_outage_days: f64,
    /// Chance that a push batch is cut mid-way: the parent receives a part
    /// of it and the child never hears the acknowledgement.
    pub cut_probability: f64,
    pub batch_size: usize,
    /// Give up (and fail) if not converged this many days after writing ends.
    pub patience_days: u32,
}

impl SimulationOptions {
    /// The province of the issue: 1 province, 15 districts, 1,000 schools.
    pub fn province() -> Self {
        SimulationOptions {
            schools: 1_000,
            districts: 15,
            seed: 2024,
            writing_days: 28,
            online_probability: 0.7,
            mean_outage_days: 2.0,
            cut_probability: 0.1,
            batch_size: 64,
            patience_days: 120,
        }
    }
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Traffic {
    /// Push sessions that found both ends online.
    pub sessions: u64,
    /// Batches cut mid-way, their acknowledgement lost.
    pub batches_cut: u64,
    /// Sessions that resumed from the child's own (possibly stale) cursor
    /// instead of asking the parent what it holds.
    pub resumed_from_own_cursor: u64,
    /// Envelopes offered to a parent, replays included.
    pub envelopes_offered: u64,
    /// Envelopes a parent stored.
    pub envelopes_stored: u64,
    /// Envelopes a parent already held when offered again: acknowledged, not stored.
    pub replays_acknowledged: u64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Simulation {
    pub options: SimulationOptions,
    pub records_written: u64,
    /// Envelopes in the shared logs of schools and districts at the end: what must reach the parents.
    pub shared_envelopes: u64,
    pub traffic: Traffic,
    /// Share of node-ticks spent offline, as drawn.
    pub offline_share: f64,
    /// Longest outage any node had, in days.
    pub longest_outage_days: f64,
    /// From the last record written to the province holding everything, in simulated days.
    pub days_to_convergence: f64,
    pub wall_seconds: f64,
    /// Every child's shared log, compared envelope by envelope with its parent's copy.
    pub logs_identical_at_parents: u64,
    pub incidents_given_to_schools: u64,
    pub incident_cases_in_province_total: u64,
}

struct Member {
    node: Node,
    parent: Option<usize>,
    online: bool,
    outage_ticks: u32,
    /// The highest seq of its own shared log this node has heard its parent acknowledge.
    acknowledged: u64,
}

fn head(node: &Node, author: &OrgId) -> Result<u64, BenchError> {
    Ok(node.store().head(author, LogStream::Shared).map_err(setup)?.map_or(0, |(seq, _)| seq.0))
}

/// What a node's aggregator task does on its own: derive what is dirty, and
/// come back to crosses waiting to be quiet (a tick is longer than the quiet
/// time, so their time has always come by the next one).
fn aggregate(node: &Node, now: DateTime<Utc>) -> Result<(), BenchError> {
    let waiting = node.store().pending_cross_periods().map_err(setup)?;
    if !waiting.is_empty() {
        node.store().mark_dirty(&waiting).map_err(setup)?;
    }
    node.derive_dirty(now).map_err(setup)
}

fn invariant(what: impl Into<String>) -> BenchError {
    BenchError::Invariant(what.into())
}

/// Runs the simulation in a temporary directory and checks what it must.
pub fn simulate(options: SimulationOptions) -> Result<Simulation, BenchError> {
    check_options(&options)?;
    let started = Instant::now();
    let root = tempfile::tempdir().map_err(setup)?;
    let mut rng = StdRng::seed_from_u64(options.seed);
    let start = Utc::now();
    let year = SchoolYear::new("school_year", 2024).map_err(setup)?;
    let anchor = NodeKey::from_seed(rng.gen());

    // The hierarchy: the province first, then each district and its schools.
    let mut members: Vec<Member> = Vec::new();
    let mut open = |org: &str, level: &str, parent: Option<(usize, &str)>, rng: &mut StdRng| {
        let text = config_text(
            org,
            level,
            "127.0.0.1:0",
            parent.map(|(_, parent_org)| (parent_org, "127.0.0.1:1")),
            options.batch_size,
            &anchor,
        );
        let config = write_config(&root.path().join(org), &text)?;
        let node = Node::open(&config, NodeKey::from_seed(rng.gen())).map_err(setup)?;
        match parent {
            Some((parent_index, _)) => enrol_in_process(&members[parent_index].node, &node, start).map_err(setup)?,
            None => certify_by_anchor(&node, &OrgId::parse("anchor", "VN").map_err(setup)?, &[&anchor], start)
                .map_err(setup)?,
        };
        members.push(Member {
            node,
            parent: parent.map(|(index, _)| index),
            online: true,
            outage_ticks: 0,
            acknowledged: 0,
        });
        Ok::<usize, BenchError>(members.len() - 1)
    };
    let province = open(PROVINCE, "province", None, &mut rng)?;
    let mut districts = Vec::new();
    let mut schools = Vec::new();
    for district_index in 0..options.districts {
        let district_org = format!("{PROVINCE}.D{:02}", district_index + 1);
        let district = open(&district_org, "district", Some((province, PROVINCE)), &mut rng)?;
        districts.push(district);
        let here = (district_index..options.schools).step_by(options.districts as usize).count() as u32;
        for school_index in 0..here {
            let org = format!("{district_org}.S{:03}", school_index + 1);
            schools.push(open(&org, "school", Some((district, &district_org)), &mut rng)?);
        }
    }

    // Each school's year, cut into one portion per writing day.
    let mut portions: Vec<Vec<Vec<Record>>> = Vec::new();
    let mut incidents_given_to_schools = 0u64;
    for &school in &schools {
        let org = members[school].node.org().clone();
        let profile = SchoolProfile {
            display_name: org.to_string(),
            org,
            staff: rng.gen_range(25..90),
            students: rng.gen_range(300..1500),
            district_plan: "1/KH-PGDĐT".into(),
        };
        let records = school_year_records(&mut StdRng::seed_from_u64(rng.gen()), &profile, year, 100);
        incidents_given_to_schools +=
            records.iter().filter(|record| matches!(record, Record::Incident(_))).count() as u64;
        // Spread over every writing day, so the last records come on the last day.
        let (count, days) = (records.len(), options.writing_days as usize);
        let mut by_day: Vec<Vec<Record>> = vec![Vec::new(); days];
        for (index, record) in records.into_iter().enumerate() {
            by_day[(index * days / count.max(1)).min(days - 1)].push(record);
        }
        portions.push(by_day);
    }

    let (recover, fail) = link_model(&options);
    let mut traffic = Traffic::default();
    let (mut offline_ticks, mut node_ticks, mut longest_outage) = (0u64, 0u64, 0u32);
    let writing_ticks = options.writing_days * TICKS_PER_DAY;
    let last_tick = writing_ticks + options.patience_days * TICKS_PER_DAY;
    let mut converged_at = None;
    let mut waiting = None;
    let mut records_written = 0u64;
    for tick in 0..=last_tick {
        let now = start + Duration::minutes(i64::from(tick) * 24 * 60 / i64::from(TICKS_PER_DAY));
        for member in members.iter_mut() {
            if member.online {
                member.online = !rng.gen_bool(fail);
            } else {
                member.online = rng.gen_bool(recover);
            }
            if member.online {
                member.outage_ticks = 0;
            } else {
                member.outage_ticks += 1;
                offline_ticks += 1;
                longest_outage = longest_outage.max(member.outage_ticks);
            }
            node_ticks += 1;
        }
        // Schools write as the days go, online or not.
        if tick % TICKS_PER_DAY == 0 && tick < writing_ticks {
            let day = (tick / TICKS_PER_DAY) as usize;
            for (position, &school) in schools.iter().enumerate() {
                if let Some(portion) = portions[position].get(day).filter(|portion| !portion.is_empty()) {
                    records_written += portion.len() as u64;
                    members[school].node.submit_all(portion.clone(), now).map_err(setup)?;
                }
            }
        }
        // Bottom up: schools derive and push, then districts, then the province derives.
        for level in [&schools, &districts] {
            for &child in level.iter() {
                aggregate(&members[child].node, now)?;
                let parent = members[child].parent.ok_or_else(|| setup("a child without a parent"))?;
                if members[child].online && members[parent].online {
                    session(&mut members, child, parent, &options, &mut rng, &mut traffic, now)?;
                }
            }
        }
        aggregate(&members[province].node, now)?;
        if tick >= writing_ticks {
            waiting = still_waiting(&members)?;
            if waiting.is_none() {
                converged_at = Some(tick);
                break;
            }
        }
    }
    let Some(converged_at) = converged_at else {
        return Err(BenchError::Stalled(format!(
            "not converged {} days after the last record was written: {}",
            options.patience_days,
            waiting.unwrap_or_default()
        )));
    };

    let shared_envelopes = prove_logs_identical(&members)?;
    if traffic.envelopes_stored != shared_envelopes {
        return Err(invariant(format!(
            "parents stored {} envelopes but the children's shared logs hold {shared_envelopes}: \
             something was stored twice or lost",
            traffic.envelopes_stored
        )));
    }
    if traffic.envelopes_stored + traffic.replays_acknowledged != traffic.envelopes_offered {
        return Err(invariant("an offered envelope was neither stored nor acknowledged as already held"));
    }
    let incident_cases_in_province_total =
        prove_totals(&members, province, &schools, &districts, Period::school_year(year))?;
    if incident_cases_in_province_total != incidents_given_to_schools {
        return Err(invariant(format!(
            "the province counts {incident_cases_in_province_total} incident cases; the schools were given \
             {incidents_given_to_schools}"
        )));
    }
    Ok(Simulation {
        records_written,
        shared_envelopes,
        traffic,
        offline_share: offline_ticks as f64 / node_ticks.max(1) as f64,
        longest_outage_days: f64::from(longest_outage) / f64::from(TICKS_PER_DAY),
        days_to_convergence: f64::from(converged_at.saturating_sub(writing_ticks - TICKS_PER_DAY))
            / f64::from(TICKS_PER_DAY),
        wall_seconds: started.elapsed().as_secs_f64(),
        logs_identical_at_parents: (members.len() - 1) as u64,
        incidents_given_to_schools,
        incident_cases_in_province_total,
        options,
    })
}

fn check_options(options: &SimulationOptions) -> Result<(), BenchError> {
    let problem = if options.districts == 0 || options.schools < options.districts {
        Some("--districts: at least 1, and no more than --schools")
    } else if options.writing_days == 0 {
        Some("--writing-days: at least 1")
    } else if !(0.05..=1.0).contains(&options.online_probability) {
        Some("--online-probability: between 0.05 and 1")
    } else if !(0.25..=60.0).contains(&options.mean_outage_days) {
        Some("--mean-outage-days: between 0.25 and 60")
    } else if !(0.0..0.9).contains(&options.cut_probability) {
        Some("--cut-probability: from 0 to below 0.9")
    } else if !(1..=10_000).contains(&options.batch_size) {
        Some("--batch-size: between 1 and 10000")
    } else {
        None
    };
    problem.map_or(Ok(()), |problem| Err(BenchError::Options(problem.into())))
}

/// Per-tick chances of coming back and of going offline, from the long-run
/// online share and the mean outage (a two-state Markov chain).
fn link_model(options: &SimulationOptions) -> (f64, f64) {
    let recover = (1.0 / (options.mean_outage_days * f64::from(TICKS_PER_DAY))).min(1.0);
    let online = options.online_probability;
    let fail = (recover * (1.0 - online) / online).min(1.0);
    (recover, fail)
}

/// One push session: as the sync task does, either ask the parent what it
/// holds or resume from what this child last heard acknowledged, then send
/// batches until the log is caught up or the link is cut.
fn session(
    members: &mut [Member],
    child: usize,
    parent: usize,
    options: &SimulationOptions,
    rng: &mut StdRng,
    traffic: &mut Traffic,
    now: DateTime<Utc>,
) -> Result<(), BenchError> {
    traffic.sessions += 1;
    let child_org = members[child].node.org().clone();
    let mut from = if rng.gen_bool(0.5) {
        head(&members[parent].node, &child_org)?
    } else {
        traffic.resumed_from_own_cursor += 1;
        members[child].acknowledged
    };
    loop {
        let batch: Vec<Vec<u8>> = members[child]
            .node
            .store()
            .read_log(&child_org, LogStream::Shared, Seq(from + 1), options.batch_size)
            .map_err(setup)?
            .into_iter()
            .map(|stored| stored.bytes)
            .collect();
        if batch.is_empty() {
            return Ok(());
        }
        let cut = rng.gen_bool(options.cut_probability);
        let delivered = if cut { batch[..rng.gen_range(0..batch.len())].to_vec() } else { batch };
        traffic.envelopes_offered += delivered.len() as u64;
        let report = members[parent].node.ingest(delivered, now).map_err(setup)?;
        if let Some(refusal) = report.refused.first() {
            return Err(invariant(format!(
                "{} refused {child_org}'s envelope at seq {}: {}",
                members[parent].node.org(),
                refusal.seq,
                refusal.reason
            )));
        }
        traffic.envelopes_stored += u64::from(report.stored);
        traffic.replays_acknowledged += u64::from(report.duplicates);
        if cut {
            traffic.batches_cut += 1;
            return Ok(());
        }
        let checkpoint = report.checkpoints.iter().find(|(org, _, _)| *org == child_org).map(|(_, seq, _)| seq.0);
        let Some(checkpoint) = checkpoint else {
            return Err(invariant("a parent acknowledged a batch without a checkpoint"));
        };
        members[child].acknowledged = checkpoint;
        from = checkpoint;
    }
}

/// What still keeps the province from holding everything, if anything:
/// a parent missing part of its child's shared log, or a derivation waiting.
fn still_waiting(members: &[Member]) -> Result<Option<String>, BenchError> {
    for member in members {
        let org = member.node.org();
        if member.node.aggregation_pending().map_err(setup)? {
            return Ok(Some(format!("{org} has periods waiting to be derived")));
        }
        if let Some(parent) = member.parent {
            let (held, written) = (head(&members[parent].node, org)?, head(&member.node, org)?);
            if held != written {
                return Ok(Some(format!("its parent holds {held} of {org}'s {written} shared envelopes")));
            }
        }
    }
    Ok(None)
}

/// Compares every child's shared log with its parent's copy, envelope by
/// envelope; returns how many envelopes the children's logs hold.
fn prove_logs_identical(members: &[Member]) -> Result<u64, BenchError> {
    let mut envelopes = 0u64;
    for member in members {
        let Some(parent) = member.parent else { continue };
        let org = member.node.org();
        let own = member.node.store().read_log(org, LogStream::Shared, Seq(1), usize::MAX).map_err(setup)?;
        let copy = members[parent].node.store().read_log(org, LogStream::Shared, Seq(1), usize::MAX).map_err(setup)?;
        if own.len() != copy.len() {
            return Err(invariant(format!(
                "{} holds {} of {org}'s {} shared envelopes",
                members[parent].node.org(),
                copy.len(),
                own.len()
            )));
        }
        if let Some((mine, theirs)) = own.iter().zip(&copy).find(|(mine, theirs)| mine.bytes != theirs.bytes) {
            return Err(invariant(format!(
                "{org} seq {}: the parent holds {} where the child wrote {}",
                mine.meta.seq, theirs.id, mine.id
            )));
        }
        envelopes += own.len() as u64;
    }
    Ok(envelopes)
}

/// The province's latest signed total for `period` equals the sum of what
/// the schools and districts derived themselves; returns its incident cases.
fn prove_totals(
    members: &[Member],
    province: usize,
    schools: &[usize],
    districts: &[usize],
    period: Period,
) -> Result<u64, BenchError> {
    let latest = |index: usize| {
        let node = &members[index].node;
        node.latest_aggregate(node.org(), period)
            .map_err(setup)?
            .map(|(_, aggregate)| aggregate)
            .ok_or_else(|| invariant(format!("{} has no aggregate for {period}", node.org())))
    };
    let mut expected = latest(province)?.own;
    for &school in schools {
        expected = expected.checked_add(&latest(school)?.total).map_err(setup)?;
    }
    for &district in districts {
        expected = expected.checked_add(&latest(district)?.own).map_err(setup)?;
    }
    let total: Counts = latest(province)?.total;
    if total != expected {
        return Err(invariant(format!(
            "the province's total for {period} is not the sum of what its schools and districts derived"
        )));
    }
    Ok(total.incident_cases())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(seed: u64) -> SimulationOptions {
        SimulationOptions {
            schools: 12,
            districts: 3,
            seed,
            writing_days: 6,
            online_probability: 0.6,
            mean_outage_days: 1.5,
            cut_probability: 0.25,
            batch_size: 8,
            patience_days: 60,
        }
    }

    #[test]
    fn a_small_province_on_flaky_links_converges_with_nothing_lost_or_stored_twice() {
        for seed in [1, 2] {
            let run = simulate(small(seed)).expect("converges and every check holds");
            assert!(run.traffic.batches_cut > 0, "seed {seed}: the links were cut");
            assert!(run.traffic.replays_acknowledged > 0, "seed {seed}: envelopes were offered again");
            assert!(run.offline_share > 0.2, "seed {seed}: nodes were offline a good part of the time");
            assert!(run.incidents_given_to_schools > 0);
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_run() {
        let (first, second) = (simulate(small(7)).expect("runs"), simulate(small(7)).expect("runs"));
        assert_eq!(first.days_to_convergence, second.days_to_convergence);
        assert_eq!(first.shared_envelopes, second.shared_envelopes);
        assert_eq!(first.traffic.envelopes_offered, second.traffic.envelopes_offered);
        assert_eq!(first.incident_cases_in_province_total, second.incident_cases_in_province_total);
    }
}
