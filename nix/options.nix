# The options of `services.codex-responses-proxy`, shared by the NixOS and the
# home-manager module, and the units they render.
#
# `withUsers` adds the NixOS-only `users` option: NixOS installs user units
# for every user, so it needs a way to say who runs them. `withGrafana` adds
# the NixOS-only `grafanaDashboard` option (nix/grafana.nix acts on it).
{
  lib,
  pkgs,
  withUsers ? false,
  withGrafana ? false,
}:

let
  inherit (lib)
    literalExpression
    mkDefault
    mkIf
    mkOption
    types
    ;

  units = import ./units.nix { inherit lib; };

  tomlFormat = pkgs.formats.toml { };

  # The options of one instance; the main instance and every entry of
  # `instances` have them all.
  instanceModule =
    { config, ... }:
    {
      options = {
        enable = mkOption {
          type = types.bool;
          default = false;
          description = "Whether to run this instance of the proxy, a socket-activated user service.";
        };

        package = mkOption {
          type = types.package;
          default = pkgs.codex-responses-proxy or (pkgs.callPackage ./package.nix { });
          defaultText = literalExpression "pkgs.codex-responses-proxy or (pkgs.callPackage ./nix/package.nix { })";
          description = "The codex-responses-proxy package to run.";
        };

        settings = mkOption {
          type = types.submodule { freeformType = tomlFormat.type; };
          default = { };
          example = literalExpression ''
            {
              instructions = "You are a helpful assistant.";
              max_concurrent_requests = 8;
              api_key_file = "/run/secrets/codex-responses-proxy-key";
            }
          '';
          description = ''
            Configuration of the daemon, rendered to a TOML file passed with
            `--config`. Keys are those of the daemon's config file
            (`upstream_url`, `instructions`, `max_concurrent_requests`, …);
            unknown keys stop the daemon at start. The file is in the Nix
            store: put secrets in files named here (`api_key_file`) or in
            {option}`environmentFile`.
          '';
        };

        listen = mkOption {
          type = types.listOf types.str;
          default = [ "127.0.0.1:8787" ];
          example = [
            "127.0.0.1:8787"
            "%t/codex-responses-proxy.sock"
          ];
          description = ''
            `ListenStream=` values of the socket unit: `ADDRESS:PORT` or the
            path of a Unix socket (`%t` is `$XDG_RUNTIME_DIR`). A bare port
            listens on every interface.
          '';
        };

        codexHome = mkOption {
          type = types.str;
          default = "%h/.codex";
          example = "%h/.codex-work";
          description = ''
            The Codex CLI home holding `auth.json` (`%h` is the home
            directory). Sets `CODEX_HOME` and is the one path the service may
            write: refreshed tokens are written back there.
          '';
        };

        environmentFile = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = "/run/secrets/codex-responses-proxy.env";
          description = ''
            A file of `CODEX_RESPONSES_PROXY_<KEY>=value` lines read by systemd
            at start (`EnvironmentFile=`), for secrets that must stay out of
            the Nix store. Give it as a string, not a Nix path.
          '';
        };

        extraArgs = mkOption {
          type = types.listOf types.str;
          default = [ ];
          example = [ "--log-target=journald" ];
          description = "Arguments appended to the daemon's command line.";
        };

        logLevel = mkOption {
          type = types.nullOr (
            types.enum [
              "error"
              "warn"
              "info"
              "debug"
              "trace"
            ]
          );
          default = null;
          example = "debug";
          description = "Sets `log_level` in {option}`settings` unless that sets it itself.";
        };

        allowedHosts = mkOption {
          type = types.listOf types.str;
          default = [ ];
          example = [
            "proxy.lan"
            "gateway.example:8443"
          ];
          description = ''
            Sets `allowed_hosts` in {option}`settings` unless that sets it
            itself: `Host` names the daemon answers besides `localhost`,
            127.0.0.0/8 and `[::1]` (a reverse proxy, a LAN name). A name
            without a port matches every port. Any other `Host` is refused,
            which stops DNS rebinding: a web page on a domain that resolves to
            this machine. `"*"` turns the check off and gives a warning.
          '';
        };

        allowedOrigins = mkOption {
          type = types.listOf types.str;
          default = [ ];
          example = [ "http://localhost:3000" ];
          description = ''
            Sets `allowed_origins` in {option}`settings` unless that sets it
            itself: the origins (`scheme://host[:port]`) of the web pages
            that may use the daemon, answered with CORS headers. Empty: a
            request carrying any `Origin` (every browser request from a web
            page, every browser WebSocket) is refused. `api_key_file` still
            applies to them.
          '';
        };

        metrics = mkOption {
          type = types.nullOr types.bool;
          default = null;
          example = true;
          description = ''
            Sets `metrics` in {option}`settings` unless that sets it itself:
            serve `GET /metrics` in the OpenMetrics text format on the
            daemon's listener, behind the client key when `api_key_file` is
            set (give Prometheus the key as a bearer token).
          '';
        };

        upstreamCompression = mkOption {
          type = types.nullOr (
            types.enum [
              "zstd"
              "off"
            ]
          );
          default = null;
          example = "off";
          description = ''
            Sets `upstream_compression` in {option}`settings` unless that sets
            it itself: request bodies go to the backend zstd-compressed
            (`zstd`, the default, as the official client sends them) or as
            JSON (`off`, for a backend that does not read zstd; one that
            refuses it also turns it off until the daemon restarts).
          '';
        };

        limitCooldown = mkOption {
          type = types.nullOr types.bool;
          default = null;
          example = false;
          description = ''
            Sets `limit_cooldown` in {option}`settings` unless that sets it
            itself: after the backend refuses the login with a reached usage
            limit, answer its requests with the same 429 locally until the
            reset (on by default).
          '';
        };

        limitProbeEvery = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = "10m";
          description = ''
            Sets `limit_probe_every` in {option}`settings` unless that sets it
            itself: during a cooldown, let one request through this often to
            ask the backend again (default 5m; `"0"` never asks before the reset).
          '';
        };

        store = mkOption {
          type = types.nullOr (
            types.enum [
              "disk"
              "memory"
              "off"
            ]
          );
          default = null;
          example = "memory";
          description = ''
            Sets `store` in {option}`settings` unless that sets it itself:
            where answers are kept for `previous_response_id` and
            `GET /v1/responses/{id}`. `disk` (the daemon's default) keeps them
            in the unit's state directory (`StateDirectory=`, private to the
            user), `memory` until the daemon exits, `off` nowhere.
          '';
        };

        storeDir = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = "/srv/codex-responses-proxy/store";
          description = ''
            Sets `store_dir` in {option}`settings` unless that sets it itself.
            Unset, the store is in the unit's state directory. Another
            directory must be writable in the service's sandbox.
          '';
        };

        storeMaxBytes = mkOption {
          type = types.nullOr types.ints.positive;
          default = null;
          example = 67108864;
          description = ''
            Sets `store_max_bytes` in {option}`settings` unless that sets it
            itself: the stored JSON kept at most (default 256 MiB); the least
            recently used responses go first.
          '';
        };

        storeTtl = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = "7d";
          description = ''
            Sets `store_ttl` in {option}`settings` unless that sets it itself:
            a stored response neither written nor continued for this long is
            dropped (default 30 days).
          '';
        };

        modelAliases = mkOption {
          type = types.attrsOf types.str;
          default = { };
          example = {
            gpt-5 = "gpt-5.5";
            fast = "gpt-5.5-low";
          };
          description = ''
            Sets `model_aliases` in {option}`settings` unless that sets it
            itself: model names rewritten before a request is forwarded. The
            target may carry an effort suffix (`-low`, `-high`, …), which sets
            `reasoning.effort`.
          '';
        };

        listEffortVariants = mkOption {
          type = types.nullOr types.bool;
          default = null;
          example = true;
          description = ''
            Sets `list_effort_variants` in {option}`settings` unless that sets
            it itself: `/v1/models` also lists `<model>-<effort>` names, for
            clients that can only pick a model from the list.
          '';
        };

        anthropicModels = mkOption {
          type = types.attrsOf types.str;
          default = { };
          example = {
            "claude-opus-*" = "gpt-5.5:high";
            "claude-haiku-*" = "gpt-5.4-mini:low";
          };
          description = ''
            Sets `anthropic_models` in {option}`settings` unless that sets it
            itself: Anthropic model names, or globs with `*`, and the backend
            model that answers them on `/v1/messages`, as `model` or
            `model:effort`. A Claude name no entry matches gets a model from
            the backend's own list.
          '';
        };

        incrementalTurns = mkOption {
          type = types.nullOr types.bool;
          default = null;
          example = false;
          description = ''
            Sets `incremental_turns` in {option}`settings` unless that sets it
            itself: an HTTP client's turn that continues the previous one goes
            to the backend as only its new items, on a backend socket kept for
            the conversation. Unset: on for the ChatGPT backend, off for any
            other `upstream_url`.
          '';
        };

        incrementalMaxSockets = mkOption {
          type = types.nullOr types.ints.positive;
          default = null;
          example = 8;
          description = ''
            Sets `incremental_max_sockets` in {option}`settings` unless that
            sets it itself: conversation sockets kept open at most (default
            32); past it the least recently used is closed.
          '';
        };

        incrementalIdle = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = "2m";
          description = ''
            Sets `incremental_idle` in {option}`settings` unless that sets it
            itself: a conversation socket unused for this long is closed
            (default 5 minutes; the backend ends one after 60).
          '';
        };

        idleExit = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = "15m";
          description = ''
            Sets `idle_exit` in {option}`settings` unless that sets it itself:
            the daemon exits after this long without requests and the socket
            starts it again on the next one. `"0"` never exits.
          '';
        };
      }
      // lib.optionalAttrs withUsers {
        users = mkOption {
          type = types.listOf types.str;
          default = [ ];
          example = [ "alice" ];
          description = ''
            The users whose user manager runs this instance (`ConditionUser=`).
            Empty means every user who logs in, since NixOS installs user
            units for all of them.
          '';
        };
      };

      config.settings = {
        log_level = mkIf (config.logLevel != null) (mkDefault config.logLevel);
        idle_exit = mkIf (config.idleExit != null) (mkDefault config.idleExit);
        allowed_hosts = mkIf (config.allowedHosts != [ ]) (mkDefault config.allowedHosts);
        allowed_origins = mkIf (config.allowedOrigins != [ ]) (mkDefault config.allowedOrigins);
        metrics = mkIf (config.metrics != null) (mkDefault config.metrics);
        upstream_compression = mkIf (config.upstreamCompression != null) (
          mkDefault config.upstreamCompression
        );
        limit_cooldown = mkIf (config.limitCooldown != null) (mkDefault config.limitCooldown);
        limit_probe_every = mkIf (config.limitProbeEvery != null) (mkDefault config.limitProbeEvery);
        store = mkIf (config.store != null) (mkDefault config.store);
        store_dir = mkIf (config.storeDir != null) (mkDefault config.storeDir);
        store_max_bytes = mkIf (config.storeMaxBytes != null) (mkDefault config.storeMaxBytes);
        store_ttl = mkIf (config.storeTtl != null) (mkDefault config.storeTtl);
        model_aliases = mkIf (config.modelAliases != { }) (mkDefault config.modelAliases);
        list_effort_variants = mkIf (config.listEffortVariants != null) (
          mkDefault config.listEffortVariants
        );
        anthropic_models = mkIf (config.anthropicModels != { }) (mkDefault config.anthropicModels);
        incremental_turns = mkIf (config.incrementalTurns != null) (mkDefault config.incrementalTurns);
        incremental_max_sockets = mkIf (config.incrementalMaxSockets != null) (
          mkDefault config.incrementalMaxSockets
        );
        incremental_idle = mkIf (config.incrementalIdle != null) (mkDefault config.incrementalIdle);
      };
    };

  # Grafana runs on one machine for a fleet: the dashboard is provisioned
  # whether or not this machine runs an instance.
  grafanaModule = {
    options.grafanaDashboard.enable = mkOption {
      type = types.bool;
      default = false;
      example = true;
      description = ''
        Add the dashboard of `contrib/grafana/` (usage windows and cooldown
        per login, requests, latency quantiles, tokens and prompt-cache hit
        ratio per client, refreshes, upstream errors) to
        {option}`services.grafana.provision.dashboards`, and turn on
        {option}`services.grafana.provision.enable`. It reads a Prometheus
        data source chosen on the dashboard; set {option}`metrics` on the
        instances it watches.
      '';
    };
  };

  # The main instance plus `instances`, whose entries default to the main
  # instance's package (and users) and to a CODEX_HOME of their own.
  topModule =
    { config, ... }:
    {
      imports = [ instanceModule ] ++ lib.optional withGrafana grafanaModule;
      options.instances = mkOption {
        type = types.attrsOf (
          types.submodule (
            { name, ... }:
            {
              imports = [ instanceModule ];
              config = {
                enable = mkDefault true;
                package = mkDefault config.package;
                codexHome = mkDefault "%h/.codex-${name}";
              }
              // lib.optionalAttrs withUsers { users = mkDefault config.users; };
            }
          )
        );
        default = { };
        example = literalExpression ''
          {
            work = { listen = [ "127.0.0.1:8788" ]; codexHome = "%h/.codex-work"; };
            personal = { listen = [ "127.0.0.1:8789" ]; };
          }
        '';
        description = ''
          Further instances, one per account: `instances.NAME` gives the units
          `codex-responses-proxy-NAME.{socket,service}`, each with its own
          address and CODEX_HOME (default `%h/.codex-NAME`). They do not
          depend on the main instance's `enable`.
        '';
      };
    };
in
{
  option = mkOption {
    type = types.submodule topModule;
    default = { };
    description = "The OpenAI Responses API proxy for the ChatGPT Codex backend.";
  };

  inherit (units) assertions warnings;

  # { name = <unit name>; value = { socket; service; }; } for each enabled
  # instance, in the section-and-key form of units.nix.
  renderedUnits =
    cfg:
    map (i: {
      inherit (i) name;
      value = units.units {
        inherit (i) name;
        inherit (i.cfg) listen codexHome environmentFile;
        conditionUsers = i.cfg.users or [ ];
        execStart = units.execStart {
          exe = lib.getExe i.cfg.package;
          configFile = tomlFormat.generate "${i.name}.toml" i.cfg.settings;
          inherit (i.cfg) extraArgs;
        };
      };
    }) (units.enabledInstances cfg);
}
