//! Reads OpenMetrics text back with the reference parser, Python's
//! `prometheus_client` (`text_string_to_metric_families`), which rejects
//! anything a strict scraper would.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

/// Parses with `text_string_to_metric_families`, which rejects anything that
/// is not valid OpenMetrics; prints each family's type, unit and samples.
const PARSER: &str = r#"
import json, sys
try:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
except ImportError:
    sys.exit(3)
families = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    families[family.name] = {
        "type": family.type,
        "unit": family.unit,
        "samples": [[s.name, s.labels, s.value] for s in family.samples],
    }
print(json.dumps(families))
"#;

/// The exit status of [`PARSER`] when `prometheus_client` is not installed.
const NO_PARSER: i32 = 3;

/// Pythons to try, in order: the one on `PATH` may be a version manager's
/// without the module, while Debian's `python3-prometheus-client` installs
/// for `/usr/bin/python3`.
const PYTHONS: [&str; 2] = ["python3", "/usr/bin/python3"];

/// The families as the parser read them; `None` (test skipped) when no python3
/// has `prometheus_client`, which fails the test under `CI`.
pub(super) fn parse(text: &str) -> Option<Value> {
    for python in PYTHONS {
        let Ok(mut child) = Command::new(python)
            .args(["-c", PARSER])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        else {
            continue;
        };
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        if out.status.code() == Some(NO_PARSER) {
            continue;
        }
        assert!(
            out.status.success(),
            "not valid OpenMetrics: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
        return Some(serde_json::from_slice(&out.stdout).unwrap());
    }
    let what = "no python3 with prometheus_client";
    assert!(
        std::env::var_os("CI").is_none(),
        "{what}: install python3 and prometheus-client (Debian: python3-prometheus-client)"
    );
    eprintln!("skipped: {what}");
    None
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
