//! Compiles `proto/edusync/v1/*.proto` with protox (pure Rust, no system protoc)
//! into OUT_DIR, and keeps the encoded descriptor set for gRPC reflection.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = ["edusync/v1/records.proto", "edusync/v1/envelope.proto", "edusync/v1/node.proto"];
    for file in files {
        println!("cargo:rerun-if-changed={}", proto_root.join(file).display());
    }
    let descriptors = protox::compile(files, [&proto_root])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("edusync_descriptor.bin"), prost::Message::encode_to_vec(&descriptors))?;
    // Undecodable input is the sender's fault: see src/codec.rs.
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .codec_path("crate::codec::Codec")
        .compile_fds(descriptors)?;
    Ok(())
}
