//! Sending a request on to the Codex backend and handing its answer back:
//! [`upstream`] owns a call end to end (credentials, the 401 retry, status
//! mapping), [`relay`] carries the live event stream (idle timeout,
//! passthrough, in-stream failures), [`collect`] builds one Responses object
//! from the events, [`finish`] makes the answer the client gets (and commits
//! it to the store when kept), [`headers`] says which headers cross in each
//! direction, `status` maps the backend's HTTP refusals, and [`socket`] opens
//! and reads the backend's own Responses WebSocket.

pub mod collect;
pub mod finish;
pub mod headers;
pub mod relay;
pub mod socket;
mod status;
pub mod upstream;

pub use self::socket::Sockets;
pub use self::upstream::{Compacted, Opened, Upstream};
