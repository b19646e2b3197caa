use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use codex_responses_proxy::Daemon;
use codex_responses_proxy::config::{Cli, Config, ListenAddr};
use codex_responses_proxy::serve::Listener;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("codex-responses-proxy: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let loaded = Config::load(&cli.flags)?;
    if cli.flags.print_config {
        print!("{}", loaded.config.to_toml());
        return Ok(ExitCode::SUCCESS);
    }
    let config = loaded.config;
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&config.log_level))
        .with_writer(std::io::stderr)
        .init();
    let listen = config.listen_addr().map_err(anyhow::Error::msg)?;
    let listener = match listen {
        ListenAddr::Tcp(addr) => Listener::Tcp(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding {addr}"))?,
        ),
        ListenAddr::Unix(path) => Listener::Unix(
            tokio::net::UnixListener::bind(&path)
                .with_context(|| format!("binding {}", path.display()))?,
        ),
    };
    tracing::info!(listen = %listener.describe(), "listening");
    let daemon = Daemon::new(config)?;
    daemon.serve(vec![listener], shutdown_signal()).await;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
    tracing::info!("stopping: no new connections; letting requests in flight finish");
}
