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
        NodeError::NotForReaders(_) => Code::PermissionDenied,
        NodeError::Store(_)
        | NodeError::Envelope(_)
        | NodeError::Key(_)
        | NodeError::Startup(_)
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
