//! Who may see a page: one sign-in token printed at start, exchanged once for
//! a session cookie (HttpOnly, SameSite=Strict), and a CSRF token per
//! session that every form carries back.

use std::collections::HashMap;
use std::sync::Mutex;

use edusync_i18n::Language;
use rand::RngCore;

pub(crate) const COOKIE: &str = "edusync_session";
/// Bounds memory whatever a browser does: the oldest sessions make room.
const MAX_SESSIONS: usize = 256;

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Compares two tokens in time that does not depend on where they differ.
fn same(left: &str, right: &str) -> bool {
    left.len() == right.len() && left.bytes().zip(right.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub csrf: String,
    pub language: Language,
    created: u64,
}

pub(crate) struct Sessions {
    sign_in: Mutex<Option<String>>,
    open: Mutex<HashMap<String, Session>>,
    counter: Mutex<u64>,
}

impl Sessions {
    /// With a fresh sign-in token, which [`Sessions::sign_in_token`] gives once.
    pub(crate) fn new() -> Sessions {
        Sessions { sign_in: Mutex::new(Some(random_token())), open: Mutex::default(), counter: Mutex::new(0) }
    }

    pub(crate) fn sign_in_token(&self) -> Option<String> {
        self.sign_in.lock().ok().and_then(|token| token.clone())
    }

    /// Exchanges the sign-in token for a session id; the token works once.
    pub(crate) fn sign_in(&self, token: &str, language: Language) -> Option<String> {
        let mut sign_in = self.sign_in.lock().ok()?;
        let valid = sign_in.as_deref().is_some_and(|expected| same(expected, token));
        if !valid {
            return None;
        }
        *sign_in = None;
        let id = random_token();
        let created = {
            let mut counter = self.counter.lock().ok()?;
            *counter += 1;
            *counter
        };
        let mut open = self.open.lock().ok()?;
        if open.len() >= MAX_SESSIONS {
            if let Some(oldest) = open.iter().min_by_key(|(_, session)| session.created).map(|(id, _)| id.clone()) {
                open.remove(&oldest);
            }
        }
        open.insert(id.clone(), Session { csrf: random_token(), language, created });
        Some(id)
    }

    pub(crate) fn get(&self, id: &str) -> Option<Session> {
        let open = self.open.lock().ok()?;
        open.iter().find(|(known, _)| same(known, id)).map(|(_, session)| session.clone())
    }

    pub(crate) fn set_language(&self, id: &str, language: Language) {
        if let Ok(mut open) = self.open.lock() {
            if let Some(session) = open.get_mut(id) {
                session.language = language;
            }
        }
    }

    pub(crate) fn csrf_matches(session: &Session, given: &str) -> bool {
        same(&session.csrf, given)
    }
}

/// The session id in a request's `Cookie` header, if any.
pub(crate) fn session_cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sign_in_token_works_once_and_a_wrong_one_never() {
        let sessions = Sessions::new();
        let token = sessions.sign_in_token().expect("a token");
        assert!(sessions.sign_in("0000", Language::English).is_none());
        let id = sessions.sign_in(&token, Language::Vietnamese).expect("signed in");
        assert!(sessions.sign_in(&token, Language::English).is_none(), "a token works once");
        let session = sessions.get(&id).expect("open");
        assert!(Sessions::csrf_matches(&session, &session.csrf));
        assert!(!Sessions::csrf_matches(&session, "forged"));
        assert!(sessions.get("not-a-session").is_none());
    }
}
