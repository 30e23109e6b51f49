//! `edusync node run`.

use std::path::Path;

use edusync_config::NodeConfig;
use edusync_node::RunningNode;

use crate::failure::Failure;

pub(crate) async fn run(
    config_path: &Path,
    listen: Option<String>,
    parent_endpoint: Option<String>,
) -> Result<(), Failure> {
    let mut config = NodeConfig::load(config_path)?;
    if let Some(listen) = listen {
        config.server.listen = listen
            .parse()
            .map_err(|_| Failure::input(format!("--listen: `{listen}` is not an address like 127.0.0.1:7401")))?;
    }
    if let Some(endpoint) = parent_endpoint {
        let parent = config
            .parent
            .as_mut()
            .ok_or_else(|| Failure::input("--parent-endpoint: this node has no [parent] in its config"))?;
        parent.endpoint = endpoint;
    }
    let running = RunningNode::start(&config).await.map_err(|error| Failure::other(anyhow::Error::new(error)))?;
    // One line on standard output, so scripts and tests learn the bound address.
    println!(
        "edusync node {} ({}) listening on {}",
        config.organisation.id,
        config.organisation.level,
        running.address()
    );
    wait_for_stop_signal().await?;
    tracing::info!(org = %config.organisation.id, "stopping");
    running.shutdown().await.map_err(|error| Failure::other(anyhow::Error::new(error)))?;
    Ok(())
}

async fn wait_for_stop_signal() -> Result<(), Failure> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut terminate =
            signal(SignalKind::terminate()).map_err(|error| Failure::other(anyhow::Error::new(error)))?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map_err(|error| Failure::other(anyhow::Error::new(error)))?;
    }
    Ok(())
}
