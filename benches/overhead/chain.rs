//! What conversation state costs: the same answer through the proxy with
//! `store: false`, stored (the public API's default), and continuing a
//! stored conversation by `previous_response_id` one turn back and twenty,
//! back to back in one run. Every answer the mock gives here has an id of
//! its own (`session-id: unique`), as the real backend's do.

use super::*;

/// Turns in the conversation the deepest case continues.
const DEPTH: usize = 20;

/// The request body of a case, streamed or not.
fn body(extra: &Value, stream: bool) -> Bytes {
    let mut body = json!({"model": "gpt-5", "input": "Say hello", "stream": stream});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    Bytes::from(body.to_string())
}

/// Stores a conversation of `DEPTH` turns; the ids, oldest first.
async fn conversation(
    client: &reqwest::Client,
    url: &str,
    headers: &reqwest::header::HeaderMap,
) -> Vec<String> {
    let mut ids: Vec<String> = Vec::with_capacity(DEPTH);
    for n in 0..DEPTH {
        let request = json!({"model": "gpt-5", "input": format!("turn {n}"), "previous_response_id": ids.last()});
        let answer: Value = client
            .post(url)
            .headers(headers.clone())
            .body(request.to_string())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(answer["id"].as_str().expect("a stored turn").to_owned());
    }
    ids
}

pub fn run(rt: &tokio::runtime::Runtime, proxy: SocketAddr, duration: Duration) {
    let client = client(4);
    let url = format!("http://{proxy}/v1/responses");
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    headers.insert("session-id", "unique".parse().unwrap());
    let ids = rt.block_on(conversation(&client, &url, &headers));
    let cases = [
        ("store: false", json!({"store": false})),
        ("stored", json!({})),
        (
            "chained, 1 turn back",
            json!({"previous_response_id": ids[0]}),
        ),
        (
            "chained, 20 turns back",
            json!({"previous_response_id": ids[DEPTH - 1]}),
        ),
    ];
    println!();
    println!(
        "| conversation state (proxy, c=1) | answer | req/s | p50 | p99 | added p50 | errors |\n|---|---|---:|---:|---:|---:|---:|"
    );
    for kind in [Kind::Json, Kind::Stream] {
        let mut base = f64::NAN;
        for (name, extra) in &cases {
            let target = Target {
                name,
                url: url.clone(),
                headers: headers.clone(),
                json_body: body(extra, false),
                stream_body: body(extra, true),
                turns: None,
            };
            rt.block_on(load(&client, &target, kind, 1, WARMUP));
            let s = rt.block_on(load(&client, &target, kind, 1, duration));
            if base.is_nan() {
                base = s.pct(0.5);
            }
            println!(
                "| {name} | {} | {:.0} | {} | {} | {} | {} |",
                match kind {
                    Kind::Json => "JSON (collected)",
                    Kind::Stream => "streamed",
                },
                s.rps(),
                us(s.pct(0.5)),
                us(s.pct(0.99)),
                if *name == cases[0].0 {
                    "-".into()
                } else {
                    us(s.pct(0.5) - base)
                },
                s.errors,
            );
        }
    }
}
