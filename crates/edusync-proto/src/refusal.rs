//! A refused value travels as a gRPC status in the standard richer error
//! model: the English sentence as the message, a `BadRequest` field
//! violation for generic clients (grpcurl shows it), and an `ErrorInfo`
//! whose reason is the stable code (`too_long`) with the whole reason as JSON
//! in its metadata, so an edusync client renders it in its user's language.

use std::collections::HashMap;

use edusync_core::{Reason, ValidationError};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `ErrorInfo.domain` of edusync validation errors.
pub const VALIDATION_DOMAIN: &str = "validation.edusync";

/// A status carrying `error` as structured details.
pub fn validation_status(code: Code, message: impl Into<String>, error: &ValidationError) -> Status {
    let mut metadata = HashMap::from([("field".to_owned(), error.field.clone())]);
    let code_name = match serde_json::to_value(&error.reason) {
        Ok(value) => {
            let name = value.get("code").and_then(|code| code.as_str()).unwrap_or("invalid").to_owned();
            metadata.insert("reason".to_owned(), value.to_string());
            name
        }
        Err(_) => "invalid".to_owned(),
    };
    let mut details = ErrorDetails::with_error_info(code_name, VALIDATION_DOMAIN, metadata);
    details.add_bad_request_violation(error.field.clone(), error.reason.to_string());
    Status::with_error_details(code, message, details)
}

/// The validation error a status carries, when a node sent one; `None` for
/// other statuses and for details this client cannot read.
pub fn validation_error_of(status: &Status) -> Option<ValidationError> {
    let info = status.get_details_error_info()?;
    if info.domain != VALIDATION_DOMAIN {
        return None;
    }
    let reason: Reason = serde_json::from_str(info.metadata.get("reason")?).ok()?;
    Some(ValidationError::new(info.metadata.get("field")?.clone(), reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_validation_error_survives_the_trip_through_a_status() {
        let error = ValidationError::new("people[0].name", Reason::TooLong { length: 250, max: 200 });
        let status = validation_status(Code::InvalidArgument, "invalid input: people[0].name: …", &error);
        let bytes = status.details().to_vec();
        let received = Status::with_details(Code::InvalidArgument, status.message(), bytes.into());
        assert_eq!(validation_error_of(&received), Some(error));
    }

    #[test]
    fn a_status_without_details_carries_no_validation_error() {
        assert_eq!(validation_error_of(&Status::invalid_argument("no details")), None);
        let garbage = Status::with_details(Code::InvalidArgument, "garbage", vec![0xff, 0x01, 0x02].into());
        assert_eq!(validation_error_of(&garbage), None);
    }
}
