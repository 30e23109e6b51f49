//! The gRPC face of sessions and trust: challenges and sessions, enrolment
//! online and by file, revocation, and the statement feeds between nodes.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use edusync_core::OrgId;
use edusync_envelope::PublicKey;
use edusync_proto::wire;
use edusync_trust::RevocationReason;

use crate::auth::{child_only, operator_only, Authenticator, SESSION_LIFETIME};
use crate::service::blocking;
use crate::status::invalid;
use crate::trust::FROM_CHILD;
use crate::Node;

const MAX_DOWN_PAGE: usize = 1000;

fn timestamp(time: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: time.timestamp(), nanos: time.timestamp_subsec_nanos() as i32 }
}

fn from_ms(ms: i64) -> Option<prost_types::Timestamp> {
    chrono::DateTime::from_timestamp_millis(ms).map(timestamp)
}

fn to_time(
    field: &str,
    value: Option<prost_types::Timestamp>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, Status> {
    value
        .map(|value| {
            chrono::DateTime::from_timestamp(value.seconds, value.nanos.max(0) as u32).ok_or_else(|| {
                invalid(edusync_core::ValidationError::new(
                    field,
                    edusync_core::Reason::malformed("not a representable time"),
                ))
            })
        })
        .transpose()
}

#[derive(Clone)]
pub(crate) struct AuthApi {
    pub(crate) node: Arc<Node>,
    pub(crate) sessions: Arc<Authenticator>,
}

#[tonic::async_trait]
impl wire::auth_service_server::AuthService for AuthApi {
    async fn get_challenge(
        &self,
        _request: Request<wire::GetChallengeRequest>,
    ) -> Result<Response<wire::Challenge>, Status> {
        Ok(Response::new(wire::Challenge {
            challenge: self.sessions.challenge().to_vec(),
            server_org: self.node.org().to_string(),
        }))
    }

    #[tracing::instrument(skip_all, fields(org = %self.node.org(), caller_org))]
    async fn open_session(
        &self,
        request: Request<wire::OpenSessionRequest>,
    ) -> Result<Response<wire::Session>, Status> {
        let request = request.into_inner();
        tracing::Span::current().record("caller_org", request.caller_org.as_str());
        let sessions = Arc::clone(&self.sessions);
        let now = chrono::Utc::now();
        let (token, caller) = tokio::task::spawn_blocking(move || {
            sessions.open(
                &request.challenge,
                &request.caller_org,
                &request.caller_key,
                &request.signature,
                &request.certificates,
                now,
            )
        })
        .await
        .map_err(|_| crate::status::to_status(crate::NodeError::ShuttingDown))??;
        let expires = now + chrono::Duration::from_std(SESSION_LIFETIME).unwrap_or_default();
        Ok(Response::new(wire::Session {
            token: hex::encode(token),
            expires_at: Some(timestamp(expires)),
            role: caller.role_name().into(),
            org: caller.org().map(ToString::to_string).unwrap_or_else(|| self.node.org().to_string()),
        }))
    }
}

#[derive(Clone)]
pub(crate) struct TrustApi {
    pub(crate) node: Arc<Node>,
    pub(crate) enrolment_sources: Arc<EnrolmentSources>,
}

/// Enrolment requests need no session, so each source address may leave
/// only a few a minute: one machine cannot fill the operator's queue.
#[derive(Debug, Default)]
pub(crate) struct EnrolmentSources {
    recent: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, (std::time::Instant, u32)>>,
}

impl EnrolmentSources {
    const PER_MINUTE: u32 = 30;

    fn admit(&self, source: Option<std::net::SocketAddr>) -> Result<(), Status> {
        let Some(source) = source else { return Ok(()) };
        let now = std::time::Instant::now();
        let minute = std::time::Duration::from_secs(60);
        let mut recent = self.recent.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if recent.len() > 10_000 {
            recent.retain(|_, (since, _)| now.duration_since(*since) < minute);
        }
        let (since, count) = recent.entry(source.ip()).or_insert((now, 0));
        if now.duration_since(*since) >= minute {
            *since = now;
            *count = 0;
        }
        if *count >= Self::PER_MINUTE {
            return Err(crate::status::to_status(crate::NodeError::Exhausted(format!(
                "{} enrolment requests from {} in the last minute; a node asks once and then waits: try again in a minute",
                Self::PER_MINUTE,
                source.ip()
            ))));
        }
        *count += 1;
        Ok(())
    }
}

#[tonic::async_trait]
impl wire::trust_service_server::TrustService for TrustApi {
    #[tracing::instrument(skip_all, fields(org = %self.node.org()))]
    async fn submit_enrolment(
        &self,
        request: Request<wire::StatementFile>,
    ) -> Result<Response<wire::EnrolmentReceipt>, Status> {
        self.enrolment_sources.admit(request.remote_addr())?;
        let text = request.into_inner().text;
        let node = Arc::clone(&self.node);
        let request_id = blocking(move || node.queue_enrolment(&text, chrono::Utc::now())).await?;
        Ok(Response::new(wire::EnrolmentReceipt { request_id }))
    }

    async fn fetch_enrolment(
        &self,
        request: Request<wire::FetchEnrolmentRequest>,
    ) -> Result<Response<wire::EnrolmentAnswer>, Status> {
        let id = request.into_inner().request_id;
        let node = Arc::clone(&self.node);
        let answer = blocking(move || node.enrolment_answer(&id)).await?;
        Ok(Response::new(wire::EnrolmentAnswer {
            signed: answer.is_some(),
            certificate_chain: answer.unwrap_or_default(),
        }))
    }

    async fn list_enrolments(
        &self,
        request: Request<wire::ListEnrolmentsRequest>,
    ) -> Result<Response<wire::ListEnrolmentsResponse>, Status> {
        operator_only(&self.node, &request, "ListEnrolments")?;
        let node = Arc::clone(&self.node);
        let pending = blocking(move || node.pending_enrolments(chrono::Utc::now())).await?;
        Ok(Response::new(wire::ListEnrolmentsResponse {
            pending: pending
                .into_iter()
                .map(|(request_id, request)| wire::PendingEnrolment {
                    request_id,
                    subject_org: request.subject_org.to_string(),
                    role: request.role.to_string(),
                    subject_key: request.subject_key.0.to_vec(),
                    replaces_key: request.previous_key.is_some(),
                    created_at: from_ms(request.created_ms),
                })
                .collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(org = %self.node.org()))]
    async fn reject_enrolments(
        &self,
        request: Request<wire::RejectEnrolmentsRequest>,
    ) -> Result<Response<wire::RejectEnrolmentsResponse>, Status> {
        operator_only(&self.node, &request, "RejectEnrolments")?;
        let request = request.into_inner();
        let older_than = match request.older_than_seconds {
            0 => None,
            seconds => Some(
                i64::try_from(seconds)
                    .ok()
                    .and_then(chrono::TimeDelta::try_seconds)
                    .ok_or_else(|| crate::status::bad_field("older_than_seconds", "too large"))?,
            ),
        };
        let node = Arc::clone(&self.node);
        let rejected =
            blocking(move || node.reject_enrolments(&request.request_ids, older_than, chrono::Utc::now())).await?;
        Ok(Response::new(wire::RejectEnrolmentsResponse { rejected }))
    }

    #[tracing::instrument(skip_all, fields(org = %self.node.org()))]
    async fn sign_enrolment(
        &self,
        request: Request<wire::SignEnrolmentRequest>,
    ) -> Result<Response<wire::StatementFile>, Status> {
        operator_only(&self.node, &request, "SignEnrolment")?;
        let request = request.into_inner();
        let not_after = to_time("not_after", request.not_after)?;
        let not_before = to_time("not_before", request.not_before)?;
        let node = Arc::clone(&self.node);
        let now = chrono::Utc::now();
        let (text, _) = blocking(move || {
            if request.request_id.is_empty() {
                node.sign_enrolment_from(&request.request, not_before, not_after, now)
            } else {
                node.approve_enrolment(&request.request_id, not_after, now)
            }
        })
        .await?;
        Ok(Response::new(wire::StatementFile { text }))
    }

    #[tracing::instrument(skip_all, fields(org = %self.node.org()))]
    async fn install_certificate(
        &self,
        request: Request<wire::StatementFile>,
    ) -> Result<Response<wire::InstallCertificateResponse>, Status> {
        operator_only(&self.node, &request, "InstallCertificate")?;
        let text = request.into_inner().text;
        let node = Arc::clone(&self.node);
        let (certificate, added) = blocking(move || node.install_certificate(&text, chrono::Utc::now())).await?;
        Ok(Response::new(wire::InstallCertificateResponse {
            org: certificate.subject_org.to_string(),
            version: certificate.version,
            statements_added: added,
        }))
    }

    #[tracing::instrument(skip_all, fields(org = %self.node.org()))]
    async fn revoke(&self, request: Request<wire::RevokeRequest>) -> Result<Response<wire::StatementFile>, Status> {
        operator_only(&self.node, &request, "Revoke")?;
        let request = request.into_inner();
        let subject_org = OrgId::parse("subject_org", &request.subject_org).map_err(invalid)?;
        let subject_key = PublicKey::from_bytes(&request.subject_key).map_err(|error| {
            invalid(edusync_core::ValidationError::new(
                "subject_key",
                edusync_core::Reason::malformed(error.to_string()),
            ))
        })?;
        let reason = RevocationReason::parse(if request.reason.is_empty() { "unspecified" } else { &request.reason })
            .map_err(|error| {
            invalid(edusync_core::ValidationError::new("reason", edusync_core::Reason::malformed(error.to_string())))
        })?;
        let now = chrono::Utc::now();
        let effective = to_time("effective_at", request.effective_at)?.unwrap_or(now);
        let node = Arc::clone(&self.node);
        let text = blocking(move || node.revoke(&subject_org, &subject_key, reason, effective, now)).await?;
        Ok(Response::new(wire::StatementFile { text }))
    }

    async fn get_trust(&self, request: Request<wire::GetTrustRequest>) -> Result<Response<wire::TrustInfo>, Status> {
        operator_only(&self.node, &request, "GetTrust")?;
        let node = Arc::clone(&self.node);
        let info = blocking(move || {
            let now = chrono::Utc::now();
            let trust = node.trust();
            let certificates = trust
                .certificates()
                .map(|certificate| wire::CertificateSummary {
                    subject_org: certificate.subject_org.to_string(),
                    role: certificate.role.to_string(),
                    subject_key: certificate.subject_key.0.to_vec(),
                    issuer_org: certificate.issuer_org.to_string(),
                    version: certificate.version,
                    not_after: from_ms(certificate.not_after_ms),
                    problem: trust
                        .standing(&certificate.subject_org, &certificate.subject_key, now.timestamp_millis())
                        .err()
                        .map(|error| error.to_string())
                        .unwrap_or_default(),
                })
                .collect();
            let revocations = trust.revocations().count() as u32;
            drop(trust);
            let own_problem = node.own_standing(now).err().map(|error| error.to_string()).unwrap_or_default();
            Ok(wire::TrustInfo { own_problem, certificates, revocations })
        })
        .await?;
        Ok(Response::new(info))
    }

    #[tracing::instrument(skip_all, fields(org = %self.node.org(), child))]
    async fn push_statements(
        &self,
        request: Request<wire::PushStatementsRequest>,
    ) -> Result<Response<wire::PushStatementsResponse>, Status> {
        let child = child_only(&self.node, &request, "PushStatements")?;
        tracing::Span::current().record("child", tracing::field::display(&child));
        let statements = request.into_inner().statements;
        let node = Arc::clone(&self.node);
        let report = blocking(move || node.admit_statements(&statements, FROM_CHILD)).await?;
        Ok(Response::new(wire::PushStatementsResponse {
            added: report.added,
            known: report.known,
            refused: report
                .refused
                .into_iter()
                .map(|(index, reason)| wire::Refusal {
                    record_id: Vec::new(),
                    seq: index as u64,
                    code: "untrusted_statement".to_owned(),
                    reason,
                })
                .collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(org = %self.node.org(), child))]
    async fn pull_down(
        &self,
        request: Request<wire::PullDownRequest>,
    ) -> Result<Response<wire::PullDownResponse>, Status> {
        let child = child_only(&self.node, &request, "PullDown")?;
        tracing::Span::current().record("child", tracing::field::display(&child));
        let request = request.into_inner();
        let limit = match request.limit as usize {
            0 => MAX_DOWN_PAGE,
            limit => limit.min(MAX_DOWN_PAGE),
        };
        let node = Arc::clone(&self.node);
        let (items, head) = blocking(move || {
            let items = node.store().read_down(request.after, limit)?;
            let head = node.store().down_head()?;
            Ok((items, head))
        })
        .await?;
        Ok(Response::new(wire::PullDownResponse {
            items: items.into_iter().map(|(seq, item)| wire::DownItem { seq, item }).collect(),
            head,
        }))
    }
}
