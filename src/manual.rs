//! The man page and the shell completions, generated from the same `clap`
//! definition the daemon parses its command line with, so neither can
//! drift from the flags that exist. The Nix package installs both at build
//! time; a `cargo install` user writes them where the shell looks (README).

use std::io::{self, Write};
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::config::Cli;

/// The name the binary is installed under, which completions attach to.
const BIN: &str = "codex-responses-proxy";

/// Writes the completion script for `shell` to `out`.
pub fn write_completions(shell: Shell, out: &mut dyn Write) {
    clap_complete::generate(shell, &mut Cli::command(), BIN, out);
}

/// Writes the man page (roff, section 1) to `out`.
pub fn write_man(out: &mut dyn Write) -> io::Result<()> {
    clap_mangen::Man::new(Cli::command()).render(out)
}

/// `completions SHELL`: the script on standard output.
pub fn completions(shell: Shell) -> ExitCode {
    let mut out = io::stdout().lock();
    write_completions(shell, &mut out);
    finish(out.flush())
}

/// `man`: the page on standard output.
pub fn man() -> ExitCode {
    let mut out = io::stdout().lock();
    finish(write_man(&mut out).and_then(|()| out.flush()))
}

fn finish(written: io::Result<()>) -> ExitCode {
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{BIN}: writing to standard output failed: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_man_page_names_every_subcommand_and_a_flag() {
        let mut page = Vec::new();
        write_man(&mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(page.starts_with(".ie"), "{page}");
        assert!(page.contains(".TH codex-responses-proxy 1"), "{page}");
        for word in ["doctor", "status", "completions", "man", "listen"] {
            assert!(page.contains(word), "no {word} in the man page");
        }
    }

    #[test]
    fn each_completion_script_knows_the_subcommands_and_flags() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut script = Vec::new();
            write_completions(shell, &mut script);
            let script = String::from_utf8(script).unwrap();
            for word in ["doctor", "completions", "listen", "codex-home"] {
                assert!(script.contains(word), "{shell}: no {word}");
            }
        }
    }
}
