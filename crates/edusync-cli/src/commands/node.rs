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
    // Handlers go in before the address is announced: a supervisor that stops the node
    // the moment it reads that line must get a clean stop, not the default of dying.
    let stop_signal = StopSignal::install()?;
    let running = RunningNode::start(&config).await.map_err(|error| Failure::other(anyhow::Error::new(error)))?;
    // One line on standard output, so scripts and tests learn the bound address.
    println!(
        "edusync node {} ({}) listening on {}",
        config.organisation.id,
        config.organisation.level,
        running.address()
    );
    stop_signal.received().await;
    tracing::info!(org = %config.organisation.id, "stopping");
    running.shutdown().await.map_err(|error| Failure::other(anyhow::Error::new(error)))?;
    Ok(())
}

/// SIGTERM or SIGINT (Ctrl-C), listened for from the moment it is installed.
struct StopSignal {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignal {
    fn install() -> Result<Self, Failure> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let install = |kind| signal(kind).map_err(|error| Failure::other(anyhow::Error::new(error)));
            Ok(Self { terminate: install(SignalKind::terminate())?, interrupt: install(SignalKind::interrupt())? })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    async fn received(mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.terminate.recv() => {}
                _ = self.interrupt.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            // Without Ctrl-C handling the node could only be killed; if listening fails, stop.
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
