//! `wutap tui`: the terminal UI — sessions, the sequence diff against the expected client
//! state machine, exchange detail, findings.
//!
//! Structure (as tokio-console and gitui): [`state::State`] is fed by [`state::Msg`]s from
//! background threads (the indexer, the analysis) and changed by [`state::Action`]s that
//! [`view::action_for`] maps keys to; [`view::render`] draws from `&State`; the loop here owns
//! the terminal and performs the I/O the state asks for ([`state::Effect`]).
//!
//! Large captures: the index is built in a background thread (one small entry per exchange,
//! bodies stay on disk) and the first frame is drawn before it is complete; records are
//! decoded only when a screen needs them; the analysis runs in its own thread.

pub mod source;
pub mod state;
pub mod view;
pub mod xml;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use captures::Record;
use captures::wire::{request_xml, response_xml};
use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use crate::Outcome;
use crate::cli::TuiArgs;
use source::Loc;
use state::{DetailData, DiffData, Effect, Msg, State, StepView};
use xml::Facts;

/// `wutap tui CAPTURE…`.
pub fn run(args: TuiArgs) -> Result<Outcome> {
    let started = Instant::now();
    for p in &args.captures {
        std::fs::metadata(p).with_context(|| format!("cannot open {}", p.display()))?;
    }
    let (mut state, rx, tx, stop) = start(&args.captures, args.follow);
    let export_dir = args
        .export_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("."));
    if args.first_frame_exit {
        // Wait for the first index batch (at most 1 s), draw one frame headless, print it.
        let deadline = started + Duration::from_secs(1);
        while state.entries.is_empty() && !state.indexed() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(m) => state.update(m),
                Err(_) => break,
            }
        }
        while let Ok(m) = rx.try_recv() {
            state.update(m);
        }
        let text = draw_text(&state, 120, 40)?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        stop.store(true, Ordering::Relaxed);
        print!("{text}");
        println!(
            "first frame after {ms:.1} ms ({} exchanges indexed)",
            state.entries.len()
        );
        return Ok(Outcome::Clean);
    }
    need_terminal()?;
    let result = interactive(&mut state, &rx, &tx, &args.captures, &export_dir);
    stop.store(true, Ordering::Relaxed);
    result.map(|()| Outcome::Clean)
}

/// Refuses to start the TUI when stdout is not a terminal (a pipe, CI), before any
/// listener is bound or thread started.
pub fn need_terminal() -> Result<()> {
    use std::io::IsTerminal as _;
    if !std::io::stdout().is_terminal() {
        anyhow::bail!("the TUI needs a terminal: stdout is not one");
    }
    Ok(())
}

/// `wutap proxy --tui`: follows the capture the proxy writes; `banner` (the listening
/// addresses) stays in the status bar until another message replaces it.
pub fn run_live(capture: PathBuf, banner: String) -> Result<()> {
    let paths = [capture];
    let (mut state, rx, tx, stop) = start(&paths, true);
    state.status = banner;
    let result = interactive(&mut state, &rx, &tx, &paths, Path::new("."));
    stop.store(true, Ordering::Relaxed);
    result
}

/// Builds the state for `paths` and starts the indexer and analysis threads.
pub fn start(
    paths: &[PathBuf],
    follow: bool,
) -> (State, Receiver<Msg>, Sender<Msg>, Arc<AtomicBool>) {
    let labels = source::labels(paths);
    let sizes = paths
        .iter()
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .collect();
    let state = State::new(paths, labels.clone(), sizes, follow);
    let (tx, rx) = channel();
    let stop = Arc::new(AtomicBool::new(false));
    for (i, (path, label)) in paths.iter().zip(labels).enumerate() {
        let (tx, stop, path) = (tx.clone(), stop.clone(), path.clone());
        std::thread::spawn(move || source::index_file(i, &path, &label, follow, &stop, &tx));
    }
    spawn_analysis(paths, &tx);
    (state, rx, tx, stop)
}

fn spawn_analysis(paths: &[PathBuf], tx: &Sender<Msg>) {
    let (tx, paths) = (tx.clone(), paths.to_vec());
    let _ = tx.send(Msg::AnalysisStarted);
    std::thread::spawn(move || {
        let mut last = std::time::Instant::now();
        let mut progress = |p: analyzer::Progress| {
            // At most a few updates a second: the view only shows a percentage.
            if last.elapsed() >= std::time::Duration::from_millis(200) {
                last = std::time::Instant::now();
                let _ = tx.send(Msg::AnalysisProgress(p));
            }
        };
        let result =
            analyzer::analyze_with_progress(&paths, &analyzer::Options::default(), &mut progress)
                .map_err(|e| e.to_string());
        let _ = tx.send(Msg::Analysis(Box::new(result)));
    });
}

/// Renders the state into a headless terminal of `w`×`h` and returns its text.
pub fn draw_text(state: &State, w: u16, h: u16) -> Result<String> {
    let mut term = Terminal::new(TestBackend::new(w, h))?;
    term.draw(|f| view::render(f, state))?;
    Ok(buffer_text(term.backend().buffer()))
}

/// The text of a buffer, one line per row, trailing spaces trimmed.
pub fn buffer_text(buf: &ratatui::buffer::Buffer) -> String {
    let mut out = String::new();
    let area = buf.area;
    for y in 0..area.height {
        let mut line = String::new();
        for x in 0..area.width {
            if let Some(c) = buf.cell((x, y)) {
                line.push_str(c.symbol());
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

fn interactive(
    state: &mut State,
    rx: &Receiver<Msg>,
    tx: &Sender<Msg>,
    paths: &[PathBuf],
    export_dir: &Path,
) -> Result<()> {
    let mut terminal = ratatui::try_init().context("cannot set up the terminal")?;
    let _ = execute!(std::io::stdout(), EnableMouseCapture);
    let result = event_loop(&mut terminal, state, rx, tx, paths, export_dir);
    let _ = execute!(std::io::stdout(), DisableMouseCapture);
    ratatui::restore();
    result
}

fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    state: &mut State,
    rx: &Receiver<Msg>,
    tx: &Sender<Msg>,
    paths: &[PathBuf],
    export_dir: &Path,
) -> Result<()> {
    let mut last_analysis = Instant::now();
    loop {
        terminal.draw(|f| view::render(f, state))?;
        // Messages from the background first, then at most 50 ms of waiting for input.
        while let Ok(m) = rx.try_recv() {
            state.update(m);
        }
        if state.follow
            && !state.analyzing
            && state.unanalyzed > 0
            && last_analysis.elapsed() > Duration::from_secs(2)
        {
            // Live: findings update as sessions complete.
            spawn_analysis(paths, tx);
            last_analysis = Instant::now();
        }
        if crossterm::event::poll(Duration::from_millis(50))? {
            let ev = crossterm::event::read()?;
            if let Some(action) = view::action_for(state, &ev)
                && let Some(effect) = state.apply(action)
            {
                let msg = perform(effect, paths, export_dir);
                state.update(msg);
            }
        }
        if state.quit {
            return Ok(());
        }
    }
}

/// Performs an effect (file I/O) and returns the message carrying its result.
pub fn perform(effect: Effect, paths: &[PathBuf], export_dir: &Path) -> Msg {
    match effect {
        Effect::LoadDiff {
            session,
            kind,
            exchanges,
        } => Msg::DiffLoaded(Box::new(load_diff(session, kind, exchanges, paths))),
        Effect::LoadDetail {
            entry,
            loc,
            previous,
        } => match load_detail(entry, &loc, previous.as_ref(), paths) {
            Ok(d) => Msg::DetailLoaded(Box::new(d)),
            Err(e) => Msg::Status(format!("cannot load the exchange: {e:#}")),
        },
        Effect::Export { key, loc, curl } => match export(&key, &loc, curl, paths, export_dir) {
            Ok(text) => Msg::Status(text),
            Err(e) => Msg::Status(format!("export failed: {e:#}")),
        },
    }
}

/// The request and response XML of a record (Content-Encoding and Xpress undone).
fn xml_of(record: &Record) -> (String, String) {
    let text = |r: Result<std::borrow::Cow<'_, [u8]>, wusp::Error>| match r {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => format!("<!-- body not decodable: {e} -->"),
    };
    match record {
        Record::Exchange(ex) => (
            text(request_xml(&ex.request)),
            text(response_xml(&ex.response)),
        ),
        Record::Error(er) => (
            er.request
                .as_ref()
                .map(|r| text(request_xml(r)))
                .unwrap_or_default(),
            er.response
                .as_ref()
                .map(|r| text(response_xml(r)))
                .unwrap_or_default(),
        ),
        _ => (String::new(), String::new()),
    }
}

fn facts_of(record: &Record) -> Facts {
    let (req, resp) = xml_of(record);
    xml::facts(&req, &resp)
}

fn load_diff(
    session: usize,
    kind: analyzer::SessionKind,
    exchanges: Vec<state::ExchangeRef>,
    paths: &[PathBuf],
) -> DiffData {
    let mut steps = Vec::new();
    let mut observed = Vec::new();
    for (key, page, loc) in exchanges {
        let record = loc.as_ref().and_then(|(_, l)| source::load(paths, l).ok());
        let facts = record.as_deref().map(facts_of).unwrap_or_default();
        let operation = record
            .as_deref()
            .and_then(|r| match r {
                Record::Exchange(ex) => Some(captures::wire::classify(ex).label().to_string()),
                _ => None,
            })
            .unwrap_or_else(|| "other".to_string());
        observed.push(analyzer::ObservedStep {
            operation,
            driver: facts.driver,
            fault: facts.fault.clone(),
            continues: facts.continues(),
        });
        steps.push(StepView {
            key,
            entry: loc.map(|(e, _)| e),
            page,
            facts,
        });
    }
    DiffData {
        session,
        steps,
        rows: analyzer::align(kind, &observed),
    }
}

fn ids(v: &[i64]) -> String {
    const SHOWN: usize = 12;
    let mut s: Vec<String> = v.iter().take(SHOWN).map(i64::to_string).collect();
    if v.len() > SHOWN {
        s.push(format!("… +{}", v.len() - SHOWN));
    }
    s.join(",")
}

fn delta(now: &[i64], before: &[i64]) -> String {
    let (n, b): (HashSet<_>, HashSet<_>) = (now.iter().collect(), before.iter().collect());
    let mut added: Vec<i64> = now.iter().filter(|i| !b.contains(i)).copied().collect();
    let mut removed: Vec<i64> = before.iter().filter(|i| !n.contains(i)).copied().collect();
    added.sort_unstable();
    removed.sort_unstable();
    format!(
        "+{} [{}] -{} [{}]",
        added.len(),
        ids(&added),
        removed.len(),
        ids(&removed)
    )
}

/// The summary lines of an exchange: HTTP, cookie, cached-ID lists and their delta from
/// the previous page, what the response delivered.
pub fn summary(record: &Record, f: &Facts, prev: Option<&Facts>) -> Vec<String> {
    let mut out = Vec::new();
    if let Record::Exchange(ex) = record {
        out.push(format!(
            "{} {}  {} B -> {} {} {} B{}",
            ex.request.method,
            ex.request.url,
            ex.request.body.len(),
            ex.response.status,
            ex.response.reason,
            ex.response.body.len(),
            if ex.is_xpress() { " (xpress)" } else { "" }
        ));
    }
    if let Record::Error(er) = record {
        out.push(format!("error ({:?}): {}", er.phase, er.message));
    }
    if let Some(c) = &f.cookie {
        out.push(format!(
            "cookie: Expiration {}, EncryptedData {} chars",
            c.expiration, c.data_len
        ));
    }
    let lists = [
        (
            "InstalledNonLeafUpdateIDs",
            &f.installed,
            prev.map(|p| &p.installed),
        ),
        ("OtherCachedUpdateIDs", &f.other, prev.map(|p| &p.other)),
        ("CachedDriverIDs", &f.drivers, prev.map(|p| &p.drivers)),
    ];
    for (name, now, before) in lists {
        if now.is_empty() && before.is_none_or(|b| b.is_empty()) {
            continue;
        }
        let d = before
            .map(|b| format!("; vs previous page {}", delta(now, b)))
            .unwrap_or_default();
        out.push(format!("{name}: {}{d}", now.len()));
    }
    if let Some(p) = prev
        && !p.new_updates.is_empty()
    {
        let listed: HashSet<&i64> = f
            .installed
            .iter()
            .chain(&f.other)
            .chain(&f.drivers)
            .collect();
        let now_listed = p.new_updates.iter().filter(|i| listed.contains(i)).count();
        out.push(format!(
            "previous page delivered {} new update(s) [{}]; {now_listed} of them listed now",
            p.new_updates.len(),
            ids(&p.new_updates)
        ));
    }
    if f.truncated.is_some() || !f.new_updates.is_empty() {
        out.push(format!(
            "response: NewUpdates {} [{}], ChangedUpdates {} [{}], OutOfScope {} [{}], Truncated {}",
            f.new_updates.len(),
            ids(&f.new_updates),
            f.changed.len(),
            ids(&f.changed),
            f.out_of_scope.len(),
            ids(&f.out_of_scope),
            f.truncated.map_or("absent".to_string(), |t| t.to_string())
        ));
    }
    if let Some(c) = &f.new_cookie {
        out.push(format!(
            "NewCookie: Expiration {}, EncryptedData {} chars",
            c.expiration, c.data_len
        ));
    }
    if let Some(code) = &f.fault {
        out.push(format!(
            "fault {code}; recovery expected: {}",
            analyzer::sequence::recovery_for(code).join(", ")
        ));
    }
    out
}

fn load_detail(
    entry: usize,
    loc: &Loc,
    previous: Option<&Loc>,
    paths: &[PathBuf],
) -> Result<DetailData> {
    let record = source::load(paths, loc)?;
    let (req, resp) = xml_of(&record);
    let f = xml::facts(&req, &resp);
    let prev = previous
        .and_then(|l| source::load(paths, l).ok())
        .map(|r| facts_of(&r));
    Ok(DetailData {
        entry,
        summary: summary(&record, &f, prev.as_ref()),
        request: xml::pretty(&req),
        response: xml::pretty(&resp),
    })
}

/// A file name from an exchange key (`first-sync.jsonl#5` -> `first-sync.jsonl-5`).
fn file_stem(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Writes a file readable by its owner only (exports hold cookies).
fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(data)
        .with_context(|| format!("cannot write {}", path.display()))
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Exports an exchange: its request and response XML, or a curl command that sends the
/// recorded request again (the body in a file beside it). Returns the status-bar text.
pub fn export(key: &str, loc: &Loc, curl: bool, paths: &[PathBuf], dir: &Path) -> Result<String> {
    let record = source::load(paths, loc)?;
    let Record::Exchange(ex) = &*record else {
        anyhow::bail!("{key} is not a complete exchange");
    };
    let (req, resp) = xml_of(&record);
    let stem = file_stem(key);
    let req_path = dir.join(format!("{stem}.request.xml"));
    write_private(&req_path, req.as_bytes())?;
    if !curl {
        let resp_path = dir.join(format!("{stem}.response.xml"));
        write_private(&resp_path, resp.as_bytes())?;
        return Ok(format!(
            "exported {key} to {} and {}",
            req_path.display(),
            resp_path.display()
        ));
    }
    let mut cmd = format!(
        "curl -sS -X {} {}",
        ex.request.method,
        sh_quote(&ex.request.url)
    );
    for h in ex.request.headers.iter() {
        let name = h.name();
        if name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("host")
        {
            continue;
        }
        let _ = write!(
            cmd,
            " \\\n  -H {}",
            sh_quote(&format!("{name}: {}", h.value()))
        );
    }
    let _ = writeln!(
        cmd,
        " \\\n  --data-binary @{}",
        sh_quote(&req_path.display().to_string())
    );
    let sh_path = dir.join(format!("{stem}.curl.sh"));
    write_private(&sh_path, format!("#!/bin/sh\n{cmd}").as_bytes())?;
    Ok(format!(
        "exported {key} as curl to {} (body {})",
        sh_path.display(),
        req_path.display()
    ))
}

#[cfg(test)]
mod tests;
