//! `edusync enroll`, `edusync keys` and `edusync revoke`: certificates made,
//! carried as files, installed; offline root keys; revocation.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use clap::Subcommand;

use edusync_config::NodeConfig;
use edusync_core::OrgId;
use edusync_envelope::{NodeKey, PublicKey};
use edusync_proto::wire;
use edusync_trust::{armor, dearmor, issue_certificate, verify_enrolment_request, EnrolmentRequest, Role, Statement};

use super::{read_key, read_text, NodeTarget};
use crate::failure::Failure;
use edusync_i18n::Message;

#[derive(Subcommand)]
pub(crate) enum EnrollCommand {
    /// Write a request to certify this node's key (or a reader's key), to carry to the parent.
    Request {
        /// This node's config: the request is for its own key and org.
        #[arg(long, conflicts_with_all = ["key", "org", "role", "parent"])]
        config: Option<PathBuf>,
        /// A reader's key file (see `edusync keys generate`) ...
        #[arg(long, requires_all = ["org", "role", "parent"])]
        key: Option<PathBuf>,
        /// ... the scope it asks to read (an org id and everything below it) ...
        #[arg(long)]
        org: Option<String>,
        /// ... data-officer or auditor ...
        #[arg(long)]
        role: Option<String>,
        /// ... and the node asked to certify it.
        #[arg(long)]
        parent: Option<String>,
        /// Where to write the request file (to carry to the parent).
        #[arg(long)]
        out: PathBuf,
    },
    /// At the parent: certify a request file; writes the certificate chain file.
    Sign {
        #[command(flatten)]
        target: NodeTarget,
        /// The request file the child wrote with `enroll request`.
        #[arg(long)]
        request: PathBuf,
        /// Where to write the certificate chain file (to carry back to the child).
        #[arg(long)]
        out: PathBuf,
        /// End of validity (RFC 3339); default one year from now.
        #[arg(long)]
        not_after: Option<String>,
        /// Start of validity (RFC 3339), for a unit that reported before it
        /// was enrolled: its deadlines are owed from then. Default: a day ago.
        #[arg(long)]
        not_before: Option<String>,
    },
    /// At the child: install the certificate chain file the parent signed.
    Install {
        #[command(flatten)]
        target: NodeTarget,
        #[arg(long)]
        file: PathBuf,
    },
    /// At the parent: requests that arrived online and wait for an operator
    /// (they expire after 14 days unanswered).
    Pending {
        #[command(flatten)]
        target: NodeTarget,
        /// First drop every request made longer ago than this: 7d, 12h, 30m.
        #[arg(long, value_name = "AGE")]
        clear_older_than: Option<String>,
    },
    /// At the parent: drop pending requests by id (or a unique prefix of 8 or
    /// more hex digits); nothing is certified, and the requester may ask again.
    Reject {
        #[command(flatten)]
        target: NodeTarget,
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// At the parent: certify a pending online request by its id.
    Approve {
        #[command(flatten)]
        target: NodeTarget,
        /// The request's id as `enroll pending` prints it: all 64 hex digits
        /// or a unique prefix of 8 or more.
        id: String,
        /// End of validity (RFC 3339); default one year from now.
        #[arg(long)]
        not_after: Option<String>,
    },
}

#[derive(Subcommand)]
pub(crate) enum KeysCommand {
    /// Create an offline key (a root key, or a reader's key): PKCS#8 PEM, mode 0600,
    /// and its public key beside it in base64 (root.key → root.pub).
    Generate {
        /// Where to write the private key; never overwritten.
        #[arg(long)]
        out: PathBuf,
    },
    /// With root keys: certify a top node's request directly under an anchor.
    /// Pass --key once per root key present; a root that needs 2 of 3 keys
    /// takes two here, or one here and one more with `keys cosign`.
    Certify {
        #[arg(long)]
        request: PathBuf,
        /// The anchor's org id, as in node-config's [[trust.anchors]].
        #[arg(long)]
        anchor: String,
        #[arg(long = "key", required = true)]
        keys: Vec<PathBuf>,
        #[arg(long, default_value_t = 3650)]
        valid_days: i64,
        #[arg(long, default_value_t = 1)]
        version: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Start a key rotation: make this node's next key (kept beside the
    /// current one) and write the request for it, signed by both keys. The
    /// parent signs it with `enroll sign`; install the answer with the node
    /// stopped (`enroll install --config`), and the next key takes over.
    Rotate {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Write the signed root document: the anchor's root keys and how many
    /// must sign, signed by that many of them. Auditors pin this one file
    /// (`audit verify --root`) instead of typing keys and a threshold.
    Root {
        /// The anchor's org id, as in node-config's [[trust.anchors]].
        #[arg(long)]
        org: String,
        /// Every root public key (base64 raw, as in ROOT.pub), once each.
        #[arg(long = "public", required = true)]
        publics: Vec<PathBuf>,
        /// How many root keys must sign a certificate under the anchor.
        #[arg(long)]
        threshold: u8,
        /// Until when the document holds (YYYY-MM-DD, UTC midnight).
        #[arg(long)]
        expires: String,
        /// Versions only go up; a new document replaces the last.
        #[arg(long, default_value_t = 1)]
        version: u64,
        /// A root private key that signs the document; at least the threshold.
        #[arg(long = "sign", required = true)]
        signers: Vec<PathBuf>,
        /// The document to write; never overwritten.
        #[arg(long)]
        out: PathBuf,
    },
    /// Add one more root key's signature to a certificate file, in place.
    Cosign {
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        key: PathBuf,
    },
}

#[derive(clap::Args)]
pub(crate) struct RevokeArgs {
    #[command(flatten)]
    target: NodeTarget,
    /// The org whose key is revoked.
    #[arg(long)]
    org: String,
    /// The revoked public key (base64).
    #[arg(long)]
    key: String,
    /// key-compromise, superseded, decommissioned or unspecified.
    #[arg(long, default_value = "unspecified")]
    reason: String,
    /// From when (RFC 3339); default now. What the key signed before stays valid.
    #[arg(long)]
    effective: Option<String>,
    /// Also write the signed revocation here.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// With --config and no node running there, the node's store opened here,
/// so that enrolment works on a machine whose node is stopped.
async fn offline_node(target: &NodeTarget) -> Result<Option<edusync_node::Node>, Failure> {
    let Some(path) = target.local_config_path() else { return Ok(None) };
    let config = NodeConfig::load(path)?;
    let mut address = config.server.listen;
    if address.ip().is_unspecified() {
        address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let running = tokio::time::timeout(std::time::Duration::from_secs(2), tokio::net::TcpStream::connect(address))
        .await
        .is_ok_and(|connected| connected.is_ok());
    if running && config.server.listen.port() != 0 {
        return Ok(None);
    }
    let key = edusync_node::load_key(&config.data_dir).map_err(|error| Failure::input(error.to_string()))?;
    let node = edusync_node::Node::open(&config, key).map_err(|error| Failure::other(anyhow::anyhow!("{error}")))?;
    Ok(Some(node))
}

fn parse_time(field: &str, text: &str) -> Result<DateTime<Utc>, Failure> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|error| Failure::input(format!("{field}: `{text}` is not an RFC 3339 time: {error}")))
}

fn timestamp(time: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: time.timestamp(), nanos: time.timestamp_subsec_nanos() as i32 }
}

fn write(path: &Path, text: &str) -> Result<(), Failure> {
    std::fs::write(path, text).map_err(|error| {
        Failure::input_message(Message::CannotWrite { path: path.display().to_string(), error: error.to_string() })
    })
}

pub(crate) async fn enroll(command: EnrollCommand, language: edusync_i18n::Language) -> Result<(), Failure> {
    match command {
        EnrollCommand::Request { config, key, org, role, parent, out } => {
            let (request, key) = match (config, key, org, role, parent) {
                (Some(path), ..) => {
                    let config = NodeConfig::load(&path)?;
                    let key =
                        edusync_node::load_key(&config.data_dir).map_err(|error| Failure::input(error.to_string()))?;
                    let issuer = edusync_node::issuer_of(
                        &config.organisation.id,
                        config.parent.as_ref().map(|parent| &parent.org_id),
                        config.trust.anchors.iter().map(|anchor| &anchor.org_id),
                    )
                    .map_err(|error| Failure::input(error.to_string()))?;
                    let request =
                        edusync_node::own_enrolment_request(&config.organisation, issuer, key.public_key(), Utc::now());
                    (request, key)
                }
                (None, Some(key_path), Some(org), Some(role), Some(parent)) => {
                    let key = read_key(&key_path, "--key")?;
                    let role = Role::parse(&role).map_err(|error| Failure::input(format!("--role: {error}")))?;
                    if !role.is_reader() {
                        return Err(Failure::input(
                            "--role: a node requests with --config; --key is for data-officer or auditor",
                        ));
                    }
                    let request = EnrolmentRequest {
                        subject_org: OrgId::parse("--org", &org).map_err(|error| Failure::input(error.to_string()))?,
                        role,
                        parent_org: OrgId::parse("--parent", &parent)
                            .map_err(|error| Failure::input(error.to_string()))?,
                        subject_key: key.public_key(),
                        previous_key: None,
                        created_ms: Utc::now().timestamp_millis(),
                    };
                    (request, key)
                }
                _ => {
                    return Err(Failure::input(
                        "name the key to certify: --config FILE, or --key --org --role --parent",
                    ))
                }
            };
            let bytes = Statement::EnrolmentRequest(request.clone()).sign(&[&key]);
            write(&out, &armor(&[bytes]))?;
            let (file, subject, parent, key, role) =
                (out.display(), &request.subject_org, &request.parent_org, &request.subject_key, &request.role);
            println!(
                "{}",
                language.pick([
                    format!("wrote {file}: {subject} asks {parent} to certify key {key} as a {role}"),
                    format!("đã ghi {file}: {subject} đề nghị {parent} chứng nhận khóa {key} với vai trò {role}"),
                    format!("已写入 {file}：{subject} 请求 {parent} 认证密钥 {key}，角色为 {role}"),
                ])
            );
            Ok(())
        }
        EnrollCommand::Sign { target, request, out, not_after, not_before } => {
            let text = read_text(&request, "--request")?;
            let not_after = not_after.map(|text| parse_time("--not-after", &text)).transpose()?;
            let not_before = not_before.map(|text| parse_time("--not-before", &text)).transpose()?;
            if let Some(node) = offline_node(&target).await? {
                let (chain, certificate) = node
                    .sign_enrolment_from(&text, not_before, not_after, Utc::now())
                    .map_err(|error| Failure::input(error.to_string()))?;
                write(&out, &chain)?;
                let (file, version, subject) = (out.display(), certificate.version, &certificate.subject_org);
                println!(
                    "{}",
                    language.pick([
                        format!("wrote {file}: certificate v{version} for {subject} (the node is not running; signed with its key directly)"),
                        format!("đã ghi {file}: chứng chỉ phiên bản {version} cho {subject} (nút không chạy; đã ký trực tiếp bằng khóa của nút)"),
                        format!("已写入 {file}：{subject} 的第 {version} 版证书（节点未运行；直接用其密钥签署）"),
                    ])
                );
                return Ok(());
            }
            let mut client = target.trust().await?;
            let answer = client
                .sign_enrolment(wire::SignEnrolmentRequest {
                    request: text,
                    request_id: String::new(),
                    not_after: not_after.map(timestamp),
                    not_before: not_before.map(timestamp),
                })
                .await
                .map_err(Failure::from_status)?
                .into_inner();
            write(&out, &answer.text)?;
            let file = out.display();
            println!(
                "{}",
                language.pick([
                    format!(
                        "wrote {file}: the certificate chain to carry back and install with `edusync enroll install`"
                    ),
                    format!("đã ghi {file}: chuỗi chứng chỉ để mang về và cài bằng `edusync enroll install`"),
                    format!("已写入 {file}：证书链，带回后用 `edusync enroll install` 安装"),
                ])
            );
            Ok(())
        }
        EnrollCommand::Install { target, file } => {
            let text = read_text(&file, "--file")?;
            if let Some((config, next)) = rotation_under_way(&target, &text)? {
                return install_rotation(&target, &config, &next, &text).await;
            }
            if let Some(node) = offline_node(&target).await? {
                let (certificate, added) =
                    node.install_certificate(&text, Utc::now()).map_err(|error| Failure::input(error.to_string()))?;
                let (version, subject) = (certificate.version, &certificate.subject_org);
                println!(
                    "{}",
                    language.pick([
                        format!("installed certificate version {version} for {subject} ({added} new statements; the node was not running)"),
                        format!("đã cài chứng chỉ phiên bản {version} cho {subject} ({added} văn bản mới; nút không chạy)"),
                        format!("已为 {subject} 安装第 {version} 版证书（{added} 条新声明；节点未运行）"),
                    ])
                );
                return Ok(());
            }
            let mut client = target.trust().await?;
            let answer = client
                .install_certificate(wire::StatementFile { text })
                .await
                .map_err(Failure::from_status)?
                .into_inner();
            let (version, subject, added) = (answer.version, &answer.org, answer.statements_added);
            println!(
                "{}",
                language.pick([
                    format!("installed certificate version {version} for {subject} ({added} new statements)"),
                    format!("đã cài chứng chỉ phiên bản {version} cho {subject} ({added} văn bản mới)"),
                    format!("已为 {subject} 安装第 {version} 版证书（{added} 条新声明）"),
                ])
            );
            Ok(())
        }
        EnrollCommand::Pending { target, clear_older_than } => {
            let mut client = target.trust().await?;
            if let Some(age) = clear_older_than {
                let older_than_seconds = parse_age("--clear-older-than", &age)?;
                let cleared = client
                    .reject_enrolments(wire::RejectEnrolmentsRequest { request_ids: Vec::new(), older_than_seconds })
                    .await
                    .map_err(Failure::from_status)?
                    .into_inner();
                let dropped = cleared.rejected.len();
                println!(
                    "{}",
                    language.pick([
                        format!("dropped {dropped} request(s) made more than {age} ago"),
                        format!("đã bỏ {dropped} yêu cầu gửi cách đây hơn {age}"),
                        format!("已删除 {dropped} 个超过 {age} 的请求"),
                    ])
                );
            }
            let answer = client
                .list_enrolments(wire::ListEnrolmentsRequest {})
                .await
                .map_err(Failure::from_status)?
                .into_inner();
            if answer.pending.is_empty() {
                println!(
                    "{}",
                    language.pick([
                        "no enrolment request is waiting",
                        "không có yêu cầu đăng ký nào đang chờ",
                        "没有等待中的注册请求",
                    ])
                );
            }
            for pending in answer.pending {
                let key = PublicKey::from_bytes(&pending.subject_key).map(|key| key.to_base64()).unwrap_or_default();
                println!(
                    "{}  {}  {}  key {}{}",
                    pending.request_id,
                    pending.subject_org,
                    pending.role,
                    key,
                    if pending.replaces_key {
                        language.pick(["  (replaces a key)", "  (thay một khóa)", "  （替换一个密钥）"])
                    } else {
                        ""
                    }
                );
            }
            Ok(())
        }
        EnrollCommand::Reject { target, ids } => {
            let mut client = target.trust().await?;
            let answer = client
                .reject_enrolments(wire::RejectEnrolmentsRequest { request_ids: ids, older_than_seconds: 0 })
                .await
                .map_err(Failure::from_status)?
                .into_inner();
            for id in &answer.rejected {
                println!(
                    "{}",
                    language.pick([format!("rejected {id}"), format!("đã từ chối {id}"), format!("已拒绝 {id}")])
                );
            }
            Ok(())
        }
        EnrollCommand::Approve { target, id, not_after } => {
            let not_after = not_after.map(|text| parse_time("--not-after", &text)).transpose()?;
            let mut client = target.trust().await?;
            client
                .sign_enrolment(wire::SignEnrolmentRequest {
                    request: String::new(),
                    request_id: id.clone(),
                    not_after: not_after.map(timestamp),
                    not_before: None,
                })
                .await
                .map_err(Failure::from_status)?;
            println!(
                "{}",
                language.pick([
                    format!("approved {id}: the child picks its certificate up at its next sync"),
                    format!("đã duyệt {id}: đơn vị cấp dưới sẽ nhận chứng chỉ ở lần đồng bộ kế tiếp"),
                    format!("已批准 {id}：下级单位将在下次同步时取回证书"),
                ])
            );
            Ok(())
        }
    }
}

/// An age such as `7d`, `12h`, `30m` or `90s`, in seconds.
fn parse_age(option: &str, text: &str) -> Result<u64, Failure> {
    let text = text.trim();
    let unit = text.chars().last().unwrap_or(' ');
    let seconds_per = match unit {
        'd' => 86_400,
        'h' => 3_600,
        'm' => 60,
        's' => 1,
        _ => return Err(Failure::input(format!("{option}: `{text}` is not an age such as 7d, 12h, 30m or 90s"))),
    };
    let count: u64 = text[..text.len() - 1]
        .parse()
        .map_err(|_| Failure::input(format!("{option}: `{text}` is not an age such as 7d, 12h, 30m or 90s")))?;
    count
        .checked_mul(seconds_per)
        .filter(|seconds| *seconds > 0)
        .ok_or_else(|| Failure::input(format!("{option}: `{text}` must be above zero and below centuries")))
}

/// With --config, whether `text` certifies the next key of a rotation under
/// way at that node.
fn rotation_under_way(target: &NodeTarget, text: &str) -> Result<Option<(NodeConfig, NodeKey)>, Failure> {
    let Some(path) = target.config_path() else { return Ok(None) };
    let config = NodeConfig::load(path)?;
    let next = edusync_node::pending_next_key(&config.data_dir).map_err(|error| Failure::input(error.to_string()))?;
    let Some(next) = next else { return Ok(None) };
    let certified = dearmor(text)
        .ok()
        .and_then(|statements| statements.last().cloned())
        .and_then(|last| edusync_trust::VerifiedStatement::verify(&last).ok())
        .is_some_and(|last| matches!(&last.statement, Statement::Certificate(c) if c.subject_key == next.public_key()));
    Ok(certified.then_some((config, next)))
}

async fn install_rotation(target: &NodeTarget, config: &NodeConfig, next: &NodeKey, text: &str) -> Result<(), Failure> {
    let Some(node) = offline_node(target).await? else {
        return Err(Failure::input(
            "this certificate is for the next key of a rotation: stop the node, run this again, then start it",
        ));
    };
    let now = Utc::now();
    let (certificate, added) =
        node.install_rotation(text, next, now).map_err(|error| Failure::input(error.to_string()))?;
    drop(node);
    let public = edusync_node::promote_next_key(&config.data_dir, now.timestamp_millis())
        .map_err(|error| Failure::other(anyhow::anyhow!("{error}")))?;
    println!(
        "rotated {} to key {public} (certificate version {}, {added} new statements)",
        certificate.subject_org, certificate.version
    );
    println!(
        "the old key was kept as node.key.retired-{} in {}; destroy it once the node runs with the new one",
        now.timestamp_millis(),
        config.data_dir.display()
    );
    Ok(())
}

pub(crate) fn keys(command: KeysCommand) -> Result<(), Failure> {
    match command {
        KeysCommand::Generate { out } => {
            if out.exists() {
                return Err(Failure::input(format!("--out: {} exists; a key is never overwritten", out.display())));
            }
            let public = out.with_extension("pub");
            if public.exists() {
                return Err(Failure::input(format!("--out: {} exists; it would be overwritten", public.display())));
            }
            let key = NodeKey::generate();
            write(&out, &key.to_pkcs8_pem())?;
            write(&public, &format!("{}\n", key.public_key().to_base64()))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o600))
                    .map_err(|error| Failure::input(format!("cannot restrict {}: {error}", out.display())))?;
            }
            println!("wrote {} (keep it offline) and {} (its public key, to share)", out.display(), public.display());
            println!("public key (base64): {}", key.public_key().to_base64());
            Ok(())
        }
        KeysCommand::Certify { request, anchor, keys, valid_days, version, out } => {
            let text = read_text(&request, "--request")?;
            let statements = dearmor(&text).map_err(|error| Failure::input(format!("--request: {error}")))?;
            let [bytes] = statements.as_slice() else {
                return Err(Failure::input("--request: a request file holds exactly one statement"));
            };
            let (_, request) =
                verify_enrolment_request(bytes).map_err(|error| Failure::input(format!("--request: {error}")))?;
            let anchor = OrgId::parse("--anchor", &anchor).map_err(|error| Failure::input(error.to_string()))?;
            if !request.subject_org.is_within(&anchor) {
                return Err(Failure::input(format!("--anchor: {} lies outside {anchor}", request.subject_org)));
            }
            let keys = keys.iter().map(|path| read_key(path, "--key")).collect::<Result<Vec<_>, _>>()?;
            let key_refs: Vec<&NodeKey> = keys.iter().collect();
            let now = Utc::now().timestamp_millis();
            let certificate = issue_certificate(
                &request,
                &anchor,
                version,
                now - 86_400_000,
                now + valid_days.max(1) * 86_400_000,
                now,
                &key_refs,
            );
            write(&out, &armor(&[certificate]))?;
            println!(
                "wrote {}: {} certified under {anchor} by {} root key(s)",
                out.display(),
                request.subject_org,
                keys.len()
            );
            Ok(())
        }
        KeysCommand::Rotate { config, out } => {
            let config = NodeConfig::load(&config)?;
            let current =
                edusync_node::load_key(&config.data_dir).map_err(|error| Failure::input(error.to_string()))?;
            let next = edusync_node::next_key(&config.data_dir).map_err(|error| Failure::input(error.to_string()))?;
            let issuer = edusync_node::issuer_of(
                &config.organisation.id,
                config.parent.as_ref().map(|parent| &parent.org_id),
                config.trust.anchors.iter().map(|anchor| &anchor.org_id),
            )
            .map_err(|error| Failure::input(error.to_string()))?;
            let text =
                edusync_node::rotation_request(&config.organisation, issuer.clone(), &current, &next, Utc::now());
            write(&out, &text)?;
            println!(
                "wrote {}: {} asks {issuer} to certify its next key {} in place of {}",
                out.display(),
                config.organisation.id,
                next.public_key(),
                current.public_key()
            );
            println!(
                "the next key waits in {}; the node signs with the current key until the certificate is installed",
                config.data_dir.join("node.key.next").display()
            );
            Ok(())
        }
        KeysCommand::Root { org, publics, threshold, expires, version, signers, out } => {
            if out.exists() {
                return Err(Failure::input(format!(
                    "--out: {} exists; a root document is never overwritten",
                    out.display()
                )));
            }
            let org = OrgId::parse("--org", &org).map_err(|error| Failure::input(error.to_string()))?;
            let keys = publics
                .iter()
                .map(|path| {
                    let text = read_text(path, "--public")?;
                    PublicKey::from_text(text.trim()).map_err(|error| {
                        Failure::input(format!("--public {}: not a public key: {error}", path.display()))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let expires_ms = chrono::NaiveDate::parse_from_str(&expires, "%Y-%m-%d")
                .map_err(|_| Failure::input(format!("--expires: `{expires}` is not a date (YYYY-MM-DD)")))?
                .and_time(chrono::NaiveTime::MIN)
                .and_utc()
                .timestamp_millis();
            if expires_ms <= Utc::now().timestamp_millis() {
                return Err(Failure::input(format!("--expires: {expires} has passed")));
            }
            let signing = signers.iter().map(|path| read_key(path, "--sign")).collect::<Result<Vec<_>, _>>()?;
            if signing.len() < usize::from(threshold) {
                return Err(Failure::input(format!(
                    "--sign: {} key(s) given; the threshold is {threshold}, so at least that many must sign",
                    signing.len()
                )));
            }
            let document = edusync_trust::RootDocument { org, version, expires_ms, threshold, keys };
            let text = document
                .sign(&signing.iter().collect::<Vec<_>>())
                .map_err(|error| Failure::input(format!("--public/--threshold/--sign: {error}")))?;
            let verified =
                edusync_trust::RootDocument::verify(&text, Utc::now().timestamp_millis()).map_err(|error| {
                    Failure::other(anyhow::anyhow!("the document just signed does not verify: {error}"))
                })?;
            write(&out, &text)?;
            println!(
                "wrote {}: root document version {} of {}, {} of its {} keys required, expires {expires}",
                out.display(),
                document.version,
                document.org,
                document.threshold,
                document.keys.len()
            );
            println!("sha256 (for auditors to pin): {}", verified.sha256);
            Ok(())
        }
        KeysCommand::Cosign { file, key } => {
            let text = read_text(&file, "--file")?;
            let mut statements = dearmor(&text).map_err(|error| Failure::input(format!("--file: {error}")))?;
            let last = statements.pop().ok_or_else(|| Failure::input("--file: no statement"))?;
            let key = read_key(&key, "--key")?;
            let signed =
                edusync_trust::cosign(&last, &key).map_err(|error| Failure::input(format!("--file: {error}")))?;
            statements.push(signed);
            write(&file, &armor(&statements))?;
            println!("added the signature of {} to {}", key.public_key(), file.display());
            Ok(())
        }
    }
}

pub(crate) async fn revoke(args: RevokeArgs) -> Result<(), Failure> {
    let key = PublicKey::from_text(&args.key).map_err(|error| Failure::input(format!("--key: {error}")))?;
    OrgId::parse("--org", &args.org).map_err(|error| Failure::input(error.to_string()))?;
    let effective = args.effective.map(|text| parse_time("--effective", &text)).transpose()?;
    let mut client = args.target.trust().await?;
    let answer = client
        .revoke(wire::RevokeRequest {
            subject_org: args.org.clone(),
            subject_key: key.0.to_vec(),
            reason: args.reason,
            effective_at: effective.map(timestamp),
        })
        .await
        .map_err(Failure::from_status)?
        .into_inner();
    if let Some(out) = &args.out {
        write(out, &answer.text)?;
    }
    println!("revoked key {key} of {}; it travels to the whole hierarchy with the next syncs", args.org);
    Ok(())
}
