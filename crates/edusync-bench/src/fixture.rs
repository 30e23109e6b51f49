//! Nodes on this machine for measurements: configs, keys, enrolment and
//! backlogs, built with the same code paths a deployment uses.

use std::path::Path;

use edusync_config::NodeConfig;
use edusync_core::{Commitment, CommitmentKind, Record, SignerRole};
use edusync_envelope::NodeKey;

use crate::BenchError;

pub(crate) fn setup(error: impl std::fmt::Display) -> BenchError {
    BenchError::Setup(error.to_string())
}

/// A node's config; `parent` is the parent's org id and address.
pub(crate) fn config_text(
    org: &str,
    level: &str,
    listen: &str,
    parent: Option<(&str, &str)>,
    batch: usize,
    anchor: &NodeKey,
) -> String {
    let mut text = format!(
        "[node]\norg_id = \"{org}\"\nlevel = \"{level}\"\ndisplay_name = \"{org}\"\ndata_dir = \"data\"\n\n\
         [server]\nlisten = \"{listen}\"\nplaintext = true\n\n\
         [sync]\nbatch_size = {batch}\ninterval_seconds = 1\nretry_initial_ms = 20\nretry_max_seconds = 1\n"
    );
    if let Some((parent_org, address)) = parent {
        text.push_str(&format!(
            "\n[parent]\norg_id = \"{parent_org}\"\nendpoint = \"http://{address}\"\nplaintext = true\n"
        ));
    }
    text.push_str(&format!("\n[[trust.anchors]]\norg_id = \"VN\"\nkeys = [\"{}\"]\n", anchor.public_key().to_base64()));
    text
}

pub(crate) fn write_config(dir: &Path, text: &str) -> Result<NodeConfig, BenchError> {
    std::fs::create_dir_all(dir).map_err(setup)?;
    let path = dir.join("node.toml");
    std::fs::write(&path, text).map_err(setup)?;
    NodeConfig::load(&path).map_err(setup)
}

pub(crate) fn copy_dir(from: &Path, to: &Path) -> Result<(), BenchError> {
    std::fs::create_dir_all(to).map_err(setup)?;
    for entry in std::fs::read_dir(from).map_err(setup)? {
        let entry = entry.map_err(setup)?;
        let target = to.join(entry.file_name());
        if entry.file_type().map_err(setup)?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).map_err(setup)?;
        }
    }
    Ok(())
}

/// `count` distinct staff commitments of school year 2024-2025, numbered
/// from `first`: shared-log records a school's parent must hold.
pub(crate) fn commitments(first: u32, count: u32) -> Result<Vec<Record>, BenchError> {
    let signed_on = chrono::NaiveDate::from_ymd_opt(2024, 9, 6).ok_or_else(|| setup("date"))?;
    let school_year = "2024-2025".parse().map_err(setup)?;
    Ok((first..first + count)
        .map(|number| {
            Record::Commitment(Commitment {
                kind: CommitmentKind::StaffPledge,
                signer_role: SignerRole::Staff,
                count: number,
                signed_on,
                school_year,
            })
        })
        .collect())
}

/// Writes `records` in chunks, one flush per chunk, as an import would.
pub(crate) fn submit_in_chunks(
    node: &edusync_node::Node,
    records: Vec<Record>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), BenchError> {
    let mut records = records.into_iter().peekable();
    while records.peek().is_some() {
        let chunk: Vec<Record> = records.by_ref().take(10_000).collect();
        node.submit_all(chunk, now).map_err(setup)?;
    }
    Ok(())
}

/// Resident and peak resident memory of a process, in bytes, from
/// `/proc/PID/status` (`VmRSS`, `VmHWM`).
pub(crate) fn memory_of(pid: u32) -> Result<(u64, u64), BenchError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(setup)?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kilobytes| kilobytes.parse::<u64>().ok())
            .map(|kilobytes| kilobytes * 1024)
            .ok_or_else(|| setup(format!("/proc/{pid}/status has no {name}")))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// The value at quantile `q` (0..=1) of `sorted`, nearest rank.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
