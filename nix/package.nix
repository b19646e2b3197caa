{
  lib,
  stdenv,
  rustPlatform,
  installShellFiles,
}:

let
  manifest = (lib.importTOML ../Cargo.toml).package;
in
rustPlatform.buildRustPackage {
  pname = manifest.name;
  inherit (manifest) version;

  # What `cargo build` and `cargo test` read, and the unit files; tests,
  # examples and benches are found by Cargo's target autodiscovery.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../Cargo.toml
      ../Cargo.lock
      ../src
      (lib.fileset.maybeMissing ../build.rs)
      (lib.fileset.maybeMissing ../tests)
      (lib.fileset.maybeMissing ../examples)
      (lib.fileset.maybeMissing ../benches)
      ../contrib/systemd/user
      ../contrib/grafana
    ];
  };

  cargoLock.lockFile = ../Cargo.lock;

  nativeBuildInputs = [ installShellFiles ];

  # The unit tests and the suites that need only loopback and the mock
  # backend, which the build sandbox has. The integration tests are one crate
  # (tests/all.rs); the modules of tests/suite/ that need more than the
  # sandbox gives are skipped: systemd (systemd-socket-activate), security
  # (runs the binary with the host's environment), browser and page
  # (Chromium), manual (groff, zsh, fish), crash and state (kill -9 of child
  # processes), and the rest that CI runs with its own tools. tests/load.rs
  # (thousands of descriptors) is not built here at all.
  doCheck = true;
  cargoTestFlags = [
    "--lib"
    "--test"
    "all"
  ];
  checkFlags = map (m: "--skip=suite::${m}::") [
    "accounting"
    "boundary"
    "browser"
    "compat"
    "crash"
    "limits"
    "messages"
    "metrics"
    "manual"
    "mock_ws"
    "page"
    "security"
    "state"
    "status"
    "systemd"
    "transport"
    "websocket"
  ];

  postInstall = ''
    install -Dm644 -t $out/lib/systemd/user \
      contrib/systemd/user/codex-responses-proxy.socket \
      contrib/systemd/user/codex-responses-proxy.service
    substituteInPlace $out/lib/systemd/user/codex-responses-proxy.service \
      --replace-fail 'ExecStart=%h/.local/bin/codex-responses-proxy' "ExecStart=$out/bin/codex-responses-proxy"
    install -Dm644 -t $out/share/doc/codex-responses-proxy \
      contrib/systemd/user/codex-responses-proxy.socket.d/unix.conf.example
    install -Dm644 -t $out/share/codex-responses-proxy/grafana \
      contrib/grafana/codex-responses-proxy.json
  ''
  # The man page and completions come from the binary's own command line
  # definition, so it must run on the build machine.
  + lib.optionalString (stdenv.buildPlatform.canExecute stdenv.hostPlatform) ''
    installShellCompletion --cmd codex-responses-proxy \
      --bash <($out/bin/codex-responses-proxy completions bash) \
      --zsh <($out/bin/codex-responses-proxy completions zsh) \
      --fish <($out/bin/codex-responses-proxy completions fish)
    $out/bin/codex-responses-proxy man > codex-responses-proxy.1
    installManPage codex-responses-proxy.1
  '';

  meta = {
    inherit (manifest) description;
    homepage = manifest.repository;
    license = lib.licenses.asl20;
    mainProgram = "codex-responses-proxy";
    platforms = lib.platforms.linux;
  };
}
