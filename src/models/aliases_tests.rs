//! Aliases and effort suffixes as clients write them.

use serde_json::json;

use super::*;

fn aliases() -> ModelAliases {
    [
        ("gpt-5", "gpt-5.5"),
        ("fast", "gpt-5.5-low"),
        ("deep", "gpt-5-xhigh"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), b.to_owned()))
    .collect()
}

fn catalogue() -> Value {
    json!({"models": [
        {"slug": "gpt-5.5", "visibility": "list", "supported_reasoning_levels": [
            {"effort": "low", "description": "fast"},
            {"effort": "medium", "description": "balanced"},
            {"effort": "high", "description": "deep"},
            {"effort": "max", "description": "deepest"},
        ]},
        {"slug": "gpt-5.5-codex", "visibility": "list", "supported_reasoning_levels": ["medium", "high"]},
        {"slug": "odd-model-high", "visibility": "list"},
    ]})
}

fn resolved(model: &str, effort: Option<&str>) -> (String, Option<String>) {
    (model.to_owned(), effort.map(str::to_owned))
}

#[test]
fn suffixes_become_an_effort_on_the_base_model() {
    let efforts = Efforts::default();
    let none = ModelAliases::new();
    let cases = [
        ("gpt-5.5-high", resolved("gpt-5.5", Some("high"))),
        ("gpt-5.5-medium", resolved("gpt-5.5", Some("medium"))),
        ("gpt-5.5-low", resolved("gpt-5.5", Some("low"))),
        ("gpt-5.5-minimal", resolved("gpt-5.5", Some("minimal"))),
        ("gpt-5.5-xhigh", resolved("gpt-5.5", Some("xhigh"))),
        ("gpt-5.5", resolved("gpt-5.5", None)),
        ("gpt-5.5-max", resolved("gpt-5.5-max", None)),
        ("-high", resolved("-high", None)),
        ("gpt-5.5high", resolved("gpt-5.5high", None)),
    ];
    for (name, want) in cases {
        assert_eq!(resolve(name, &none, &efforts), want, "{name}");
    }
}

#[test]
fn aliases_are_followed_before_and_after_the_suffix_is_split() {
    let efforts = Efforts::default();
    let cases = [
        ("gpt-5", resolved("gpt-5.5", None)),
        ("gpt-5-high", resolved("gpt-5.5", Some("high"))),
        ("fast", resolved("gpt-5.5", Some("low"))),
        ("deep", resolved("gpt-5.5", Some("xhigh"))),
        ("unknown-model", resolved("unknown-model", None)),
    ];
    for (name, want) in cases {
        assert_eq!(resolve(name, &aliases(), &efforts), want, "{name}");
    }
}

#[test]
fn the_catalogue_adds_its_higher_efforts_and_protects_its_own_slugs() {
    let efforts = Efforts::from_catalogue(&catalogue());
    assert_eq!(
        efforts.levels().collect::<Vec<_>>(),
        vec!["high", "low", "max", "medium", "minimal", "xhigh"]
    );
    let none = ModelAliases::new();
    assert_eq!(
        resolve("gpt-5.5-max", &none, &efforts),
        resolved("gpt-5.5", Some("max"))
    );
    assert_eq!(
        resolve("odd-model-high", &none, &efforts),
        resolved("odd-model-high", None)
    );
    assert_eq!(
        resolve("gpt-5.5-codex-high", &none, &efforts),
        resolved("gpt-5.5-codex", Some("high"))
    );
}

#[test]
fn a_request_gets_the_base_model_and_the_effort_unless_it_chose_one() {
    let efforts = Efforts::default();
    let run = |body: Value| {
        let Value::Object(mut map) = body else {
            panic!("not an object")
        };
        apply(&mut map, &aliases(), &efforts);
        Value::Object(map)
    };
    assert_eq!(
        run(json!({"model": "gpt-5-high", "input": []})),
        json!({"model": "gpt-5.5", "input": [], "reasoning": {"effort": "high"}})
    );
    assert_eq!(
        run(json!({"model": "gpt-5.5-high", "reasoning": {"summary": "auto"}})),
        json!({"model": "gpt-5.5", "reasoning": {"summary": "auto", "effort": "high"}})
    );
    assert_eq!(
        run(json!({"model": "gpt-5.5-high", "reasoning": {"effort": "low"}})),
        json!({"model": "gpt-5.5", "reasoning": {"effort": "low"}})
    );
    assert_eq!(
        run(json!({"model": "gpt-5", "reasoning": null})),
        json!({"model": "gpt-5.5", "reasoning": null})
    );
    assert_eq!(run(json!({"input": []})), json!({"input": []}));
}

#[test]
fn the_model_list_gains_one_variant_per_effort_after_each_model() {
    let list = json!({"object": "list", "data": [
        {"id": "gpt-5.5", "object": "model", "created": 0, "owned_by": "openai"},
        {"id": "gpt-5.5-codex", "object": "model", "created": 0, "owned_by": "openai"},
        {"id": "uncatalogued", "object": "model", "created": 0, "owned_by": "openai"},
    ]});
    let ids: Vec<String> = with_effort_variants(&list, &catalogue())["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids,
        vec![
            "gpt-5.5",
            "gpt-5.5-low",
            "gpt-5.5-medium",
            "gpt-5.5-high",
            "gpt-5.5-max",
            "gpt-5.5-codex",
            "gpt-5.5-codex-medium",
            "gpt-5.5-codex-high",
            "uncatalogued",
            "uncatalogued-low",
            "uncatalogued-medium",
            "uncatalogued-high",
        ]
    );
    let variant = &with_effort_variants(&list, &catalogue())["data"][1];
    assert_eq!(
        variant,
        &json!({"id": "gpt-5.5-low", "object": "model", "created": 0, "owned_by": "openai"})
    );
}
