//! Empty on purpose: this crate only pins features (see its Cargo.toml).
