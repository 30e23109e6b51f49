//! What may leave a school, as a property of types.
//!
//! A type that travels upward is declared with [`upward_struct!`], which
//! refuses to compile unless every field is [`UpwardSafe`]. `UpwardSafe` is
//! implemented only for enums, bounded integers, periods, organisation ids,
//! hashes and random ids — never for `String`, `&str`, or anything that holds
//! free text — so a name or a narrative cannot be added to an upward type by
//! accident: the build fails first.

use crate::{
    AtRiskGroup, CommitmentKind, IncidentCategory, IncidentStatus, IntakeChannel, OrgId, Period, PlaceCategory,
    RecordId, SchoolYear, Severity, Sex,
};

/// Implemented only for values that can never carry free text or a direct
/// identifier of a person. Do not implement it for a type that holds a string.
pub trait UpwardSafe {}

macro_rules! upward_safe {
    ($($type:ty),+ $(,)?) => { $(impl UpwardSafe for $type {})+ };
}

upward_safe!(bool, u8, u16, u32, u64, i64, [u8; 32], OrgId, Period, SchoolYear, RecordId);
upward_safe!(
    IncidentCategory,
    Severity,
    IncidentStatus,
    IntakeChannel,
    PlaceCategory,
    AtRiskGroup,
    CommitmentKind,
    Sex
);

impl<T: UpwardSafe> UpwardSafe for Vec<T> {}
impl<T: UpwardSafe> UpwardSafe for Option<T> {}

/// Declares a struct that may travel upward, checking at compile time that
/// every field type is [`UpwardSafe`].
///
/// ```
/// edusync_core::upward_struct! {
///     pub struct Tally { pub org: edusync_core::OrgId, pub count: u32 }
/// }
/// ```
///
/// A free-text field does not compile:
///
/// ```compile_fail
/// edusync_core::upward_struct! {
///     pub struct Leaky { pub count: u32, pub child_name: String }
/// }
/// ```
#[macro_export]
macro_rules! upward_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $( $(#[$field_meta:meta])* pub $field:ident : $type:ty ),+ $(,)? }
    ) => {
        $(#[$meta])*
        pub struct $name { $( $(#[$field_meta])* pub $field: $type ),+ }

        impl $crate::UpwardSafe for $name {}

        const _: fn() = || {
            fn upward_safe<T: $crate::UpwardSafe>() {}
            $( upward_safe::<$type>(); )+
        };
    };
}
