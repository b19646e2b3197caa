//! Everything that speaks to the Codex backend: [`upstream`] makes the HTTP
//! calls (`/responses`, `/responses/compact`, `/models`, the usage
//! endpoint), [`call`] gives each call the login's credentials and the one
//! retry after a 401, [`events`] carries an answer's live event stream (idle
//! timeout, size bound, in-stream failures), [`socket`] opens and reads the
//! backend's own Responses WebSocket, [`headers`] says which headers cross
//! in each direction, [`refusal`] maps the backend's HTTP refusals to the
//! client's error, [`watch`] keeps what every answer says about the login's
//! usage windows (and answers from a reached limit's cooldown), [`tap`]
//! reads those windows inside an event stream, and [`usage`] reads the
//! backend's usage endpoint.

pub mod call;
pub mod compact;
pub mod events;
pub mod headers;
pub mod models;
pub mod refusal;
pub mod socket;
pub mod tap;
pub mod upstream;
pub mod usage;
pub mod watch;

pub use self::compact::Compacted;
pub use self::socket::Sockets;
pub use self::upstream::{Opened, Sent, Upstream};
