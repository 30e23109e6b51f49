//! `edusync sync now`: a round with the parent at once, instead of at the
//! node's next interval (a link just came back, a policy was just set above).

use edusync_i18n::{Language, Message};
use edusync_proto::wire;

use super::NodeTarget;
use crate::failure::Failure;

#[derive(clap::Subcommand)]
pub(crate) enum SyncCommand {
    /// Sync with the parent now and wait for the round to end: push what is owed, pull what the offices above
    /// set (policies, plans, certificates). Exit 0 when it succeeded, 3 when the parent could not be reached.
    Now {
        #[command(flatten)]
        target: NodeTarget,
    },
}

impl SyncCommand {
    pub(crate) fn target(&self) -> &NodeTarget {
        match self {
            SyncCommand::Now { target } => target,
        }
    }
}

pub(crate) async fn run(command: SyncCommand, language: Language) -> Result<(), Failure> {
    let SyncCommand::Now { target } = command;
    let mut client = target.connect().await?;
    let answer = client.sync_now(wire::SyncNowRequest {}).await.map_err(Failure::from_status)?.into_inner();
    let parent = answer.parent.unwrap_or_default();
    if !answer.error.is_empty() {
        return Err(Failure::unreachable_message(Message::SyncRoundFailed {
            parent: parent.parent_org,
            error: answer.error,
        }));
    }
    println!("{}", Message::SyncRoundDone { parent: parent.parent_org, round: answer.round }.text(language));
    if parent.outbox_depth == 0 {
        println!("{}", Message::SyncDone { head: parent.local_head_seq }.text(language));
    } else {
        println!("{}", Message::SyncRoundWaiting { waiting: parent.outbox_depth }.text(language));
    }
    Ok(())
}
