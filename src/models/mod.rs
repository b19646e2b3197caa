//! Model names as clients write them, turned into what the backend takes.
//!
//! Pure: the caller passes the configured aliases and the backend's model
//! catalogue; nothing here fetches or serves.

pub mod aliases;
