//! Where log records go: native journald records with structured fields, or
//! readable text on stderr.
//!
//! Under systemd, stderr is already connected to the journal, but only as
//! plain lines. Writing natively instead keeps each event's fields as
//! journal fields: `PRIORITY` from the level, `TARGET` (the module), and the
//! event's own fields upper-cased (`REQUEST_ID`, `STATUS`, `DURATION_MS`, …),
//! so `journalctl STATUS=502` works.

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

use tracing_journald::{Priority, PriorityMappings};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogTarget;

/// The name records carry as `SYSLOG_IDENTIFIER`, whatever the binary is called.
const IDENTIFIER: &str = "codex-responses-proxy";

/// Where records ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    Journald,
    Stderr,
}

/// Installs the global subscriber for `target`, filtered by `level` (an
/// `EnvFilter` directive, already validated with the configuration).
pub fn init(target: LogTarget, level: &str) -> Destination {
    let want_journald = match target {
        LogTarget::Journald => true,
        LogTarget::Stderr => false,
        LogTarget::Auto => stderr_is_journal(),
    };
    let filter = || EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let journald_error = if want_journald {
        match tracing_journald::layer() {
            Ok(layer) => {
                let layer = layer
                    .with_field_prefix(None)
                    .with_syslog_identifier(IDENTIFIER.into())
                    .with_priority_mappings(PriorityMappings {
                        error: Priority::Error,
                        warn: Priority::Warning,
                        info: Priority::Informational,
                        debug: Priority::Debug,
                        trace: Priority::Debug,
                    });
                tracing_subscriber::registry()
                    .with(filter())
                    .with(layer)
                    .init();
                return Destination::Journald;
            }
            Err(e) => Some(e),
        }
    } else {
        None
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Some(e) = journald_error {
        tracing::warn!(error = %e, "journald is unreachable; logging to stderr instead");
    }
    Destination::Stderr
}

/// stderr is the journal stream systemd set up (`JOURNAL_STREAM` names its
/// device and inode), not a terminal or a pipe a child inherited.
fn stderr_is_journal() -> bool {
    let Some(expected) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = expected.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    std::fs::File::from(fd)
        .metadata()
        .is_ok_and(|m| m.dev() == dev && m.ino() == ino)
}
