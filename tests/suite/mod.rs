//! The integration tests, one module a feature.

mod accounting;
mod auth;
mod bad_input;
mod boundary;
mod browser;
mod chat;
mod compat;
mod contract;
mod crash;
mod devtools;
mod faults;
mod grafana;
mod incremental;
mod limits;
mod manual;
mod messages;
mod metrics;
mod mock_ws;
mod page;
mod responses;
mod security;
mod state;
mod status;
mod systemd;
mod transport;
mod websocket;
