use serde_json::json;

use super::*;

fn catalogue() -> Catalogue {
    let levels = |l: &[&str]| -> Vec<Value> {
        l.iter()
            .map(|e| json!({"effort": e, "description": "…"}))
            .collect()
    };
    Catalogue::from_backend(&json!({"models": [
        {"slug": "gpt-5.1-codex-mini", "visibility": "list", "supported_in_api": true,
         "priority": 7, "supported_reasoning_levels": levels(&["medium", "high"])},
        {"slug": "gpt-5.5", "visibility": "list", "supported_in_api": true, "priority": 1,
         "supported_reasoning_levels": levels(&["low", "medium", "high", "xhigh"])},
        {"slug": "internal", "visibility": "hide", "priority": 0},
        {"slug": "gpt-5.4", "visibility": "list", "priority": 3,
         "supported_reasoning_levels": ["low", "medium", "high"]},
    ]}))
}

fn map(entries: &[(&str, &str)]) -> ModelMap {
    let value: BTreeMap<String, String> = entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    serde_json::from_value(json!(value)).unwrap()
}

fn resolved(model: &str, effort: Option<Effort>, rule: Rule) -> Resolved {
    Resolved {
        model: model.into(),
        effort,
        rule,
    }
}

#[test]
fn the_catalogue_is_read_in_priority_order_with_its_efforts() {
    let catalogue = catalogue();
    let got: Vec<(&str, i64, bool, &[Effort])> = catalogue
        .models
        .iter()
        .map(|m| (m.slug.as_str(), m.priority, m.listed, m.efforts.as_slice()))
        .collect();
    assert_eq!(
        got,
        [
            ("internal", 0, false, &[][..]),
            (
                "gpt-5.5",
                1,
                true,
                &[Effort::Low, Effort::Medium, Effort::High, Effort::Xhigh][..]
            ),
            (
                "gpt-5.4",
                3,
                true,
                &[Effort::Low, Effort::Medium, Effort::High][..]
            ),
            (
                "gpt-5.1-codex-mini",
                7,
                true,
                &[Effort::Medium, Effort::High][..]
            ),
        ]
    );
    assert_eq!(
        Catalogue::from_backend(&json!({"detail": "x"})),
        Catalogue::default()
    );
}

#[test]
fn claude_families_default_to_the_first_model_and_the_smallest_for_haiku() {
    let (map, catalogue) = (ModelMap::default(), catalogue());
    let cases = [
        (
            "claude-opus-5-5",
            resolved("gpt-5.5", Some(Effort::High), Rule::Family(Family::Opus)),
        ),
        (
            "claude-sonnet-4-5-20250929",
            resolved(
                "gpt-5.5",
                Some(Effort::Medium),
                Rule::Family(Family::Sonnet),
            ),
        ),
        (
            "claude-3-5-sonnet-latest",
            resolved(
                "gpt-5.5",
                Some(Effort::Medium),
                Rule::Family(Family::Sonnet),
            ),
        ),
        // The mini model has no `low`, so it gets the nearest above.
        (
            "claude-haiku-4-5",
            resolved(
                "gpt-5.1-codex-mini",
                Some(Effort::Medium),
                Rule::Family(Family::Haiku),
            ),
        ),
        (
            "claude-next",
            resolved("gpt-5.5", None, Rule::Family(Family::Other)),
        ),
        ("gpt-5.4", resolved("gpt-5.4", None, Rule::Known)),
        ("internal", resolved("internal", None, Rule::Known)),
        ("llama-3", resolved("llama-3", None, Rule::Unchanged)),
    ];
    for (name, want) in cases {
        assert_eq!(resolve(name, &map, &catalogue), want, "{name}");
    }
}

#[test]
fn without_a_catalogue_a_claude_name_passes_unchanged() {
    assert_eq!(
        resolve(
            "claude-opus-5-5",
            &ModelMap::default(),
            &Catalogue::default()
        ),
        resolved("claude-opus-5-5", None, Rule::Unchanged)
    );
}

#[test]
fn haiku_takes_the_first_listed_model_when_none_is_small() {
    let catalogue = Catalogue::from_backend(&json!({"models": [
        {"slug": "b", "visibility": "list", "priority": 2},
        {"slug": "a", "visibility": "list", "priority": 1},
    ]}));
    assert_eq!(
        resolve("claude-haiku-4-5", &ModelMap::default(), &catalogue),
        resolved("a", Some(Effort::Low), Rule::Family(Family::Haiku))
    );
}

#[test]
fn the_most_specific_configured_entry_wins_over_everything_else() {
    let map = map(&[
        ("claude-*", "gpt-5.4"),
        ("claude-opus-*", "gpt-5.5:xhigh"),
        ("claude-opus-5-5", "gpt-5.5:low"),
        ("gpt-5.4", "gpt-5.5"),
    ]);
    let catalogue = catalogue();
    let cases = [
        (
            "claude-opus-5-5",
            resolved(
                "gpt-5.5",
                Some(Effort::Low),
                Rule::Configured("claude-opus-5-5".into()),
            ),
        ),
        (
            "claude-opus-4-1",
            resolved(
                "gpt-5.5",
                Some(Effort::Xhigh),
                Rule::Configured("claude-opus-*".into()),
            ),
        ),
        (
            "claude-haiku-4-5",
            resolved("gpt-5.4", None, Rule::Configured("claude-*".into())),
        ),
        (
            "gpt-5.4",
            resolved("gpt-5.5", None, Rule::Configured("gpt-5.4".into())),
        ),
    ];
    for (name, want) in cases {
        assert_eq!(resolve(name, &map, &catalogue), want, "{name}");
    }
}

#[test]
fn globs_match_any_run_of_characters() {
    let cases = [
        ("claude-*", "claude-opus-5", true),
        ("claude-*", "claude-", true),
        ("claude-*", "gpt-5", false),
        ("*-mini", "gpt-5-mini", true),
        ("*-mini", "gpt-5-mini-2", false),
        ("claude-*-4-*", "claude-opus-4-1", true),
        ("claude-*-4-*", "claude-opus-5-1", false),
        ("a*a", "a", false),
        ("exact", "exact", true),
        ("exact", "exact2", false),
        ("*", "", true),
    ];
    for (pattern, name, want) in cases {
        assert_eq!(glob_matches(pattern, name), want, "{pattern} {name}");
    }
}

#[test]
fn map_values_name_a_model_and_maybe_an_effort() {
    let got: ModelMap =
        serde_json::from_value(json!({"claude-*": "gpt-5.5:high", "x": "gpt-5"})).unwrap();
    assert_eq!(
        got,
        ModelMap(BTreeMap::from([
            (
                "claude-*".to_string(),
                Target {
                    model: "gpt-5.5".into(),
                    effort: Some(Effort::High)
                }
            ),
            (
                "x".to_string(),
                Target {
                    model: "gpt-5".into(),
                    effort: None
                }
            ),
        ]))
    );
    assert_eq!(
        serde_json::to_value(&got).unwrap(),
        json!({"claude-*": "gpt-5.5:high", "x": "gpt-5"})
    );
    let error = serde_json::from_value::<ModelMap>(json!({"a": "gpt-5:extreme"}))
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "`gpt-5:extreme`: the effort after `:` must be one of none, minimal, low, medium, high, xhigh"
    );
    assert_eq!(
        Target::try_from(":high".to_string()),
        Err(TargetError::Empty)
    );
}

#[test]
fn an_unsupported_effort_moves_to_the_nearest_supported_one() {
    let catalogue = catalogue();
    let cases = [
        ("gpt-5.4", Effort::Xhigh, Effort::High),
        ("gpt-5.4", Effort::Minimal, Effort::Low),
        ("gpt-5.4", Effort::Medium, Effort::Medium),
        ("gpt-5.1-codex-mini", Effort::Low, Effort::Medium),
        ("unknown", Effort::Xhigh, Effort::Xhigh),
        ("internal", Effort::None, Effort::None),
    ];
    for (slug, wanted, want) in cases {
        assert_eq!(
            catalogue.supported_effort(slug, wanted),
            want,
            "{slug} {wanted:?}"
        );
    }
}
