//! codex-responses-proxy: the OpenAI Responses API on localhost, served by the
//! ChatGPT Codex backend with the Codex CLI's login.
//!
//! # Layout
//! A request's path reads top to bottom:
//! - [`server`]: the HTTP routes, limits, and the mapping of errors to responses.
//! - [`patch`]: rewrites a client's Responses request into what the backend accepts.
//! - [`auth`]: the login in `auth.json`: reading, refreshing, writing back.
//! - [`upstream`]: the client for the Codex backend: headers, sending, status mapping.
//! - [`sse`]: splitting the event stream and assembling collected answers.
//! - [`error`]: the OpenAI-shaped error every client sees.
//!
//! Around it: [`config`] (layered settings).

pub mod chat;
pub mod config;
pub mod error;
pub mod sse;
