//! `edusync web`: the web app, a client of one node. With `--config` it
//! speaks as the node's operator (the node's own key); with `--node
//! --identity --certificate` as a data officer or auditor. The key stays in
//! this process; the browser gets a session cookie.

use std::sync::Arc;

use edusync_i18n::Language;

use super::NodeTarget;
use crate::failure::Failure;

#[derive(clap::Args)]
pub(crate) struct WebArgs {
    #[command(flatten)]
    target: NodeTarget,
    /// Where to serve the pages (port 0: any free port). Any address but
    /// loopback needs --tls-certificate and --tls-key.
    #[arg(long, default_value = "127.0.0.1:8088")]
    listen: std::net::SocketAddr,
    /// PEM certificate chain to serve HTTPS with (e.g. server.crt from `edusync tls generate`).
    #[arg(long, requires = "tls_key")]
    tls_certificate: Option<std::path::PathBuf>,
    /// PEM private key of --tls-certificate.
    #[arg(long, requires = "tls_certificate")]
    tls_key: Option<std::path::PathBuf>,
    /// How times typed into forms are read, e.g. +07:00 (default: the
    /// config's node.utc_offset, else +07:00).
    #[arg(long)]
    utc_offset: Option<chrono::FixedOffset>,
}

pub(crate) async fn run(args: WebArgs, language: Language) -> Result<(), Failure> {
    if !args.listen.ip().is_loopback() && args.tls_certificate.is_none() {
        // Said before a session is opened: nothing to do with the node.
        return Err(Failure::input(edusync_web::WebError::NotLoopback(args.listen).to_string()));
    }
    let config_offset =
        args.target.config_path().map(edusync_config::NodeConfig::load).transpose()?.map(|config| config.utc_offset);
    let utc_offset = args
        .utc_offset
        .or(config_offset)
        .or_else(|| chrono::FixedOffset::east_opt(7 * 3600))
        .ok_or_else(|| Failure::input("--utc-offset: not an offset"))?;
    // Open one session now, so that a wrong address or key fails here, not in the browser.
    args.target.open_session().await?;
    let target = Arc::new(args.target);
    let connect: edusync_web::Connect = Arc::new(move || {
        let target = Arc::clone(&target);
        Box::pin(async move {
            let (channel, session) = target.open_session().await.map_err(|failure| failure.text(language))?;
            Ok((channel, session.bearer, session.role))
        })
    });
    let tls =
        args.tls_certificate.zip(args.tls_key).map(|(certificate, key)| edusync_web::TlsFiles { certificate, key });
    let options = edusync_web::WebOptions { listen: args.listen, tls, language, utc_offset, connect };
    let running = edusync_web::start(options).await.map_err(|error| Failure::input(error.to_string()))?;
    println!("edusync web: open {}", running.sign_in_url);
    println!("(the address signs one browser in once; stop with Ctrl-C)");
    tokio::select! {
        served = running.wait() => served.map_err(|error| Failure::other(anyhow::anyhow!("{error}"))),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
