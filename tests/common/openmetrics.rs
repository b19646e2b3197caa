//! `/metrics` read back by the reference OpenMetrics parser, Python's
//! `prometheus_client`, which rejects anything a strict scraper would.
//! The `python3` on `PATH` may be a version manager's without the module,
//! while Debian's `python3-prometheus-client` installs for `/usr/bin/python3`:
//! both are tried. Without either the test is skipped, and fails under `CI`.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

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

const PYTHONS: [&str; 2] = ["python3", "/usr/bin/python3"];

/// The families of `text` as the parser read them (panics when it is not
/// valid OpenMetrics); `None` when no python3 has the parser.
pub fn parse(text: &str) -> Option<Families> {
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
        return Some(Families(serde_json::from_slice(&out.stdout).unwrap()));
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "no python3 with prometheus_client: install python3-prometheus-client"
    );
    eprintln!("skipped: no python3 with prometheus_client");
    None
}

/// Parsed metric families, by family name.
#[derive(Debug, Clone)]
pub struct Families(Value);

impl Families {
    /// The parser's whole answer: by family name, its `type`, `unit` and
    /// `samples` as `[name, labels, value]`.
    pub fn into_json(self) -> Value {
        self.0
    }

    /// The family's type (`counter`, `gauge`, `histogram`, …).
    pub fn kind(&self, family: &str) -> Option<String> {
        self.0[family]["type"].as_str().map(str::to_owned)
    }

    /// The value of sample `name` with exactly `labels`, if there is one.
    pub fn value(&self, family: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.0[family]["samples"]
            .as_array()?
            .iter()
            .find(|s| {
                s[0] == name
                    && serde_json::from_value::<BTreeMap<String, String>>(s[1].clone()).ok()
                        == Some(wanted.clone())
            })
            .and_then(|s| s[2].as_f64())
    }

    /// The sum of the samples named `name` whose labels include `labels`
    /// (others may be there too), 0 when there is none.
    pub fn sum(&self, family: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
        let samples = self.0[family]["samples"].as_array().cloned();
        samples
            .unwrap_or_default()
            .iter()
            .filter(|s| s[0] == name && labels.iter().all(|(k, v)| s[1][*k] == *v))
            .filter_map(|s| s[2].as_f64())
            .sum()
    }
}
