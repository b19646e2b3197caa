//! The API dialects clients speak besides Responses, each a pure translator
//! to and from the Responses shape with its own stream grammar.

pub mod chat;
