//! The integration tests as one crate, so the fixtures in `common` compile
//! and link once: `suite/` holds a module per feature.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod suite;
