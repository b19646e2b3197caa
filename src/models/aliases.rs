//! Model aliases (`gpt-5` → `gpt-5.5`) and reasoning-effort suffixes
//! (`gpt-5.5-high` → `gpt-5.5` with `reasoning.effort: "high"`), for clients
//! that can name a model but cannot send reasoning parameters.
//!
//! A name the backend does not know is passed on as resolved, so it fails
//! with the backend's own 400; nothing is validated here.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The efforts recognised as suffixes whatever the catalogue says.
pub const BUILTIN_EFFORTS: &[&str] = &["minimal", "low", "medium", "high", "xhigh"];

/// Listed as variants of a model whose catalogue entry names no levels:
/// every Codex model reasons, and these three every reasoning model takes.
const FALLBACK_VARIANTS: &[&str] = &["low", "medium", "high"];

/// The configured `model_aliases`: alias → model name (which may itself
/// carry an effort suffix). Followed once, never chained, so no loop.
pub type ModelAliases = BTreeMap<String, String>;

/// The suffixes that mean an effort, and the model names that must never be
/// split (a catalogue slug that happens to end like one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Efforts {
    levels: BTreeSet<String>,
    models: BTreeSet<String>,
}

impl Default for Efforts {
    fn default() -> Self {
        Efforts {
            levels: BUILTIN_EFFORTS.iter().map(|s| s.to_string()).collect(),
            models: BTreeSet::new(),
        }
    }
}

impl Efforts {
    /// The built-in efforts plus every level the backend's catalogue
    /// (`{"models":[{slug, supported_reasoning_levels, …}]}`) lists, and its
    /// slugs as names not to split.
    pub fn from_catalogue(catalogue: &Value) -> Self {
        let mut efforts = Efforts::default();
        for model in catalogue_models(catalogue) {
            if let Some(slug) = model.get("slug").and_then(Value::as_str) {
                efforts.models.insert(slug.to_owned());
            }
            efforts.levels.extend(levels_of(model).map(str::to_owned));
        }
        efforts
    }

    /// The effort suffixes recognised, in name order.
    pub fn levels(&self) -> impl Iterator<Item = &str> {
        self.levels.iter().map(String::as_str)
    }
}

/// The model to send and the effort a suffix asked for: the alias is
/// followed first, then a known effort suffix is split off, then the base is
/// looked up once more (so `gpt-5-high` with `gpt-5` → `gpt-5.5` works).
pub fn resolve(model: &str, aliases: &ModelAliases, efforts: &Efforts) -> (String, Option<String>) {
    let named = aliases.get(model).map_or(model, String::as_str);
    if efforts.models.contains(named) {
        return (named.to_owned(), None);
    }
    let split = efforts.levels.iter().find_map(|level| {
        let base = named.strip_suffix(level.as_str())?.strip_suffix('-')?;
        (!base.is_empty()).then_some((base, level))
    });
    match split {
        Some((base, level)) => {
            let base = aliases.get(base).map_or(base, String::as_str);
            (base.to_owned(), Some(level.clone()))
        }
        None => (named.to_owned(), None),
    }
}

/// Rewrites a request's `model` by [`resolve`] and, when a suffix named an
/// effort, sets `reasoning.effort`, unless the request set one itself: an
/// explicit parameter is more specific than a name.
pub fn apply(body: &mut Map<String, Value>, aliases: &ModelAliases, efforts: &Efforts) {
    let Some(model) = body.get("model").and_then(Value::as_str) else {
        return;
    };
    let (model, effort) = resolve(model, aliases, efforts);
    body.insert("model".into(), Value::from(model));
    let Some(effort) = effort else { return };
    match body.get_mut("reasoning") {
        Some(Value::Object(reasoning)) => {
            reasoning.entry("effort").or_insert(Value::from(effort));
        }
        None | Some(Value::Null) => {
            body.insert("reasoning".into(), json!({"effort": effort}));
        }
        // Not an object: left for the request checks to refuse as sent.
        Some(_) => {}
    }
}

/// `/v1/models` with `list_effort_variants`: after each model of an OpenAI
/// list (`{"object":"list","data":[{id, …}]}`), one entry per effort it takes,
/// `<id>-<effort>`, in the catalogue's order of levels.
pub fn with_effort_variants(list: &Value, catalogue: &Value) -> Value {
    let levels: BTreeMap<&str, Vec<&str>> = catalogue_models(catalogue)
        .filter_map(|m| Some((m.get("slug")?.as_str()?, levels_of(m).collect())))
        .collect();
    let mut out = list.clone();
    let Some(data) = out.get_mut("data").and_then(Value::as_array_mut) else {
        return out;
    };
    let mut listed = Vec::with_capacity(data.len() * 4);
    for entry in data.drain(..) {
        let id = entry.get("id").and_then(Value::as_str).map(str::to_owned);
        listed.push(entry.clone());
        let Some(id) = id else { continue };
        let own = levels.get(id.as_str()).filter(|l| !l.is_empty());
        for level in own.map_or(FALLBACK_VARIANTS, |l| l.as_slice()) {
            let mut variant = entry.clone();
            variant["id"] = Value::from(format!("{id}-{level}"));
            listed.push(variant);
        }
    }
    *data = listed;
    out
}

fn catalogue_models(catalogue: &Value) -> impl Iterator<Item = &Value> {
    catalogue
        .get("models")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// A model's `supported_reasoning_levels`, written either as strings or as
/// `{"effort": …, "description": …}` objects.
fn levels_of(model: &Value) -> impl Iterator<Item = &str> {
    model
        .get("supported_reasoning_levels")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|level| level.as_str().or_else(|| level.get("effort")?.as_str()))
}

#[cfg(test)]
#[path = "aliases_tests.rs"]
mod tests;
