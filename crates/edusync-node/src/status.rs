//! The one place where node errors become gRPC statuses.

use tonic::{Code, Status};

use crate::NodeError;

pub(crate) fn to_status(error: NodeError) -> Status {
    let code = match &error {
        NodeError::Invalid(_) => Code::InvalidArgument,
        NodeError::NotFound(_) => Code::NotFound,
        NodeError::ShuttingDown | NodeError::Retry(_) => Code::Unavailable,
        NodeError::Exhausted(_) | NodeError::Store(edusync_store::StoreError::DiskFull { .. }) => {
            Code::ResourceExhausted
        }
        NodeError::Restored(_) | NodeError::BudgetSpent(_) | NodeError::Privacy(_) | NodeError::NoParent(_) => {
            Code::FailedPrecondition
        }
        NodeError::NotForReaders(_) | NodeError::Denied(_) => Code::PermissionDenied,
        NodeError::Unauthenticated(_) => Code::Unauthenticated,
        NodeError::WrongNode(_) => Code::FailedPrecondition,
        NodeError::TimedOut(_) => Code::DeadlineExceeded,
        NodeError::Store(_)
        | NodeError::Envelope(_)
        | NodeError::Key(_)
        | NodeError::Startup(_)
        | NodeError::Internal(_)
        | NodeError::Transport(_) => Code::Internal,
    };
    if code == Code::Internal {
        tracing::error!(error = %error, "request failed");
    }
    match &error {
        NodeError::Invalid(invalid) => edusync_proto::validation_status(code, error.to_string(), invalid),
        _ => Status::new(code, error.to_string()),
    }
}

pub(crate) fn invalid(error: edusync_core::ValidationError) -> Status {
    to_status(NodeError::Invalid(error))
}

/// A field of a request that is not acceptable, as INVALID_ARGUMENT with the
/// field named in its `ErrorInfo`.
pub(crate) fn bad_field(field: &str, reason: impl Into<String>) -> Status {
    invalid(edusync_core::ValidationError::new(field, edusync_core::Reason::malformed(reason.into())))
}

/// The caller may not do this.
pub(crate) fn denied(reason: impl Into<String>) -> Status {
    to_status(NodeError::Denied(reason.into()))
}
