//! The analysis result and its renderings: text (verdicts first), JSON (the shape of
//! `design/cli.md`) and JUnit XML.

use std::fmt::Write as _;

use serde::Serialize;

use crate::catalogue::{Level, RULES};
use crate::finding::{Finding, Profile, Status};
use crate::input::InputProblem;

/// First sync, differential sync, or neither seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionKind {
    /// The client started with an empty cache.
    First,
    /// The client held metadata from an earlier sync.
    Differential,
    /// No software SyncUpdates in the session.
    Unknown,
}

/// One exchange of a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExchangeEntry {
    /// `file#id`.
    pub id: String,
    /// The web method.
    pub operation: String,
    /// Page number of a software SyncUpdates (null for other exchanges).
    pub page: Option<u32>,
}

/// What the client sent of its cache on the session's first SyncUpdates, against `Known`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CacheCounts {
    /// Known IDs sent in InstalledNonLeafUpdateIDs (all sent IDs when Known was not seen).
    pub installed_non_leaf_sent: usize,
    /// Known IDs sent in OtherCachedUpdateIDs (all sent IDs when Known was not seen).
    pub other_cached_sent: usize,
    /// Non-driver revisions in Known before the session.
    pub known: usize,
    /// Of those, the ones the client listed as installed last time.
    pub installed_non_leaf_expected: usize,
    /// The rest of Known.
    pub other_cached_expected: usize,
}

/// One contiguous scan of one client against one server (reference 0.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Session {
    /// `s1`, `s2`, … in start order.
    pub id: String,
    /// The ClientID, or the client's address when no ClientID was seen.
    pub client: String,
    /// The server address.
    pub server: String,
    /// First or differential sync.
    pub kind: SessionKind,
    /// The one-line verdict.
    pub verdict: String,
    /// The exchanges, in time order.
    pub exchanges: Vec<ExchangeEntry>,
    /// The cache the client sent.
    pub cache: CacheCounts,
    /// The findings.
    pub findings: Vec<Finding>,
}

/// An exchange that was not judged, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// `file#id`.
    pub exchange: String,
    /// Why.
    pub reason: String,
}

/// Counts over the reported findings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Sessions.
    pub sessions: usize,
    /// Violated MUST rules.
    pub must_violations: usize,
    /// Violated SHOULD rules.
    pub should_violations: usize,
    /// Violated OBS rules.
    pub obs_violations: usize,
    /// Unverifiable findings.
    pub unverifiable: usize,
    /// Problems reading the inputs.
    pub input_problems: usize,
}

/// The result of `analyze`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Analysis {
    /// The profile findings are measured against.
    pub profile: Profile,
    /// Sessions in start order.
    pub sessions: Vec<Session>,
    /// Exchanges not judged.
    pub skipped: Vec<Skipped>,
    /// Problems reading the inputs (damaged lines).
    pub input_problems: Vec<InputProblem>,
    /// Counts.
    pub summary: Summary,
}

impl Analysis {
    /// True when the exit code is 1: a MUST violation, or a problem in the input.
    pub fn has_problems(&self) -> bool {
        self.summary.must_violations > 0 || self.summary.input_problems > 0
    }

    /// Recounts the summary from the sessions.
    pub(crate) fn recount(&mut self) {
        let all = || self.sessions.iter().flat_map(|s| &s.findings);
        let violated = |l: Level| {
            all()
                .filter(|f| f.status == Status::Violated && f.level == l)
                .count()
        };
        self.summary = Summary {
            sessions: self.sessions.len(),
            must_violations: violated(Level::Must),
            should_violations: violated(Level::Should),
            obs_violations: violated(Level::Obs),
            unverifiable: all().filter(|f| f.status == Status::Unverifiable).count(),
            input_problems: self.input_problems.len(),
        };
    }

    /// The JSON document of `wutap analyze --format json`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// Writes the JSON report (the same document as [`Analysis::to_json`]) to `out` without
    /// building it in memory first: a report of many sessions is streamed.
    pub fn write_json(&self, out: impl std::io::Write) -> std::io::Result<()> {
        serde_json::to_writer_pretty(out, self).map_err(std::io::Error::from)
    }

    /// The text report: one verdict line per session first, then findings, skipped
    /// exchanges and input problems.
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let s = &self.summary;
        let _ = writeln!(
            o,
            "{} session(s), {} MUST violation(s), {} SHOULD violation(s), {} OBS, {} unverifiable (profile {})",
            s.sessions,
            s.must_violations,
            s.should_violations,
            s.obs_violations,
            s.unverifiable,
            self.profile.as_str()
        );
        for sess in &self.sessions {
            let _ = writeln!(o, "{} {}", sess.id, sess.verdict);
        }
        for sess in &self.sessions {
            let _ = writeln!(
                o,
                "\nsession {}: client {} -> server {}, {} sync, {} exchange(s) ({} .. {})",
                sess.id,
                sess.client,
                sess.server,
                match sess.kind {
                    crate::SessionKind::First => "first",
                    crate::SessionKind::Differential => "differential",
                    crate::SessionKind::Unknown => "unknown",
                },
                sess.exchanges.len(),
                sess.exchanges.first().map_or("", |e| e.id.as_str()),
                sess.exchanges.last().map_or("", |e| e.id.as_str()),
            );
            for f in &sess.findings {
                let _ = writeln!(
                    o,
                    "  {} {} {}: {} [{}]",
                    f.rule,
                    f.level.as_str().to_ascii_uppercase(),
                    f.status.as_str(),
                    f.message,
                    f.exchanges.join(", ")
                );
                if !f.expected.is_empty() || !f.observed.is_empty() {
                    let _ = writeln!(o, "      expected: {}", f.expected);
                    let _ = writeln!(o, "      observed: {}", f.observed);
                }
                let _ = writeln!(o, "      cite: {}", f.cite);
            }
        }
        if !self.skipped.is_empty() {
            let _ = writeln!(o, "\nskipped ({}):", self.skipped.len());
            for sk in &self.skipped {
                let _ = writeln!(o, "  {}: {}", sk.exchange, sk.reason);
            }
        }
        if !self.input_problems.is_empty() {
            let _ = writeln!(o, "\ninput problems ({}):", self.input_problems.len());
            for p in &self.input_problems {
                let _ = writeln!(o, "  {}:{}: {}", p.file, p.line, p.message);
            }
        }
        o
    }

    /// JUnit XML: one test suite per session, one test case per finding (violations
    /// fail, unverifiable ones are skipped) and one passing case per clean session.
    pub fn to_junit(&self) -> String {
        let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            o,
            "<testsuites name=\"wutap analyze\" tests=\"{}\" failures=\"{}\">",
            self.sessions
                .iter()
                .map(|s| s.findings.len().max(1))
                .sum::<usize>(),
            self.summary.must_violations
                + self.summary.should_violations
                + self.summary.obs_violations
        );
        for s in &self.sessions {
            let failures = s
                .findings
                .iter()
                .filter(|f| f.status == Status::Violated)
                .count();
            let _ = writeln!(
                o,
                "  <testsuite name=\"{} {}\" tests=\"{}\" failures=\"{failures}\">",
                esc(&s.id),
                esc(&s.client),
                s.findings.len().max(1)
            );
            if s.findings.is_empty() {
                let _ = writeln!(o, "    <testcase name=\"{}\"/>", esc(&s.verdict));
            }
            for f in &s.findings {
                let _ = write!(
                    o,
                    "    <testcase classname=\"{}\" name=\"{} {}\">",
                    esc(&s.id),
                    f.rule,
                    esc(&f.exchanges.join(","))
                );
                let body = format!(
                    "{}\nexpected: {}\nobserved: {}\ncite: {}",
                    f.message, f.expected, f.observed, f.cite
                );
                match f.status {
                    Status::Violated => {
                        let _ = write!(
                            o,
                            "<failure type=\"{}\" message=\"{}\">{}</failure>",
                            f.level.as_str(),
                            esc(&f.message),
                            esc(&body)
                        );
                    }
                    Status::Unverifiable => {
                        let _ = write!(o, "<skipped message=\"{}\"/>", esc(&f.message));
                    }
                }
                o.push_str("</testcase>\n");
            }
            o.push_str("  </testsuite>\n");
        }
        o.push_str("</testsuites>\n");
        o
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One line of `wutap rules --format json`.
#[derive(Serialize)]
struct RuleLine {
    rule: &'static str,
    level: Level,
    checked: bool,
    statement: &'static str,
    cite: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

/// `wutap rules --format json`: every rule with level, statement, citation, checked, and
/// the reason for unchecked ones (the contract's shape; profile notes are in the text form).
pub fn rules_json() -> String {
    let lines: Vec<RuleLine> = RULES
        .iter()
        .map(|r| RuleLine {
            rule: r.id,
            level: r.level,
            checked: r.check.is_checked(),
            statement: r.statement,
            cite: r.cite,
            reason: r.check.reason(),
        })
        .collect();
    serde_json::to_string_pretty(&lines).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// `wutap rules`: one block per rule.
pub fn rules_text() -> String {
    let mut o = String::new();
    let checked = RULES.iter().filter(|r| r.check.is_checked()).count();
    let _ = writeln!(o, "{} rules, {checked} checked", RULES.len());
    for r in RULES {
        let _ = writeln!(
            o,
            "{} {:<6} {} {}",
            r.id,
            r.level.as_str().to_ascii_uppercase(),
            if r.check.is_checked() {
                "checked"
            } else {
                "unchecked"
            },
            r.statement
        );
        let _ = writeln!(o, "       cite: {}", r.cite);
        if let Some(p) = r.profile {
            let _ = writeln!(o, "       profile: {p}");
        }
        if let Some(why) = r.check.reason() {
            let _ = writeln!(o, "       not checked: {why}");
        }
    }
    o
}
