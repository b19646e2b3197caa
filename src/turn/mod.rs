//! One turn, whichever door it came in by: [`prepare`] settles what the
//! request means to a backend that keeps nothing (model names, the rules,
//! `previous_response_id`), [`collect`] builds one Responses object from
//! the events, and [`finish`] makes the answer the client gets (and commits
//! it to the store when kept).

pub mod collect;
pub mod finish;
pub mod prepare;
