//! Free text as the documents write it: Vietnamese and Chinese, NFC-normalised.

use unicode_normalization::UnicodeNormalization;

use crate::{Reason, ValidationError};

/// Normalises `text` to NFC and checks its length in characters and its
/// characters: no control characters except, where `multiline`, newline and
/// tab. NFC matters because Vietnamese can be typed precomposed or with
/// combining marks; two spellings of one name must be one string, and the
/// signed bytes must not depend on the keyboard.
pub fn normalize_text(
    field: &str,
    text: &str,
    min_chars: usize,
    max_chars: usize,
    multiline: bool,
) -> Result<String, ValidationError> {
    let normalized: String = text.nfc().collect();
    let trimmed_len = normalized.trim().chars().count();
    if trimmed_len < min_chars {
        return Err(ValidationError::new(
            field,
            if min_chars == 1 { Reason::Empty } else { Reason::TooShort { min: min_chars as u64 } },
        ));
    }
    let length = normalized.chars().count();
    if length > max_chars {
        return Err(ValidationError::new(field, Reason::TooLong { length: length as u64, max: max_chars as u64 }));
    }
    if let Some(bad) = normalized.chars().find(|c| c.is_control() && !(multiline && (*c == '\n' || *c == '\t'))) {
        return Err(ValidationError::new(field, Reason::ControlCharacter { code_point: bad as u32 }));
    }
    Ok(normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnamese_typed_with_combining_marks_becomes_the_precomposed_string() {
        let decomposed = "Nguye\u{0302}\u{0303}n";
        let normalized = normalize_text("name", decomposed, 1, 50, false).expect("valid");
        assert_eq!(normalized, "Nguyễn");
    }

    #[test]
    fn chinese_text_round_trips_unchanged() {
        let text = "山东省教育厅关于防治中小学生欺凌和暴力的实施方案";
        assert_eq!(normalize_text("title", text, 1, 200, false).expect("valid"), text);
    }

    #[test]
    fn oversized_and_control_text_is_rejected() {
        assert!(normalize_text("title", &"a".repeat(201), 1, 200, false).is_err());
        assert!(normalize_text("title", "a\u{0007}b", 1, 200, false).is_err());
        assert!(normalize_text("title", "a\nb", 1, 200, false).is_err());
        assert!(normalize_text("narrative", "a\nb", 1, 200, true).is_ok());
        assert!(normalize_text("title", "   ", 1, 200, false).is_err());
    }
}
