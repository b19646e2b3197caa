//! Why the proxy closes a client's socket, said plainly: a frame over the
//! size limit, a binary frame, text that is not UTF-8 or a broken frame
//! each get the close code RFC 6455 §7.4.1 gives them, after a wrapped
//! `error` frame naming the limit where there is one. Without this the
//! socket just ended (1005, no status) and the client could not tell why.

use std::ops::ControlFlow;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::http::StatusCode;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};

use crate::error::{ApiError, ErrorKind};
use crate::turn::frames;

/// RFC 6455 §7.4.1 close codes.
const PROTOCOL_ERROR: u16 = 1002;
const UNSUPPORTED_DATA: u16 = 1003;
const INVALID_PAYLOAD: u16 = 1007;
const MESSAGE_TOO_BIG: u16 = 1009;

/// What the client did that ends its socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// A frame or message of `size` bytes over `limit` (`max_body_bytes`).
    TooBig { size: usize, limit: usize },
    /// A binary frame: requests are JSON text.
    Binary,
    /// A text frame that is not UTF-8.
    InvalidUtf8,
    /// A frame the protocol does not allow (bad opcode, unmasked, …).
    Protocol(String),
}

impl Violation {
    /// The violation behind a read error; `None` when the client simply
    /// went away (reset, closed), which needs no answer.
    pub fn of(e: &axum::Error) -> Option<Violation> {
        let ws = std::error::Error::source(e)?.downcast_ref::<WsError>()?;
        match ws {
            WsError::Capacity(CapacityError::MessageTooLong { size, max_size }) => {
                Some(Violation::TooBig {
                    size: *size,
                    limit: *max_size,
                })
            }
            WsError::Capacity(e) => Some(Violation::Protocol(e.to_string())),
            WsError::Utf8(_) => Some(Violation::InvalidUtf8),
            WsError::Protocol(e) => Some(Violation::Protocol(e.to_string())),
            _ => None,
        }
    }

    /// The close code RFC 6455 gives it.
    pub fn close_code(&self) -> u16 {
        match self {
            Violation::TooBig { .. } => MESSAGE_TOO_BIG,
            Violation::Binary => UNSUPPORTED_DATA,
            Violation::InvalidUtf8 => INVALID_PAYLOAD,
            Violation::Protocol(_) => PROTOCOL_ERROR,
        }
    }

    /// The close frame's reason: short, as a close frame holds at most 123 bytes.
    pub fn reason(&self) -> &'static str {
        match self {
            Violation::TooBig { .. } => "message too big",
            Violation::Binary => "binary frames are not supported",
            Violation::InvalidUtf8 => "text frame is not UTF-8",
            Violation::Protocol(_) => "protocol error",
        }
    }

    /// The wrapped error sent before closing, in the shape of every other
    /// error on the socket.
    pub fn error(&self) -> ApiError {
        let (code, message) = match self {
            Violation::TooBig { size, limit } => (
                "message_too_big",
                format!(
                    "the WebSocket message of {size} bytes is over the limit of {limit} bytes \
                     (max_body_bytes); send a smaller request"
                ),
            ),
            Violation::Binary => (
                "unsupported_data",
                "binary frames are not supported: send requests as JSON text frames".to_owned(),
            ),
            Violation::InvalidUtf8 => (
                "invalid_payload",
                "a text frame was not valid UTF-8".to_owned(),
            ),
            Violation::Protocol(why) => (
                "protocol_error",
                format!("the WebSocket frame broke the protocol: {why}"),
            ),
        };
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorKind::InvalidRequest,
            Some(code),
            message,
        )
    }
}

/// Tells the client what it did, then closes with the code for it. The
/// session ends either way.
pub async fn close(socket: &mut WebSocket, violation: &Violation) -> ControlFlow<()> {
    tracing::info!(
        code = violation.close_code(),
        error = %violation.error().message,
        "closing a client's WebSocket"
    );
    let frame = Message::Text(frames::wrapped(&violation.error()).into());
    if socket.send(frame).await.is_ok() {
        let close = CloseFrame {
            code: violation.close_code(),
            reason: violation.reason().into(),
        };
        let _ = socket.send(Message::Close(Some(close))).await;
    }
    ControlFlow::Break(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::error::ProtocolError;

    fn of(e: WsError) -> Option<Violation> {
        Violation::of(&axum::Error::new(e))
    }

    #[test]
    fn read_errors_are_told_apart_and_a_client_that_left_is_no_violation() {
        let too_big = WsError::Capacity(CapacityError::MessageTooLong {
            size: 2_000_000,
            max_size: 1_048_576,
        });
        assert_eq!(
            of(too_big),
            Some(Violation::TooBig {
                size: 2_000_000,
                limit: 1_048_576
            })
        );
        assert_eq!(
            of(WsError::Protocol(ProtocolError::UnmaskedFrameFromClient)).map(|v| v.close_code()),
            Some(1002)
        );
        assert_eq!(of(WsError::ConnectionClosed), None);
        assert_eq!(
            of(WsError::Io(std::io::ErrorKind::ConnectionReset.into())),
            None
        );
    }

    #[test]
    fn each_violation_has_its_rfc_6455_code_and_an_error_naming_it() {
        let too_big = Violation::TooBig {
            size: 2_000_000,
            limit: 1_048_576,
        };
        assert_eq!(too_big.close_code(), 1009);
        let frame: serde_json::Value =
            serde_json::from_str(&frames::wrapped(&too_big.error())).unwrap();
        assert_eq!(
            frame,
            serde_json::json!({"type": "error", "status": 400, "error": {
                "type": "invalid_request_error", "code": "message_too_big",
                "message": "the WebSocket message of 2000000 bytes is over the limit of \
                            1048576 bytes (max_body_bytes); send a smaller request"}})
        );
        assert_eq!(Violation::Binary.close_code(), 1003);
        assert_eq!(Violation::InvalidUtf8.close_code(), 1007);
        assert_eq!(Violation::Protocol("x".into()).close_code(), 1002);
        for v in [
            too_big,
            Violation::Binary,
            Violation::InvalidUtf8,
            Violation::Protocol("x".into()),
        ] {
            assert!(v.reason().len() <= 123, "{v:?}");
        }
    }
}
