//! Statements as text, so that request and certificate files travel by USB
//! stick or e-mail and survive being pasted: one PEM-style block per
//! statement, labelled by kind.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

use crate::TrustError;

pub const STATEMENT_LABEL: &str = "EDUSYNC STATEMENT";

/// One block per statement, in order.
pub fn armor(statements: &[Vec<u8>]) -> String {
    let mut out = String::new();
    for bytes in statements {
        out.push_str(&format!("-----BEGIN {STATEMENT_LABEL}-----\n"));
        let body = BASE64.encode(bytes);
        for chunk in body.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(chunk));
            out.push('\n');
        }
        out.push_str(&format!("-----END {STATEMENT_LABEL}-----\n"));
    }
    out
}

/// The statements of an armored text, in order; text outside blocks is ignored.
pub fn dearmor(text: &str) -> Result<Vec<Vec<u8>>, TrustError> {
    let begin = format!("-----BEGIN {STATEMENT_LABEL}-----");
    let end = format!("-----END {STATEMENT_LABEL}-----");
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if line == begin {
            if current.is_some() {
                return Err(malformed("a block begins inside another block"));
            }
            current = Some(String::new());
        } else if line == end {
            let body = current.take().ok_or_else(|| malformed("a block ends that never began"))?;
            let bytes = BASE64.decode(body).map_err(|error| malformed(&format!("block {}: {error}", out.len() + 1)))?;
            out.push(bytes);
        } else if let Some(body) = current.as_mut() {
            body.push_str(line);
        }
    }
    if current.is_some() {
        return Err(malformed("the last block has no END line"));
    }
    if out.is_empty() {
        return Err(malformed(&format!("no `{begin}` block found")));
    }
    Ok(out)
}

fn malformed(reason: &str) -> TrustError {
    TrustError::Malformed { what: "statement file", reason: reason.to_owned() }
}
