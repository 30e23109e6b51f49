//! One module per subcommand, and how a command finds its node.

pub(crate) mod audit;
pub(crate) mod backup;
pub(crate) mod bench;
pub(crate) mod bundle;
pub(crate) mod compliance;
pub(crate) mod demo;
pub(crate) mod info;
pub(crate) mod init;
pub(crate) mod node;
pub(crate) mod query;
pub(crate) mod record;
pub(crate) mod report;
pub(crate) mod rollup;
pub(crate) mod session;
pub(crate) mod sheet;
pub(crate) mod status;
pub(crate) mod sync;
pub(crate) mod tls;
pub(crate) mod trust;
pub(crate) mod web;

use std::path::PathBuf;

use edusync_config::{ClientTransport, NodeConfig, ServerTransport};
use edusync_core::OrgId;
use edusync_envelope::NodeKey;
use edusync_node::SessionChannel;
use edusync_proto::wire::record_service_client::RecordServiceClient;
use edusync_proto::wire::trust_service_client::TrustServiceClient;
use tonic::transport::Channel;

use crate::failure::Failure;

/// Which running node a command talks to, and as whom.
#[derive(clap::Args, Clone)]
pub(crate) struct NodeTarget {
    /// The node's gRPC address, e.g. http://127.0.0.1:7401 (default: the
    /// config's server.listen).
    #[arg(long, env = "EDUSYNC_NODE")]
    node: Option<String>,
    /// The node's config file: the command acts as that node's operator,
    /// with the node's own key.
    #[arg(long, conflicts_with = "identity")]
    config: Option<PathBuf>,
    /// With --node: a reader's private key file (PKCS#8 PEM) ...
    #[arg(long, requires = "certificate")]
    identity: Option<PathBuf>,
    /// ... and the certificate file its issuer signed for it.
    #[arg(long, requires = "identity")]
    certificate: Option<PathBuf>,
    /// For an https:// node: the CA its TLS certificate chains to (the
    /// node's ca.crt). With --config, default: the config's server.tls.ca_certificate.
    #[arg(long, env = "EDUSYNC_CA")]
    ca: Option<PathBuf>,
    /// For an https:// node: the name its TLS certificate is checked for
    /// (default: the host in the URL).
    #[arg(long)]
    tls_domain: Option<String>,
}

impl NodeTarget {
    /// The node's URL and how to speak to it.
    fn endpoint(&self) -> Result<(String, ClientTransport), Failure> {
        let config = self.config.as_deref().map(NodeConfig::load).transpose()?;
        let local_ca = config.as_ref().and_then(|config| match &config.server.transport {
            ServerTransport::Tls { ca_certificate, .. } => ca_certificate.clone(),
            ServerTransport::Plaintext => None,
        });
        let url = match (&self.node, &config) {
            (Some(node), _) => node.clone(),
            (None, Some(config)) => {
                let mut address = config.server.listen;
                if address.ip().is_unspecified() {
                    address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                }
                match config.server.transport {
                    ServerTransport::Plaintext => format!("http://{address}"),
                    ServerTransport::Tls { .. } => format!("https://{address}"),
                }
            }
            (None, None) => return Err(Failure::input_message(edusync_i18n::Message::NameTheNode)),
        };
        if !url.starts_with("https://") {
            return Ok((url, ClientTransport::Plaintext));
        }
        let ca_certificate = self.ca.clone().or(local_ca).ok_or_else(|| {
            Failure::input(format!("--ca: `{url}` speaks TLS; name the CA certificate its certificate chains to"))
        })?;
        Ok((url, ClientTransport::Tls { ca_certificate, domain: self.tls_domain.clone() }))
    }

    /// Speaking as a reader (a data officer or an auditor), not as the operator.
    pub(crate) fn is_reader(&self) -> bool {
        self.identity.is_some()
    }

    pub(crate) fn config_path(&self) -> Option<&std::path::Path> {
        self.config.as_deref()
    }

    /// The config, when the command was not pointed at a node's address: the
    /// only case in which it may open the node's store itself.
    pub(crate) fn local_config_path(&self) -> Option<&std::path::Path> {
        self.config.as_deref().filter(|_| self.node.is_none())
    }

    /// Who the command speaks as: the node's own key (operator) or a reader.
    fn credentials(&self) -> Result<(OrgId, NodeKey, Vec<Vec<u8>>), Failure> {
        if let Some(path) = &self.config {
            let config = NodeConfig::load(path)?;
            let key = edusync_node::load_key(&config.data_dir).map_err(|error| Failure::input(error.to_string()))?;
            return Ok((config.organisation.id, key, Vec::new()));
        }
        let (Some(identity), Some(certificate)) = (&self.identity, &self.certificate) else {
            return Err(Failure::input(
                "--node needs --identity KEY --certificate CERT (a reader's); an operator uses --config FILE",
            ));
        };
        let key = read_key(identity, "--identity")?;
        let text = read_text(certificate, "--certificate")?;
        let chain = edusync_trust::dearmor(&text).map_err(|error| Failure::input(format!("--certificate: {error}")))?;
        let last = chain.last().ok_or_else(|| Failure::input("--certificate: the file holds no certificate"))?;
        let verified = edusync_trust::VerifiedStatement::verify(last)
            .map_err(|error| Failure::input(format!("--certificate: {error}")))?;
        let edusync_trust::Statement::Certificate(certificate) = &verified.statement else {
            return Err(Failure::input("--certificate: its last statement is not a certificate"));
        };
        if certificate.subject_key != key.public_key() {
            return Err(Failure::input("--certificate: it certifies another key than --identity's"));
        }
        Ok((certificate.subject_org.clone(), key, chain))
    }

    /// A channel to the node with an open session.
    pub(crate) async fn session(&self) -> Result<(Channel, edusync_node::Bearer), Failure> {
        let (channel, session) = self.open_session().await?;
        Ok((channel, session.bearer))
    }

    /// A channel to the node, and the session opened on it with what the node said of it.
    pub(crate) async fn open_session(&self) -> Result<(Channel, edusync_node::OpenedSession), Failure> {
        let (endpoint, transport) = self.endpoint()?;
        // Everything local first: a node closes a connection that makes no
        // request soon after it opens, first of all when it is busy.
        // (An unreachable node is still reported before a problem with them.)
        let credentials = self.credentials();
        // This machine's own node (--config) may be a moment from listening:
        // started in the background just before, or restarted by systemd.
        let starting_grace = if self.config.is_some() { STARTING_NODE_GRACE } else { std::time::Duration::ZERO };
        let connect = || async {
            let endpoint_config = edusync_node::client_endpoint(&endpoint, &transport)
                .map_err(|error| Failure::input(format!("--node: {error}")))?
                .connect_timeout(std::time::Duration::from_secs(5));
            let deadline = std::time::Instant::now() + starting_grace;
            loop {
                match endpoint_config.connect().await {
                    Ok(channel) => return Ok(channel),
                    Err(error) if refused(&error) && std::time::Instant::now() < deadline => {
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                    Err(error) => {
                        return Err(Failure::unreachable_message(edusync_i18n::Message::CannotReachNode {
                            endpoint: endpoint.clone(),
                            reason: error_chain(&error),
                        }))
                    }
                }
            }
        };
        let mut channel = connect().await?;
        let (org, key, chain) = credentials?;
        let mut opened = edusync_node::open_session(channel.clone(), &org, &key, chain.clone()).await;
        // A node at its connection limit may close a new connection before
        // its first request is read: once, connect again.
        if opened.as_ref().is_err_and(|status| {
            matches!(status.code(), tonic::Code::Cancelled | tonic::Code::Unknown | tonic::Code::Unavailable)
        }) {
            channel = connect().await?;
            opened = edusync_node::open_session(channel.clone(), &org, &key, chain).await;
        }
        let session = opened.map_err(|status| {
            match status.code() {
                // A TLS server hangs up on a plaintext request before any gRPC
                // answer; opening a session answers none of these otherwise.
                tonic::Code::Cancelled | tonic::Code::Unknown | tonic::Code::Unavailable | tonic::Code::Internal
                    if endpoint.starts_with("http://") =>
                {
                    Failure::unreachable(format!(
                        "{endpoint} gave no gRPC answer ({}); if the node serves TLS, use https:// and --ca",
                        status.message()
                    ))
                }
                _ => Failure::from_status(status),
            }
        })?;
        Ok((channel, session))
    }

    pub(crate) async fn connect(&self) -> Result<RecordServiceClient<SessionChannel>, Failure> {
        let (channel, bearer) = self.session().await?;
        Ok(RecordServiceClient::with_interceptor(channel, bearer).max_decoding_message_size(64 * 1024 * 1024))
    }

    pub(crate) async fn trust(&self) -> Result<TrustServiceClient<SessionChannel>, Failure> {
        let (channel, bearer) = self.session().await?;
        Ok(TrustServiceClient::with_interceptor(channel, bearer))
    }
}

/// The node's own name and the names its config gives the units below it,
/// by org id, for reports and tables.
pub(crate) async fn unit_names(target: &NodeTarget) -> Result<std::collections::BTreeMap<String, String>, Failure> {
    let mut client = target.connect().await?;
    let info = client
        .get_node_info(edusync_proto::wire::GetNodeInfoRequest {})
        .await
        .map_err(Failure::from_status)?
        .into_inner();
    let mut names: std::collections::BTreeMap<String, String> =
        info.unit_names.into_iter().map(|unit| (unit.org_id, unit.display_name)).collect();
    names.insert(info.org_id, info.display_name);
    Ok(names)
}

/// How long a command waits for its own node (`--config`) to start
/// listening when the connection is refused.
const STARTING_NODE_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether nothing listens at the address (the node is not running, or not yet).
fn refused(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(current) = cause {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::ConnectionRefused;
        }
        cause = current.source();
    }
    false
}

/// An error with its causes, for transport errors whose top line alone
/// ("transport error") says nothing.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Calls a node again, for up to 5 s, while it answers UNAVAILABLE: what a
/// node says for the tens of milliseconds it sums a child's newer aggregate.
pub(crate) async fn ask_again_while_unavailable<T, F, Fut>(mut call: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let mut attempts = 0;
    loop {
        match call().await {
            Ok(response) => return Ok(response.into_inner()),
            Err(status) if status.code() == tonic::Code::Unavailable && attempts < 25 => {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(status) => return Err(status),
        }
    }
}

/// Writes a file that must not exist yet, with `mode` on Unix, and syncs it:
/// keys, certificates and backups are never overwritten.
pub(crate) fn write_new(path: &std::path::Path, bytes: &[u8], mode: u32) -> Result<(), Failure> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    let _ = mode;
    options.open(path).and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all())).map_err(|error| {
        Failure::input_message(edusync_i18n::Message::CannotWrite {
            path: path.display().to_string(),
            error: error.to_string(),
        })
    })
}

pub(crate) fn read_text(path: &std::path::Path, what: &str) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|error| {
        Failure::input_message(edusync_i18n::Message::CannotRead {
            what: format!("{} ({what})", path.display()),
            error: error.to_string(),
        })
    })
}

/// A private key from a PKCS#8 PEM file named by the option `flag`.
pub(crate) fn read_key(path: &std::path::Path, flag: &str) -> Result<NodeKey, Failure> {
    let text = read_text(path, flag)?;
    NodeKey::from_pkcs8_pem(&text).map_err(|error| Failure::input(format!("{flag}: {}: {error}", path.display())))
}

/// A `--period` as a person types it: `2024-2025`, `2024-2025/S1`, or a
/// month as `2024-2025/M03` or `2024-2025/M3`. Only the command line is this
/// lenient; signed data and bundles carry the canonical `M03`.
pub(crate) fn period_arg(text: &str) -> Result<edusync_core::Period, Failure> {
    let text = text.trim();
    let canonical = match text.split_once("/M") {
        Some((year, month)) if month.len() == 1 && month.bytes().all(|digit| digit.is_ascii_digit()) => {
            format!("{year}/M0{month}")
        }
        _ => text.to_owned(),
    };
    canonical
        .parse()
        .map_err(|error: edusync_core::ValidationError| Failure::input(format!("--period: {}", error.reason)))
}

#[cfg(test)]
mod period_tests {
    #[test]
    fn a_month_may_be_typed_with_one_digit_or_two() {
        for (typed, meant) in [
            ("2024-2025/M3", "2024-2025/M03"),
            ("2024-2025/M03", "2024-2025/M03"),
            ("2024-2025/S1", "2024-2025/S1"),
            ("2024-2025", "2024-2025"),
        ] {
            let period = super::period_arg(typed).map_err(|failure| failure.text(edusync_i18n::Language::English));
            assert_eq!(period.map(|period| period.to_string()), Ok(meant.to_owned()), "{typed}");
        }
        assert!(super::period_arg("2024-2025/M13").is_err());
        assert!(super::period_arg("2024-2025/Mx").is_err());
    }
}
