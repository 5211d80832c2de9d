//! The command line (clap derive), following `design/cli.md`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// wutap: capture, analyze and replay Windows Server Update Services (MS-WUSP) traffic.
#[derive(Debug, Parser)]
#[command(name = "wutap", version, about, long_about = None)]
pub struct Cli {
    /// Log verbosity on stderr (-v info, -vv debug); RUST_LOG overrides it.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect and convert capture files.
    #[command(subcommand)]
    Capture(CaptureCommand),
}

/// `wutap capture …`.
#[derive(Debug, Subcommand)]
pub enum CaptureCommand {
    /// Summarize captures: records, per-operation counts, clients, servers, time span, parse errors.
    Info(InfoArgs),
    /// Export a capture as HAR 1.2 (what HAR cannot carry goes in `_wutap` fields).
    ExportHar {
        /// The capture to read (.jsonl, .jsonl.zst, .jsonl.gz or .har).
        capture: PathBuf,
        /// The HAR file to write (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Import a HAR (devtools, Fiddler, mitmproxy or wutap's own) as a capture.
    ImportHar {
        /// The HAR file.
        har: PathBuf,
        /// The capture to write (must not exist; compression by extension).
        #[arg(long)]
        out: PathBuf,
    },
    /// Replace cookies, client ids, DNS names and addresses with consistent placeholders.
    Redact(RedactArgs),
}

/// Arguments of `capture info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Capture files (.jsonl, .jsonl.zst, .jsonl.gz, .har).
    #[arg(required = true)]
    pub captures: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Arguments of `capture redact`.
#[derive(Debug, Args)]
pub struct RedactArgs {
    /// The capture to redact.
    pub capture: PathBuf,
    /// The redacted capture to write (must not exist).
    #[arg(long)]
    pub out: PathBuf,
    /// File holding the 32-byte redaction key as 64 hex digits: the same key gives the same
    /// placeholders across files. Without it a random key is used for this run only.
    #[arg(long)]
    pub key_file: Option<PathBuf>,
}

/// Output format of reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable text.
    Text,
    /// One JSON document.
    Json,
}
