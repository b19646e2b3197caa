//! Sending a request on to the Codex backend and handing its answer back:
//! [`upstream`] owns a call end to end (credentials, the 401 retry, status
//! mapping), [`relay`] carries the live event stream (idle timeout,
//! passthrough, in-stream failures), [`collect`] builds one Responses object
//! from the events, [`finish`] makes the answer the client gets (and commits
//! it to the store when kept), [`headers`] says which headers cross in each direction,
//! and `status` maps the backend's HTTP refusals.

pub mod collect;
pub mod finish;
pub mod headers;
pub mod relay;
mod status;
pub mod upstream;

pub use self::upstream::{Opened, Upstream};
