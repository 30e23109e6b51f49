//! `edusync tls generate`: TLS files for a node that has no PKI of its own.
//!
//! It makes a one-off CA, signs the node's server certificate with it and
//! forgets the CA's private key: `ca.crt` then pins exactly this node, and
//! is what its children (and its operators) name as `ca_certificate`.
//! Offices with their own PKI skip this and point node-config at their files.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

use super::write_new;
use crate::failure::Failure;

#[derive(Subcommand)]
pub(crate) enum TlsCommand {
    /// Write ca.crt, server.crt and server.key (mode 0600) into --out-dir.
    Generate {
        /// A DNS name or IP address clients use to reach this node; repeat
        /// for several. localhost and 127.0.0.1 are always included.
        #[arg(long = "name")]
        names: Vec<String>,
        /// Where to write ca.crt, server.crt and server.key (created; nothing is overwritten).
        #[arg(long)]
        out_dir: PathBuf,
        #[arg(long, default_value_t = 825)]
        valid_days: i64,
    },
}

pub(crate) fn run(command: TlsCommand) -> Result<(), Failure> {
    match command {
        TlsCommand::Generate { names, out_dir, valid_days } => generate(names, &out_dir, valid_days),
    }
}

fn generate(mut names: Vec<String>, out_dir: &Path, valid_days: i64) -> Result<(), Failure> {
    if !(1..=3650).contains(&valid_days) {
        return Err(Failure::input("--valid-days: between 1 and 3650"));
    }
    for default in ["localhost", "127.0.0.1"] {
        if !names.iter().any(|name| name == default) {
            names.push(default.to_owned());
        }
    }
    let files = ["ca.crt", "server.crt", "server.key"].map(|name| out_dir.join(name));
    if let Some(existing) = files.iter().find(|path| path.exists()) {
        return Err(Failure::input(format!(
            "--out-dir: {} exists; TLS files are never overwritten",
            existing.display()
        )));
    }
    let failed = |what: &str, error: rcgen::Error| Failure::other(anyhow::anyhow!("cannot make the {what}: {error}"));
    let now = time_now()?;
    let not_after = now + time::Duration::days(valid_days);

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(|error| failed("CA", error))?;
    ca_params.distinguished_name.push(DnType::CommonName, format!("edusync node CA for {}", names[0]));
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    (ca_params.not_before, ca_params.not_after) = (now - time::Duration::days(1), not_after);
    let ca_key = KeyPair::generate().map_err(|error| failed("CA key", error))?;
    let ca_certificate = ca_params.self_signed(&ca_key).map_err(|error| failed("CA certificate", error))?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut server_params = CertificateParams::new(names.clone()).map_err(|error| failed("server", error))?;
    server_params.distinguished_name.push(DnType::CommonName, names[0].clone());
    server_params.is_ca = IsCa::ExplicitNoCa;
    server_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    (server_params.not_before, server_params.not_after) = (now - time::Duration::days(1), not_after);
    let server_key = KeyPair::generate().map_err(|error| failed("server key", error))?;
    let server_certificate =
        server_params.signed_by(&server_key, &issuer).map_err(|error| failed("server certificate", error))?;

    std::fs::create_dir_all(out_dir)
        .map_err(|error| Failure::input(format!("--out-dir: cannot create {}: {error}", out_dir.display())))?;
    let [ca_path, certificate_path, key_path] = &files;
    write_new(ca_path, ca_certificate.pem().as_bytes(), 0o644)?;
    write_new(certificate_path, server_certificate.pem().as_bytes(), 0o644)?;
    write_new(key_path, server_key.serialize_pem().as_bytes(), 0o600)?;
    println!("wrote {}, {} and {}", ca_path.display(), certificate_path.display(), key_path.display());
    println!("valid for {} until {}", names.join(", "), not_after.date());
    println!(
        "in this node's config:  [server.tls] certificate = \"{}\"  key = \"{}\"  ca_certificate = \"{}\"",
        certificate_path.display(),
        key_path.display(),
        ca_path.display()
    );
    println!("give {} to its children: [parent] ca_certificate = \"...\"", ca_path.display());
    Ok(())
}

fn time_now() -> Result<time::OffsetDateTime, Failure> {
    let seconds = chrono::Utc::now().timestamp();
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .map_err(|error| Failure::other(anyhow::anyhow!("clock: {error}")))
}
