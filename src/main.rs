//! wutap: capture, analyze and replay MS-WUSP (Windows Server Update Services) traffic.
//!
//! The binary is thin: it parses the command line, sets up logging on stderr and maps
//! outcomes to exit codes (0 ok, 1 problems found in the input, 2 usage or I/O error).

// A binary has no public API: `pub` here only means "visible to the other modules".
#![allow(unreachable_pub)]

// analyzer (issue 6)
mod analyze_cmd;
mod ca_cmd;
mod capture;
mod cli;
// demo (issue 8)
mod demo_cmd;
mod proxy_cmd;
mod replay_cmd;
mod replay_seed;
mod serve;
mod tui;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

/// What a command found: a clean run, or problems in its input (exit code 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing wrong.
    Clean,
    /// The input had problems (parse errors, findings, failed checks).
    Problems,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Capture(c) => capture::run(c),
        Command::Serve(args) => serve::run(*args),
        Command::Ca(c) => ca_cmd::run(c),
        Command::Replay(args) => replay_cmd::run(*args),
        Command::Proxy(args) => proxy_cmd::run(*args),
        // analyzer (issue 6)
        Command::Analyze(args) => analyze_cmd::run(args),
        Command::Rules(args) => analyze_cmd::rules(args),
        Command::Tui(args) => tui::run(args),
        // demo (issue 8)
        Command::Demo(args) => demo_cmd::run(args),
        Command::Completions(args) => demo_cmd::completions(args),
        Command::Man => demo_cmd::man(),
    };
    match result {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Problems) => ExitCode::from(1),
        // The reader of our output went away (`wutap … | head`): nothing left to say.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wutap: error: {}", error_text(&e));
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes, skipping causes that the message above already quotes.
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let c = cause.to_string();
        if text.contains(&c) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&c);
    }
    text
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
