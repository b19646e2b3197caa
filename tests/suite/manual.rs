//! The man page and the shell completions the binary prints: the page
//! renders without a warning, and each completion script loads in its
//! shell. A missing shell or groff skips its check, and fails it under `CI`
//! (`.ci/run` installs them).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::process::binary;

/// What the binary prints for `args`.
fn printed(home: &Path, args: &[&str]) -> String {
    let out = binary(home).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// `program` with `args`, or `None` (after saying so) when it is not installed.
fn run(program: &str, args: &[&str], stdin: Option<&str>) -> Option<Output> {
    let mut command = Command::new(program);
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let Ok(mut child) = command.spawn() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "{program} is not installed, and CI is set"
        );
        eprintln!("skipped: {program} is not installed");
        return None;
    };
    if let Some(text) = stdin {
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
    }
    Some(child.wait_with_output().unwrap())
}

fn assert_clean(what: &str, out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty(),
        "{what}: {stderr}"
    );
}

#[test]
fn the_man_page_renders_with_groff_without_a_warning() {
    let home = tempfile::tempdir().unwrap();
    let page = printed(home.path(), &["man"]);
    // `-P-cbou`: plain text, no overstriking, so the words can be found.
    let Some(out) = run("groff", &["-man", "-Tutf8", "-ww", "-P-cbou"], Some(&page)) else {
        return;
    };
    assert_clean("groff", &out);
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["NAME", "SYNOPSIS", "doctor", "completions", "--listen"] {
        assert!(
            text.contains(word),
            "no {word} in the rendered page:\n{text}"
        );
    }
}

#[test]
fn each_completion_script_loads_in_its_shell() {
    let home = tempfile::tempdir().unwrap();
    for (shell, check) in [
        (
            "bash",
            "bash -n {} && source {} && complete -p codex-responses-proxy",
        ),
        ("zsh", "zsh -n {}"),
        ("fish", "fish --no-execute {}"),
    ] {
        let script = printed(home.path(), &["completions", shell]);
        let file = home.path().join(format!("completions.{shell}"));
        std::fs::write(&file, script).unwrap();
        let check = check.replace("{}", file.to_str().unwrap());
        let Some(out) = run(shell, &["-c", &check], None) else {
            continue;
        };
        assert_clean(shell, &out);
    }
}

#[test]
fn fish_completes_the_subcommands_from_the_script() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("completions.fish");
    std::fs::write(&file, printed(home.path(), &["completions", "fish"])).unwrap();
    let check = format!(
        "source {}; complete -C 'codex-responses-proxy '",
        file.display()
    );
    let Some(out) = run("fish", &["-c", &check], None) else {
        return;
    };
    let offered = String::from_utf8_lossy(&out.stdout);
    for subcommand in ["doctor", "status", "completions", "man"] {
        assert!(
            offered.lines().any(|l| l.starts_with(subcommand)),
            "fish does not offer {subcommand}:\n{offered}"
        );
    }
}
