//! The API dialects clients speak besides the Responses API itself, each a
//! pure translator to and from the Responses shape the backend serves, with
//! its own stream grammar: values in, values out; the HTTP routes own the wire.

pub mod chat;
pub mod messages;
