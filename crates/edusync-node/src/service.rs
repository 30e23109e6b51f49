//! The gRPC services of a node, as thin adapters: wire in, engine call on the
//! blocking pool, wire out.

use std::pin::Pin;
use std::sync::Arc;

use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use edusync_core::{LogStream, OrgId, Record, RecordId, RecordKind, Seq};
use edusync_envelope::EnvelopeView;
use edusync_proto::wire;
use edusync_proto::{decode_record, header_to_wire, kind_from_wire, kind_to_wire, stream_from_wire, stream_to_wire};
use edusync_store::{ListFilter, StoredEnvelope};

use crate::status::{bad_field, denied, invalid, to_status};
use crate::sync::ParentStatus;
use crate::{Node, NodeError};

/// How long a read of totals waits for derivations already asked for (a
/// record just written, a child's aggregate just pushed) before it answers
/// from what is derived.
const DERIVATIONS_WAITED_FOR: std::time::Duration = std::time::Duration::from_secs(3);

/// How long `SyncNow` waits for its round.
const ROUND_WAITED_FOR: std::time::Duration = std::time::Duration::from_secs(600);

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;
/// Records in one SubmitRecords call: a spreadsheet goes in chunks this size.
pub const MAX_RECORDS_PER_SUBMISSION: usize = 1000;
/// Envelope bytes in one bundle part unless the caller asks for fewer.
const DEFAULT_BUNDLE_BYTES: u64 = 8 << 20;

/// `blocking`, holding an expensive call's turn until the work itself ends:
/// a caller that gives up does not free the turn while the work runs on.
async fn blocking_turn<T: Send + 'static>(
    turn: crate::expensive::Turn,
    work: impl FnOnce() -> Result<T, NodeError> + Send + 'static,
) -> Result<T, Status> {
    blocking(move || {
        let _turn = turn;
        work()
    })
    .await
}

pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, NodeError> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(work).await.map_err(|_| to_status(NodeError::ShuttingDown))?.map_err(to_status)
}

fn org_field(field: &str, text: &str) -> Result<OrgId, Status> {
    OrgId::parse(field, text).map_err(invalid)
}

pub(crate) fn stored_to_wire(stored: StoredEnvelope) -> Result<wire::StoredRecord, NodeError> {
    envelope_to_wire(stored.id, stored.bytes)
}

fn envelope_to_wire(id: RecordId, bytes: Vec<u8>) -> Result<wire::StoredRecord, NodeError> {
    let view = EnvelopeView::parse(&bytes)?;
    let record = decode_record(&view.header.payload_type, view.record)?;
    Ok(wire::StoredRecord {
        header: Some(header_to_wire(id, &view.header)),
        record: Some(wire::Record::from(&record)),
        envelope: Some(wire::SignedEnvelope { envelope: bytes.clone() }),
    })
}

#[derive(Clone)]
pub(crate) struct RecordApi {
    pub(crate) node: Arc<Node>,
    pub(crate) parent_status: Option<Arc<ParentStatus>>,
    /// The config's `[unit_names]`, as NodeInfo gives them.
    pub(crate) unit_names: Arc<Vec<wire::UnitName>>,
    pub(crate) expensive: Arc<crate::expensive::ExpensiveCalls>,
    pub(crate) max_message_bytes: usize,
}

impl RecordApi {
    /// A turn for a call whose cost grows with what the node holds.
    async fn turn<T>(&self, request: &Request<T>, what: &str) -> Result<crate::expensive::Turn, Status> {
        let session = request.extensions().get::<crate::expensive::SessionToken>().copied();
        self.expensive.turn(session, what).await.map_err(to_status)
    }
}

/// What a submitter hears of a record it wrote: its header, and whether it was already held.
fn submitted_to_wire(submitted: &crate::Submitted) -> Result<wire::SubmitRecordResponse, Status> {
    let view = EnvelopeView::parse(&submitted.envelope).map_err(|error| to_status(error.into()))?;
    Ok(wire::SubmitRecordResponse {
        header: Some(header_to_wire(submitted.id, &view.header)),
        already_stored: submitted.already_stored,
    })
}

#[tonic::async_trait]
impl wire::record_service_server::RecordService for RecordApi {
    #[tracing::instrument(skip_all, fields(org = %self.node.org(), record))]
    async fn submit_record(
        &self,
        request: Request<wire::SubmitRecordRequest>,
    ) -> Result<Response<wire::SubmitRecordResponse>, Status> {
        crate::auth::operator_only(&self.node, &request, "SubmitRecord")?;
        let record = request
            .into_inner()
            .record
            .ok_or_else(|| invalid(edusync_core::ValidationError::new("record", edusync_core::Reason::Required)))?;
        let record = Record::try_from(record).map_err(invalid)?;
        let node = Arc::clone(&self.node);
        let submitted = blocking(move || node.submit(record, chrono::Utc::now())).await?;
        tracing::Span::current().record("record", tracing::field::display(submitted.id));
        Ok(Response::new(submitted_to_wire(&submitted)?))
    }

    #[tracing::instrument(skip_all, fields(org = %self.node.org(), records))]
    async fn submit_records(
        &self,
        request: Request<wire::SubmitRecordsRequest>,
    ) -> Result<Response<wire::SubmitRecordsResponse>, Status> {
        crate::auth::operator_only(&self.node, &request, "SubmitRecords")?;
        let records = request.into_inner().records;
        if records.is_empty() || records.len() > MAX_RECORDS_PER_SUBMISSION {
            return Err(bad_field(
                "records",
                format!("{} given; send from 1 to {MAX_RECORDS_PER_SUBMISSION} records per call", records.len()),
            ));
        }
        tracing::Span::current().record("records", records.len());
        let records = records
            .into_iter()
            .enumerate()
            .map(|(index, record)| Record::try_from(record).map_err(|error| error.within(&format!("records[{index}]"))))
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        let node = Arc::clone(&self.node);
        let submitted = blocking(move || {
            node.submit_all(records, chrono::Utc::now()).map_err(|error| match error {
                NodeError::Invalid(invalid) => NodeError::Invalid(invalid.within("records")),
                other => other,
            })
        })
        .await?;
        let results = submitted.iter().map(submitted_to_wire).collect::<Result<Vec<_>, Status>>()?;
        Ok(Response::new(wire::SubmitRecordsResponse { results }))
    }

    #[tracing::instrument(skip_all, fields(org = %self.node.org(), record))]
    async fn get_record(
        &self,
        request: Request<wire::GetRecordRequest>,
    ) -> Result<Response<wire::StoredRecord>, Status> {
        crate::auth::operator_only(&self.node, &request, "GetRecord")?;
        let wanted = request.into_inner().record_id.trim().to_ascii_lowercase();
        // A whole id, or a unique prefix of 8 or more digits, as git takes commit ids.
        if wanted.len() < 8 || wanted.len() > 64 || !wanted.bytes().all(|digit| digit.is_ascii_hexdigit()) {
            return Err(invalid(edusync_core::ValidationError::new(
                "record_id",
                edusync_core::Reason::malformed(format!(
                    "`{wanted}` is not a record id (64 hex digits) or a prefix of 8 or more of them"
                )),
            )));
        }
        tracing::Span::current().record("record", tracing::field::display(&wanted));
        let node = Arc::clone(&self.node);
        let stored = blocking(move || {
            let matching = node.store().ids_with_prefix(&wanted, 11)?;
            let id = match matching.as_slice() {
                [one] => *one,
                [] => return Err(NodeError::NotFound(format!("no record {wanted} is stored here"))),
                several => {
                    return Err(NodeError::Invalid(edusync_core::ValidationError::new(
                        "record_id",
                        edusync_core::Reason::malformed(format!(
                            "`{wanted}` names {}{} records ({}); give more digits",
                            if several.len() > 10 { "more than " } else { "" },
                            several.len().min(10),
                            several
                                .iter()
                                .take(10)
                                .map(|id| id.to_hex()[..12].to_owned())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                    )))
                }
            };
            let stored =
                node.store().get(id)?.ok_or_else(|| NodeError::NotFound(format!("no record {id} is stored here")))?;
            stored_to_wire(stored)
        })
        .await?;
        Ok(Response::new(stored))
    }

    #[tracing::instrument(skip_all, fields(org = %self.node.org()))]
    async fn list_records(
        &self,
        request: Request<wire::ListRecordsRequest>,
    ) -> Result<Response<wire::ListRecordsResponse>, Status> {
        let turn = self.turn(&request, "ListRecords").await?;
        crate::auth::operator_only(&self.node, &request, "ListRecords")?;
        let request = request.into_inner();
        let filter = ListFilter {
            kind: kind_from_wire("kind", request.kind).map_err(invalid)?,
            school_year_start: match request.school_year_start {
                0 => None,
                year => Some(edusync_core::SchoolYear::new("school_year_start", year).map_err(invalid)?.start_year()),
            },
            org_prefix: match request.org_prefix.as_str() {
                "" => None,
                text => Some(org_field("org_prefix", text)?),
            },
            written_too: false,
        };
        let limit = match request.limit as usize {
            0 => DEFAULT_PAGE,
            limit => limit.min(MAX_PAGE),
        };
        let token = (!request.page_token.is_empty()).then_some(request.page_token);
        if token.as_deref().is_some_and(|token| !edusync_store::is_listing_token(token)) {
            return Err(invalid(edusync_core::ValidationError::new(
                "page_token",
                edusync_core::Reason::malformed("not a token this node issued"),
            )));
        }
        let node = Arc::clone(&self.node);
        if request.from_above {
            let response = blocking_turn(turn, move || {
                let mut records = Vec::new();
                for (id, bytes) in node.records_from_above()?.into_iter().rev() {
                    let record = envelope_to_wire(id, bytes)?;
                    let header = record.header.as_ref();
                    let author = header.map(|header| header.author_org.as_str()).unwrap_or_default();
                    let kind_matches = filter
                        .kind
                        .is_none_or(|kind| header.is_some_and(|header| header.payload_type == kind.payload_type()));
                    let org_matches = filter.org_prefix.as_ref().is_none_or(|prefix| {
                        OrgId::parse("author_org", author).is_ok_and(|author| author.is_within(prefix))
                    });
                    if kind_matches && org_matches && records.len() < limit {
                        records.push(record);
                    }
                }
                Ok(wire::ListRecordsResponse { records, next_page_token: String::new() })
            })
            .await?;
            return Ok(Response::new(response));
        }
        let response = blocking_turn(turn, move || {
            let page = node.store().list_newest_first(&filter, token.as_deref(), limit)?;
            let records = page.records.into_iter().map(stored_to_wire).collect::<Result<_, _>>()?;
            Ok(wire::ListRecordsResponse { records, next_page_token: page.next.unwrap_or_default() })
        })
        .await?;
        Ok(Response::new(response))
    }

    #[tracing::instrument(skip_all, fields(org = %self.node.org()))]
    async fn read_log(
        &self,
        request: Request<wire::ReadLogRequest>,
    ) -> Result<Response<wire::ReadLogResponse>, Status> {
        let turn = self.turn(&request, "ReadLog").await?;
        let own_log_of_child = match crate::auth::caller(&request)? {
            crate::auth::Caller::Node { org, child: true, .. } => Some(org),
            _ => None,
        };
        let caller = match own_log_of_child {
            // A child restored from a backup takes its own shared log back.
            Some(_) => crate::auth::Caller::Operator,
            // Shared logs hold every unit's signed aggregates with their exact counts.
            None => crate::auth::auditor_or_operator(&self.node, &request, "ReadLog")?,
        };
        let request = request.into_inner();
        let author = org_field("author_org", &request.author_org)?;
        let stream = stream_from_wire("stream", request.stream).map_err(invalid)?;
        if let Some(child) = own_log_of_child {
            if author != child || stream != LogStream::Shared {
                return Err(denied(format!(
                    "{child} may read back only its own shared log, not {author}'s {stream} log"
                )));
            }
        }
        if let crate::auth::Caller::Reader { scope, .. } = &caller {
            // Readers see shared logs inside their scope: never a school's local log.
            if stream != LogStream::Shared || !author.is_within(scope) {
                return Err(denied(format!("a reader for {scope} may read only shared logs of orgs inside it")));
            }
        }
        let from = Seq(request.from_seq.max(1));
        let limit = match request.limit as usize {
            0 => DEFAULT_PAGE,
            limit => limit.min(MAX_PAGE),
        };
        let node = Arc::clone(&self.node);
        let envelopes = blocking_turn(turn, move || Ok(node.store().read_log(&author, stream, from, limit)?)).await?;
        Ok(Response::new(wire::ReadLogResponse {
            envelopes: envelopes.into_iter().map(|stored| wire::SignedEnvelope { envelope: stored.bytes }).collect(),
        }))
    }

    type BackupStream = Pin<Box<dyn Stream<Item = Result<wire::BackupChunk, Status>> + Send>>;

    #[tracing::instrument(skip_all, fields(org = %self.node.org()))]
    async fn backup(&self, request: Request<wire::BackupRequest>) -> Result<Response<Self::BackupStream>, Status> {
        let turn = self.turn(&request, "Backup").await?;
        crate::auth::operator_only(&self.node, &request, "Backup")?;
        let node = Arc::clone(&self.node);
        let bytes = blocking_turn(turn, move || node.backup()).await?;
        let chunks: Vec<Result<wire::BackupChunk, Status>> =
            bytes.chunks(1 << 20).map(|chunk| Ok(wire::BackupChunk { data: chunk.to_vec() })).collect();
        Ok(Response::new(Box::pin(tokio_stream::iter(chunks))))
    }

    #[tracing::instrument(skip_all, fields(org = %self.node.org(), to))]
    async fn export_bundle(
        &self,
        request: Request<wire::ExportBundleRequest>,
    ) -> Result<Response<wire::BundleFile>, Status> {
        let turn = self.turn(&request, "ExportBundle").await?;
        crate::auth::operator_only(&self.node, &request, "ExportBundle")?;
        let request = request.into_inner();
        let to = org_field("to_org", &request.to_org)?;
        tracing::Span::current().record("to", tracing::field::display(&to));
        let from_seq = (request.from_seq > 0).then_some(request.from_seq);
        // Well inside the message limit, whatever the caller asks.
        let ceiling = (self.max_message_bytes / 2) as u64;
        let max_bytes = match request.max_bytes {
            0 => DEFAULT_BUNDLE_BYTES.min(ceiling),
            asked => asked.min(ceiling),
        } as usize;
        let node = Arc::clone(&self.node);
        let (bundle, entries, next_seq) =
            blocking_turn(turn, move || node.export_bundle(&to, from_seq, max_bytes, chrono::Utc::now())).await?;
        Ok(Response::new(wire::BundleFile { bundle, entries: entries as u32, next_seq: next_seq.unwrap_or(0) }))
    }

    #[tracing::instrument(skip_all, fields(org = %self.node.org()))]
    async fn import_bundle(
        &self,
        request: Request<wire::BundleFile>,
    ) -> Result<Response<wire::ImportBundleResponse>, Status> {
        crate::auth::operator_only(&self.node, &request, "ImportBundle")?;
        let bytes = request.into_inner().bundle;
        let node = Arc::clone(&self.node);
        let outcome = blocking(move || node.import_bundle(&bytes, chrono::Utc::now())).await?;
        let outcome = match outcome {
            crate::BundleImport::Ingested(report) => {
                tracing::info!(
                    stored = report.stored,
                    duplicates = report.duplicates,
                    refused = report.refused.len(),
                    "bundle ingested"
                );
                wire::import_bundle_response::Outcome::Ingested(push_ack(0, report))
            }
            crate::BundleImport::Acknowledged { seq } => {
                if let Some(status) = &self.parent_status {
                    status.acknowledge(seq);
                }
                tracing::info!(seq, "acknowledgement imported from a bundle");
                wire::import_bundle_response::Outcome::AcknowledgedSeq(seq)
            }
        };
        Ok(Response::new(wire::ImportBundleResponse { outcome: Some(outcome) }))
    }

    #[tracing::instrument(skip_all, fields(org = %self.node.org(), period))]
    async fn get_roll_up(&self, request: Request<wire::GetRollUpRequest>) -> Result<Response<wire::RollUp>, Status> {
        crate::auth::auditor_or_operator(&self.node, &request, "GetRollUp")?;
        self.node.derivations_settled(DERIVATIONS_WAITED_FOR).await;
        let turn = self.turn(&request, "GetRollUp").await?;
        let period = edusync_proto::period_from_wire("period", request.into_inner().period).map_err(invalid)?;
        tracing::Span::current().record("period", tracing::field::display(period));
        let node = Arc::clone(&self.node);
        let evidence = blocking_turn(turn, move || node.roll_up_evidence(period)).await?;
        let sum_node =
            |node: &edusync_rollup::SumNode| wire::SumNode { hash: node.hash.to_vec(), sum: node.sum.cells().to_vec() };
        Ok(Response::new(wire::RollUp {
            aggregate: Some(wire::SignedEnvelope { envelope: evidence.aggregate }),
            children: evidence.children.into_iter().map(|envelope| wire::SignedEnvelope { envelope }).collect(),
            proofs: evidence
                .proofs
                .iter()
                .map(|proof| wire::InclusionProof {
                    index: proof.index,
                    size: proof.size,
                    path: proof.path.iter().map(sum_node).collect(),
                })
                .collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(org = %self.node.org(), period))]
    async fn export_audit(
        &self,
        request: Request<wire::ExportAuditRequest>,
    ) -> Result<Response<wire::AuditBundle>, Status> {
        crate::auth::auditor_or_operator(&self.node, &request, "ExportAudit")?;
        self.node.derivations_settled(DERIVATIONS_WAITED_FOR).await;
        let turn = self.turn(&request, "ExportAudit").await?;
        let request = request.into_inner();
        let org = OrgId::parse("org_id", &request.org_id).map_err(invalid)?;
        if org != *self.node.org() {
            let here = self.node.org();
            return Err(to_status(NodeError::WrongNode(format!(
                "org_id: this node is {here}; it holds what {here} summed, not what {org} summed: export from {org}'s node"
            ))));
        }
        let period = edusync_proto::period_from_wire("period", request.period).map_err(invalid)?;
        tracing::Span::current().record("period", tracing::field::display(period));
        let revision = (request.revision > 0).then_some(request.revision);
        let node = Arc::clone(&self.node);
        let tree = request.tree;
        let bundle = blocking_turn(turn, move || node.audit_bundle_with(period, revision, tree)).await?;
        Ok(Response::new(wire::AuditBundle { json: bundle.to_json() }))
    }

    #[tracing::instrument(skip_all, fields(org = %self.node.org(), period, role))]
    async fn query(&self, request: Request<wire::QueryRequest>) -> Result<Response<wire::QueryTable>, Status> {
        let caller = crate::auth::data_officer_at_own_level(&self.node, &request, "Query")?;
        self.node.derivations_settled(DERIVATIONS_WAITED_FOR).await;
        let turn = self.turn(&request, "Query").await?;
        let disclosed = !matches!(caller, crate::auth::Caller::Operator);
        tracing::Span::current().record("role", caller.role_name());
        let request = request.into_inner();
        let period = edusync_proto::period_from_wire("period", request.period).map_err(invalid)?;
        tracing::Span::current().record("period", tracing::field::display(period));
        let dimension = edusync_rollup::query::Dimension::parse(&request.dimension).ok_or_else(|| {
            let known: Vec<&str> = edusync_rollup::query::Dimension::ALL.iter().map(|d| d.name()).collect();
            bad_field("dimension", format!("`{}` is not one of {}", request.dimension, known.join(", ")))
        })?;
        let trend = request
            .trend
            .into_iter()
            .enumerate()
            .map(|(index, period)| edusync_proto::period_from_wire(&format!("trend[{index}]"), Some(period)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        if trend.len() > 60 {
            return Err(bad_field("trend", "at most 60 periods"));
        }
        let node = Arc::clone(&self.node);
        let org_id = self.node.org().to_string();
        if disclosed {
            let now = chrono::Utc::now();
            let answer = blocking_turn(turn, move || node.reader_query(period, dimension, &trend, now)).await?;
            return Ok(Response::new(reader_answer_to_wire(org_id, period, dimension, &answer)));
        }
        let (table, trend) = blocking_turn(turn, move || {
            Ok::<_, NodeError>((node.query_by_child(period, dimension)?, node.query_trend(&trend, dimension)?))
        })
        .await?;
        let shown = |value: edusync_rollup::Shown| match value {
            edusync_rollup::Shown::Value(value) => wire::ShownCount { suppressed: false, value, margin: 0 },
            edusync_rollup::Shown::Suppressed => wire::ShownCount { suppressed: true, value: 0, margin: 0 },
        };
        let row = |label: String, row: &edusync_rollup::ShownRow| wire::QueryRow {
            label,
            cells: row.cells.iter().copied().map(shown).collect(),
            total: Some(shown(row.total)),
        };
        Ok(Response::new(wire::QueryTable {
            org_id,
            period: period.to_string(),
            dimension: dimension.name().to_owned(),
            columns: dimension.column_names(),
            rows: table
                .rows
                .iter()
                .map(|r| row(r.org.as_ref().map(ToString::to_string).unwrap_or_default(), r))
                .collect(),
            column_totals: table.column_totals.iter().copied().map(shown).collect(),
            grand_total: Some(shown(table.grand_total)),
            disclosed: false,
            trend: trend
                .iter()
                .filter_map(|(trend_period, trend_table)| {
                    trend_table.rows.first().map(|first| row(trend_period.to_string(), first))
                })
                .collect(),
            releases: Vec::new(),
        }))
    }

    #[tracing::instrument(skip_all, fields(org = %self.node.org(), school_year))]
    async fn get_compliance(
        &self,
        request: Request<wire::GetComplianceRequest>,
    ) -> Result<Response<wire::Compliance>, Status> {
        let caller = crate::auth::reader_or_operator(&self.node, &request, "GetCompliance")?;
        self.node.derivations_settled(DERIVATIONS_WAITED_FOR).await;
        let turn = self.turn(&request, "GetCompliance").await?;
        let reader = !matches!(caller, crate::auth::Caller::Operator);
        let text = request.into_inner().school_year;
        let now = chrono::Utc::now();
        let school_year = if text.is_empty() {
            let today = now.with_timezone(&self.node.utc_offset()).date_naive();
            edusync_core::SchoolYear::containing(today).ok_or_else(|| {
                to_status(NodeError::Internal("today is outside every school year this node can name".into()))
            })?
        } else {
            text.parse().map_err(|error: edusync_core::ValidationError| {
                invalid(edusync_core::ValidationError::new("school_year", *error.reason))
            })?
        };
        tracing::Span::current().record("school_year", tracing::field::display(school_year));
        let node = Arc::clone(&self.node);
        let assessment = blocking_turn(turn, move || {
            if reader {
                node.compliance_for_reader(school_year, now)
            } else {
                node.compliance(school_year, now)
            }
        })
        .await?;
        Ok(Response::new(compliance_to_wire(&assessment)))
    }

    #[tracing::instrument(skip_all, fields(org = %self.node.org()))]
    async fn sync_now(
        &self,
        request: Request<wire::SyncNowRequest>,
    ) -> Result<Response<wire::SyncNowResponse>, Status> {
        crate::auth::operator_only(&self.node, &request, "SyncNow")?;
        let Some(status) = &self.parent_status else {
            return Err(to_status(NodeError::NoParent(self.node.org().clone())));
        };
        // The round carries the aggregates of what was just written.
        self.node.derivations_settled(DERIVATIONS_WAITED_FOR).await;
        // A round is bounded by the sync settings' timeouts; this only keeps a
        // caller from waiting on a sync loop that is gone.
        let outcome = tokio::time::timeout(ROUND_WAITED_FOR, status.round_now())
            .await
            .map_err(|_| {
                to_status(NodeError::TimedOut("no sync round ended within 10 minutes; see `edusync status`".into()))
            })?
            .ok_or_else(|| to_status(NodeError::ShuttingDown))?;
        tracing::info!(round = outcome.round, failed = outcome.error.is_some(), "sync round asked by the operator");
        let node = Arc::clone(&self.node);
        let parent = status.to_wire();
        let parent = blocking(move || with_outbox(&node, parent)).await?;
        Ok(Response::new(wire::SyncNowResponse {
            round: outcome.round,
            error: outcome.error.unwrap_or_default(),
            parent: Some(parent),
        }))
    }

    #[tracing::instrument(skip_all, fields(org = %self.node.org()))]
    async fn get_node_info(
        &self,
        request: Request<wire::GetNodeInfoRequest>,
    ) -> Result<Response<wire::NodeInfo>, Status> {
        let turn = self.turn(&request, "GetNodeInfo").await?;
        let caller = crate::auth::reader_or_operator(&self.node, &request, "GetNodeInfo")?;
        let node = Arc::clone(&self.node);
        let parent = self.parent_status.as_ref().map(|status| status.to_wire());
        let mut info = blocking_turn(turn, move || {
            let mut info = node_info(&node)?;
            info.parent = match parent {
                Some(parent) => Some(with_outbox(&node, parent)?),
                None => None,
            };
            Ok(info)
        })
        .await?;
        info.unit_names = self.unit_names.as_ref().clone();
        if matches!(caller, crate::auth::Caller::Reader { role, .. } if role != edusync_trust::Role::Auditor) {
            info = for_a_data_officer(info);
            info.unit_names = children_only(self.node.org(), info.unit_names);
        }
        Ok(Response::new(info))
    }
}

/// What a data officer may see of a node: who it is and the rules it works
/// under. Everything else moves with single records: log heads and what the
/// parent acknowledged grow by 7 for a minor incident and 8 for a severe one
/// (its notice), record counts by kind, severe notices and their timing. A
/// reader's view of the data is the released tables only (ARCHITECTURE.md,
/// "What readers see").
fn for_a_data_officer(info: wire::NodeInfo) -> wire::NodeInfo {
    wire::NodeInfo {
        org_id: info.org_id,
        level: info.level,
        display_name: info.display_name,
        public_key: info.public_key,
        policy: info.policy,
        unit_names: info.unit_names,
        ..wire::NodeInfo::default()
    }
}

/// The names a data officer of `office` is given: its children's only. A
/// province's officer reads districts, never schools, so which schools
/// there are, and their names, are not the officer's to know.
fn children_only(office: &OrgId, names: Vec<wire::UnitName>) -> Vec<wire::UnitName> {
    names
        .into_iter()
        .filter(|unit| {
            OrgId::parse("org_id", &unit.org_id)
                .ok()
                .and_then(|org| org.parent())
                .is_some_and(|parent| parent == *office)
        })
        .collect()
}

/// Fills in what is waiting for the parent, read from the store now rather
/// than remembered from the last sync round.
fn with_outbox(node: &Node, mut parent: wire::ParentStatus) -> Result<wire::ParentStatus, NodeError> {
    let head = node.store().head(node.org(), LogStream::Shared)?.map_or(0, |(seq, _)| seq.0);
    parent.local_head_seq = head;
    parent.outbox_depth = head.saturating_sub(parent.acknowledged_seq);
    if parent.outbox_depth > 0 {
        let oldest = node.store().read_log(node.org(), LogStream::Shared, Seq(parent.acknowledged_seq + 1), 1)?;
        if let Some(stored) = oldest.first() {
            let view = EnvelopeView::parse(&stored.bytes)?;
            parent.oldest_unsent_created_at = Some(prost_types::Timestamp {
                seconds: view.header.created_unix_ms.div_euclid(1000),
                nanos: (view.header.created_unix_ms.rem_euclid(1000) * 1_000_000) as i32,
            });
        }
    }
    Ok(parent)
}

fn node_info(node: &Node) -> Result<wire::NodeInfo, NodeError> {
    let store = node.store();
    let mut kinds = Vec::new();
    let mut total = 0;
    for kind in RecordKind::ALL {
        let count = store.count_by_kind(*kind)?;
        total += count;
        kinds.push(wire::KindCount { kind: kind_to_wire(*kind), count });
    }
    let logs = store
        .logs()?
        .into_iter()
        .map(|log| wire::LogSummary {
            author_org: log.author_org.to_string(),
            stream: stream_to_wire(log.stream),
            highest_contiguous_seq: log.head.0,
            record_count: log.head.0,
        })
        .collect();
    let equivocations = store
        .equivocations()?
        .into_iter()
        .map(|evidence| wire::Equivocation {
            author_org: evidence.author_org.to_string(),
            stream: stream_to_wire(evidence.stream),
            seq: evidence.seq.0,
            record_ids: evidence.record_ids.iter().map(|id| id.0.to_vec()).collect(),
        })
        .collect();
    let organisation = node.organisation();
    Ok(wire::NodeInfo {
        org_id: organisation.id.to_string(),
        level: organisation.level.to_string(),
        display_name: organisation.display_name.clone(),
        public_key: node.public_key().0.to_vec(),
        logs,
        kinds,
        equivocations,
        total_records: total,
        parent: None,
        policy: {
            let today = chrono::Utc::now().with_timezone(&node.utc_offset()).date_naive();
            edusync_core::SchoolYear::containing(today).map(|year| node.policy_to_show(year)).transpose()?.map(
                |(year, in_force)| {
                    edusync_proto::policy_in_force_to_wire(year, &node.privacy_under(&in_force), &in_force)
                },
            )
        },
        identity_alerts: node.identity_alerts(),
        // Filled in by the service, which holds the config's names.
        unit_names: Vec::new(),
        severe_notices: node
            .severe_notices(50)?
            .into_iter()
            .map(|(author, id, created_ms, ahead_of_log)| wire::NoticeSummary {
                author_org: author.to_string(),
                record_id: id.0.to_vec(),
                created_at: Some(prost_types::Timestamp {
                    seconds: created_ms.div_euclid(1000),
                    nanos: (created_ms.rem_euclid(1000) * 1_000_000) as i32,
                }),
                ahead_of_log,
            })
            .collect(),
    })
}

/// The first author among `envelopes` other than `child`: a child sends only
/// what it wrote itself. Unparsable envelopes are left to the verifier.
fn first_stranger(envelopes: &[Vec<u8>], child: &OrgId) -> Option<OrgId> {
    envelopes.iter().find_map(|bytes| {
        let author = EnvelopeView::parse(bytes).ok()?.header.author_org;
        (author != *child).then_some(author)
    })
}

/// Severe notices are few; a call carrying more is not a child catching up.
const MAX_NOTICES_AHEAD: usize = 100;

#[derive(Clone)]
pub(crate) struct SyncApi {
    pub(crate) node: Arc<Node>,
}

type AckStream = Pin<Box<dyn Stream<Item = Result<wire::PushAck, Status>> + Send>>;

#[tonic::async_trait]
impl wire::sync_service_server::SyncService for SyncApi {
    #[tracing::instrument(skip_all, fields(org = %self.node.org(), author))]
    async fn get_checkpoint(
        &self,
        request: Request<wire::GetCheckpointRequest>,
    ) -> Result<Response<wire::Checkpoint>, Status> {
        let child = crate::auth::child_only(&self.node, &request, "GetCheckpoint")?;
        let request = request.into_inner();
        let author = org_field("author_org", &request.author_org)?;
        tracing::Span::current().record("author", tracing::field::display(&author));
        if author != child {
            return Err(denied(format!("{child} may ask only for its own checkpoint, not {author}'s")));
        }
        let stream = stream_from_wire("stream", request.stream).map_err(invalid)?;
        let node = Arc::clone(&self.node);
        let query = author.clone();
        let head = blocking(move || Ok(node.store().head(&query, stream)?)).await?;
        Ok(Response::new(checkpoint(&author, stream, head)))
    }

    #[tracing::instrument(skip_all, fields(org = %self.node.org(), child))]
    async fn deliver_notices(
        &self,
        request: Request<wire::DeliverNoticesRequest>,
    ) -> Result<Response<wire::DeliverNoticesResponse>, Status> {
        let child = crate::auth::child_only(&self.node, &request, "DeliverNotices")?;
        tracing::Span::current().record("child", tracing::field::display(&child));
        let envelopes: Vec<Vec<u8>> =
            request.into_inner().envelopes.into_iter().map(|envelope| envelope.envelope).collect();
        if envelopes.len() > MAX_NOTICES_AHEAD {
            return Err(invalid(edusync_core::ValidationError::new(
                "envelopes",
                edusync_core::Reason::TooManyEntries { count: envelopes.len() as u64, max: MAX_NOTICES_AHEAD as u64 },
            )));
        }
        if let Some(stranger) = first_stranger(&envelopes, &child) {
            tracing::warn!(caller = %child, author = %stranger, "notices refused: not the caller's own");
            return Err(denied(format!(
                "{child} may deliver only notices it wrote itself, not {stranger}'s; nothing was stored"
            )));
        }
        let node = Arc::clone(&self.node);
        let report = blocking(move || node.take_notices_ahead(envelopes)).await?;
        Ok(Response::new(wire::DeliverNoticesResponse {
            stored: report.stored,
            known: report.known,
            refused: report.refused.into_iter().map(wire::Refusal::from).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(org = %self.node.org(), child))]
    async fn push_evidence(
        &self,
        request: Request<wire::PushEvidenceRequest>,
    ) -> Result<Response<wire::PushEvidenceResponse>, Status> {
        let child = crate::auth::child_only(&self.node, &request, "PushEvidence")?;
        tracing::Span::current().record("child", tracing::field::display(&child));
        let request = request.into_inner();
        if request.items.len() > crate::evidence::EVIDENCE_BATCH {
            return Err(invalid(edusync_core::ValidationError::new(
                "items",
                edusync_core::Reason::TooManyEntries {
                    count: request.items.len() as u64,
                    max: crate::evidence::EVIDENCE_BATCH as u64,
                },
            )));
        }
        let items = request
            .items
            .into_iter()
            .enumerate()
            .map(|(index, item)| {
                let summed = item
                    .summed
                    .iter()
                    .map(|id| RecordId::from_slice(&format!("items[{index}].summed"), id))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(crate::EvidenceItem { envelope: item.envelope, summed })
            })
            .collect::<Result<Vec<_>, edusync_core::ValidationError>>()
            .map_err(invalid)?;
        let node = Arc::clone(&self.node);
        let added = blocking(move || node.accept_evidence(&child, items)).await?;
        Ok(Response::new(wire::PushEvidenceResponse { added: added as u32 }))
    }

    type PushEnvelopesStream = AckStream;

    #[tracing::instrument(skip_all, fields(org = %self.node.org()))]
    async fn push_envelopes(
        &self,
        request: Request<Streaming<wire::PushBatch>>,
    ) -> Result<Response<Self::PushEnvelopesStream>, Status> {
        let child = crate::auth::child_only(&self.node, &request, "PushEnvelopes")?;
        let mut batches = request.into_inner();
        let node = Arc::clone(&self.node);
        let (sender, receiver) = tokio::sync::mpsc::channel::<Result<wire::PushAck, Status>>(4);
        // Two stages: this task checks each batch (signatures over all cores)
        // while the next one stores the batch before it, one at a time and
        // in order; a batch is acknowledged only once flushed.
        let (checked_sender, mut checked_receiver) =
            tokio::sync::mpsc::channel::<Result<(u64, usize, crate::CheckedBatch), Status>>(1);
        let store_node = Arc::clone(&node);
        let store_span = tracing::Span::current();
        tokio::spawn(async move {
            let _entered = store_span;
            // Refusals of a whole batch come through here too, so that they
            // reach the child in order, after the acknowledgements before them.
            while let Some(next) = checked_receiver.recv().await {
                let (number, count, checked) = match next {
                    Ok(checked) => checked,
                    Err(status) => {
                        let _ = sender.send(Err(status)).await;
                        break;
                    }
                };
                let ingest_node = Arc::clone(&store_node);
                let ack = blocking(move || ingest_node.store_batch(checked, chrono::Utc::now())).await.map(|report| {
                    tracing::info!(
                        batch = number,
                        envelopes = count,
                        stored = report.stored,
                        duplicates = report.duplicates,
                        refused = report.refused.len(),
                        "batch ingested"
                    );
                    push_ack(number, report)
                });
                let failed = ack.is_err();
                if sender.send(ack).await.is_err() || failed {
                    break;
                }
            }
        });
        let span = tracing::Span::current();
        tokio::spawn(async move {
            let _entered = span;
            while let Some(batch) = batches.next().await {
                let batch = match batch {
                    Ok(batch) => batch,
                    // The child went away mid-stream: every batch already
                    // acknowledged was flushed; the rest was never promised.
                    Err(status) => {
                        tracing::info!(code = ?status.code(), "push stream ended by the child");
                        break;
                    }
                };
                let number = batch.batch_number;
                // Past the largest batch any child is configured to send, a
                // batch only costs verification time and an oversized answer.
                if batch.envelopes.len() > edusync_config::SyncConfig::MAX_BATCH {
                    tracing::warn!(caller = %child, envelopes = batch.envelopes.len(), "push refused: batch too large");
                    let _ = checked_sender
                        .send(Err(bad_field(
                            &format!("batch {number}"),
                            format!(
                                "{} envelopes, more than the {} a push batch may hold; send smaller batches (sync.batch_size); nothing was stored",
                                batch.envelopes.len(),
                                edusync_config::SyncConfig::MAX_BATCH
                            ),
                        )))
                        .await;
                    break;
                }
                let envelopes: Vec<Vec<u8>> = batch.envelopes.into_iter().map(|envelope| envelope.envelope).collect();
                // A child pushes only what it wrote itself: one envelope of
                // anyone else's refuses the whole batch, before anything is stored.
                if let Some(stranger) = first_stranger(&envelopes, &child) {
                    tracing::warn!(caller = %child, author = %stranger, "push refused: not the caller's own records");
                    let _ = checked_sender
                        .send(Err(denied(format!(
                            "batch {number}: {child} may push only records it wrote itself, not {stranger}'s; nothing was stored"
                        ))))
                        .await;
                    break;
                }
                let count = envelopes.len();
                let check_node = Arc::clone(&node);
                let checked = blocking(move || Ok(check_node.check_batch(envelopes))).await;
                let failed = checked.is_err();
                if checked_sender.send(checked.map(|checked| (number, count, checked))).await.is_err() || failed {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(receiver))))
    }
}

impl From<crate::Refusal> for wire::Refusal {
    fn from(refusal: crate::Refusal) -> Self {
        wire::Refusal {
            record_id: refusal.record_id.0.to_vec(),
            seq: refusal.seq,
            code: refusal.kind.code().to_owned(),
            reason: refusal.reason,
        }
    }
}

/// The answer to one ingested batch, online or from a bundle.
fn push_ack(batch_number: u64, report: crate::IngestReport) -> wire::PushAck {
    wire::PushAck {
        batch_number,
        stored: report.stored,
        duplicates: report.duplicates,
        refused: report.refused.into_iter().map(wire::Refusal::from).collect(),
        checkpoints: report
            .checkpoints
            .iter()
            .map(|(org, seq, id)| checkpoint(org, LogStream::Shared, Some((*seq, *id))))
            .collect(),
    }
}

fn checkpoint(author: &OrgId, stream: LogStream, head: Option<(Seq, RecordId)>) -> wire::Checkpoint {
    wire::Checkpoint {
        author_org: author.to_string(),
        stream: stream_to_wire(stream),
        highest_contiguous_seq: head.map_or(0, |(seq, _)| seq.0),
        head_record_id: head.map(|(_, id)| id.0.to_vec()).unwrap_or_default(),
    }
}

fn filing_to_wire(filing: &Option<edusync_rollup::compliance::Filing>) -> Option<wire::Filing> {
    use edusync_rollup::compliance::Filing;
    let (status, due_on, filed_on, days_late) = match (*filing)? {
        Filing::OnTime { filed_on, due_on } => ("on_time", due_on, Some(filed_on), 0),
        Filing::Late { filed_on, due_on, days_late } => ("late", due_on, Some(filed_on), days_late),
        Filing::Missing { due_on } => ("missing", due_on, None, 0),
        Filing::NotYetDue { due_on } => ("not_yet_due", due_on, None, 0),
    };
    Some(wire::Filing {
        status: status.to_owned(),
        due_on: due_on.to_string(),
        filed_on: filed_on.map(|date| date.to_string()).unwrap_or_default(),
        days_late,
    })
}

fn compliance_to_wire(assessment: &edusync_rollup::compliance::Assessment) -> wire::Compliance {
    wire::Compliance {
        school_year: assessment.school_year.to_string(),
        as_of: assessment.as_of.to_string(),
        children: assessment
            .children
            .iter()
            .map(|child| wire::ChildCompliance {
                org_id: child.org.to_string(),
                level: child.level.to_string(),
                school_year_report: filing_to_wire(&child.school_year_report),
                semester1_report: filing_to_wire(&child.semester1_report),
                staff_commitments: filing_to_wire(&child.staff_commitments),
                notified_late: child.notified_late,
                notified_in_time: child.notified_in_time,
                investigations_overdue: child.investigations_overdue,
                timeliness_margin: child.timeliness_margin,
                cases_semester1: child.cases_semester1,
                cases_semester2: child.cases_semester2,
            })
            .collect(),
        alerts: assessment
            .alerts
            .iter()
            .map(|alert| {
                use edusync_rollup::compliance::Alert;
                let mut wire = wire::ComplianceAlert {
                    org_id: alert.org().to_string(),
                    code: alert.code().to_owned(),
                    message: alert.to_string(),
                    ..wire::ComplianceAlert::default()
                };
                match alert {
                    Alert::ReportLate { report, due_on, filed_on, days_late, .. } => {
                        (wire.report, wire.due_on, wire.filed_on, wire.days_late) =
                            (report.to_string(), due_on.to_string(), filed_on.to_string(), *days_late);
                    }
                    Alert::ReportMissing { report, due_on, .. } => {
                        (wire.report, wire.due_on) = (report.to_string(), due_on.to_string());
                    }
                    Alert::NotificationsLate { cases, .. } | Alert::InvestigationsOverdue { cases, .. } => {
                        wire.cases = *cases;
                    }
                    Alert::RepeatedIncidents { period, cases, .. } => {
                        (wire.period, wire.cases) = (period.to_string(), *cases);
                    }
                    Alert::RepeatedTwoSemestersInARow { first, second, .. } => {
                        (wire.period, wire.second_period) = (first.to_string(), second.to_string());
                    }
                }
                wire
            })
            .collect(),
    }
}

/// A reader's answer on the wire: released values with their margins, exact
/// case counts, and the releases and ledgers behind them.
fn reader_answer_to_wire(
    org_id: String,
    period: edusync_core::Period,
    dimension: edusync_rollup::query::Dimension,
    answer: &crate::ReaderAnswer,
) -> wire::QueryTable {
    use edusync_rollup::released::{Noisy, ReaderTable};
    let noisy = |cell: &Noisy| wire::ShownCount { suppressed: false, value: cell.value, margin: cell.margin };
    let exact = |value: u64| wire::ShownCount { suppressed: false, value, margin: 0 };
    let margins_line = |label: String, table: &ReaderTable| wire::QueryRow {
        label,
        cells: table.column_totals.iter().map(noisy).collect(),
        total: Some(exact(table.grand_total)),
    };
    let timestamp = |seconds: i64| prost_types::Timestamp { seconds, nanos: 0 };
    wire::QueryTable {
        org_id,
        period: period.to_string(),
        dimension: dimension.name().to_owned(),
        columns: dimension.column_names(),
        rows: answer
            .table
            .rows
            .iter()
            .map(|row| wire::QueryRow {
                label: row.org.as_ref().map(ToString::to_string).unwrap_or_default(),
                cells: row.cells.iter().map(noisy).collect(),
                total: Some(exact(row.total)),
            })
            .collect(),
        column_totals: answer.table.column_totals.iter().map(noisy).collect(),
        grand_total: Some(exact(answer.table.grand_total)),
        disclosed: true,
        trend: answer.trend.iter().map(|(period, table)| margins_line(period.to_string(), table)).collect(),
        releases: answer
            .releases
            .iter()
            .map(|served| wire::ReaderRelease {
                period: served.semester.to_string(),
                entry: served.entry.map_or(0, |entry| u32::try_from(entry).unwrap_or(u32::MAX)),
                sigma_thousandths: served.tables.sigma.0,
                rho_spent_millionths: served.ledger.spent().0,
                rho_cap_millionths: served.ledger.cap.0,
                not_fresher: served.not_fresher.map(|refusal| refusal.to_string()).unwrap_or_default(),
                ledger: served
                    .ledger
                    .entries
                    .iter()
                    .map(|entry| wire::LedgerEntry {
                        slot: entry.slot.to_string(),
                        released_at: Some(timestamp(entry.released_at)),
                        rho_millionths: entry.cost.0,
                    })
                    .collect(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_officer_is_given_the_names_of_the_offices_children_only() {
        let named = |org: &str| wire::UnitName { org_id: org.into(), display_name: format!("name of {org}") };
        let names = vec![named("VN.BT.D01"), named("VN.BT.D01.S001"), named("VN.BT.D02"), named("VN.HN.D01")];
        let province = OrgId::parse("org", "VN.BT").expect("valid");
        let given: Vec<String> = children_only(&province, names).into_iter().map(|unit| unit.org_id).collect();
        assert_eq!(given, ["VN.BT.D01", "VN.BT.D02"], "no school, and nothing of another province");
    }
}
