//! `edusync session`: a session token for generic gRPC tools.
//!
//! grpcurl, grpcui or a script in any language can call a node once it holds
//! a token; opening a session needs an Ed25519 signature over the node's
//! challenge, which those tools cannot make. This command makes it with the
//! operator's or a reader's key and prints the header to send.

use super::NodeTarget;
use crate::failure::Failure;
use crate::output::json;

/// `edusync session`.
#[derive(clap::Args)]
pub(crate) struct SessionArgs {
    #[command(flatten)]
    pub(crate) target: NodeTarget,
    /// Print the token with its role and expiry as JSON instead of the header line.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: SessionArgs) -> Result<(), Failure> {
    let (_, session) = args.target.open_session().await?;
    let expires = chrono::DateTime::from_timestamp(session.expires_unix_seconds, 0)
        .filter(|_| session.expires_unix_seconds > 0)
        .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    if args.json {
        let document = serde_json::json!({
            "header": format!("authorization: Bearer {}", session.token),
            "token": session.token,
            "role": session.role,
            "node_org": session.server_org,
            "expires_at": expires,
        });
        println!("{}", json(&document));
        return Ok(());
    }
    // Standard output holds the header alone, so that `-H "$(edusync session ...)"` works;
    // what the token is for goes to standard error.
    println!("authorization: Bearer {}", session.token);
    eprintln!(
        "session at {} as {}{}; it grants what `edusync` would with the same key, so keep it out of shared logs",
        session.server_org,
        session.role,
        expires.map(|at| format!(", valid until {at}")).unwrap_or_default()
    );
    Ok(())
}
