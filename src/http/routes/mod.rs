//! The handlers, one file per route: each decodes its dialect, hands the
//! turn on, and encodes the answer.

pub(super) mod chat;
pub(super) mod compact;
pub(super) mod messages;
pub(super) mod models;
pub(super) mod responses;
pub(super) mod status;
pub(super) mod stored;
