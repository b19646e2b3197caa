//! The API dialects clients speak besides the Responses API itself, each
//! translated to and from the Responses shape the backend serves. Pure:
//! values in, values out; the HTTP routes own the wire.

pub mod messages;
