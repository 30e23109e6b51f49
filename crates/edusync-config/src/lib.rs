//! The configuration of one edusync node: who it is, where it keeps its data,
//! where it listens, who its parent is, which children it accepts, and how it
//! syncs. Loaded from one TOML file (examples in `node-config/`), validated at
//! load, with the few values the command line may override.
//!
//! This crate is not a place for defaults that hide required facts: the
//! organisation, level and data directory must be written down. It never reads
//! the environment; the binary does that.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use edusync_core::{Level, OrgId, Organisation};
use edusync_envelope::PublicKey;
use edusync_i18n::Language;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("config file {path} is not valid: {reason}")]
    Parse { path: String, reason: String },
    #[error("config file {path}: {field}: {reason}")]
    Invalid { path: String, field: String, reason: String },
}

/// The whole configuration of a node, validated.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub organisation: Organisation,
    pub data_dir: PathBuf,
    /// Used to place incidents in semesters by local date.
    pub utc_offset: chrono::FixedOffset,
    /// The language of the command line's messages for this node's
    /// operators (`node.language`: vi, zh or en); unset: the locale decides.
    pub language: Option<Language>,
    pub server: ServerConfig,
    pub parent: Option<ParentConfig>,
    pub trust: TrustConfig,
    pub sync: SyncConfig,
    pub privacy: PrivacyConfig,
    /// Where Prometheus metrics are served (`GET /metrics`); none when unset.
    pub metrics_listen: Option<SocketAddr>,
    /// Free space kept on the store's disk (`node.disk_reserve_megabytes`):
    /// below it, writes are refused and reads go on.
    pub disk_reserve_bytes: u64,
    /// The names of units below this node as its office knows them
    /// (`[unit_names]`), for reports and tables; ids stay the key.
    pub unit_names: std::collections::BTreeMap<OrgId, String>,
}

/// Demographic crosses and their privacy budget. Epsilon is kept in
/// millionths so that the ledger adds integers exactly.
#[derive(Clone, Debug)]
pub struct PrivacyConfig {
    /// Release noisy demographic crosses at all.
    pub demographic_crosses: bool,
    pub epsilon_per_release_millionths: u64,
    pub epsilon_per_school_year_millionths: u64,
    /// A changed cross is released only after its exact counts have not
    /// changed for this long, so that a burst of late records costs one release.
    pub cross_quiet: Duration,
    /// How readers' tables are released (differential privacy; see
    /// ARCHITECTURE.md, "What readers see").
    pub reader_tables: edusync_core::ReaderTables,
}

/// The defaults of `privacy.reader_*`, chosen with `edusync bench privacy`
/// (docs/benchmarks.md): a release costs rho 0.5, a semester at most 1.5 (two
/// provisional releases and the closing one), fresh at most every 30 days.
/// The offices that release tables from a school's cases: its district, its
/// province and the ministry (a school releases none of its own).
pub const RELEASING_LEVELS: u64 = 3;

/// What the defaults guarantee each incident case, as README and
/// ARCHITECTURE state it: (epsilon, delta) = (25.5, 1e-6), from rho =
/// 3 levels x 1.5 per semester (a case lies in one semester) for the
/// tables, plus 2.0 for the demographic crosses of the people in it
/// (pure epsilon 2.0 a school year is rho 2.0^2 / 2; a cross is drawn once,
/// at the school, and only summed above it) = 6.5.
pub const STATED_EPSILON_PER_CASE: f64 = 25.5;
pub const STATED_DELTA: f64 = 1e-6;

/// The demographic crosses' default budget of a school year, millionths of
/// epsilon (`privacy.epsilon_per_school_year`).
pub const DEFAULT_CROSS_EPSILON_PER_SCHOOL_YEAR_MILLIONTHS: u64 = 2_000_000;

pub const DEFAULT_READER_TABLES: edusync_core::ReaderTables = edusync_core::ReaderTables {
    rho_per_release_millionths: 500_000,
    rho_per_semester_millionths: 1_500_000,
    release_every_days: 30,
};

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub max_message_bytes: usize,
    pub transport: ServerTransport,
    /// Connections kept open at most (`server.max_connections`); at the cap
    /// a new one takes the place of the one quiet the longest.
    pub max_connections: usize,
    /// A connection whose peer sends nothing this long is closed
    /// (`server.idle_timeout_seconds`).
    pub idle_timeout: Duration,
}

/// How the gRPC server speaks: TLS, or plaintext where the config says so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerTransport {
    /// Only on loopback or a network trusted by other means (the demo).
    Plaintext,
    Tls {
        /// PEM certificate chain, leaf first.
        certificate: PathBuf,
        /// PEM private key of the leaf.
        key: PathBuf,
        /// The CA that signed `certificate`, for commands run on this machine.
        ca_certificate: Option<PathBuf>,
    },
}

#[derive(Clone, Debug)]
pub struct ParentConfig {
    pub org_id: OrgId,
    /// `https://host:port`, or `http://host:port` with `plaintext = true`.
    pub endpoint: String,
    pub transport: ClientTransport,
}

/// How a client reaches a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientTransport {
    Plaintext,
    Tls {
        /// The CA (or the pinned self-signed certificate) that the peer's
        /// TLS certificate must chain to.
        ca_certificate: PathBuf,
        /// The name to check the certificate for; default: the endpoint's host.
        domain: Option<String>,
    },
}

/// The roots of trust and how much clock error to forgive.
#[derive(Clone, Debug)]
pub struct TrustConfig {
    pub anchors: Vec<AnchorConfig>,
    /// Certificate windows are widened by this much on both sides, because
    /// offline schools keep bad time.
    pub clock_skew: Duration,
}

/// A root of trust: `threshold` of `keys` must sign a certificate directly
/// under `org_id` (the ministry's root, or a provincial root).
#[derive(Clone, Debug)]
pub struct AnchorConfig {
    pub org_id: OrgId,
    pub keys: Vec<PublicKey>,
    pub threshold: usize,
}

#[derive(Clone, Debug)]
pub struct SyncConfig {
    pub batch_size: usize,
    pub interval: Duration,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Compress what this node sends upward with zstd.
    pub compress: bool,
}

impl SyncConfig {
    pub const MAX_BATCH: usize = 4096;
}

// ---- the file as written; every table refuses unknown keys

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    node: NodeSection,
    server: ServerSection,
    parent: Option<ParentSection>,
    trust: TrustSection,
    #[serde(default)]
    sync: SyncSection,
    #[serde(default)]
    privacy: PrivacySection,
    metrics: Option<MetricsSection>,
    #[serde(default)]
    unit_names: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricsSection {
    listen: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrivacySection {
    #[serde(default = "default_crosses")]
    demographic_crosses: bool,
    #[serde(default = "default_epsilon_release")]
    epsilon_per_release: f64,
    #[serde(default = "default_epsilon_year")]
    epsilon_per_school_year: f64,
    #[serde(default = "default_cross_quiet")]
    cross_quiet_seconds: u64,
    #[serde(default = "default_reader_rho_release")]
    reader_rho_per_release: f64,
    #[serde(default = "default_reader_rho_semester")]
    reader_rho_per_semester: f64,
    #[serde(default = "default_reader_every_days")]
    reader_release_every_days: u32,
}

impl Default for PrivacySection {
    fn default() -> Self {
        PrivacySection {
            demographic_crosses: default_crosses(),
            epsilon_per_release: default_epsilon_release(),
            epsilon_per_school_year: default_epsilon_year(),
            cross_quiet_seconds: default_cross_quiet(),
            reader_rho_per_release: default_reader_rho_release(),
            reader_rho_per_semester: default_reader_rho_semester(),
            reader_release_every_days: default_reader_every_days(),
        }
    }
}

fn default_crosses() -> bool {
    true
}
fn default_epsilon_release() -> f64 {
    0.5
}
fn default_epsilon_year() -> f64 {
    DEFAULT_CROSS_EPSILON_PER_SCHOOL_YEAR_MILLIONTHS as f64 / 1e6
}
fn default_reader_rho_release() -> f64 {
    DEFAULT_READER_TABLES.rho_per_release_millionths as f64 / 1e6
}
fn default_reader_rho_semester() -> f64 {
    DEFAULT_READER_TABLES.rho_per_semester_millionths as f64 / 1e6
}
fn default_reader_every_days() -> u32 {
    DEFAULT_READER_TABLES.release_every_days
}
fn default_cross_quiet() -> u64 {
    3600
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeSection {
    org_id: String,
    level: String,
    display_name: String,
    data_dir: PathBuf,
    #[serde(default = "default_offset")]
    utc_offset: String,
    #[serde(default)]
    language: Option<String>,
    #[serde(default = "default_disk_reserve_megabytes")]
    disk_reserve_megabytes: u64,
}

fn default_disk_reserve_megabytes() -> u64 {
    64
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerSection {
    listen: String,
    #[serde(default = "default_max_message")]
    max_message_bytes: usize,
    #[serde(default)]
    plaintext: bool,
    tls: Option<ServerTlsSection>,
    #[serde(default = "default_max_connections")]
    max_connections: usize,
    #[serde(default = "default_idle_timeout")]
    idle_timeout_seconds: u64,
}

fn default_max_connections() -> usize {
    1000
}

fn default_idle_timeout() -> u64 {
    300
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerTlsSection {
    certificate: PathBuf,
    key: PathBuf,
    ca_certificate: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ParentSection {
    org_id: String,
    endpoint: String,
    #[serde(default)]
    plaintext: bool,
    ca_certificate: Option<PathBuf>,
    tls_domain: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustSection {
    #[serde(default = "default_clock_skew")]
    clock_skew_seconds: u64,
    #[serde(default)]
    anchors: Vec<AnchorSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnchorSection {
    org_id: String,
    #[serde(default = "default_threshold")]
    threshold: usize,
    keys: Vec<String>,
}

fn default_clock_skew() -> u64 {
    600
}
fn default_threshold() -> usize {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncSection {
    #[serde(default = "default_batch")]
    batch_size: usize,
    #[serde(default = "default_interval")]
    interval_seconds: u64,
    #[serde(default = "default_retry_initial")]
    retry_initial_ms: u64,
    #[serde(default = "default_retry_max")]
    retry_max_seconds: u64,
    #[serde(default = "default_connect_timeout")]
    connect_timeout_seconds: u64,
    #[serde(default = "default_request_timeout")]
    request_timeout_seconds: u64,
    #[serde(default = "default_compression")]
    compression: String,
}

impl Default for SyncSection {
    fn default() -> Self {
        SyncSection {
            batch_size: default_batch(),
            interval_seconds: default_interval(),
            retry_initial_ms: default_retry_initial(),
            retry_max_seconds: default_retry_max(),
            connect_timeout_seconds: default_connect_timeout(),
            request_timeout_seconds: default_request_timeout(),
            compression: default_compression(),
        }
    }
}

fn default_offset() -> String {
    "+07:00".into()
}
fn default_max_message() -> usize {
    16 * 1024 * 1024
}
/// From `edusync bench sync` (docs/benchmarks.md, "Measured"): 1024 catches a backlog up
/// within about 10% of the fastest size tried, and a cut link loses at most
/// one batch (about 256 KB) of work.
/// Envelopes per push batch unless `sync.batch_size` says otherwise; from
/// `edusync bench sync` (see the table in docs/benchmarks.md).
pub const DEFAULT_BATCH_SIZE: usize = 1024;

fn default_batch() -> usize {
    DEFAULT_BATCH_SIZE
}
fn default_interval() -> u64 {
    30
}
fn default_retry_initial() -> u64 {
    500
}
fn default_retry_max() -> u64 {
    300
}
fn default_connect_timeout() -> u64 {
    5
}
fn default_request_timeout() -> u64 {
    60
}
fn default_compression() -> String {
    "zstd".into()
}

impl NodeConfig {
    /// Reads and validates a config file. A relative `data_dir` is taken
    /// relative to the file's own directory, so configs can travel with their data.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| ConfigError::Read { path: path.display().to_string(), reason: error.to_string() })?;
        let base = path.parent().unwrap_or(Path::new("."));
        NodeConfig::from_toml(&text, base, &path.display().to_string())
    }

    pub fn from_toml(text: &str, base_dir: &Path, name: &str) -> Result<Self, ConfigError> {
        let file: File = toml::from_str(text)
            .map_err(|error| ConfigError::Parse { path: name.into(), reason: error.to_string() })?;
        let invalid =
            |field: &str, reason: String| ConfigError::Invalid { path: name.into(), field: field.into(), reason };
        let org_id =
            OrgId::parse("node.org_id", &file.node.org_id).map_err(|e| invalid(&e.field, e.reason.to_string()))?;
        let level = file.node.level.parse::<Level>().map_err(|e| invalid("node.level", e.reason.to_string()))?;
        let organisation = Organisation::new(org_id, level, &file.node.display_name)
            .map_err(|e| invalid("node.display_name", e.reason.to_string()))?;
        let data_dir =
            if file.node.data_dir.is_absolute() { file.node.data_dir } else { base_dir.join(file.node.data_dir) };
        let utc_offset = file.node.utc_offset.parse::<chrono::FixedOffset>().map_err(|_| {
            invalid("node.utc_offset", format!("`{}` is not an offset like +07:00", file.node.utc_offset))
        })?;
        let language = file
            .node
            .language
            .as_deref()
            .map(|text| {
                Language::parse(text).ok_or_else(|| invalid("node.language", format!("`{text}` is not vi, zh or en")))
            })
            .transpose()?;

        let listen = file.server.listen.parse::<SocketAddr>().map_err(|_| {
            invalid("server.listen", format!("`{}` is not an address like 127.0.0.1:7401", file.server.listen))
        })?;
        if !(64 * 1024..=256 * 1024 * 1024).contains(&file.server.max_message_bytes) {
            return Err(invalid("server.max_message_bytes", "must be between 64 KiB and 256 MiB".into()));
        }
        let relative = |path: PathBuf| if path.is_absolute() { path } else { base_dir.join(path) };
        let transport =
            match (file.server.plaintext, file.server.tls) {
                (false, Some(tls)) => ServerTransport::Tls {
                    certificate: relative(tls.certificate),
                    key: relative(tls.key),
                    ca_certificate: tls.ca_certificate.map(relative),
                },
                (true, None) => ServerTransport::Plaintext,
                (true, Some(_)) => {
                    return Err(invalid(
                        "server.plaintext",
                        "both `plaintext = true` and [server.tls] are set; keep one".into(),
                    ))
                }
                (false, None) => return Err(invalid(
                    "server.tls",
                    "set [server.tls] certificate and key (`edusync tls generate` makes them), or `plaintext = true` \
                     to serve without TLS on a network you trust"
                        .into(),
                )),
            };

        let parent = match file.parent {
            None => None,
            Some(parent) => {
                let parent_org = OrgId::parse("parent.org_id", &parent.org_id)
                    .map_err(|e| invalid(&e.field, e.reason.to_string()))?;
                if !organisation.id.is_within(&parent_org) || organisation.id == parent_org {
                    return Err(invalid(
                        "parent.org_id",
                        format!(
                            "{} is not below {parent_org}; a parent's id is a prefix of its children's",
                            organisation.id
                        ),
                    ));
                }
                let transport = if parent.endpoint.starts_with("https://") {
                    let ca_certificate = parent.ca_certificate.map(relative).ok_or_else(|| {
                        invalid(
                            "parent.ca_certificate",
                            "an https:// parent needs the CA its TLS certificate chains to (the parent's ca.crt)"
                                .into(),
                        )
                    })?;
                    if parent.plaintext {
                        return Err(invalid(
                            "parent.plaintext",
                            "`plaintext = true` with an https:// endpoint; keep one".into(),
                        ));
                    }
                    ClientTransport::Tls { ca_certificate, domain: parent.tls_domain }
                } else if parent.endpoint.starts_with("http://") {
                    if !parent.plaintext {
                        return Err(invalid(
                            "parent.endpoint",
                            format!(
                                "`{}` is plaintext; use https:// with ca_certificate, or say `plaintext = true`",
                                parent.endpoint
                            ),
                        ));
                    }
                    ClientTransport::Plaintext
                } else {
                    return Err(invalid(
                        "parent.endpoint",
                        format!("`{}` must start with https:// (or http://)", parent.endpoint),
                    ));
                };
                Some(ParentConfig { org_id: parent_org, endpoint: parent.endpoint, transport })
            }
        };

        if file.trust.anchors.is_empty() {
            return Err(invalid(
                "trust.anchors",
                "at least one trust anchor is required: the ministry's root key (see `edusync keys generate`)".into(),
            ));
        }
        let mut anchors = Vec::with_capacity(file.trust.anchors.len());
        for (index, anchor) in file.trust.anchors.into_iter().enumerate() {
            let field = |name: &str| format!("trust.anchors[{index}].{name}");
            let org_id =
                OrgId::parse(&field("org_id"), &anchor.org_id).map_err(|e| invalid(&e.field, e.reason.to_string()))?;
            let mut keys: Vec<PublicKey> = Vec::with_capacity(anchor.keys.len());
            for (key_index, text) in anchor.keys.iter().enumerate() {
                let key = PublicKey::from_text(text)
                    .map_err(|error| invalid(&format!("{}[{key_index}]", field("keys")), error.to_string()))?;
                if keys.contains(&key) {
                    return Err(invalid(&field("keys"), format!("key {key} is listed twice; keys must be distinct")));
                }
                keys.push(key);
            }
            if anchor.threshold == 0 || anchor.threshold > keys.len() {
                return Err(invalid(
                    &field("threshold"),
                    format!("must be between 1 and the number of keys ({})", keys.len()),
                ));
            }
            anchors.push(AnchorConfig { org_id, keys, threshold: anchor.threshold });
        }
        let trust = TrustConfig { anchors, clock_skew: Duration::from_secs(file.trust.clock_skew_seconds) };

        let sync = file.sync;
        if sync.batch_size == 0 || sync.batch_size > SyncConfig::MAX_BATCH {
            return Err(invalid("sync.batch_size", format!("must be between 1 and {}", SyncConfig::MAX_BATCH)));
        }
        if sync.retry_initial_ms == 0 || sync.retry_max_seconds == 0 || sync.interval_seconds == 0 {
            return Err(invalid("sync", "intervals and retry delays must be positive".into()));
        }
        let compress = match sync.compression.as_str() {
            "zstd" => true,
            "none" => false,
            other => return Err(invalid("sync.compression", format!("`{other}` is not zstd or none"))),
        };
        let sync = SyncConfig {
            compress,
            batch_size: sync.batch_size,
            interval: Duration::from_secs(sync.interval_seconds),
            retry_initial: Duration::from_millis(sync.retry_initial_ms),
            retry_max: Duration::from_secs(sync.retry_max_seconds),
            connect_timeout: Duration::from_secs(sync.connect_timeout_seconds.max(1)),
            request_timeout: Duration::from_secs(sync.request_timeout_seconds.max(1)),
        };

        let privacy = file.privacy;
        let valid_epsilon = |value: f64| value.is_finite() && value > 0.0 && value <= 20.0;
        if !valid_epsilon(privacy.epsilon_per_release) {
            return Err(invalid("privacy.epsilon_per_release", "must be a number above 0 and at most 20".into()));
        }
        if !valid_epsilon(privacy.epsilon_per_school_year)
            || privacy.epsilon_per_school_year < privacy.epsilon_per_release
        {
            return Err(invalid(
                "privacy.epsilon_per_school_year",
                "must be at least epsilon_per_release and at most 20".into(),
            ));
        }
        let valid_rho = |value: f64| value.is_finite() && value > 0.0 && value <= 50.0;
        if !valid_rho(privacy.reader_rho_per_release) {
            return Err(invalid("privacy.reader_rho_per_release", "must be a number above 0 and at most 50".into()));
        }
        if !valid_rho(privacy.reader_rho_per_semester)
            || privacy.reader_rho_per_semester < privacy.reader_rho_per_release
        {
            return Err(invalid(
                "privacy.reader_rho_per_semester",
                "must be at least reader_rho_per_release and at most 50".into(),
            ));
        }
        if !(1..=366).contains(&privacy.reader_release_every_days) {
            return Err(invalid(
                "privacy.reader_release_every_days",
                "must be a whole number of days from 1 to 366".into(),
            ));
        }
        let privacy = PrivacyConfig {
            demographic_crosses: privacy.demographic_crosses,
            epsilon_per_release_millionths: (privacy.epsilon_per_release * 1e6).round() as u64,
            epsilon_per_school_year_millionths: (privacy.epsilon_per_school_year * 1e6).round() as u64,
            cross_quiet: Duration::from_secs(privacy.cross_quiet_seconds),
            reader_tables: edusync_core::ReaderTables {
                rho_per_release_millionths: (privacy.reader_rho_per_release * 1e6).round() as u64,
                rho_per_semester_millionths: (privacy.reader_rho_per_semester * 1e6).round() as u64,
                release_every_days: privacy.reader_release_every_days,
            },
        };

        let metrics_listen = file
            .metrics
            .map(|metrics| {
                metrics.listen.parse::<SocketAddr>().map_err(|_| {
                    invalid("metrics.listen", format!("`{}` is not an address like 127.0.0.1:9464", metrics.listen))
                })
            })
            .transpose()?;
        let max_connections = file.server.max_connections;
        if !(8..=1_000_000).contains(&max_connections) {
            return Err(invalid("server.max_connections", "must be between 8 and 1000000".into()));
        }
        let idle_timeout_seconds = file.server.idle_timeout_seconds;
        // Above the server's keepalive ping interval (30 s), or live idle clients would be cut.
        if !(60..=86_400).contains(&idle_timeout_seconds) {
            return Err(invalid("server.idle_timeout_seconds", "must be between 60 and 86400".into()));
        }
        let disk_reserve_megabytes = file.node.disk_reserve_megabytes;
        if !(1..=1 << 20).contains(&disk_reserve_megabytes) {
            return Err(invalid("node.disk_reserve_megabytes", "must be between 1 and 1048576 (1 TiB)".into()));
        }
        let mut unit_names = std::collections::BTreeMap::new();
        for (id, name) in &file.unit_names {
            let field = format!("unit_names.\"{id}\"");
            let unit = OrgId::parse(&field, id).map_err(|error| invalid(&field, error.reason.to_string()))?;
            if unit == organisation.id || !unit.is_within(&organisation.id) {
                return Err(invalid(&field, format!("{unit} is not below this node ({})", organisation.id)));
            }
            let named = edusync_core::Organisation::new(unit.clone(), Level::School, name)
                .map_err(|error| invalid(&field, error.reason.to_string()))?;
            unit_names.insert(unit, named.display_name);
        }
        Ok(NodeConfig {
            unit_names,
            disk_reserve_bytes: disk_reserve_megabytes << 20,
            metrics_listen,
            privacy,
            organisation,
            data_dir,
            utc_offset,
            language,
            server: ServerConfig {
                listen,
                max_message_bytes: file.server.max_message_bytes,
                transport,
                max_connections,
                idle_timeout: Duration::from_secs(idle_timeout_seconds),
            },
            parent,
            trust,
            sync,
        })
    }

    pub fn key_path(&self) -> PathBuf {
        self.data_dir.join("node.key")
    }

    pub fn public_key_path(&self) -> PathBuf {
        self.data_dir.join("node.pub")
    }

    pub fn store_path(&self) -> PathBuf {
        self.data_dir.join("store")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHOOL: &str = r#"
        [node]
        org_id = "VN.BT.D03.S017"
        level = "school"
        display_name = "Trường THCS Phú Hưng"
        data_dir = "data"

        [server]
        listen = "127.0.0.1:7401"
        plaintext = true

        [parent]
        org_id = "VN.BT.D03"
        endpoint = "http://127.0.0.1:7301"
        plaintext = true

        [[trust.anchors]]
        org_id = "VN"
        keys = ["Eb/BKZNsdNjGsDuEu5JR+d/qsO9xtC/7YPx05hyszVE="]
    "#;

    #[test]
    fn a_school_config_loads_with_defaults_and_relative_data_dir() {
        let config = NodeConfig::from_toml(SCHOOL, Path::new("/etc/edusync"), "school.toml").expect("valid");
        assert_eq!(config.data_dir, PathBuf::from("/etc/edusync/data"));
        assert_eq!(config.sync.batch_size, 1024);
        assert_eq!(config.organisation.display_name, "Trường THCS Phú Hưng");
        assert_eq!(config.language, None, "unset: the locale decides");
        let chinese = SCHOOL.replace("data_dir = \"data\"", "data_dir = \"data\"\nlanguage = \"zh\"");
        let config = NodeConfig::from_toml(&chinese, Path::new("/etc/edusync"), "school.toml").expect("valid");
        assert_eq!(config.language, Some(Language::Chinese));
    }

    #[test]
    fn tls_files_are_taken_relative_to_the_config_file() {
        let text = SCHOOL.replacen("plaintext = true\n", "", 1).replace(
            "endpoint = \"http://127.0.0.1:7301\"\n        plaintext = true",
            "endpoint = \"https://district.example:7301\"\n        ca_certificate = \"tls/district-ca.crt\"",
        ) + "\n[server.tls]\ncertificate = \"tls/server.crt\"\nkey = \"/keys/server.key\"\n";
        let config = NodeConfig::from_toml(&text, Path::new("/etc/edusync"), "school.toml").expect("valid");
        assert_eq!(
            config.server.transport,
            ServerTransport::Tls {
                certificate: PathBuf::from("/etc/edusync/tls/server.crt"),
                key: PathBuf::from("/keys/server.key"),
                ca_certificate: None,
            }
        );
        let parent = config.parent.expect("parent");
        assert_eq!(
            parent.transport,
            ClientTransport::Tls { ca_certificate: PathBuf::from("/etc/edusync/tls/district-ca.crt"), domain: None }
        );
    }

    #[test]
    fn every_example_in_node_config_loads() {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../node-config");
        let mut levels = Vec::new();
        for entry in std::fs::read_dir(&folder).expect("node-config exists") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|extension| extension == "toml") {
                let config = NodeConfig::load(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
                levels.push(config.organisation.level);
            }
        }
        levels.sort();
        assert_eq!(levels, vec![Level::Ministry, Level::Province, Level::District, Level::School]);
    }

    #[test]
    fn bad_configs_name_the_field() {
        let cases = [
            (SCHOOL.replace("level = \"school\"", "level = \"village\""), "node.level"),
            (SCHOOL.replace("VN.BT.D03\"\n", "VN.QN\"\n"), "parent.org_id"),
            (SCHOOL.replace("127.0.0.1:7401", "localhost"), "server.listen"),
            (SCHOOL.replace("http://127.0.0.1:7301", "127.0.0.1:7301"), "parent.endpoint"),
            (SCHOOL.replacen("plaintext = true\n", "", 1), "server.tls"),
            (format!("{SCHOOL}\n[server.tls]\ncertificate = \"a\"\nkey = \"b\"\n"), "server.plaintext"),
            (
                SCHOOL.replace(
                    "endpoint = \"http://127.0.0.1:7301\"\n        plaintext = true",
                    "endpoint = \"http://x:1\"",
                ),
                "parent.endpoint",
            ),
            (
                SCHOOL.replace(
                    "endpoint = \"http://127.0.0.1:7301\"\n        plaintext = true",
                    "endpoint = \"https://x:1\"",
                ),
                "parent.ca_certificate",
            ),
            (format!("{SCHOOL}\n[sync]\nbatch_size = 0\n"), "sync.batch_size"),
            (format!("{SCHOOL}\n[metrics]\nlisten = \"localhost\"\n"), "metrics.listen"),
            (
                format!("{SCHOOL}\n[privacy]\nepsilon_per_release = 3.0\nepsilon_per_school_year = 1.0\n"),
                "privacy.epsilon_per_school_year",
            ),
            (format!("{SCHOOL}\n[privacy]\nepsilon_per_release = -1\n"), "privacy.epsilon_per_release"),
            (SCHOOL.replace("keys = [", "threshold = 2\nkeys = ["), "trust.anchors[0].threshold"),
            (SCHOOL.replace("Eb/BKZNsdNjGsDuEu5JR", "AAAA"), "trust.anchors[0].keys[0]"),
            (SCHOOL.replace("data_dir = \"data\"", "data_dir = \"data\"\nlanguage = \"fr\""), "node.language"),
            // Names are for units below this node only, and are names.
            (format!("{SCHOOL}\n[unit_names]\n\"VN.BT.D03\" = \"Phòng GD&ĐT\"\n"), "unit_names.\"VN.BT.D03\""),
            (format!("{SCHOOL}\n[unit_names]\n\"VN.BT.D03.S017.A\" = \"\"\n"), "unit_names.\"VN.BT.D03.S017.A\""),
            (format!("{SCHOOL}\n[unit_names]\n\"VN..X\" = \"x\"\n"), "unit_names.\"VN..X\""),
        ];
        for (text, field) in cases {
            match NodeConfig::from_toml(&text, Path::new("."), "test.toml") {
                Err(ConfigError::Invalid { field: got, .. }) => assert_eq!(got, field),
                other => panic!("expected an error on {field}, got {other:?}"),
            }
        }
        let unknown = format!("{SCHOOL}\n[server2]\nx = 1\n");
        assert!(matches!(NodeConfig::from_toml(&unknown, Path::new("."), "t"), Err(ConfigError::Parse { .. })));
    }
}
