//! Unit tests of `config`, beside it to keep the module short.
use super::*;

#[test]
fn listen_accepts_ip_localhost_and_unix_paths() {
    assert_eq!(
        ListenAddr::parse("127.0.0.1:8787").unwrap(),
        ListenAddr::Tcp("127.0.0.1:8787".parse().unwrap())
    );
    assert_eq!(
        ListenAddr::parse("localhost:9").unwrap(),
        ListenAddr::Tcp("127.0.0.1:9".parse().unwrap())
    );
    assert_eq!(
        ListenAddr::parse("unix:/run/x.sock").unwrap(),
        ListenAddr::Unix("/run/x.sock".into())
    );
    assert!(ListenAddr::parse("unix:relative.sock").is_err());
    assert!(ListenAddr::parse("nonsense").is_err());
    assert!(!ListenAddr::parse("0.0.0.0:1").unwrap().is_local());
    assert!(ListenAddr::parse("[::1]:1").unwrap().is_local());
}

#[test]
fn durations_read_text_or_seconds() {
    let c: Config = Figment::from(Serialized::defaults(Config::default()))
        .merge(Toml::string(
            "idle_exit = \"15m\"\nidle_timeout = 7\nshutdown_grace = \"0\"",
        ))
        .extract()
        .unwrap();
    assert_eq!(c.idle_exit, Duration::from_secs(900));
    assert_eq!(c.idle_timeout, Duration::from_secs(7));
    assert_eq!(c.shutdown_grace, Duration::ZERO);
}

#[test]
fn unknown_key_is_refused_with_its_name() {
    let err = Figment::from(Serialized::defaults(Config::default()))
        .merge(Toml::string("listne = \"127.0.0.1:1\""))
        .extract::<Config>()
        .unwrap_err();
    assert!(err.to_string().contains("listne"), "{err}");
}

#[test]
fn non_loopback_listen_needs_a_key_or_an_explicit_opt_in() {
    let figment = Figment::new();
    let mut c = Config {
        listen: "0.0.0.0:8787".parse().unwrap(),
        ..Config::default()
    };
    let err = c.validate(&figment).unwrap_err().to_string();
    assert!(
        err.contains("`listen`") && err.contains("api_key_file"),
        "{err}"
    );
    c.allow_remote_without_key = true;
    c.validate(&figment).unwrap();
}

#[test]
fn worker_threads_default_to_the_cpus_and_an_absurd_count_is_refused() {
    let figment = Figment::new();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(Config::default().workers(), cpus.min(MAX_AUTO_WORKERS));
    let mut c = Config {
        worker_threads: 3,
        ..Config::default()
    };
    assert_eq!(c.workers(), 3);
    c.validate(&figment).unwrap();
    c.worker_threads = 5000;
    let err = c.validate(&figment).unwrap_err().to_string();
    assert!(err.contains("worker_threads"), "{err}");
}

#[test]
fn print_config_round_trips() {
    let c = Config {
        allowed_hosts: vec!["proxy.lan".into(), "*".into()],
        allowed_origins: vec!["http://localhost:3000".into()],
        ..Config::default()
    };
    let back: Config = toml::from_str(&c.to_toml()).unwrap();
    assert_eq!(back, c);
}

#[test]
fn allowed_lists_read_an_array_or_figments_array_syntax_or_commas() {
    let with = |provider: Serialized<figment::value::Value>| {
        Figment::from(Serialized::defaults(Config::default()))
            .merge(provider)
            .extract::<Config>()
            .unwrap()
    };
    // What `Env` does with a variable's text: parse it as a figment value.
    let env = |key: &str, text: &str| {
        Serialized::default(key, text.parse::<figment::value::Value>().unwrap())
    };
    let origins = |c: Config| c.allowed_origins;
    let expected = ["http://localhost:3000", "chrome-extension://abc"];
    assert_eq!(
        origins(with(env(
            "allowed_origins",
            r#"["http://localhost:3000", "chrome-extension://abc"]"#
        ))),
        expected
    );
    assert_eq!(
        origins(with(env(
            "allowed_origins",
            "[http://localhost:3000, chrome-extension://abc]"
        ))),
        expected
    );
    assert_eq!(
        origins(with(env(
            "allowed_origins",
            "http://localhost:3000, chrome-extension://abc"
        ))),
        expected
    );
    assert_eq!(with(env("allowed_hosts", "*")).allowed_hosts, ["*"]);
    assert_eq!(
        with(env("allowed_hosts", r#"["[fd00::1]", "proxy.lan:8443"]"#)).allowed_hosts,
        ["[fd00::1]", "proxy.lan:8443"]
    );
    let c: Config = toml::from_str("allowed_hosts = [\"proxy.lan\"]").unwrap();
    assert_eq!(c.allowed_hosts, ["proxy.lan"]);
    assert!(c.allowed_origins.is_empty());
}

#[test]
fn a_wildcard_origin_or_a_url_as_host_is_refused_with_its_key() {
    let figment = Figment::new();
    let c = Config {
        allowed_origins: vec!["*".into()],
        ..Config::default()
    };
    let err = c.validate(&figment).unwrap_err().to_string();
    assert!(err.contains("`allowed_origins`"), "{err}");
    let c = Config {
        allowed_hosts: vec!["http://proxy.lan".into()],
        ..Config::default()
    };
    let err = c.validate(&figment).unwrap_err().to_string();
    assert!(err.contains("`allowed_hosts`"), "{err}");
}

#[test]
fn cooldown_and_metrics_keys_read_from_the_file() {
    let c: Config = Figment::from(Serialized::defaults(Config::default()))
        .merge(Toml::string(
            "limit_cooldown = false\nlimit_probe_every = \"0\"\nmetrics = true",
        ))
        .extract()
        .unwrap();
    assert!(c.metrics);
    assert_eq!(
        c.cooldown_policy(),
        crate::limits::CooldownPolicy {
            enabled: false,
            probe_every: None,
        }
    );
    assert_eq!(
        Config::default().cooldown_policy(),
        crate::limits::CooldownPolicy::default()
    );
}

#[test]
fn the_store_and_model_aliases_read_from_a_file_a_string_and_flags() {
    let from_file: Config = Figment::from(Serialized::defaults(Config::default()))
        .merge(Toml::string(
            "store = \"memory\"\nstore_ttl = \"12h\"\nlist_effort_variants = true\n\
             [model_aliases]\n\"gpt-5\" = \"gpt-5.5\"\nfast = \"gpt-5.5-low\"",
        ))
        .extract()
        .unwrap();
    assert_eq!(
        (from_file.store_options(), from_file.list_effort_variants),
        (
            StoreOptions {
                mode: StoreMode::Memory,
                ttl: Duration::from_secs(12 * 3600),
                ..StoreOptions::default()
            },
            true
        )
    );
    let want: ModelAliases = [("gpt-5", "gpt-5.5"), ("fast", "gpt-5.5-low")]
        .into_iter()
        .map(|(a, m)| (a.to_owned(), m.to_owned()))
        .collect();
    assert_eq!(from_file.model_aliases, want);

    // The environment's comma-separated form, then flags over it.
    let layered = Figment::from(Serialized::defaults(Config::default()))
        .merge(Serialized::default(
            "model_aliases",
            "gpt-5=gpt-5.5, fast = gpt-5.5-low",
        ))
        .extract::<Config>()
        .unwrap();
    assert_eq!(layered.model_aliases, want);
    let flags = Flags {
        store: Some(StoreMode::Off),
        model_aliases: vec![("x".into(), "gpt-5-high".into())],
        ..Flags::default()
    };
    let flagged: Config = Figment::from(Serialized::defaults(Config::default()))
        .merge(Serialized::defaults(&flags))
        .extract()
        .unwrap();
    assert_eq!(flagged.store, StoreMode::Off);
    assert_eq!(flagged.model_aliases["x"], "gpt-5-high");
    for bad in [
        "model_aliases = \"gpt-5\"",
        "store = \"cloud\"",
        "store_ttl = \"soon\"",
    ] {
        let err = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(bad))
            .extract::<Config>()
            .unwrap_err();
        let key = bad.split(' ').next().unwrap();
        assert!(err.to_string().contains(key), "{bad}: {err}");
    }
}

#[test]
fn a_zero_store_bound_is_refused() {
    let figment = Figment::new();
    for config in [
        Config {
            store_max_bytes: 0,
            ..Config::default()
        },
        Config {
            store_ttl: Duration::ZERO,
            ..Config::default()
        },
    ] {
        let err = config.validate(&figment).unwrap_err().to_string();
        assert!(err.contains("store_"), "{err}");
    }
}

#[test]
fn the_anthropic_model_map_reads_from_toml_env_and_flags_merged_by_key() {
    use crate::dialect::messages::{Effort, Target};
    let target = |model: &str, effort: Option<Effort>| Target {
        model: model.into(),
        effort,
    };
    let flags = Flags {
        anthropic_models: vec![("claude-haiku-*".into(), "gpt-5-mini".into())],
        ..Flags::default()
    };
    let c: Config = Figment::from(Serialized::defaults(Config::default()))
        .merge(Toml::string(
            "[anthropic_models]\n\"claude-opus-*\" = \"gpt-5.5:high\"\n\"claude-*\" = \"gpt-5.5\"",
        ))
        .merge(Serialized::default(
            "anthropic_models",
            r#"{"claude-*" = "gpt-5.4:low"}"#.parse::<figment::value::Value>().unwrap(),
        ))
        .merge(Serialized::defaults(&flags))
        .extract()
        .unwrap();
    let entries: Vec<(&str, &Target)> = c
        .anthropic_models
        .0
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    assert_eq!(
        entries,
        [
            ("claude-*", &target("gpt-5.4", Some(Effort::Low))),
            ("claude-haiku-*", &target("gpt-5-mini", None)),
            ("claude-opus-*", &target("gpt-5.5", Some(Effort::High))),
        ]
    );
    let back: Config = toml::from_str(&c.to_toml()).unwrap();
    assert_eq!(back, c);
    let err = Figment::from(Serialized::defaults(Config::default()))
        .merge(Toml::string(
            "[anthropic_models]\n\"claude-*\" = \"gpt-5:max\"",
        ))
        .extract::<Config>()
        .map_err(ConfigError::from)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("anthropic_models") || err.contains("claude-*"),
        "{err}"
    );
    assert!(err.contains("the effort after `:`"), "{err}");
}

#[test]
fn incremental_turns_default_to_the_chatgpt_backend_and_read_from_the_file() {
    assert!(Config::default().chains_turns());
    let other = Config {
        upstream_url: "http://127.0.0.1:9/backend-api/codex".parse().unwrap(),
        ..Config::default()
    };
    assert!(!other.chains_turns());
    let c: Config = Figment::from(Serialized::defaults(other))
        .merge(Toml::string(
            "incremental_turns = true\nincremental_max_sockets = 4\nincremental_idle = \"90s\"",
        ))
        .extract()
        .unwrap();
    assert!(c.chains_turns());
    assert_eq!(c.incremental_max_sockets, 4);
    assert_eq!(c.incremental_idle, std::time::Duration::from_secs(90));
    let off: Config = Figment::from(Serialized::defaults(Config::default()))
        .merge(Toml::string("incremental_turns = false"))
        .extract()
        .unwrap();
    assert!(!off.chains_turns());
}

#[test]
fn client_version_is_unset_by_default_and_a_set_one_pins_it() {
    assert_eq!(Config::default().client_version, None);
    let c: Config = Figment::from(Serialized::defaults(Config::default()))
        .merge(Toml::string("client_version = \"0.150.0\""))
        .extract()
        .unwrap();
    assert_eq!(c.client_version.as_deref(), Some("0.150.0"));
    let chosen = c.version_presented().current();
    assert_eq!(
        (chosen.version.as_str(), chosen.source.to_string()),
        ("0.150.0", "configured".to_owned())
    );
    let back: Config = toml::from_str(&c.to_toml()).unwrap();
    assert_eq!(back, c);
}
