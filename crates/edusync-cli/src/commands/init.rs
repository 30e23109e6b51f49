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
    if let Some(parent) = &config.parent {
        println!();
        println!("Give the public key to {} so it can add this node to its config:", parent.org_id);
        println!(
            "  [[children]]\n  org_id = \"{}\"\n  public_key = \"{}\"",
            config.organisation.id,
            public.to_base64()
        );
    }
    Ok(())
}
