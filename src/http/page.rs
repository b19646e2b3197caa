//! The status page at `GET /` and `GET /status`: one HTML file compiled into
//! the binary, whose script reads `/v1/status` every few seconds. The page
//! itself holds no data, so it loads without the client key; its script asks
//! for the key when `/v1/status` wants one.
//!
//! Its style and script are inline (one file, nothing to fetch) and the
//! Content-Security-Policy allows exactly them by their SHA-256, computed
//! once from the file the binary carries: an edit of the page can never
//! leave a stale hash behind, and no other script or style can run, even if
//! a model name a client sent were ever written into the page as markup.

use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The page, as served.
pub const PAGE: &str = include_str!("page.html");

/// The policy for [`PAGE`]; see the module documentation.
pub static POLICY: LazyLock<String> = LazyLock::new(|| policy(PAGE));

/// `GET /` and `GET /status`.
pub async fn show() -> Response {
    let mut response = PAGE.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(policy) = HeaderValue::from_str(&POLICY) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// `default-src 'self'` and `frame-ancestors 'none'`, with the inline
/// `<style>` and `<script>` blocks of `page` allowed by hash.
fn policy(page: &str) -> String {
    let hashes = |tag: &str| -> String {
        inline_blocks(page, tag)
            .map(|block| format!(" 'sha256-{}'", sha256_base64(block)))
            .collect()
    };
    format!(
        "default-src 'self'; script-src{}; style-src{}; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'",
        hashes("script"),
        hashes("style")
    )
}

/// The text of each `<tag>…</tag>` block of `page`, as a browser hashes it.
fn inline_blocks<'a>(page: &'a str, tag: &str) -> impl Iterator<Item = &'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut rest = page;
    std::iter::from_fn(move || {
        let (_, after) = rest.split_once(open.as_str())?;
        let (block, next) = after.split_once(close.as_str())?;
        rest = next;
        Some(block)
    })
}

fn sha256_base64(text: &str) -> String {
    STANDARD.encode(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_exactly_the_inline_style_and_script_by_hash() {
        let page = "<style>a{}</style><p>x</p><script>go()</script>";
        assert_eq!(
            policy(page),
            format!(
                "default-src 'self'; script-src 'sha256-{}'; style-src 'sha256-{}'; \
                 base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
                sha256_base64("go()"),
                sha256_base64("a{}")
            )
        );
        // The known SHA-256 of "abc", as CSP writes it.
        assert_eq!(
            sha256_base64("abc"),
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
    }

    #[test]
    fn the_served_page_has_one_style_and_one_script_and_loads_nothing_else() {
        assert_eq!(inline_blocks(PAGE, "style").count(), 1);
        assert_eq!(inline_blocks(PAGE, "script").count(), 1);
        assert!(POLICY.contains("script-src 'sha256-"));
        // No CDN, no external font, no inline handler attribute.
        for outside in [
            "http://",
            "https://",
            "@import",
            "url(",
            " onclick=",
            " onload=",
        ] {
            assert!(!PAGE.contains(outside), "the page holds {outside:?}");
        }
        assert!(!PAGE.contains("innerHTML"), "values are written as text");
    }
}
