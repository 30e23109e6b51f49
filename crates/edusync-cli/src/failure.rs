//! How the command fails: a message on standard error and an exit status that
//! scripts can act on.

use std::process::ExitCode;

pub(crate) struct Failure {
    kind: FailureKind,
    error: anyhow::Error,
}

#[derive(Clone, Copy)]
enum FailureKind {
    Other,
    Input,
    Unreachable,
    /// The node refused who the caller is or what it asked (UNAUTHENTICATED, PERMISSION_DENIED).
    Refused,
}

impl Failure {
    pub(crate) fn other(error: impl Into<anyhow::Error>) -> Self {
        Failure { kind: FailureKind::Other, error: error.into() }
    }

    pub(crate) fn input(message: impl Into<String>) -> Self {
        Failure { kind: FailureKind::Input, error: anyhow::Error::msg(message.into()) }
    }

    pub(crate) fn unreachable(message: impl Into<String>) -> Self {
        Failure { kind: FailureKind::Unreachable, error: anyhow::Error::msg(message.into()) }
    }

    /// Maps a gRPC status from a node to the matching exit status.
    pub(crate) fn from_status(status: tonic::Status) -> Self {
        let message = format!("the node answered: {}", status.message());
        match status.code() {
            tonic::Code::InvalidArgument | tonic::Code::NotFound | tonic::Code::FailedPrecondition => {
                Failure::input(message)
            }
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded => Failure::unreachable(message),
            tonic::Code::Unauthenticated | tonic::Code::PermissionDenied => {
                Failure { kind: FailureKind::Refused, error: anyhow::Error::msg(message) }
            }
            _ => Failure::other(anyhow::Error::msg(message)),
        }
    }

    pub(crate) fn report(self) -> ExitCode {
        eprintln!("error: {:#}", self.error);
        ExitCode::from(match self.kind {
            FailureKind::Other => 1,
            FailureKind::Input => 2,
            FailureKind::Unreachable => 3,
            FailureKind::Refused => 4,
        })
    }
}

impl From<edusync_config::ConfigError> for Failure {
    fn from(error: edusync_config::ConfigError) -> Self {
        Failure::input(error.to_string())
    }
}
