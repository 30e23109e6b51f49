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
            "a key already exists at {}; refusing to replace it (to change keys, use `edusync keys rotate`)",
            key_path.display()
        )));
    }
    let key = NodeKey::generate();
    write_new(&key_path, key.to_pkcs8_pem().as_bytes(), 0o600)?;
    let public = key.public_key();
    write_public_halves(data_dir, &public)?;
    Ok(public)
}

pub fn load_key(data_dir: &Path) -> Result<NodeKey, NodeError> {
    let key_path = data_dir.join("node.key");
    let text = std::fs::read_to_string(&key_path).map_err(|error| {
        NodeError::Key(format!("cannot read the node key {}: {error}; run `edusync init` first", key_path.display()))
    })?;
    NodeKey::from_pkcs8_pem(&text).map_err(|error| NodeError::Key(format!("{}: {error}", key_path.display())))
}

/// The key this node is rotating to (`node.key.next`), made on first ask and
/// the same on every later one, so that a request written twice names the
/// same key.
pub fn next_key(data_dir: &Path) -> Result<NodeKey, NodeError> {
    if let Some(key) = pending_next_key(data_dir)? {
        return Ok(key);
    }
    let key = NodeKey::generate();
    write_new(&data_dir.join(NEXT_KEY), key.to_pkcs8_pem().as_bytes(), 0o600)?;
    Ok(key)
}

/// `node.key.next`, if a rotation is under way.
pub fn pending_next_key(data_dir: &Path) -> Result<Option<NodeKey>, NodeError> {
    let path = data_dir.join(NEXT_KEY);
    match std::fs::read_to_string(&path) {
        Ok(text) => NodeKey::from_pkcs8_pem(&text)
            .map(Some)
            .map_err(|error| NodeError::Key(format!("{}: {error}", path.display()))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(NodeError::Key(format!("cannot read {}: {error}", path.display()))),
    }
}

/// Makes the next key the node's key. The old one is kept beside it as
/// `node.key.retired-<ms>` until the operator destroys it; each step is a
/// link or a rename, so a crash leaves either the old key or the new one in
/// place, never neither.
pub fn promote_next_key(data_dir: &Path, now_ms: i64) -> Result<PublicKey, NodeError> {
    let next = pending_next_key(data_dir)?
        .ok_or_else(|| NodeError::Key(format!("no {NEXT_KEY} in {}: nothing to promote", data_dir.display())))?;
    let (current, retired) = (data_dir.join("node.key"), data_dir.join(format!("node.key.retired-{now_ms}")));
    std::fs::hard_link(&current, &retired)
        .map_err(|error| NodeError::Key(format!("cannot keep the old key as {}: {error}", retired.display())))?;
    std::fs::rename(data_dir.join(NEXT_KEY), &current)
        .map_err(|error| NodeError::Key(format!("cannot put the new key in place: {error}")))?;
    let public = next.public_key();
    write_public_halves(data_dir, &public)?;
    std::fs::File::open(data_dir)
        .and_then(|directory| directory.sync_all())
        .map_err(|error| NodeError::Key(format!("cannot sync {}: {error}", data_dir.display())))?;
    Ok(public)
}

const NEXT_KEY: &str = "node.key.next";

fn write_public_halves(data_dir: &Path, public: &PublicKey) -> Result<(), NodeError> {
    std::fs::write(data_dir.join("node.pub"), format!("{}\n", public.to_base64()))
        .map_err(|error| NodeError::Key(format!("cannot write node.pub: {error}")))?;
    std::fs::write(data_dir.join("node.pub.pem"), public.to_spki_pem())
        .map_err(|error| NodeError::Key(format!("cannot write node.pub.pem: {error}")))
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

    #[test]
    fn a_rotation_keeps_one_next_key_and_promotes_it_keeping_the_old_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = init_key(dir.path()).expect("creates");
        assert!(pending_next_key(dir.path()).expect("readable").is_none());
        let next = next_key(dir.path()).expect("made").public_key();
        assert_eq!(next_key(dir.path()).expect("the same again").public_key(), next);
        assert_eq!(promote_next_key(dir.path(), 5).expect("promoted"), next);
        assert_eq!(load_key(dir.path()).expect("loads").public_key(), next);
        let retired = std::fs::read_to_string(dir.path().join("node.key.retired-5")).expect("old key kept");
        assert_eq!(NodeKey::from_pkcs8_pem(&retired).expect("pem").public_key(), old);
        let written = std::fs::read_to_string(dir.path().join("node.pub")).expect("public half");
        assert_eq!(written.trim(), next.to_base64());
        assert!(pending_next_key(dir.path()).expect("readable").is_none());
        assert!(promote_next_key(dir.path(), 6).is_err(), "nothing left to promote");
    }
}
