//! A configuration that cannot be used, and where a value came from (a
//! file, the environment, a flag), so that an error names both.

use std::path::PathBuf;

use figment::Figment;

/// A configuration that cannot be used; the message names the key and its source.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Figment(Box<figment::Error>),
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid value for `{key}` (from {origin}): {reason}")]
    Invalid {
        key: String,
        origin: String,
        reason: String,
    },
}

impl From<figment::Error> for ConfigError {
    /// A value that did not parse names its key and where it came from.
    fn from(e: figment::Error) -> Self {
        match (e.path.last(), &e.kind) {
            (Some(key), figment::error::Kind::Message(reason)) => ConfigError::Invalid {
                key: key.clone(),
                origin: e
                    .metadata
                    .as_ref()
                    .map(origin_name)
                    .unwrap_or_else(|| "default".into()),
                reason: reason.clone(),
            },
            _ => ConfigError::Figment(Box::new(e)),
        }
    }
}

/// Where `key` got its value: "default", "TOML file /path", "environment variable(s)", ….
pub fn source_of(figment: &Figment, key: &str) -> String {
    figment
        .find_metadata(key)
        .map(origin_name)
        .unwrap_or_else(|| "default".into())
}

fn origin_name(meta: &figment::Metadata) -> String {
    // Serialized providers are named after their type: say what they are.
    match &meta.source {
        Some(figment::Source::Code(_)) if meta.name.ends_with("Flags") => {
            "command-line flag".into()
        }
        Some(figment::Source::Code(_)) => "default".into(),
        Some(src) => format!("{} {src}", meta.name),
        None => meta.name.to_string(),
    }
}
