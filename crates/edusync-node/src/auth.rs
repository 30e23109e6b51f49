//! Who is calling: sessions opened by proof of possession of a certified
//! key, resolved on every request, and the authorisation rules of each role.
//!
//! A caller asks for a one-time challenge, signs it bound to both org ids
//! and its key (`edusync_trust::sign_session`), and gets a bearer token for
//! a short session. A challenge is consumed when used, so a recorded
//! OpenSession replays to nothing. Tokens live in memory only: a restart
//! ends every session, and callers simply open a new one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tonic::{Request, Status};

use edusync_core::OrgId;
use edusync_envelope::PublicKey;
use edusync_trust::{Role, TrustError, VerifiedStatement};

use crate::connections::Connections;
use crate::Node;

const CHALLENGE_LIFETIME: Duration = Duration::from_secs(60);
pub(crate) const SESSION_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// Bounds memory whatever callers do: the oldest entries make room.
const MAX_OPEN: usize = 10_000;

/// The authenticated caller of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Caller {
    /// The node's own key: the local operator's command line.
    Operator,
    /// A node with a certified key; `child` when this node certified it.
    Node { org: OrgId, key: PublicKey, child: bool },
    /// A data officer or auditor, reading inside `scope`.
    Reader { role: Role, scope: OrgId, key: PublicKey },
}

impl Caller {
    pub(crate) fn role_name(&self) -> &'static str {
        match self {
            Caller::Operator => "operator",
            Caller::Node { child: true, .. } => "child",
            Caller::Node { .. } => "node",
            Caller::Reader { role: Role::Auditor, .. } => "auditor",
            Caller::Reader { .. } => "data officer",
        }
    }

    pub(crate) fn org(&self) -> Option<&OrgId> {
        match self {
            Caller::Operator => None,
            Caller::Node { org, .. } => Some(org),
            Caller::Reader { scope, .. } => Some(scope),
        }
    }
}

impl std::fmt::Display for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Caller::Operator => f.write_str("the local operator"),
            Caller::Node { org, key, .. } => write!(f, "{} {org} (key {key})", self.role_name()),
            Caller::Reader { scope, key, .. } => write!(f, "{} for {scope} (key {key})", self.role_name()),
        }
    }
}

pub(crate) struct Authenticator {
    node: Arc<Node>,
    challenges: Mutex<HashMap<[u8; 32], Instant>>,
    sessions: Mutex<HashMap<[u8; 32], (Caller, Instant)>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn make_room<V>(map: &mut HashMap<[u8; 32], V>, expiry: impl Fn(&V) -> Instant) {
    let now = Instant::now();
    map.retain(|_, value| expiry(value) > now);
    while map.len() >= MAX_OPEN {
        let Some(oldest) = map.iter().min_by_key(|(_, value)| expiry(value)).map(|(key, _)| *key) else { break };
        map.remove(&oldest);
    }
}

impl Authenticator {
    pub(crate) fn new(node: Arc<Node>) -> Self {
        Authenticator { node, challenges: Mutex::new(HashMap::new()), sessions: Mutex::new(HashMap::new()) }
    }

    pub(crate) fn challenge(&self) -> [u8; 32] {
        let challenge: [u8; 32] = rand::random();
        let mut challenges = lock(&self.challenges);
        make_room(&mut challenges, |expiry| *expiry);
        challenges.insert(challenge, Instant::now() + CHALLENGE_LIFETIME);
        challenge
    }

    /// Checks a session proof and opens a session. Every refusal is logged
    /// with who the caller claimed to be.
    pub(crate) fn open(
        &self,
        challenge: &[u8],
        caller_org: &str,
        caller_key: &[u8],
        signature: &[u8],
        certificates: &[Vec<u8>],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<([u8; 32], Caller), Status> {
        let refuse = |reason: String| {
            tracing::warn!(org = %self.node.org(), caller_org, reason = %reason, "session refused");
            unauthenticated(reason)
        };
        let challenge: [u8; 32] =
            challenge.try_into().map_err(|_| refuse("challenge: must be the 32 bytes GetChallenge returned".into()))?;
        let fresh = lock(&self.challenges).remove(&challenge).is_some_and(|expiry| expiry > Instant::now());
        if !fresh {
            return Err(refuse(
                "challenge: unknown, expired or already used (a replayed request); ask GetChallenge for a new one"
                    .into(),
            ));
        }
        let org = OrgId::parse("caller_org", caller_org).map_err(|error| refuse(error.to_string()))?;
        let key = PublicKey::from_bytes(caller_key).map_err(|error| refuse(format!("caller_key: {error}")))?;
        let signature: [u8; 64] =
            signature.try_into().map_err(|_| refuse("signature: must be 64 bytes (Ed25519)".into()))?;
        if !edusync_trust::verify_session(&challenge, self.node.org(), &org, &key, &signature) {
            return Err(refuse(format!("signature: does not verify under key {key} for {org}")));
        }
        let caller = self.identify(&org, &key, certificates, now).map_err(|error| refuse(error.to_string()))?;
        let token: [u8; 32] = rand::random();
        let mut sessions = lock(&self.sessions);
        make_room(&mut sessions, |(_, expiry)| *expiry);
        sessions.insert(token, (caller.clone(), Instant::now() + SESSION_LIFETIME));
        tracing::info!(org = %self.node.org(), caller = %caller, "session opened");
        Ok((token, caller))
    }

    fn identify(
        &self,
        org: &OrgId,
        key: &PublicKey,
        certificates: &[Vec<u8>],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Caller, TrustError> {
        if org == self.node.org() && *key == self.node.public_key() {
            return Ok(Caller::Operator);
        }
        let now_ms = now.timestamp_millis();
        let standing = {
            let held = self.node.trust();
            match held.standing(org, key, now_ms) {
                Ok(standing) => Ok(standing),
                // A chain this node does not hold yet may come with the request;
                // it is checked like any other and used for this session only.
                Err(error) if !certificates.is_empty() => {
                    let mut trial = held.clone();
                    drop(held);
                    for bytes in certificates {
                        let statement = VerifiedStatement::verify(bytes)?;
                        trial.admit(&statement)?;
                    }
                    trial.standing(org, key, now_ms).map_err(|_| error)
                }
                Err(error) => Err(error),
            }
        }?;
        Ok(match standing.role {
            Role::Node(_) => {
                Caller::Node { org: org.clone(), key: *key, child: standing.chain.first() == Some(self.node.org()) }
            }
            role => Caller::Reader { role, scope: org.clone(), key: *key },
        })
    }

    fn resolve(&self, token: &[u8; 32]) -> Option<Caller> {
        let sessions = lock(&self.sessions);
        sessions.get(token).filter(|(_, expiry)| *expiry > Instant::now()).map(|(caller, _)| caller.clone())
    }
}

/// Resolves `authorization: Bearer <hex>` into a [`Caller`] in the request's
/// extensions. A request without one passes on, for the few calls that need
/// no session; every other handler asks [`caller`] and is refused there.
/// Each request is reported to the connection registry as progress, and as
/// authenticated when its session is valid.
#[derive(Clone)]
pub(crate) struct SessionCheck {
    pub(crate) sessions: Arc<Authenticator>,
    pub(crate) connections: Connections,
}

impl SessionCheck {
    fn resolve(&self, request: &Request<()>) -> Result<Option<[u8; 32]>, Status> {
        let Some(value) = request.metadata().get("authorization") else { return Ok(None) };
        let text = value.to_str().map_err(|_| unauthenticated("authorization: not ASCII"))?;
        text.strip_prefix("Bearer ")
            .and_then(|digits| decode_hex32(digits.trim()))
            .map(Some)
            .ok_or_else(|| unauthenticated("authorization: expected `Bearer <64 hex digits>`"))
    }
}

impl tonic::service::Interceptor for SessionCheck {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let peer = request.remote_addr();
        let found = self.resolve(&request).and_then(|token| match token {
            None => Ok(None),
            Some(token) => self.sessions.resolve(&token).map(|caller| Some((caller, token))).ok_or_else(|| {
                unauthenticated("session: unknown or expired; open a new one (GetChallenge, OpenSession)")
            }),
        });
        self.connections.requested(peer, matches!(found, Ok(Some(_))));
        if let Some((caller, token)) = found? {
            request.extensions_mut().insert(caller);
            request.extensions_mut().insert(crate::expensive::SessionToken(token));
        }
        Ok(request)
    }
}

/// Reports each request to the connection registry as progress, for
/// services that take no session (opening one).
#[derive(Clone)]
pub(crate) struct RequestSeen(pub(crate) Connections);

impl tonic::service::Interceptor for RequestSeen {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        self.0.requested(request.remote_addr(), false);
        Ok(request)
    }
}

/// 32 bytes as 64 hexadecimal digits, or `None`.
pub(crate) fn decode_hex32(text: &str) -> Option<[u8; 32]> {
    hex::decode(text).ok()?.try_into().ok()
}

/// The caller of a request, or UNAUTHENTICATED.
pub(crate) fn caller<T>(request: &Request<T>) -> Result<Caller, Status> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| unauthenticated("no session: open one first (AuthService.GetChallenge, then OpenSession)"))
}

fn denied(org: &OrgId, caller: &Caller, method: &str, reason: String) -> Status {
    tracing::warn!(org = %org, caller = %caller, method, reason = %reason, "call refused");
    crate::status::denied(reason)
}

fn unauthenticated(reason: impl Into<String>) -> Status {
    crate::status::to_status(crate::NodeError::Unauthenticated(reason.into()))
}

/// Only the node's own operator.
pub(crate) fn operator_only<T>(node: &Node, request: &Request<T>, method: &str) -> Result<(), Status> {
    match caller(request)? {
        Caller::Operator => Ok(()),
        other => {
            Err(denied(node.org(), &other, method, format!("{method} is for this node's operator only, not {other}")))
        }
    }
}

/// Only a node this node certified; returns its org.
pub(crate) fn child_only<T>(node: &Node, request: &Request<T>, method: &str) -> Result<OrgId, Status> {
    match caller(request)? {
        Caller::Node { org, child: true, .. } => Ok(org),
        reader @ Caller::Reader { .. } => Err(denied(
            node.org(),
            &reader,
            method,
            format!("a {} may read, never push or sync: {method} refused", reader.role_name()),
        )),
        other => Err(denied(
            node.org(),
            &other,
            method,
            format!("{method} is for children of {} only; {other} is not one", node.org()),
        )),
    }
}

/// The operator, or a reader whose scope covers this node.
pub(crate) fn reader_or_operator<T>(node: &Node, request: &Request<T>, method: &str) -> Result<Caller, Status> {
    let caller = caller(request)?;
    match &caller {
        Caller::Operator => Ok(caller),
        Caller::Reader { scope, .. } if node.org().is_within(scope) => Ok(caller),
        Caller::Reader { scope, .. } => {
            Err(denied(node.org(), &caller, method, format!("{} lies outside the reader's scope {scope}", node.org())))
        }
        Caller::Node { .. } => Err(denied(
            node.org(),
            &caller,
            method,
            format!("{method} is for this node's operator and certified readers, not {caller}"),
        )),
    }
}

/// The operator, an auditor whose scope covers this node, or a data officer
/// scoped to exactly this node: for disclosed tables of this node's children.
/// A data officer from above sees this office as one row among its siblings at
/// its own level's node, disclosed with them; this office's own table, shown
/// to the same person, could undo that suppression by differencing.
pub(crate) fn data_officer_at_own_level<T>(node: &Node, request: &Request<T>, method: &str) -> Result<Caller, Status> {
    let caller = reader_or_operator(node, request, method)?;
    match &caller {
        Caller::Reader { role, scope, .. } if *role != Role::Auditor && scope != node.org() => Err(denied(
            node.org(),
            &caller,
            method,
            format!(
                "a data officer of {scope} queries {scope}'s node, where {} is disclosed among its siblings; \
                 its own table here could undo that by differencing (an officer of {} itself may query here)",
                node.org(),
                node.org()
            ),
        )),
        _ => Ok(caller),
    }
}

/// The operator, or an auditor whose scope covers this node: for answers that
/// carry each child's exact counts (roll-up evidence, audit bundles). A data
/// officer sees children only through disclosure control (`Query`).
pub(crate) fn auditor_or_operator<T>(node: &Node, request: &Request<T>, method: &str) -> Result<Caller, Status> {
    let caller = reader_or_operator(node, request, method)?;
    match &caller {
        Caller::Reader { role, .. } if *role != Role::Auditor => Err(denied(
            node.org(),
            &caller,
            method,
            format!(
                "{method} carries each child's exact counts: it is for this node's operator and auditors; \
                 a data officer asks Query (edusync query), which applies disclosure control"
            ),
        )),
        _ => Ok(caller),
    }
}
