//! `edusync init`: data directory and key.

use std::path::Path;

use edusync_config::NodeConfig;

use crate::failure::Failure;

pub(crate) fn run(config_path: &Path) -> Result<(), Failure> {
    let config = NodeConfig::load(config_path)?;
    let public = edusync_node::init_key(&config.data_dir).map_err(|error| Failure::input(error.to_string()))?;
    println!("created the signing key of {} ({})", config.organisation.id, config.organisation.display_name);
    println!("  private key: {} (mode 0600; never copy it off this machine)", config.key_path().display());
    println!("  public key:  {}", config.public_key_path().display());
    println!("  public key (base64): {}", public.to_base64());
    println!();
    match &config.parent {
        Some(parent) => println!(
            "Next, enrol with {}: start the node and an operator there approves it (`edusync enroll approve`),\nor carry `edusync enroll request --config {}` to {} and install the answer with `edusync enroll install`.",
            parent.org_id,
            config_path.display(),
            parent.org_id
        ),
        None => println!(
            "Next, certify this node with the root keys: `edusync enroll request --config {}`, then `edusync keys certify`.",
            config_path.display()
        ),
    }
    Ok(())
}
