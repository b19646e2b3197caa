use std::process::ExitCode;

use clap::Parser;
use codex_responses_proxy::config::{Cli, Command, Config};
use codex_responses_proxy::systemd::{Inherited, Listeners};
use codex_responses_proxy::{Daemon, doctor, logging, systemd};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Doctor) = cli.command {
        return doctor::run(&cli.flags);
    }
    // Reads and clears LISTEN_FDS and WATCHDOG_USEC: only sound before any
    // thread exists, so before the runtime starts.
    let inherited = match Inherited::take() {
        Ok(i) => i,
        Err(e) => return fail(&e),
    };
    match run(cli, inherited) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// The main thread's runtime runs only the control loop (signals, sd-notify,
/// the watchdog, idle exit); connections are served by worker threads with
/// runtimes of their own (see `serve`).
#[tokio::main(flavor = "current_thread")]
async fn run(cli: Cli, mut inherited: Inherited) -> anyhow::Result<()> {
    let loaded = Config::load(&cli.flags)?;
    if cli.flags.print_config {
        print!("{}", loaded.config.to_toml());
        return Ok(());
    }
    let config = loaded.config;
    let destination = logging::init(config.log_target, &config.log_level);
    tracing::debug!(?destination, "logging");
    let listen = config.listen_addr().map_err(anyhow::Error::msg)?;
    let listeners = Listeners::open(&mut inherited, &listen)?;
    let daemon = Daemon::new(config)?;
    systemd::run(daemon, listeners, inherited.watchdog()).await
}

fn fail(e: &anyhow::Error) -> ExitCode {
    eprintln!("codex-responses-proxy: {e:#}");
    ExitCode::FAILURE
}
