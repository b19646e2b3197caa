//! How the daemon talks to the backend beyond its address: the encoding of
//! request bodies (`upstream_compression`).

use serde::{Deserialize, Serialize};

/// The `upstream_compression` setting. An enum rather than a bool: the
/// value says which encoding is used, and another one (gzip for a backend
/// that reads only that) would be a new value, not a new key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamCompression {
    /// zstd at the official client's level, whatever the client sent.
    #[default]
    Zstd,
    /// Bodies go as JSON; a client's zstd body is decoded and sent plain.
    Off,
}
