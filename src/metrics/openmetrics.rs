//! Reads OpenMetrics text back with the reference parser, Python's
//! `prometheus_client` (`text_string_to_metric_families`), which rejects
//! anything a strict scraper would.

use std::collections::BTreeMap;

use serde_json::Value;

// The integration tests' reader, so both read `/metrics` the same way.
#[path = "../../tests/common/openmetrics.rs"]
#[allow(dead_code)]
mod reference;

/// The families as the parser read them, by family name (`type`, `unit`,
/// `samples`); `None` (test skipped) when no python3 has `prometheus_client`,
/// which fails the test under `CI`.
pub(super) fn parse(text: &str) -> Option<Value> {
    reference::parse(text).map(reference::Families::into_json)
}

pub(super) type Sample = (String, BTreeMap<String, String>, f64);

/// A family's samples, sorted, as (sample name, labels, value).
pub(super) fn samples(families: &Value, family: &str) -> Vec<Sample> {
    let mut samples: Vec<Sample> = families[family]["samples"]
        .as_array()
        .unwrap_or_else(|| panic!("no family {family}"))
        .iter()
        .map(|s| {
            (
                s[0].as_str().unwrap().to_owned(),
                serde_json::from_value(s[1].clone()).unwrap(),
                s[2].as_f64().unwrap(),
            )
        })
        .collect();
    samples.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    samples
}

pub(super) fn sample(name: &str, labels: &[(&str, &str)], value: f64) -> Sample {
    let labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    (name.to_owned(), labels, value)
}

/// The sample of `name` with exactly `labels`.
pub(super) fn value(
    families: &Value,
    family: &str,
    name: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    let wanted = sample(name, labels, 0.0);
    samples(families, family)
        .into_iter()
        .find(|s| s.0 == wanted.0 && s.1 == wanted.1)
        .map(|s| s.2)
}
