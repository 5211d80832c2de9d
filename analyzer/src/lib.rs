//! `analyzer`: judges captured WUSP traffic against the reference's rules.
//!
//! # Where it sits
//!
//! ```text
//!  capture.jsonl / .har ──► input (captures' reader, wusp decoding, Xpress included)
//!                              │ exchanges in time order
//!                              ▼
//!                           engine: sessions per client and server (reference 0.3),
//!                                   the client-cache model Known (reference 6.2) carried
//!                                   across sessions and captures, the T/C/S rules
//!                              │ findings
//!                              ▼
//!                           report: verdict per session, text / JSON / JUnit
//! ```
//!
//! Pure logic: no async runtime, no printing; it returns values and emits `tracing` events.
//! [`catalogue`] lists every rule of reference sections 6 and 7.5 with whether it is checked.
//! A rule the data cannot decide is reported `unverifiable`, never as passed.

pub mod catalogue;
mod engine;
mod finding;
mod input;
mod report;
pub mod sequence;
mod spool;
#[cfg(test)]
mod stream_tests;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use catalogue::{Check, Level, RULES, Rule};
pub use finding::{Finding, Profile, Status};
pub use input::InputProblem;
pub use report::{
    Analysis, CacheCounts, ExchangeEntry, ReportSource, Session, SessionKind, Skipped, Summary,
    Tail, rules_json, rules_text,
};
pub use sequence::{ExpectedStep, Mark, ObservedStep, Row, align, expected_sequence};
pub use spool::{Spool, Spooled};

/// Why an analysis could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input file could not be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: captures::Error,
    },
    /// A rule id given in the options is not in the catalogue.
    #[error("no rule {0:?} in the catalogue (see `wutap rules`)")]
    UnknownRule(String),
}

/// What to report and against which profile.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Spec or native (section 10).
    pub profile: Profile,
    /// Only these rule ids (all when empty).
    pub rules: Vec<String>,
    /// Only findings at this level or above (`should` = MUST and SHOULD).
    pub level: Option<Level>,
}

/// Records between two progress reports.
const PROGRESS_EVERY: u64 = 256;

/// Analyzes capture files (wutap captures and HAR) together, ordered in time.
pub fn analyze(paths: &[impl AsRef<Path>], options: &Options) -> Result<Analysis, Error> {
    analyze_with_progress(paths, options, &mut |_| {})
}

/// How far an analysis has read its inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Bytes read from the input files so far.
    pub read: u64,
    /// The input files' total size in bytes.
    pub total: u64,
}

/// [`analyze`], calling `progress` now and then (every few hundred records and at the end of
/// each input) with the bytes read so far.
pub fn analyze_with_progress(
    paths: &[impl AsRef<Path>],
    options: &Options,
    progress: &mut dyn FnMut(Progress),
) -> Result<Analysis, Error> {
    let (mut sessions, mut skipped, mut problems) = (Vec::new(), Vec::new(), Vec::new());
    let tail = analyze_streaming(paths, options, progress, &mut |entry| match entry {
        Entry::Session(s) => sessions.push(s),
        Entry::Skipped(s) => skipped.push(s),
        Entry::Problem(p) => problems.push(p),
    })?;
    Ok(tail.into_analysis(sessions, skipped, problems))
}

/// What [`analyze_streaming`] hands its sink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A session that closed (its findings filtered by the options).
    Session(Session),
    /// An exchange that was not judged.
    Skipped(Skipped),
    /// A problem reading an input (a damaged line).
    Problem(InputProblem),
}

/// [`analyze_with_progress`] without holding the report's entries: each session goes to
/// `sink` as soon as it closes (in closing order, not start order; its findings already
/// filtered by the options), each skipped exchange and input problem as soon as it is met
/// (in the order of the full report), and leaves the analyzer's memory. Findings decided
/// only at the end of the input for sessions already handed over (S-30) come in the
/// returned [`Tail`], which [`Tail::complete`] merges into their session.
pub fn analyze_streaming(
    paths: &[impl AsRef<Path>],
    options: &Options,
    progress: &mut dyn FnMut(Progress),
    sink: &mut dyn FnMut(Entry),
) -> Result<Tail, Error> {
    for id in &options.rules {
        if catalogue::find(id).is_none() {
            return Err(Error::UnknownRule(id.clone()));
        }
    }
    let paths: Vec<PathBuf> = paths.iter().map(|p| p.as_ref().to_path_buf()).collect();
    let inputs = input::plan_inputs(&paths)?;
    let mut engine = engine::Engine::new(options.profile);
    let mut tail = Tail::new(options.profile);
    let wanted = |f: &Finding| {
        (options.rules.is_empty() || options.rules.iter().any(|r| r.eq_ignore_ascii_case(f.rule)))
            && options.level.is_none_or(|l| f.level <= l)
    };
    let emit = |mut s: Session, tail: &mut Tail, sink: &mut dyn FnMut(Entry)| {
        s.findings.retain(wanted);
        tail.summary.sessions += 1;
        tail.summary.count(&s.findings);
        sink(Entry::Session(s));
    };
    let total = inputs.iter().map(input::Input::size).sum();
    let read = Arc::new(AtomicU64::new(0));
    let mut seen = 0u64;
    for inp in &inputs {
        inp.decode_each(Arc::clone(&read), &mut |item| {
            seen += 1;
            if seen.is_multiple_of(PROGRESS_EVERY) {
                progress(Progress {
                    read: read.load(Ordering::Relaxed).min(total),
                    total,
                });
            }
            match item {
                input::Classified::Wusp(ex) => engine.feed(&ex),
                input::Classified::Content(get) => engine.feed_content(&get),
                input::Classified::Skipped(exchange, reason) => {
                    tracing::debug!(%exchange, %reason, "skipped");
                    tail.skipped += 1;
                    sink(Entry::Skipped(Skipped { exchange, reason }));
                }
                input::Classified::Problem(p) => {
                    tail.summary.input_problems += 1;
                    sink(Entry::Problem(p));
                }
            }
            for s in engine.take_closed() {
                emit(s, &mut tail, sink);
            }
        })?;
        progress(Progress {
            read: read.load(Ordering::Relaxed).min(total),
            total,
        });
    }
    let ending = engine.finish();
    for s in ending.sessions {
        emit(s, &mut tail, sink);
    }
    tail.set_late(ending.late.into_iter().filter(|(_, f)| wanted(f)).collect());
    tail.set_renamed(ending.renamed);
    tracing::info!(
        sessions = tail.summary.sessions,
        must = tail.summary.must_violations,
        "analysis done"
    );
    Ok(tail)
}
