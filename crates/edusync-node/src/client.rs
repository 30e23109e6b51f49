//! The calling side of a session: what a child's sync loop, the command line
//! and tests use to prove who they are to a node.

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Request, Status};

use edusync_core::OrgId;
use edusync_envelope::NodeKey;
use edusync_proto::wire;
use edusync_proto::wire::auth_service_client::AuthServiceClient;

/// Adds the session's bearer token to every request.
#[derive(Clone, Debug)]
pub struct Bearer(MetadataValue<Ascii>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request.metadata_mut().insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// A channel whose requests carry a session token.
pub type SessionChannel = InterceptedService<Channel, Bearer>;

/// An opened session: the token, and who the node says the caller is.
#[derive(Clone, Debug)]
pub struct OpenedSession {
    pub bearer: Bearer,
    /// The token itself, for callers that hand it to another gRPC client.
    pub token: String,
    /// When the node stops honouring the token, in Unix seconds (0: not said).
    pub expires_unix_seconds: i64,
    pub role: String,
    pub server_org: String,
}

/// Asks `channel`'s node for a challenge and answers it as `org` with `key`,
/// offering `certificates` (the caller's chain, root first) in case the node
/// does not hold them yet.
pub async fn open_session(
    channel: Channel,
    org: &OrgId,
    key: &NodeKey,
    certificates: Vec<Vec<u8>>,
) -> Result<OpenedSession, Status> {
    let mut auth = AuthServiceClient::new(channel);
    let challenge = auth.get_challenge(wire::GetChallengeRequest {}).await?.into_inner();
    let server_org = OrgId::parse("server_org", &challenge.server_org)
        .map_err(|error| Status::internal(format!("the node named itself oddly: {error}")))?;
    let nonce: [u8; 32] = challenge
        .challenge
        .as_slice()
        .try_into()
        .map_err(|_| Status::internal("the node sent a challenge that is not 32 bytes"))?;
    let signature = edusync_trust::sign_session(key, &nonce, &server_org, org);
    let session = auth
        .open_session(wire::OpenSessionRequest {
            challenge: nonce.to_vec(),
            caller_org: org.to_string(),
            caller_key: key.public_key().0.to_vec(),
            signature: signature.to_vec(),
            certificates,
        })
        .await?
        .into_inner();
    let value = MetadataValue::try_from(format!("Bearer {}", session.token))
        .map_err(|_| Status::internal("the node sent a session token that is not ASCII"))?;
    Ok(OpenedSession {
        bearer: Bearer(value),
        token: session.token,
        expires_unix_seconds: session.expires_at.map_or(0, |at| at.seconds),
        role: session.role,
        server_org: challenge.server_org,
    })
}
