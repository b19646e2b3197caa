//! Model names as clients write them, turned into what the backend takes,
//! and the client version the backend lists its models for.
//!
//! Pure: the caller passes the configured aliases and the backend's model
//! catalogue; nothing here fetches or serves (`client_version` only reads
//! the CLI's `version.json`).

pub mod aliases;
pub mod client_version;
