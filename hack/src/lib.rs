//! Empty on purpose: this package exists for its dependencies (see Cargo.toml).
