//! TLS for the gRPC server and for clients of a node (the sync task, the
//! command line), from the PEM files node-config names. Plaintext happens
//! only when the config says `plaintext = true`.

use std::path::Path;

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};

use edusync_config::{ClientTransport, ServerTransport};

use crate::NodeError;

fn read(path: &Path, field: &str) -> Result<Vec<u8>, NodeError> {
    let bytes = std::fs::read(path)
        .map_err(|error| NodeError::Transport(format!("{field}: cannot read {}: {error}", path.display())))?;
    if !bytes.windows(11).any(|window| window == b"-----BEGIN ") {
        return Err(NodeError::Transport(format!("{field}: {} is not a PEM file", path.display())));
    }
    Ok(bytes)
}

/// The server's TLS settings, or `None` for plaintext.
pub fn server_tls(transport: &ServerTransport) -> Result<Option<ServerTlsConfig>, NodeError> {
    match transport {
        ServerTransport::Plaintext => Ok(None),
        ServerTransport::Tls { certificate, key, .. } => {
            let identity =
                Identity::from_pem(read(certificate, "server.tls.certificate")?, read(key, "server.tls.key")?);
            // A handshake that has not finished in this long is a client
            // holding a socket, not one about to speak.
            Ok(Some(ServerTlsConfig::new().identity(identity).timeout(TLS_HANDSHAKE_TIMEOUT)))
        }
    }
}

/// How long a client has to finish the TLS handshake.
pub const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// An endpoint for `url` that speaks the given transport. An https:// URL
/// without TLS settings, or the reverse, is refused rather than guessed.
pub fn client_endpoint(url: &str, transport: &ClientTransport) -> Result<Endpoint, NodeError> {
    let endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|error| NodeError::Transport(format!("`{url}` is not a URL: {error}")))?;
    match transport {
        ClientTransport::Plaintext if url.starts_with("https://") => Err(NodeError::Transport(format!(
            "`{url}` is https://, but no CA certificate was given to check it against"
        ))),
        ClientTransport::Plaintext => Ok(endpoint),
        ClientTransport::Tls { .. } if !url.starts_with("https://") => {
            Err(NodeError::Transport(format!("`{url}` is not https://, but TLS settings were given for it")))
        }
        ClientTransport::Tls { ca_certificate, domain } => {
            let mut tls =
                ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(ca_certificate, "ca_certificate")?));
            if let Some(domain) = domain {
                tls = tls.domain_name(domain.clone());
            }
            endpoint.tls_config(tls).map_err(|error| NodeError::Transport(format!("TLS for `{url}`: {error}")))
        }
    }
}
