//! How the command fails: a message on standard error, in the user's
//! language where it is meant for them, and an exit status that scripts can
//! act on.

use std::process::ExitCode;

use edusync_core::ValidationError;
use edusync_i18n::{Language, Message};

pub(crate) struct Failure {
    kind: FailureKind,
    said: Said,
}

#[derive(Clone, Copy)]
enum FailureKind {
    Other,
    Input,
    Unreachable,
    /// The node refused who the caller is or what it asked (UNAUTHENTICATED, PERMISSION_DENIED).
    Refused,
}

/// What to tell the user, kept as a value until the language is known.
enum Said {
    /// For operators and engineers (files, config, TLS, transport): English.
    Plain(anyhow::Error),
    Message(Message),
    /// A value refused here, before anything was sent; `place` says where
    /// (a file, a spreadsheet row).
    Invalid {
        place: Option<String>,
        error: ValidationError,
    },
    /// A node's answer; the reason is rendered here when the node sent it as
    /// a value, so it reads in this user's language, not the node's.
    Answered {
        place: Option<String>,
        message: String,
        invalid: Option<ValidationError>,
    },
}

impl Failure {
    pub(crate) fn other(error: impl Into<anyhow::Error>) -> Self {
        Failure { kind: FailureKind::Other, said: Said::Plain(error.into()) }
    }

    pub(crate) fn input(message: impl Into<String>) -> Self {
        Failure { kind: FailureKind::Input, said: Said::Plain(anyhow::Error::msg(message.into())) }
    }

    pub(crate) fn input_message(message: Message) -> Self {
        Failure { kind: FailureKind::Input, said: Said::Message(message) }
    }

    pub(crate) fn invalid(place: Option<String>, error: ValidationError) -> Self {
        Failure { kind: FailureKind::Input, said: Said::Invalid { place, error } }
    }

    pub(crate) fn unreachable_message(message: Message) -> Self {
        Failure { kind: FailureKind::Unreachable, said: Said::Message(message) }
    }

    pub(crate) fn unreachable(message: impl Into<String>) -> Self {
        Failure { kind: FailureKind::Unreachable, said: Said::Plain(anyhow::Error::msg(message.into())) }
    }

    /// The answer to a write whose connection broke before the node
    /// answered: it may have been stored, and saying so lets the person
    /// simply run it again (content addressing makes that safe).
    pub(crate) fn from_write_status(status: tonic::Status, again: &str) -> Self {
        // A status with a source came from this side's transport, not from
        // the node: the node said nothing, so the write may have happened.
        let cut_off = std::error::Error::source(&status).is_some();
        match status.code() {
            tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled if cut_off => Failure::unreachable(format!(
                "the connection to the node broke before it answered ({}): what was sent may or may not have been stored. {again}",
                status.message()
            )),
            _ => Failure::from_status(status),
        }
    }

    /// Maps a gRPC status from a node to the matching exit status.
    pub(crate) fn from_status(status: tonic::Status) -> Self {
        Failure::from_status_at(None, status)
    }

    /// As `from_status`, for an answer about one part of the input (`row 7`).
    pub(crate) fn from_status_at(place: Option<String>, status: tonic::Status) -> Self {
        // A connection cut mid-call comes back as CANCELLED or UNKNOWN with
        // the transport's error beneath: the node said nothing.
        let cut = matches!(status.code(), tonic::Code::Cancelled | tonic::Code::Unknown)
            && std::error::Error::source(&status).is_some();
        if cut {
            return Failure {
                kind: FailureKind::Unreachable,
                said: Said::Plain(anyhow::anyhow!(
                    "the connection to the node was lost ({}); run the command again",
                    status.message()
                )),
            };
        }
        let invalid = edusync_proto::validation_error_of(&status);
        let said = Said::Answered { place, message: status.message().to_owned(), invalid };
        let kind = match status.code() {
            tonic::Code::InvalidArgument | tonic::Code::NotFound | tonic::Code::FailedPrecondition => {
                FailureKind::Input
            }
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded => FailureKind::Unreachable,
            tonic::Code::Unauthenticated | tonic::Code::PermissionDenied => FailureKind::Refused,
            _ => FailureKind::Other,
        };
        Failure { kind, said }
    }

    /// The message as the user reads it.
    pub(crate) fn text(&self, language: Language) -> String {
        let placed = |place: &Option<String>, text: String| match place {
            Some(place) => format!("{place}: {text}"),
            None => text,
        };
        match &self.said {
            Said::Plain(error) => format!("{error:#}"),
            Said::Message(message) => message.text(language),
            Said::Invalid { place, error } => placed(place, edusync_i18n::validation_error(error, language)),
            Said::Answered { place, message, invalid } => {
                let message = match invalid {
                    Some(error) => edusync_i18n::validation_error(error, language),
                    None => message.clone(),
                };
                placed(place, Message::NodeAnswered { message }.text(language))
            }
        }
    }

    pub(crate) fn report(self, language: Language) -> ExitCode {
        // An engineer's message stays English, and so does its prefix: one
        // line reads in one language.
        let prefix_language = if matches!(self.said, Said::Plain(_)) { Language::English } else { language };
        eprintln!("{}: {}", Message::ErrorPrefix.text(prefix_language), self.text(language));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_cut_off_before_its_answer_says_it_may_be_stored_and_that_again_is_safe() {
        let broken = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "connection reset");
        let failure = Failure::from_write_status(tonic::Status::from_error(Box::new(broken)), "Run it again.");
        let text = failure.text(Language::English);
        assert!(text.contains("may or may not have been stored") && text.contains("Run it again."), "{text}");
        assert!(matches!(failure.kind, FailureKind::Unreachable));
        // What the node itself answered is said as it said it.
        for answered in [
            tonic::Status::invalid_argument("count: too large"),
            tonic::Status::unavailable(
                "VN.BT.D03.S017 signs nothing in its shared log while ...; ask again in a moment",
            ),
        ] {
            let text = Failure::from_write_status(answered, "Run it again.").text(Language::English);
            assert!(!text.contains("may or may not"), "the node answered: {text}");
        }
    }
}
