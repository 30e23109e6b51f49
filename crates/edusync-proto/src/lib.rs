//! The wire schema of edusync, generated from `proto/edusync/v1/*.proto` at
//! build time (protox, no system protoc), and the explicit conversions between
//! wire messages and domain types.
//!
//! This crate is the only place where generated protobuf types meet the
//! domain. It is not a place for logic: conversions validate shape (known
//! enum values, well-formed dates and ids) and leave the domain rules to
//! `edusync-core`.

mod convert;
mod refusal;
mod said;

pub use convert::{
    decode_record, encode_record, header_to_wire, kind_from_wire, kind_to_wire, period_from_wire, period_to_wire,
    policy_in_force_to_wire, stream_from_wire, stream_to_wire,
};
pub use refusal::{validation_error_of, validation_status, VALIDATION_DOMAIN};
pub use said::alert_text;

pub mod codec;

/// The generated messages, clients and servers of package `edusync.v1`.
#[allow(unreachable_pub, clippy::all, clippy::unwrap_used, missing_docs)]
pub mod wire {
    tonic::include_proto!("edusync.v1");
}

/// The encoded file descriptor set, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/edusync_descriptor.bin"));
