//! The node's error type.

use edusync_core::ValidationError;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("invalid input: {0}")]
    Invalid(#[from] ValidationError),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] edusync_store::StoreError),
    #[error("envelope: {0}")]
    Envelope(#[from] edusync_envelope::EnvelopeError),
    #[error("{0}")]
    Key(String),
    #[error("cannot start the node: {0}")]
    Startup(String),
    /// TLS or endpoint settings that cannot work: names the field and the file.
    #[error("{0}")]
    Transport(String),
    #[error("the node is shutting down; try again after it restarts")]
    ShuttingDown,
    #[error("{0}; ask again in a moment")]
    Retry(String),
    /// Restored from a backup and not yet reconciled with the parent.
    #[error("{0}")]
    Restored(String),
    /// A bounded queue is full; nothing was stored.
    #[error("{0}")]
    Exhausted(String),
    /// What a reader asked is shown only to the office's operator.
    #[error("{0}")]
    NotForReaders(String),
    /// Privacy settings that cannot work (a zero cost, an absurd cap).
    #[error("privacy settings: {0}")]
    Privacy(#[from] edusync_privacy::PrivacyError),
    /// Nothing has been released for readers and the period's budget
    /// cannot pay for a release.
    #[error("{0}")]
    BudgetSpent(String),
    /// The caller has no session, or one this node does not honour.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller is known, and what it asked is not its to ask.
    #[error("{0}")]
    Denied(String),
    /// Asked of the wrong node (another org's export, say): says which to ask.
    #[error("{0}")]
    WrongNode(String),
    /// A wait this node sets for itself ran out.
    #[error("{0}")]
    TimedOut(String),
    /// Something this node should never meet; a bug to report.
    #[error("internal error: {0}")]
    Internal(String),
    /// A sync was asked of a node whose config names no parent.
    #[error("{0} has no parent in its config: there is nothing to sync with (it is the top of its hierarchy)")]
    NoParent(edusync_core::OrgId),
}
