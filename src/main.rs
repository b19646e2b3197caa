use std::process::ExitCode;

use clap::Parser;
use codex_responses_proxy::config::{Cli, Command, Config};
use codex_responses_proxy::systemd::{Inherited, Listeners};
use codex_responses_proxy::{Daemon, client_env, doctor, logging, manual, status, systemd};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Doctor) => return doctor::run(&cli.flags),
        Some(Command::Status) => return status::run(&cli.flags),
        Some(Command::Completions { shell }) => return manual::completions(shell),
        Some(Command::Man) => return manual::man(),
        Some(Command::Env { client }) => return client_env::run(&cli.flags, client),
        None => {}
    }
    // Reads and clears LISTEN_FDS and WATCHDOG_USEC: only sound before any
    // thread exists, so before the runtime starts.
    let inherited = Inherited::take();
    match run(cli, inherited) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("codex-responses-proxy: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli, mut inherited: Inherited) -> anyhow::Result<()> {
    let config = Config::load(&cli.flags)?.config;
    if cli.flags.print_config {
        print!("{}", config.to_toml());
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.workers())
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let destination = logging::init(config.log_target, &config.log_level);
        tracing::debug!(?destination, "logging");
        let listeners = Listeners::open(&mut inherited, &config.listen)?;
        let watchdog = inherited.watchdog();
        let daemon = Daemon::new(config)?;
        systemd::run(daemon, listeners, watchdog).await
    })
}
