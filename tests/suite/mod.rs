//! The integration tests, one module a feature.

mod auth;
mod bad_input;
mod boundary;
mod browser;
mod chat;
mod compat;
mod contract;
mod crash;
mod faults;
mod limits;
mod load;
mod messages;
mod metrics;
mod mock_ws;
mod responses;
mod security;
mod state;
mod status;
mod systemd;
mod transport;
mod websocket;
