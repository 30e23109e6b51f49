//! One module per subcommand, and how a command finds its node.

pub(crate) mod bundle;
pub(crate) mod demo;
pub(crate) mod info;
pub(crate) mod init;
pub(crate) mod node;
pub(crate) mod record;
pub(crate) mod rollup;
pub(crate) mod status;

use std::path::PathBuf;

use edusync_config::NodeConfig;
use edusync_proto::wire::record_service_client::RecordServiceClient;
use tonic::transport::Channel;

use crate::failure::Failure;

/// Which running node a command talks to.
#[derive(clap::Args, Clone)]
pub(crate) struct NodeTarget {
    /// The node's gRPC address, e.g. http://127.0.0.1:7401.
    #[arg(long, env = "EDUSYNC_NODE", conflicts_with = "config")]
    node: Option<String>,
    /// The node's config file; its server.listen address is used.
    #[arg(long)]
    config: Option<PathBuf>,
}

impl NodeTarget {
    fn endpoint(&self) -> Result<String, Failure> {
        match (&self.node, &self.config) {
            (Some(node), _) => Ok(node.clone()),
            (None, Some(path)) => {
                let config = NodeConfig::load(path)?;
                let mut address = config.server.listen;
                if address.ip().is_unspecified() {
                    address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                }
                Ok(format!("http://{address}"))
            }
            (None, None) => Err(Failure::input("name the node with --node URL, --config FILE or EDUSYNC_NODE")),
        }
    }

    pub(crate) async fn connect(&self) -> Result<RecordServiceClient<Channel>, Failure> {
        let endpoint = self.endpoint()?;
        let channel = tonic::transport::Endpoint::from_shared(endpoint.clone())
            .map_err(|error| Failure::input(format!("--node: `{endpoint}` is not a URL: {error}")))?
            .connect_timeout(std::time::Duration::from_secs(5))
            .connect()
            .await
            .map_err(|error| {
                Failure::unreachable(format!(
                    "cannot reach the node at {endpoint}: {error}; is `edusync node run` running?"
                ))
            })?;
        Ok(RecordServiceClient::new(channel).max_decoding_message_size(64 * 1024 * 1024))
    }
}
