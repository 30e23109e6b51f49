//! What edusync says to people, in Vietnamese, Chinese and English: the
//! reasons a value is refused (rendered from `edusync_core::Reason`, so every
//! reason has all three sentences or this crate does not compile) and the
//! command line's own messages. The language comes from the node's config or
//! the locale (`LC_ALL`, `LC_MESSAGES`, `LANG`); English is the fallback.
//!
//! This crate is not a formatting engine and reads no files: sentences are
//! Rust code next to each other, one `match` arm per message, so a translator
//! sees the three versions side by side and the compiler finds a missing one.
//! Logs stay English: they are for engineers and for grepping.

mod language;
mod messages;
mod reasons;
mod values;

pub use language::Language;
pub use messages::Message;
pub use reasons::{reason, validation_error};
pub use values::value_name;
