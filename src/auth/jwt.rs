//! The few JWT claims the proxy reads. Signatures are never verified: the
//! tokens come from the user's own login file and are checked by the backend.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

/// Claims of an access or id token that matter here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Claims {
    /// Expiry, seconds since the Unix epoch.
    pub exp: Option<i64>,
    /// Issued at, seconds since the Unix epoch.
    pub iat: Option<i64>,
    pub email: Option<String>,
    #[serde(rename = "https://api.openai.com/auth", default)]
    pub openai: OpenAiClaims,
}

/// The `"https://api.openai.com/auth"` claim.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct OpenAiClaims {
    pub chatgpt_account_id: Option<String>,
    pub chatgpt_plan_type: Option<String>,
}

/// A token that is not `header.payload.signature` with a JSON payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a decodable JWT: {0}")]
pub struct JwtError(&'static str);

/// Decodes the payload of `token`.
pub fn decode(token: &str) -> Result<Claims, JwtError> {
    let mut parts = token.split('.');
    let (Some(_header), Some(payload), Some(_sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError("expected three dot-separated parts"));
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| JwtError("payload is not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError("payload is not a JSON object of claims"))
}

#[cfg(test)]
pub(crate) fn fake(claims: &serde_json::Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.signature")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_expiry_email_and_account_claims() {
        let token = fake(&json!({
            "exp": 1_800_000_000,
            "email": "a@example.com",
            "https://api.openai.com/auth": {"chatgpt_account_id": "acc", "chatgpt_plan_type": "plus"}
        }));
        assert_eq!(
            decode(&token).unwrap(),
            Claims {
                exp: Some(1_800_000_000),
                iat: None,
                email: Some("a@example.com".into()),
                openai: OpenAiClaims {
                    chatgpt_account_id: Some("acc".into()),
                    chatgpt_plan_type: Some("plus".into()),
                },
            }
        );
    }

    #[test]
    fn refuses_what_is_not_a_jwt() {
        assert!(decode("abc").is_err());
        assert!(decode("a.b.c.d").is_err());
        assert!(decode("a.!!!.c").is_err());
        assert!(decode(&format!("a.{}.c", URL_SAFE_NO_PAD.encode("[1]"))).is_err());
    }
}
