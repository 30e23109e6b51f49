// Present so Cargo builds this crate's build-dependencies with the features
// the test command's derive macros use (see Cargo.toml).
fn main() {}
