//! Prometheus metrics in the text exposition format, served on their own
//! address (`[metrics] listen`) for `GET /metrics`. Read from the store and
//! the sync status at scrape time, so they agree with `edusync status`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::sync::watch;

use edusync_core::{LogStream, RecordKind, Seq};

use crate::{Node, NodeError, ParentStatus};

/// The metrics page, now.
pub(crate) fn render(node: &Node, parent: Option<&ParentStatus>) -> Result<String, NodeError> {
    let mut out = String::new();
    let org = node.org().as_str();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line("# HELP edusync_records Records this node holds, by kind (its own and its children's).".into());
    line("# TYPE edusync_records gauge".into());
    for kind in RecordKind::ALL {
        let count = node.store().count_by_kind(*kind)?;
        line(format!("edusync_records{{org=\"{org}\",kind=\"{kind}\"}} {count}"));
    }
    if let Some(parent) = parent {
        let head = node.store().head(node.org(), LogStream::Shared)?.map_or(0, |(seq, _)| seq.0);
        let acknowledged = parent.acknowledged();
        let depth = head.saturating_sub(acknowledged);
        line("# HELP edusync_outbox_depth Records of the shared log the parent has not acknowledged.".into());
        line("# TYPE edusync_outbox_depth gauge".into());
        line(format!("edusync_outbox_depth{{org=\"{org}\"}} {depth}"));
        let oldest = if depth > 0 {
            node.store().read_log(node.org(), LogStream::Shared, Seq(acknowledged + 1), 1)?.first().map(|stored| {
                edusync_envelope::EnvelopeView::parse(&stored.bytes)
                    .map(|view| view.header.created_unix_ms)
                    .unwrap_or_default()
            })
        } else {
            None
        };
        let age = oldest.map_or(0.0, |created| {
            (chrono::Utc::now().timestamp_millis().saturating_sub(created)).max(0) as f64 / 1000.0
        });
        line("# HELP edusync_oldest_unsent_age_seconds Age of the oldest record waiting for the parent.".into());
        line("# TYPE edusync_oldest_unsent_age_seconds gauge".into());
        line(format!("edusync_oldest_unsent_age_seconds{{org=\"{org}\"}} {age}"));
        let (rounds, failed) = parent.rounds();
        line("# HELP edusync_sync_rounds_total Sync rounds with the parent since start.".into());
        line("# TYPE edusync_sync_rounds_total counter".into());
        line(format!("edusync_sync_rounds_total{{org=\"{org}\"}} {rounds}"));
        line("# HELP edusync_sync_failures_total Sync rounds that failed.".into());
        line("# TYPE edusync_sync_failures_total counter".into());
        line(format!("edusync_sync_failures_total{{org=\"{org}\"}} {failed}"));
        let histogram = parent.ack_latency_histogram();
        line(
            "# HELP edusync_push_ack_seconds Time from sending a push batch to the parent's durable acknowledgement."
                .into(),
        );
        line("# TYPE edusync_push_ack_seconds histogram".into());
        for (bound, count) in crate::sync::ACK_LATENCY_BUCKETS.iter().zip(&histogram.cumulative) {
            line(format!("edusync_push_ack_seconds_bucket{{org=\"{org}\",le=\"{bound}\"}} {count}"));
        }
        let total = histogram.cumulative.last().copied().unwrap_or(0);
        line(format!("edusync_push_ack_seconds_bucket{{org=\"{org}\",le=\"+Inf\"}} {total}"));
        line(format!("edusync_push_ack_seconds_sum{{org=\"{org}\"}} {}", histogram.sum_seconds));
        line(format!("edusync_push_ack_seconds_count{{org=\"{org}\"}} {total}"));
    }
    line("# HELP edusync_refused_records_total Records from children refused since start, by reason.".into());
    line("# TYPE edusync_refused_records_total counter".into());
    for (class, count) in node.refusal_counts() {
        line(format!("edusync_refused_records_total{{org=\"{org}\",reason=\"{class}\"}} {count}"));
    }
    let deadlines = node.incident_deadlines(chrono::Utc::now())?;
    line(
        "# HELP edusync_incident_reports Serious and severe incidents not yet reported upward: the report owed \
         (by phone, in writing) and whether its deadline is still ahead (due) or passed (overdue)."
            .into(),
    );
    line("# TYPE edusync_incident_reports gauge".into());
    for (report, state, count) in [
        ("phone", "due", deadlines.phone_due),
        ("phone", "overdue", deadlines.phone_overdue),
        ("written", "due", deadlines.written_due),
        ("written", "overdue", deadlines.written_overdue),
    ] {
        line(format!("edusync_incident_reports{{org=\"{org}\",report=\"{report}\",state=\"{state}\"}} {count}"));
    }
    let (free, reserve) = node.store().disk_space()?;
    line("# HELP edusync_disk_free_bytes Free space on the disk holding the store.".into());
    line("# TYPE edusync_disk_free_bytes gauge".into());
    line(format!("edusync_disk_free_bytes{{org=\"{org}\"}} {free}"));
    line("# HELP edusync_disk_reserve_bytes Free space kept in reserve: below it, writes are refused.".into());
    line("# TYPE edusync_disk_reserve_bytes gauge".into());
    line(format!("edusync_disk_reserve_bytes{{org=\"{org}\"}} {reserve}"));
    line(
        "# HELP edusync_writes_accepted 1 while the node accepts writes, 0 while its disk is below the reserve.".into(),
    );
    line("# TYPE edusync_writes_accepted gauge".into());
    line(format!("edusync_writes_accepted{{org=\"{org}\"}} {}", u8::from(free >= reserve)));
    let alerts = node.identity_alerts().len();
    line("# HELP edusync_identity_alerts Certificates for this node's org binding a key that is not its own.".into());
    line("# TYPE edusync_identity_alerts gauge".into());
    line(format!("edusync_identity_alerts{{org=\"{org}\"}} {alerts}"));
    let ahead = node.store().notices_ahead()?.len();
    line("# HELP edusync_severe_notices_ahead Severe-incident notices from children held ahead of their logs.".into());
    line("# TYPE edusync_severe_notices_ahead gauge".into());
    line(format!("edusync_severe_notices_ahead{{org=\"{org}\"}} {ahead}"));
    Ok(out)
}

/// What a scrape reads.
#[derive(Clone)]
struct Scraped {
    node: Arc<Node>,
    parent: Option<Arc<ParentStatus>>,
}

/// Serves `GET /metrics` over HTTP (axum, as the web app) until shutdown;
/// anything else gets 404.
pub(crate) async fn serve(
    listener: TcpListener,
    node: Arc<Node>,
    parent: Option<Arc<ParentStatus>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(scrape))
        .fallback(|| async { (StatusCode::NOT_FOUND, "only GET /metrics is served here\n") })
        .with_state(Scraped { node, parent });
    let stopped = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    if let Err(error) = axum::serve(listener, app).with_graceful_shutdown(stopped).await {
        tracing::error!(error = %error, "the metrics server stopped");
    }
}

/// The page, read on the blocking pool (it reads the store).
async fn scrape(State(scraped): State<Scraped>) -> Response {
    let Scraped { node, parent } = scraped;
    match tokio::task::spawn_blocking(move || render(&node, parent.as_deref())).await {
        Ok(Ok(body)) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response(),
        Ok(Err(error)) => {
            tracing::error!(error = %error, "metrics could not be read");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use crate::RefusalKind;

    /// Refusals are counted by their kind, whose code is also what the wire
    /// carries: each code names one kind, and a code from a newer parent is
    /// counted as other rather than refused.
    #[test]
    fn every_refusal_kind_has_its_own_code_and_reads_back_from_it() {
        let codes: std::collections::BTreeSet<&str> = RefusalKind::ALL.iter().map(|kind| kind.code()).collect();
        assert_eq!(codes.len(), RefusalKind::ALL.len());
        for kind in RefusalKind::ALL {
            assert_eq!(RefusalKind::from_code(kind.code()), kind);
        }
        assert_eq!(RefusalKind::from_code("something_new"), RefusalKind::Other);
    }
}
