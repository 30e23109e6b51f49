//! `edusync record add | list | show`.

use std::io::Read;
use std::path::PathBuf;

use clap::Subcommand;
use serde::de::DeserializeOwned;

use edusync_core::{Reason, Record, RecordKind, ValidationContext, ValidationError};
use edusync_i18n::{Language, Message};
use edusync_proto::wire;

use super::NodeTarget;
use crate::failure::Failure;
use crate::output::{header_view, json, pad, record_view};

#[derive(Subcommand)]
pub(crate) enum RecordCommand {
    /// Validate, sign and store one record, written as JSON.
    Add {
        /// plan, incident, periodic_report, commitment or risk_register.
        kind: String,
        /// The record as a JSON file (see tests/fixtures/records/ for one of each kind).
        #[arg(long, conflicts_with = "stdin", required_unless_present = "stdin")]
        file: Option<PathBuf>,
        /// Read the record's JSON from standard input instead.
        #[arg(long)]
        stdin: bool,
        #[command(flatten)]
        target: NodeTarget,
        /// Print the stored record's header as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List stored records, newest first (the last stored here at the top), with optional filters.
    List {
        /// Only this kind: plan, incident, periodic_report, commitment, risk_register, aggregate, policy,
        /// severe_notice.
        #[arg(long)]
        kind: Option<String>,
        /// Only records of this school year, e.g. 2025-2026.
        #[arg(long)]
        school_year: Option<String>,
        /// Only records authored at or below this organisation.
        #[arg(long)]
        org: Option<String>,
        /// At most this many records; the last line says how to list the older ones.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Go on below an earlier listing: the token its last line gave.
        #[arg(long, conflicts_with = "from_above")]
        page: Option<String>,
        /// Plans issued above this node (by its parent and the offices above),
        /// as they came down; each signature is verified again here.
        #[arg(long)]
        from_above: bool,
        #[command(flatten)]
        target: NodeTarget,
        /// Print the records' headers as JSON.
        #[arg(long, conflicts_with = "ids")]
        json: bool,
        /// Print only the records' full ids, one per line, for scripts.
        #[arg(long)]
        ids: bool,
    },
    /// Show one record with its signed header.
    Show {
        /// The record id: all 64 hexadecimal digits, or a unique prefix of 8
        /// or more (the 12 that `record list` prints will do).
        id: String,
        #[command(flatten)]
        target: NodeTarget,
        #[arg(long)]
        json: bool,
    },
}

impl RecordCommand {
    pub(crate) fn target(&self) -> &NodeTarget {
        match self {
            RecordCommand::Add { target, .. }
            | RecordCommand::List { target, .. }
            | RecordCommand::Show { target, .. } => target,
        }
    }
}

pub(crate) async fn run(command: RecordCommand, language: Language) -> Result<(), Failure> {
    match command {
        RecordCommand::Add { kind, file, stdin, target, json } => {
            add(&kind, file, stdin, &target, json, language).await
        }
        RecordCommand::List { kind, school_year, org, limit, page, from_above, target, json, ids } => {
            let filter = Listing { kind, school_year, org, limit, page, from_above };
            let shown = if json {
                Shown::Json
            } else if ids {
                Shown::Ids
            } else {
                Shown::Table
            };
            list(filter, &target, shown, language).await
        }
        RecordCommand::Show { id, target, json } => show(&id, &target, json, language).await,
    }
}

fn parse_kind(text: &str) -> Result<RecordKind, Failure> {
    text.parse::<RecordKind>()
        .map_err(|error| Failure::invalid(None, ValidationError { field: "kind".into(), ..error }))
}

fn parse_json<T: DeserializeOwned>(source: &str, text: &str) -> Result<T, Failure> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let field = if path == "." { "record".to_owned() } else { path };
        Failure::input_message(Message::NotRecordJson {
            source: source.to_owned(),
            field,
            detail: error.inner().to_string(),
        })
    })
}

fn derived(kind: RecordKind) -> Failure {
    Failure::invalid(None, ValidationError::new("kind", Reason::DerivedKind { kind: kind.to_string() }))
}

async fn add(
    kind: &str,
    file: Option<PathBuf>,
    stdin: bool,
    target: &NodeTarget,
    as_json: bool,
    language: Language,
) -> Result<(), Failure> {
    let kind = parse_kind(kind)?;
    if kind.is_derived() {
        return Err(derived(kind));
    }
    let (source, text) = match (file, stdin) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(&path).map_err(|error| {
                Failure::input_message(Message::CannotRead {
                    what: path.display().to_string(),
                    error: error.to_string(),
                })
            })?;
            (path.display().to_string(), text)
        }
        (None, true) => {
            let mut text = String::new();
            let standard_input = Message::StandardInput.text(language);
            std::io::stdin().read_to_string(&mut text).map_err(|error| {
                Failure::input_message(Message::CannotRead { what: standard_input.clone(), error: error.to_string() })
            })?;
            (standard_input, text)
        }
        (None, false) => return Err(Failure::input("give the record with --file F.json or --stdin")),
    };
    let record = match kind {
        RecordKind::Plan => Record::Plan(parse_json(&source, &text)?),
        RecordKind::Incident => Record::Incident(parse_json(&source, &text)?),
        RecordKind::PeriodicReport => Record::PeriodicReport(parse_json(&source, &text)?),
        RecordKind::Commitment => Record::Commitment(parse_json(&source, &text)?),
        RecordKind::RiskRegister => Record::RiskRegister(parse_json(&source, &text)?),
        RecordKind::Policy => Record::Policy(parse_json(&source, &text)?),
        RecordKind::Aggregate | RecordKind::SevereNotice => return Err(derived(kind)),
    };
    // Checking here first gives the same answer as the node, before any connection.
    let checked = record
        .check(&ValidationContext::at(chrono::Utc::now()))
        .map_err(|error| Failure::invalid(Some(source.clone()), error))?;
    let mut client = target.connect().await?;
    let response = client
        .submit_record(wire::SubmitRecordRequest { record: Some(wire::Record::from(checked.record())) })
        .await
        .map_err(|status| {
            Failure::from_write_status(
                status,
                "Running the same command again is safe: if the record was stored, the node answers \"already stored\".",
            )
        })?
        .into_inner();
    let header = header_view(&response.header.unwrap_or_default());
    if as_json {
        println!("{}", json(&serde_json::json!({"already_stored": response.already_stored, "header": header})));
    } else if response.already_stored {
        println!("{}", Message::AlreadyStored { id: header.record_id }.text(language));
    } else {
        let stored = Message::Stored {
            kind: kind.to_string(),
            id: header.record_id,
            stream: header.stream.into(),
            seq: header.seq,
        };
        println!("{}", stored.text(language));
    }
    Ok(())
}

/// What `record list` asks for.
struct Listing {
    kind: Option<String>,
    school_year: Option<String>,
    org: Option<String>,
    limit: u32,
    page: Option<String>,
    from_above: bool,
}

/// How `record list` prints what it found.
enum Shown {
    Table,
    Json,
    Ids,
}

async fn list(listing: Listing, target: &NodeTarget, shown: Shown, language: Language) -> Result<(), Failure> {
    let Listing { kind, school_year, org, limit, page, from_above } = listing;
    if limit == 0 {
        return Err(Failure::input("--limit: 0 lists nothing; give 1 or more"));
    }
    if page.as_deref().is_some_and(|token| token.is_empty() || !token.bytes().all(|byte| byte.is_ascii_hexdigit())) {
        return Err(Failure::input("--page: not a token `record list` printed; copy it from a listing's last line"));
    }
    let kind = kind.as_deref().map(parse_kind).transpose()?;
    let school_year = school_year
        .as_deref()
        .map(|text| {
            text.parse::<edusync_core::SchoolYear>()
                .map_err(|error| Failure::invalid(None, ValidationError { field: "--school-year".into(), ..error }))
        })
        .transpose()?;
    let org = org
        .map(|text| edusync_core::OrgId::parse("--org", &text).map_err(|error| Failure::input(error.to_string())))
        .transpose()?;
    let mut client = target.connect().await?;
    let mut views = Vec::new();
    let mut token = page.unwrap_or_default();
    let mut older = None;
    while views.len() < limit as usize {
        let page = client
            .list_records(wire::ListRecordsRequest {
                kind: kind.map_or(0, edusync_proto::kind_to_wire),
                school_year_start: school_year.map_or(0, |year| u32::from(year.start_year())),
                org_prefix: org.as_ref().map(|org| org.to_string()).unwrap_or_default(),
                limit: (limit as usize - views.len()).min(1000) as u32,
                page_token: token,
                from_above,
            })
            .await
            .map_err(Failure::from_status)?
            .into_inner();
        if from_above {
            for record in &page.records {
                let bytes = record.envelope.as_ref().map(|envelope| envelope.envelope.clone()).unwrap_or_default();
                edusync_envelope::VerifiedEnvelope::verify(bytes).map_err(|error| {
                    Failure::other(anyhow::anyhow!("a record from above does not verify here: {error}"))
                })?;
            }
        }
        views.extend(page.records.into_iter().map(record_view));
        if page.next_page_token.is_empty() {
            older = None;
            break;
        }
        token = page.next_page_token;
        older = Some(token.clone());
    }
    match shown {
        Shown::Json => {
            println!("{}", json(&views));
            return Ok(());
        }
        Shown::Ids => {
            for view in &views {
                println!("{}", view.header.record_id);
            }
            return Ok(());
        }
        Shown::Table => {}
    }
    let say = |words: [&'static str; 3]| language.pick(words);
    println!(
        "{} {} {} {} {}",
        pad(say(["RECORD", "BẢN GHI", "记录"]), 14),
        pad(say(["KIND", "LOẠI", "类型"]), 16),
        pad(say(["AUTHOR", "ĐƠN VỊ GHI", "作者"]), 18),
        pad(say(["LOG", "NHẬT KÝ", "日志"]), 12),
        say(["CREATED", "THỜI ĐIỂM GHI", "创建时间"])
    );
    for view in &views {
        let kind = view.record.as_ref().map_or("?", |record| record.kind().as_str());
        println!(
            "{} {} {} {} {}",
            pad(view.header.record_id.get(..12).unwrap_or(""), 14),
            pad(kind, 16),
            pad(&view.header.author_org, 18),
            pad(&format!("{}#{}", view.header.stream, view.header.seq), 12),
            view.header.created_at
        );
    }
    if from_above {
        let count = views.len();
        println!(
            "{}",
            language.pick([
                format!("{count} record(s) issued above this node; every signature verified here"),
                format!("{count} bản ghi do cấp trên ban hành; mọi chữ ký đã được kiểm tra tại đây"),
                format!("上级发布的 {count} 条记录；所有签名均已在此验证"),
            ])
        );
    } else {
        let count = views.len();
        let listed = language.pick([
            format!("{count} record(s), newest first"),
            format!("{count} bản ghi, mới nhất trước"),
            format!("{count} 条记录，最新的在前"),
        ]);
        match older {
            Some(token) => println!(
                "{listed}; {}",
                language.pick([
                    format!("older ones: --page {token}"),
                    format!("các bản cũ hơn: --page {token}"),
                    format!("更早的：--page {token}"),
                ])
            ),
            None => println!("{listed}"),
        }
    }
    Ok(())
}

async fn show(id: &str, target: &NodeTarget, as_json: bool, language: Language) -> Result<(), Failure> {
    let id = id.trim().to_ascii_lowercase();
    if id.len() < 8 || id.len() > 64 || !id.bytes().all(|digit| digit.is_ascii_hexdigit()) {
        return Err(Failure::input(format!(
            "record id: `{id}` is not a record id (64 hex digits) or a prefix of 8 or more of them, as `record list` prints"
        )));
    }
    let mut client = target.connect().await?;
    let stored =
        client.get_record(wire::GetRecordRequest { record_id: id }).await.map_err(Failure::from_status)?.into_inner();
    let view = record_view(stored);
    if as_json {
        println!("{}", json(&view));
        return Ok(());
    }
    let header = &view.header;
    let say = |words: [&'static str; 3]| language.pick(words);
    let label = |words: [&'static str; 3]| crate::output::pad(say(words), 12);
    let local = header.stream == "local";
    let log = match (local, language) {
        (true, Language::Vietnamese) => format!("nhật ký nội bộ, số thứ tự {}", header.seq),
        (false, Language::Vietnamese) => format!("nhật ký chia sẻ, số thứ tự {}", header.seq),
        (true, Language::Chinese) => format!("本地日志，序号 {}", header.seq),
        (false, Language::Chinese) => format!("共享日志，序号 {}", header.seq),
        (_, Language::English) => format!("{} log, seq {}", header.stream, header.seq),
    };
    println!("{}{}", label(["record", "bản ghi", "记录"]), header.record_id);
    println!("{}{} ({log})", label(["author", "đơn vị ghi", "作者"]), header.author_org);
    let first = say(["(first in its log)", "(đầu tiên trong nhật ký)", "（日志中的第一条）"]);
    println!("{}{}", label(["previous", "bản trước", "上一条"]), header.prev_record_id.as_deref().unwrap_or(first));
    println!("{}{}", label(["created", "thời điểm ghi", "创建时间"]), header.created_at);
    println!("{}{}", label(["type", "loại", "类型"]), header.payload_type);
    println!("{}{}", label(["signed by", "khóa ký", "签名密钥"]), header.author_key);
    match &view.record {
        // An aggregate is 172 cells, nearly all zero: name the others, as audit bundles do.
        Some(edusync_core::Record::Aggregate(aggregate)) => {
            println!(
                "aggregate  {} {}, revision {}, {} children summed, {} incident cases",
                aggregate.org,
                aggregate.period,
                aggregate.revision,
                aggregate.children,
                aggregate.total.incident_cases()
            );
            for (label, counts) in [("own", &aggregate.own), ("total", &aggregate.total)] {
                let cells = edusync_audit::named_cells(counts);
                println!("{label} ({} non-zero cells):", cells.len());
                for (name, value) in cells {
                    println!("  {name:<48} {value}");
                }
            }
            println!("children root  {}", hex::encode(aggregate.children_root));
            if aggregate.cross.is_some() {
                println!("demographic crosses: released (see --json)");
            }
        }
        record => println!("{}", json(record)),
    }
    Ok(())
}
