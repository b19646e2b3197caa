//! Which backend model, at which effort, answers an Anthropic model name.
//!
//! Claude Code asks for names like `claude-opus-5-5`; the backend serves only
//! the models of the user's plan. A name is resolved in this order:
//!
//! 1. The configured map ([`ModelMap`]): keys are exact names or globs with `*`
//!    (`claude-opus-*`, `claude-*`); the most specific match wins (the key with
//!    the most characters besides `*`, an exact name before a glob of the same
//!    length). Values are `model` or `model:effort` (`gpt-5.5:high`).
//! 2. A name the backend lists in its catalogue passes unchanged, so
//!    `ANTHROPIC_MODEL=gpt-5.5` works.
//! 3. The default for a Claude family, built from the catalogue rather than
//!    names a plan may not have. A name starting with `claude` is of the
//!    family named by one of its `-` separated parts:
//!    - opus: the first model of the catalogue at `high` effort;
//!    - sonnet: the first model at `medium`;
//!    - haiku: the smallest model at `low`: the first whose name has a `nano`
//!      part, else a `mini` part, else the first model;
//!    - any other `claude*` name: the first model at its default effort.
//!
//!    "First" is the listed model (`visibility: "list"`, not marked
//!    `supported_in_api: false`) with the lowest `priority`, the order the
//!    official client's picker shows.
//! 4. Anything else passes unchanged, and the backend says whether it knows it.
//!
//! An effort a model does not support is moved to the nearest one it does
//! ([`Catalogue::supported_effort`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A Responses `reasoning.effort`, in increasing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effort {
    None,
    Minimal,
    Low,
    Medium,
    High,
    Xhigh,
}

impl Effort {
    const ALL: [Effort; 6] = [
        Effort::None,
        Effort::Minimal,
        Effort::Low,
        Effort::Medium,
        Effort::High,
        Effort::Xhigh,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Effort::None => "none",
            Effort::Minimal => "minimal",
            Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High => "high",
            Effort::Xhigh => "xhigh",
        }
    }

    pub fn parse(s: &str) -> Option<Effort> {
        Effort::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// A configured map value: a backend model and, optionally, its effort.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Target {
    pub model: String,
    pub effort: Option<Effort>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("a model map value must name a model (`gpt-5.5` or `gpt-5.5:high`)")]
    Empty,
    #[error("`{0}`: the effort after `:` must be one of none, minimal, low, medium, high, xhigh")]
    Effort(String),
}

impl TryFrom<String> for Target {
    type Error = TargetError;

    fn try_from(value: String) -> Result<Self, TargetError> {
        let (model, effort) = match value.rsplit_once(':') {
            Some((model, effort)) => match Effort::parse(effort) {
                Some(e) => (model, Some(e)),
                None => return Err(TargetError::Effort(value.clone())),
            },
            None => (value.as_str(), None),
        };
        if model.trim().is_empty() {
            return Err(TargetError::Empty);
        }
        Ok(Target {
            model: model.to_owned(),
            effort,
        })
    }
}

impl From<Target> for String {
    fn from(target: Target) -> String {
        match target.effort {
            Some(effort) => format!("{}:{}", target.model, effort.as_str()),
            None => target.model,
        }
    }
}

/// The configured map from Anthropic model names (or globs) to backend models:
/// in TOML, a table such as `{ "claude-opus-*" = "gpt-5.5:high" }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ModelMap(pub BTreeMap<String, Target>);

impl ModelMap {
    /// The most specific entry whose key matches `name`.
    fn lookup(&self, name: &str) -> Option<(&str, &Target)> {
        self.0
            .iter()
            .filter(|(pattern, _)| glob_matches(pattern, name))
            .max_by_key(|(pattern, _)| {
                let literal = pattern.chars().filter(|c| *c != '*').count();
                (literal, !pattern.contains('*'))
            })
            .map(|(pattern, target)| (pattern.as_str(), target))
    }
}

/// Whether `name` matches `pattern`, where `*` stands for any run of characters.
fn glob_matches(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// One model of the backend's catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    pub slug: String,
    /// Lower comes first; a model without one comes last.
    pub priority: i64,
    /// Offered to clients: `visibility: "list"` and usable through the API.
    pub listed: bool,
    /// The efforts it accepts; empty when the catalogue does not say.
    pub efforts: Vec<Effort>,
    /// Its input window in tokens, when the catalogue gives it.
    pub context_window: Option<u64>,
}

/// The backend's models, from its `GET /models` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalogue {
    /// In catalogue order, stably sorted by priority.
    models: Vec<Model>,
}

impl Catalogue {
    /// Reads `{"models":[{slug, visibility, supported_in_api, priority,
    /// supported_reasoning_levels, …}]}`; entries it cannot read are skipped.
    /// `supported_reasoning_levels` holds `{effort, description}` objects (or
    /// plain strings in older answers).
    pub fn from_backend(body: &Value) -> Catalogue {
        let entries = body.get("models").and_then(Value::as_array);
        let mut models: Vec<Model> = entries
            .into_iter()
            .flatten()
            .filter_map(|m| {
                let slug = m.get("slug").and_then(Value::as_str)?;
                let efforts = m
                    .get("supported_reasoning_levels")
                    .and_then(Value::as_array);
                Some(Model {
                    slug: slug.to_owned(),
                    priority: m
                        .get("priority")
                        .and_then(Value::as_i64)
                        .unwrap_or(i64::MAX),
                    listed: m.get("visibility").and_then(Value::as_str) == Some("list")
                        && m.get("supported_in_api").and_then(Value::as_bool) != Some(false),
                    efforts: efforts
                        .into_iter()
                        .flatten()
                        .filter_map(|l| l.get("effort").unwrap_or(l).as_str())
                        .filter_map(Effort::parse)
                        .collect(),
                    context_window: m.get("context_window").and_then(Value::as_u64),
                })
            })
            .collect();
        models.sort_by_key(|m| m.priority);
        Catalogue { models }
    }

    pub fn models(&self) -> &[Model] {
        &self.models
    }

    /// The input window of the backend model `slug`, when the catalogue gives it.
    pub fn context_window(&self, slug: &str) -> Option<u64> {
        self.get(slug)?.context_window
    }

    fn get(&self, slug: &str) -> Option<&Model> {
        self.models.iter().find(|m| m.slug == slug)
    }

    fn first(&self) -> Option<&Model> {
        self.models.iter().find(|m| m.listed)
    }

    fn smallest(&self) -> Option<&Model> {
        let named = |part: &str| {
            self.models
                .iter()
                .find(|m| m.listed && m.slug.split('-').any(|p| p == part))
        };
        named("nano")
            .or_else(|| named("mini"))
            .or_else(|| self.first())
    }

    /// `wanted` if `slug` supports it, else the highest effort below it that
    /// it does, else the lowest above. Unchanged for a model the catalogue
    /// does not describe.
    pub fn supported_effort(&self, slug: &str, wanted: Effort) -> Effort {
        let Some(efforts) = self.get(slug).map(|m| &m.efforts).filter(|e| !e.is_empty()) else {
            return wanted;
        };
        let below = efforts.iter().filter(|e| **e <= wanted).max();
        let above = efforts.iter().filter(|e| **e > wanted).min();
        below.or(above).copied().unwrap_or(wanted)
    }
}

/// Why a name resolved as it did, for the debug log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// The configured entry with this key.
    Configured(String),
    /// The backend lists the name itself.
    Known,
    /// The default for a Claude family.
    Family(Family),
    /// Nothing matched; the name is sent as it came.
    Unchanged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Opus,
    Sonnet,
    Haiku,
    Other,
}

/// A backend model for a client's model name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub model: String,
    /// The effort the map asks for; `None` leaves it to the request or the model.
    pub effort: Option<Effort>,
    pub rule: Rule,
}

/// The backend model and effort for the model name a client asked for.
pub fn resolve(name: &str, map: &ModelMap, catalogue: &Catalogue) -> Resolved {
    if let Some((pattern, target)) = map.lookup(name) {
        return Resolved {
            model: target.model.clone(),
            effort: target.effort,
            rule: Rule::Configured(pattern.to_owned()),
        };
    }
    if catalogue.get(name).is_some() {
        return Resolved {
            model: name.to_owned(),
            effort: None,
            rule: Rule::Known,
        };
    }
    let family = family(name);
    let pick = family.and_then(|family| {
        let (model, effort) = match family {
            Family::Opus => (catalogue.first(), Some(Effort::High)),
            Family::Sonnet => (catalogue.first(), Some(Effort::Medium)),
            Family::Haiku => (catalogue.smallest(), Some(Effort::Low)),
            Family::Other => (catalogue.first(), None),
        };
        model.map(|m| Resolved {
            model: m.slug.clone(),
            effort: effort.map(|e| catalogue.supported_effort(&m.slug, e)),
            rule: Rule::Family(family),
        })
    });
    pick.unwrap_or_else(|| Resolved {
        model: name.to_owned(),
        effort: None,
        rule: Rule::Unchanged,
    })
}

fn family(name: &str) -> Option<Family> {
    let name = name.to_ascii_lowercase();
    if !name.starts_with("claude") {
        return None;
    }
    let has = |part: &str| name.split('-').any(|p| p == part);
    Some(if has("opus") {
        Family::Opus
    } else if has("sonnet") {
        Family::Sonnet
    } else if has("haiku") {
        Family::Haiku
    } else {
        Family::Other
    })
}

#[cfg(test)]
#[path = "models_tests.rs"]
mod tests;
