//! The analysis result and its renderings: text (verdicts first), JSON (the shape of
//! `design/cli.md`) and JUnit XML.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::catalogue::{Level, RULES};
use crate::finding::{Finding, Profile, Status};
use crate::input::InputProblem;

/// First sync, differential sync, or neither seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeEntry {
    /// `file#id`.
    pub id: String,
    /// The web method.
    pub operation: String,
    /// Page number of a software SyncUpdates (null for other exchanges).
    pub page: Option<u32>,
}

/// What the client sent of its cache on the session's first SyncUpdates, against `Known`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

impl Summary {
    /// Adds the violations and unverifiable findings of `findings`.
    pub(crate) fn count(&mut self, findings: &[Finding]) {
        for f in findings {
            match (f.status, f.level) {
                (Status::Violated, Level::Must) => self.must_violations += 1,
                (Status::Violated, Level::Should) => self.should_violations += 1,
                (Status::Violated, Level::Obs) => self.obs_violations += 1,
                (Status::Unverifiable, _) => self.unverifiable += 1,
            }
        }
    }
}

impl Analysis {
    /// True when the exit code is 1: a MUST violation, or a problem in the input.
    pub fn has_problems(&self) -> bool {
        self.summary.must_violations > 0 || self.summary.input_problems > 0
    }

    /// Recounts the summary from the sessions.
    pub(crate) fn recount(&mut self) {
        let mut summary = Summary {
            sessions: self.sessions.len(),
            input_problems: self.input_problems.len(),
            ..Summary::default()
        };
        for s in &self.sessions {
            summary.count(&s.findings);
        }
        self.summary = summary;
    }

    fn frame(&self) -> Frame<'_> {
        Frame {
            profile: self.profile,
            summary: &self.summary,
            skipped: self.skipped.len(),
            input_problems: self.input_problems.len(),
        }
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
        let mut o = Vec::new();
        let _ = write_text(&mut o, &self.frame(), self);
        String::from_utf8_lossy(&o).into_owned()
    }

    /// JUnit XML: one test suite per session, one test case per finding (violations
    /// fail, unverifiable ones are skipped) and one passing case per clean session.
    pub fn to_junit(&self) -> String {
        let mut o = Vec::new();
        let _ = write_junit(&mut o, &self.frame(), self);
        String::from_utf8_lossy(&o).into_owned()
    }
}

/// What a streamed analysis keeps to the end (see [`crate::analyze_streaming`]): the summary
/// over every session, how many exchanges were skipped, and the findings decided at the end
/// of the input for sessions already handed over. Sessions, skipped exchanges and input
/// problems themselves went to the sink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tail {
    /// The profile findings are measured against.
    pub profile: Profile,
    /// How many exchanges were not judged (each went to the sink).
    pub skipped: usize,
    /// Counts over every session, the late findings included, and the input problems.
    pub summary: Summary,
    /// Late findings by session index (`s{index + 1}`), sorted by index.
    late: Vec<(usize, Finding)>,
    /// Client names learned after their session left, by session index, sorted.
    renamed: Vec<(usize, String)>,
}

/// The index of session `s{index + 1}`.
pub(crate) fn session_index(id: &str) -> Option<usize> {
    id.strip_prefix('s')?.parse::<usize>().ok()?.checked_sub(1)
}

impl Tail {
    /// An empty tail.
    pub(crate) fn new(profile: Profile) -> Tail {
        Tail {
            profile,
            skipped: 0,
            summary: Summary::default(),
            late: Vec::new(),
            renamed: Vec::new(),
        }
    }

    /// Sets the client names learned after their session left.
    pub(crate) fn set_renamed(&mut self, mut renamed: Vec<(usize, String)>) {
        renamed.sort();
        self.renamed = renamed;
    }

    /// Sets the late findings (by session index) and counts them.
    pub(crate) fn set_late(&mut self, mut late: Vec<(usize, Finding)>) {
        late.sort_by_key(|(si, _)| *si);
        for (_, f) in &late {
            self.summary.count(std::slice::from_ref(f));
        }
        self.late = late;
    }

    /// The findings decided at the end of the input, with their session id, in session order.
    pub fn late_findings(&self) -> impl Iterator<Item = (String, &Finding)> {
        self.late.iter().map(|(si, f)| (format!("s{}", si + 1), f))
    }

    /// Adds the late findings of `session` to it, updates its verdict and names its client
    /// by the ClientID learned later, if any: the session is then as a non-streamed
    /// analysis reports it.
    pub fn complete(&self, session: &mut Session) {
        let Some(si) = session_index(&session.id) else {
            return;
        };
        if let Ok(i) = self.renamed.binary_search_by_key(&si, |(i, _)| *i) {
            session.client.clone_from(&self.renamed[i].1);
        }
        let from = self.late.partition_point(|(i, _)| *i < si);
        let mine = self.late[from..].iter().take_while(|(i, _)| *i == si);
        let before = session.findings.len();
        session.findings.extend(mine.map(|(_, f)| f.clone()));
        if session.findings.len() != before {
            session.verdict = crate::engine::restate(&session.verdict, &session.findings);
        }
    }

    /// True when the exit code is 1: a MUST violation, or a problem in the input.
    pub fn has_problems(&self) -> bool {
        self.summary.must_violations > 0 || self.summary.input_problems > 0
    }

    /// The full analysis from what the sink received (sessions in any order, skipped
    /// exchanges and input problems in arrival order): sessions sorted in start order, the
    /// late findings merged.
    pub fn into_analysis(
        self,
        mut sessions: Vec<Session>,
        skipped: Vec<Skipped>,
        input_problems: Vec<InputProblem>,
    ) -> Analysis {
        sessions.sort_by_key(|s| session_index(&s.id).unwrap_or(usize::MAX));
        for s in &mut sessions {
            self.complete(s);
        }
        let mut analysis = Analysis {
            profile: self.profile,
            sessions,
            skipped,
            input_problems,
            summary: Summary::default(),
        };
        analysis.recount();
        analysis
    }

    fn frame(&self) -> Frame<'_> {
        Frame {
            profile: self.profile,
            summary: &self.summary,
            skipped: self.skipped,
            input_problems: self.summary.input_problems,
        }
    }

    /// Writes the text report of [`Analysis::to_text`], the entries read from `source`.
    pub fn write_text(
        &self,
        out: &mut dyn std::io::Write,
        source: &dyn ReportSource,
    ) -> std::io::Result<()> {
        write_text(out, &self.frame(), source)
    }

    /// Writes the JSON report of [`Analysis::to_json`], the entries read from `source`.
    pub fn write_json(
        &self,
        out: &mut dyn std::io::Write,
        source: &dyn ReportSource,
    ) -> std::io::Result<()> {
        let report = JsonReport {
            frame: &self.frame(),
            source,
        };
        serde_json::to_writer_pretty(out, &report).map_err(std::io::Error::from)
    }

    /// Writes the JUnit report of [`Analysis::to_junit`], the entries read from `source`.
    pub fn write_junit(
        &self,
        out: &mut dyn std::io::Write,
        source: &dyn ReportSource,
    ) -> std::io::Result<()> {
        write_junit(out, &self.frame(), source)
    }
}

/// The entries of a report, read once per pass a report format makes over them: sessions in
/// start order, skipped exchanges and input problems in the order they were met.
pub trait ReportSource {
    /// Calls `f` on every session in start order; stops at the first error.
    fn visit(&self, f: &mut dyn FnMut(&Session) -> std::io::Result<()>) -> std::io::Result<()>;
    /// Calls `f` on every skipped exchange; stops at the first error.
    fn visit_skipped(
        &self,
        f: &mut dyn FnMut(&Skipped) -> std::io::Result<()>,
    ) -> std::io::Result<()>;
    /// Calls `f` on every input problem; stops at the first error.
    fn visit_problems(
        &self,
        f: &mut dyn FnMut(&InputProblem) -> std::io::Result<()>,
    ) -> std::io::Result<()>;
}

impl ReportSource for Analysis {
    fn visit(&self, f: &mut dyn FnMut(&Session) -> std::io::Result<()>) -> std::io::Result<()> {
        self.sessions.iter().try_for_each(f)
    }
    fn visit_skipped(
        &self,
        f: &mut dyn FnMut(&Skipped) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        self.skipped.iter().try_for_each(f)
    }
    fn visit_problems(
        &self,
        f: &mut dyn FnMut(&InputProblem) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        self.input_problems.iter().try_for_each(f)
    }
}

/// What a report shows besides the entries: the totals.
struct Frame<'a> {
    profile: Profile,
    summary: &'a Summary,
    skipped: usize,
    input_problems: usize,
}

/// The JSON document of [`Analysis`], its entries streamed from a [`ReportSource`].
struct JsonReport<'a> {
    frame: &'a Frame<'a>,
    source: &'a dyn ReportSource,
}

impl Serialize for JsonReport<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let src = self.source;
        let mut st = ser.serialize_struct("Analysis", 5)?;
        st.serialize_field("profile", &self.frame.profile)?;
        st.serialize_field("sessions", &Streamed(&|f| src.visit(f)))?;
        st.serialize_field("skipped", &Streamed(&|f| src.visit_skipped(f)))?;
        st.serialize_field("input_problems", &Streamed(&|f| src.visit_problems(f)))?;
        st.serialize_field("summary", self.frame.summary)?;
        st.end()
    }
}

/// What visits the entries of one kind, `f` on each.
type Visit<'a, T> = &'a dyn Fn(&mut dyn FnMut(&T) -> std::io::Result<()>) -> std::io::Result<()>;

/// A JSON array read from its source (a visit over its elements) while it is written.
struct Streamed<'a, T>(Visit<'a, T>);

impl<T: Serialize> Serialize for Streamed<'_, T> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq as _;
        let mut seq = ser.serialize_seq(None)?;
        let mut failed = None;
        let read = (self.0)(&mut |item: &T| {
            seq.serialize_element(item).map_err(|e| {
                failed = Some(e);
                std::io::Error::other("serializing a report entry")
            })
        });
        if let Some(e) = failed {
            return Err(e);
        }
        read.map_err(<S::Error as serde::ser::Error>::custom)?;
        seq.end()
    }
}

fn kind_word(kind: SessionKind) -> &'static str {
    match kind {
        SessionKind::First => "first",
        SessionKind::Differential => "differential",
        SessionKind::Unknown => "unknown",
    }
}

fn write_text(
    o: &mut dyn std::io::Write,
    fr: &Frame<'_>,
    sessions: &dyn ReportSource,
) -> std::io::Result<()> {
    let s = fr.summary;
    writeln!(
        o,
        "{} session(s), {} MUST violation(s), {} SHOULD violation(s), {} OBS, {} unverifiable (profile {})",
        s.sessions,
        s.must_violations,
        s.should_violations,
        s.obs_violations,
        s.unverifiable,
        fr.profile.as_str()
    )?;
    sessions.visit(&mut |sess| writeln!(o, "{} {}", sess.id, sess.verdict))?;
    sessions.visit(&mut |sess| {
        writeln!(
            o,
            "\nsession {}: client {} -> server {}, {} sync, {} exchange(s) ({} .. {})",
            sess.id,
            sess.client,
            sess.server,
            kind_word(sess.kind),
            sess.exchanges.len(),
            sess.exchanges.first().map_or("", |e| e.id.as_str()),
            sess.exchanges.last().map_or("", |e| e.id.as_str()),
        )?;
        for f in &sess.findings {
            writeln!(
                o,
                "  {} {} {}: {} [{}]",
                f.rule,
                f.level.as_str().to_ascii_uppercase(),
                f.status.as_str(),
                f.message,
                f.exchanges.join(", ")
            )?;
            if !f.expected.is_empty() || !f.observed.is_empty() {
                writeln!(o, "      expected: {}", f.expected)?;
                writeln!(o, "      observed: {}", f.observed)?;
            }
            writeln!(o, "      cite: {}", f.cite)?;
        }
        Ok(())
    })?;
    if fr.skipped > 0 {
        writeln!(o, "\nskipped ({}):", fr.skipped)?;
        sessions.visit_skipped(&mut |sk| writeln!(o, "  {}: {}", sk.exchange, sk.reason))?;
    }
    if fr.input_problems > 0 {
        writeln!(o, "\ninput problems ({}):", fr.input_problems)?;
        sessions.visit_problems(&mut |p| writeln!(o, "  {}:{}: {}", p.file, p.line, p.message))?;
    }
    Ok(())
}

fn write_junit(
    o: &mut dyn std::io::Write,
    fr: &Frame<'_>,
    sessions: &dyn ReportSource,
) -> std::io::Result<()> {
    o.write_all(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")?;
    let mut tests = 0usize;
    sessions.visit(&mut |s| {
        tests += s.findings.len().max(1);
        Ok(())
    })?;
    writeln!(
        o,
        "<testsuites name=\"wutap analyze\" tests=\"{tests}\" failures=\"{}\">",
        fr.summary.must_violations + fr.summary.should_violations + fr.summary.obs_violations
    )?;
    sessions.visit(&mut |s| {
        let failures = s
            .findings
            .iter()
            .filter(|f| f.status == Status::Violated)
            .count();
        writeln!(
            o,
            "  <testsuite name=\"{} {}\" tests=\"{}\" failures=\"{failures}\">",
            esc(&s.id),
            esc(&s.client),
            s.findings.len().max(1)
        )?;
        if s.findings.is_empty() {
            writeln!(o, "    <testcase name=\"{}\"/>", esc(&s.verdict))?;
        }
        for f in &s.findings {
            write!(
                o,
                "    <testcase classname=\"{}\" name=\"{} {}\">",
                esc(&s.id),
                f.rule,
                esc(&f.exchanges.join(","))
            )?;
            let body = format!(
                "{}\nexpected: {}\nobserved: {}\ncite: {}",
                f.message, f.expected, f.observed, f.cite
            );
            match f.status {
                Status::Violated => write!(
                    o,
                    "<failure type=\"{}\" message=\"{}\">{}</failure>",
                    f.level.as_str(),
                    esc(&f.message),
                    esc(&body)
                )?,
                Status::Unverifiable => {
                    write!(o, "<skipped message=\"{}\"/>", esc(&f.message))?;
                }
            }
            o.write_all(b"</testcase>\n")?;
        }
        o.write_all(b"  </testsuite>\n")
    })?;
    o.write_all(b"</testsuites>\n")
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
