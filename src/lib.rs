//! apitokend (placeholder header; the daemon modules are being written).

pub mod cli;
