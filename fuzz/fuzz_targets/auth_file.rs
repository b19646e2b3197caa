//! The auth.json parser: any bytes in, either a refusal or a login whose
//! written-back form parses again to the same tokens.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use codex_responses_proxy::auth::file::{self, NewTokens};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Ok(login) = file::parse(input) else {
        return;
    };
    let now = UNIX_EPOCH + Duration::from_secs(1_795_000_000);
    let doc = login.refreshed(&NewTokens::default(), now);
    let bytes = serde_json::to_vec_pretty(&doc).expect("the document serializes");
    let again = file::parse(&bytes).expect("a written-back login parses again");
    assert_eq!(again.tokens, login.tokens);
    assert_eq!(again.last_refresh, Some(now));
});
