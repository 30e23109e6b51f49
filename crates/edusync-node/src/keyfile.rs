//! The node's key on disk: `node.key` (PKCS#8 PEM, mode 0600) and its public
//! halves `node.pub` (base64 of the raw key) and `node.pub.pem` (SPKI PEM).

use std::io::Write;
use std::path::Path;

use edusync_envelope::{NodeKey, PublicKey};

use crate::NodeError;

/// Creates the data directory and a new key in it. Refuses to overwrite a key:
/// a replaced key would orphan every record signed with the old one.
pub fn init_key(data_dir: &Path) -> Result<PublicKey, NodeError> {
    std::fs::create_dir_all(data_dir)
        .map_err(|error| NodeError::Key(format!("cannot create data directory {}: {error}", data_dir.display())))?;
    restrict(data_dir, 0o700)?;
    let key_path = data_dir.join("node.key");
    if key_path.exists() {
        return Err(NodeError::Key(format!(
            "a key already exists at {}; refusing to replace it (key rotation arrives with certificates)",
            key_path.display()
        )));
    }
    let key = NodeKey::generate();
    write_new(&key_path, key.to_pkcs8_pem().as_bytes(), 0o600)?;
    let public = key.public_key();
    std::fs::write(data_dir.join("node.pub"), format!("{}\n", public.to_base64()))
        .map_err(|error| NodeError::Key(format!("cannot write node.pub: {error}")))?;
    std::fs::write(data_dir.join("node.pub.pem"), public.to_spki_pem())
        .map_err(|error| NodeError::Key(format!("cannot write node.pub.pem: {error}")))?;
    Ok(public)
}

pub fn load_key(data_dir: &Path) -> Result<NodeKey, NodeError> {
    let key_path = data_dir.join("node.key");
    let text = std::fs::read_to_string(&key_path).map_err(|error| {
        NodeError::Key(format!("cannot read the node key {}: {error}; run `edusync init` first", key_path.display()))
    })?;
    NodeKey::from_pkcs8_pem(&text).map_err(|error| NodeError::Key(format!("{}: {error}", key_path.display())))
}

fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), NodeError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    let mut file =
        options.open(path).map_err(|error| NodeError::Key(format!("cannot create {}: {error}", path.display())))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|error| NodeError::Key(format!("cannot write {}: {error}", path.display())))
}

fn restrict(path: &Path, mode: u32) -> Result<(), NodeError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|error| NodeError::Key(format!("cannot restrict {}: {error}", path.display())))?;
    }
    let _ = (path, mode);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_is_private_and_never_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let public = init_key(dir.path()).expect("creates");
        assert_eq!(load_key(dir.path()).expect("loads").public_key(), public);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("node.key")).expect("exists").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(init_key(dir.path()).is_err());
        assert_eq!(load_key(dir.path()).expect("still the same key").public_key(), public);
    }
}
