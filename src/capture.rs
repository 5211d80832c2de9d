//! `wutap capture …`: info, HAR export and import, redaction.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use captures::wire::{ExchangeKind, classify};
use captures::{CaptureReader, CaptureWriter, Problem, ReadItem, Record, Timestamp};
use serde::Serialize;

use crate::Outcome;
use crate::cli::{CaptureCommand, Format, InfoArgs, RedactArgs};

/// Runs a `capture` subcommand.
pub fn run(cmd: CaptureCommand) -> Result<Outcome> {
    match cmd {
        CaptureCommand::Info(args) => info(&args),
        CaptureCommand::ExportHar { capture, out } => export_har(&capture, &out),
        CaptureCommand::ImportHar { har, out } => import_har(&har, &out),
        CaptureCommand::Redact(args) => redact(&args),
    }
}

/// The summary of one or more captures (`capture info --format json`, design/cli.md).
#[derive(Debug, Default, Serialize)]
struct Summary {
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    records: u64,
    exchanges: u64,
    errors: u64,
    connections: u64,
    parse_errors: u64,
    clients: usize,
    servers: usize,
    operations: BTreeMap<String, u64>,
    first: Option<String>,
    last: Option<String>,
    #[serde(skip)]
    client_set: BTreeSet<String>,
    #[serde(skip)]
    server_set: BTreeSet<String>,
    #[serde(skip)]
    first_t: Option<Timestamp>,
    #[serde(skip)]
    last_t: Option<Timestamp>,
    #[serde(skip)]
    problems: Vec<Problem>,
    #[serde(skip)]
    unidentified: Vec<(u64, String)>,
}

impl Summary {
    fn add(&mut self, record: &Record) {
        self.records += 1;
        let (start, end) = match record {
            Record::Header(_) => return,
            Record::Exchange(ex) => {
                self.exchanges += 1;
                let kind = classify(ex);
                if let ExchangeKind::UnknownSoap(why) = &kind {
                    self.unidentified.push((ex.id, why.clone()));
                }
                *self.operations.entry(kind.label().to_string()).or_default() += 1;
                if let Some(c) = &ex.client {
                    self.client_set.insert(host_of(c).to_string());
                }
                let server = ex
                    .server
                    .clone()
                    .or_else(|| ex.request.header("Host").map(str::to_string));
                if let Some(s) = server {
                    self.server_set.insert(s);
                }
                (ex.time.start, ex.time.end.unwrap_or(ex.time.start))
            }
            Record::Error(e) => {
                self.errors += 1;
                (e.time.start, e.time.end.unwrap_or(e.time.start))
            }
            Record::Connection(c) => {
                self.connections += 1;
                (c.opened, c.closed.unwrap_or(c.opened))
            }
        };
        if self.first_t.is_none_or(|f| start < f) {
            self.first_t = Some(start);
        }
        if self.last_t.is_none_or(|l| end > l) {
            self.last_t = Some(end);
        }
    }

    fn merge(&mut self, other: &Summary) {
        self.records += other.records;
        self.exchanges += other.exchanges;
        self.errors += other.errors;
        self.connections += other.connections;
        self.parse_errors += other.parse_errors;
        for (k, v) in &other.operations {
            *self.operations.entry(k.clone()).or_default() += v;
        }
        self.client_set.extend(other.client_set.iter().cloned());
        self.server_set.extend(other.server_set.iter().cloned());
        for t in [other.first_t, other.last_t].into_iter().flatten() {
            if self.first_t.is_none_or(|f| t < f) {
                self.first_t = Some(t);
            }
            if self.last_t.is_none_or(|l| t > l) {
                self.last_t = Some(t);
            }
        }
    }

    fn finish(&mut self) {
        self.clients = self.client_set.len();
        self.servers = self.server_set.len();
        self.first = self.first_t.and_then(Timestamp::to_rfc3339);
        self.last = self.last_t.and_then(Timestamp::to_rfc3339);
    }
}

/// The host part of `ip:port` / `[v6]:port`.
fn host_of(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match addr.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => addr,
    }
}

fn summarize(path: &Path) -> Result<Summary> {
    let reader = CaptureReader::open(path)?;
    let mut s = Summary {
        path: Some(path.display().to_string()),
        ..Default::default()
    };
    for item in reader {
        match item {
            ReadItem::Record { record, .. } => s.add(&record),
            ReadItem::Problem(p) => {
                s.parse_errors += 1;
                s.problems.push(p);
            }
        }
    }
    s.finish();
    Ok(s)
}

/// Reference order of the operations in the text report, then Content and other.
fn operation_order(name: &str) -> usize {
    wusp::Operation::ALL
        .iter()
        .position(|op| op.name() == name)
        .unwrap_or(match name {
            "Content" => 100,
            _ => 101,
        })
}

fn info(args: &InfoArgs) -> Result<Outcome> {
    let mut per_file = Vec::new();
    for path in &args.captures {
        per_file.push(summarize(path)?);
    }
    let mut total = Summary::default();
    for s in &per_file {
        total.merge(s);
    }
    total.finish();
    let problems = total.parse_errors > 0;
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            #[derive(Serialize)]
            struct Doc<'a> {
                #[serde(flatten)]
                total: &'a Summary,
                files: &'a [Summary],
            }
            let doc = Doc {
                total: &total,
                files: &per_file,
            };
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        }
        Format::Text => {
            for s in &per_file {
                print_summary(&mut out, s)?;
            }
            if per_file.len() > 1 {
                print_summary(
                    &mut out,
                    &Summary {
                        path: Some("total".into()),
                        ..total
                    },
                )?;
            }
        }
    }
    Ok(if problems {
        Outcome::Problems
    } else {
        Outcome::Clean
    })
}

fn print_summary(out: &mut impl Write, s: &Summary) -> std::io::Result<()> {
    writeln!(out, "{}", s.path.as_deref().unwrap_or("-"))?;
    writeln!(
        out,
        "  records      {} ({} exchanges, {} errors, {} connections)",
        s.records, s.exchanges, s.errors, s.connections
    )?;
    writeln!(out, "  parse errors {}", s.parse_errors)?;
    writeln!(out, "  clients      {}    servers {}", s.clients, s.servers)?;
    match (&s.first, &s.last) {
        (Some(f), Some(l)) => {
            let span = match (s.first_t, s.last_t) {
                (Some(a), Some(b)) => format!(" ({:.3} s)", b.since(a).as_seconds_f64()),
                _ => String::new(),
            };
            writeln!(out, "  time span    {f} .. {l}{span}")?;
        }
        _ => writeln!(out, "  time span    -")?,
    }
    let mut ops: Vec<_> = s.operations.iter().collect();
    ops.sort_by_key(|(name, _)| (operation_order(name), name.to_string()));
    writeln!(out, "  operations")?;
    for (name, n) in ops {
        writeln!(out, "    {name:<26} {n:>6}")?;
    }
    for p in &s.problems {
        writeln!(out, "  problem: {p}")?;
    }
    for (id, why) in &s.unidentified {
        writeln!(out, "  exchange {id}: operation not identified: {why}")?;
    }
    Ok(())
}

fn refuse_existing(out: &Path) -> Result<()> {
    if out.exists() {
        bail!("{} exists; remove it or choose another name", out.display());
    }
    Ok(())
}

fn report_problems(problems: &[Problem]) -> Outcome {
    for p in problems {
        eprintln!("wutap: {p}");
    }
    if problems.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Problems
    }
}

fn export_har(capture: &Path, out: &Path) -> Result<Outcome> {
    refuse_existing(out)?;
    let problems = captures::har::export_file(capture, out)
        .with_context(|| format!("exporting {} to {}", capture.display(), out.display()))?;
    Ok(report_problems(&problems))
}

fn import_har(har: &Path, out: &Path) -> Result<Outcome> {
    refuse_existing(out)?;
    let (records, problems) = captures::har::import_file(har)?;
    let mut w = CaptureWriter::create_or_append(out)?;
    for r in records.iter().filter(|r| !matches!(r, Record::Header(_))) {
        w.write(r)?;
    }
    w.finish()?;
    Ok(report_problems(&problems))
}

fn redact(args: &RedactArgs) -> Result<Outcome> {
    use captures::redact::{NoteReason, Redactor, redact_file};
    refuse_existing(&args.out)?;
    let mut redactor = match &args.key_file {
        Some(path) => Redactor::new(read_key(path)?),
        None => Redactor::random()?,
    };
    let report = redact_file(&args.capture, &args.out, &mut redactor)?;
    let kinds: Vec<String> = report
        .replaced
        .iter()
        .map(|(kind, n)| format!("{n} {}", kind.name()))
        .collect();
    eprintln!(
        "wutap: redacted {} records into {}: {}",
        report.records,
        args.out.display(),
        if kinds.is_empty() {
            "nothing to replace".to_string()
        } else {
            kinds.join(", ")
        }
    );
    // Binary content (downloads) is expected to be kept; anything else may hold secrets.
    let binary = report
        .notes
        .iter()
        .filter(|n| n.reason == NoteReason::NotXml)
        .count();
    if binary > 0 {
        eprintln!("wutap: {binary} non-XML bodies (content downloads) kept as they were");
    }
    let mut problems = 0;
    for note in report
        .notes
        .iter()
        .filter(|n| n.reason != NoteReason::NotXml)
    {
        eprintln!("wutap: warning: {note}; check it before sharing");
        problems += 1;
    }
    for p in &report.problems {
        eprintln!("wutap: {p} (not written)");
        problems += 1;
    }
    Ok(if problems == 0 {
        Outcome::Clean
    } else {
        Outcome::Problems
    })
}

fn read_key(path: &PathBuf) -> Result<[u8; 32]> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading key file {}", path.display()))?;
    let bytes = hex::decode(text.trim())
        .with_context(|| format!("key file {} is not hex", path.display()))?;
    bytes.try_into().map_err(|_| {
        anyhow::anyhow!(
            "key file {} must hold 32 bytes (64 hex digits)",
            path.display()
        )
    })
}
