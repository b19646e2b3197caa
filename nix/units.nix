# The user units of one proxy instance, as a pure function of its options.
# Both modules render these; `.ci/nix-check` compares them with
# contrib/systemd/user/. Needs only the nixpkgs `lib`.
{ lib }:

let
  # Characters that need no quoting in an ExecStart= argument.
  plainArg = "[A-Za-z0-9_./:=@+,-]+";

  escapeExecArg =
    arg:
    let
      s = lib.replaceStrings [ "%" "$" ] [ "%%" "$$" ] (toString arg);
    in
    if builtins.match plainArg s != null then
      s
    else
      ''"${lib.replaceStrings [ "\\" ''"'' ] [ "\\\\" ''\"'' ] s}"'';

  # An address is local when it is on a loopback interface or is a path
  # (a Unix socket; `%t/…` and `%h/…` expand to absolute paths).
  isLocalAddress =
    address:
    lib.any (re: builtins.match re address != null) [
      "127\\.[0-9.]+:[0-9]+"
      "\\[::1]:[0-9]+"
      "localhost:[0-9]+"
      "/.*"
      "%[th]/.*"
    ];
  # Every enabled instance of a `services.codex-responses-proxy` value, as
  # { name = <unit name>; option = <option path>; cfg = <its options>; }.
  enabledInstances =
    cfg:
    lib.optional cfg.enable {
      name = "codex-responses-proxy";
      option = "services.codex-responses-proxy";
      inherit cfg;
    }
    ++ lib.mapAttrsToList (instance: icfg: {
      name = "codex-responses-proxy-${instance}";
      option = "services.codex-responses-proxy.instances.${instance}";
      cfg = icfg;
    }) (lib.filterAttrs (_: icfg: icfg.enable) cfg.instances);
in
{
  inherit escapeExecArg isLocalAddress enabledInstances;

  # Two instances must not share an address, and each needs one.
  assertions =
    cfg:
    let
      instances = enabledInstances cfg;
      owners = address: map (i: i.option) (lib.filter (i: lib.elem address i.cfg.listen) instances);
      addresses = lib.unique (lib.concatMap (i: i.cfg.listen) instances);
    in
    map (i: {
      assertion = i.cfg.listen != [ ];
      message = "${i.option}.listen is empty: the socket would listen nowhere.";
    }) instances
    ++ map (address: {
      assertion = lib.length (owners address) == 1;
      message = "${lib.concatStringsSep " and " (owners address)} listen on ${address}; give each instance its own address.";
    }) addresses;

  # Anyone who can reach the socket spends the account's quota; with the
  # Host check off, so can any web page on a domain that rebinds to it.
  warnings =
    cfg:
    lib.concatMap (
      i:
      map (
        address:
        "${i.option}.listen contains ${address}, which is not a loopback address or a Unix socket: anyone who can connect uses this ChatGPT account. Set settings.api_key_file and restrict access with a firewall."
      ) (lib.filter (address: !isLocalAddress address) i.cfg.listen)
      ++
        lib.optional (lib.elem "*" (i.cfg.settings.allowed_hosts or [ ]))
          "${i.option}: allowed_hosts contains \"*\", which turns the Host check off: a web page on a domain that resolves to this machine (DNS rebinding) can use this ChatGPT account. List the names you use instead."
    ) (enabledInstances cfg);

  # ExecStart= of an instance: the binary, the rendered settings, extraArgs.
  execStart =
    {
      exe,
      configFile,
      extraArgs ? [ ],
    }:
    lib.concatMapStringsSep " " escapeExecArg (
      [
        exe
        "--config"
        configFile
      ]
      ++ extraArgs
    );

  # The socket and service unit of one instance, in the section-and-key form
  # of home-manager's `systemd.user.*` (NixOS maps it onto `unitConfig`,
  # `socketConfig`, `serviceConfig` and `wantedBy`).
  units =
    {
      name,
      execStart,
      listen,
      codexHome,
      environmentFile ? null,
      conditionUsers ? [ ],
    }:
    let
      conditions = lib.optionalAttrs (conditionUsers != [ ]) {
        # "|" makes the conditions alternatives: any listed user runs it.
        ConditionUser = map (user: "|${user}") conditionUsers;
      };
    in
    {
      socket = {
        Unit = {
          Description = "Socket of the OpenAI Responses API proxy for the ChatGPT Codex backend";
          Documentation = [ "https://github.com/codex-responses-proxy/codex-responses-proxy" ];
        }
        // conditions;
        Socket = {
          ListenStream = listen;
          FileDescriptorName = "http";
        };
        Install.WantedBy = [ "sockets.target" ];
      };

      service = {
        Unit = {
          Description = "OpenAI Responses API proxy for the ChatGPT Codex backend";
          Documentation = [ "https://github.com/codex-responses-proxy/codex-responses-proxy" ];
          Requires = [ "${name}.socket" ];
          After = [ "${name}.socket" ];
        }
        // conditions;
        Service = {
          Type = "notify";
          NotifyAccess = "main";
          Environment = [ "CODEX_HOME=${codexHome}" ];
          ExecStart = execStart;
          Restart = "on-failure";
          RestartSec = "2s";
          WatchdogSec = "30s";
          # The daemon drains for up to 30 s (shutdown_grace) after SIGTERM.
          TimeoutStopSec = "40s";
          UMask = "0077";

          # The sandbox of a user service. Mount namespacing needs a user
          # namespace under a user manager (systemd < 254 does not add one).
          PrivateUsers = "yes";
          ProtectSystem = "strict";
          ProtectHome = "read-only";
          # auth.json is refreshed in place: a temp file, a lock file, a rename.
          ReadWritePaths = [ "-${codexHome}" ];
          # Stored responses (previous_response_id, retrieval): systemd
          # creates %S/<unit name> private to the user, makes it writable in
          # the sandbox and passes it as $STATE_DIRECTORY.
          StateDirectory = name;
          StateDirectoryMode = "0700";
          PrivateTmp = "yes";
          PrivateDevices = "yes";
          ProtectKernelModules = "yes";
          ProtectHostname = "yes";
          ProtectClock = "yes";
          NoNewPrivileges = "yes";
          CapabilityBoundingSet = "";
          RestrictAddressFamilies = "AF_UNIX AF_INET AF_INET6";
          RestrictNamespaces = "yes";
          RestrictRealtime = "yes";
          RestrictSUIDSGID = "yes";
          LockPersonality = "yes";
          MemoryDenyWriteExecute = "yes";
          SystemCallArchitectures = "native";
          SystemCallFilter = [
            "@system-service"
            "~@privileged @resources"
          ];
          SystemCallErrorNumber = "EPERM";
        }
        // lib.optionalAttrs (environmentFile != null) { EnvironmentFile = environmentFile; };
      };
    };
}
