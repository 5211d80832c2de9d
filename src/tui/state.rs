//! The TUI's state: fed by [`Msg`]s (index batches, the analysis, loaded details), changed by
//! [`Action`]s (what keys mean), and asking the event loop for I/O through [`Effect`]s.
//! No terminal and no I/O here, so it is tested by feeding it messages and actions.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use analyzer::{Analysis, Finding, Level, Row, Status};

use super::source::{Entry, Loc};
use super::xml::{Facts, XmlLine};

/// What arrives from the background: index batches, the analysis, loaded records.
#[derive(Debug)]
pub enum Msg {
    /// Entries of file `file`, read up to byte `bytes`.
    Indexed {
        /// The file.
        file: usize,
        /// Bytes read so far (0 when not known).
        bytes: u64,
        /// New entries.
        entries: Vec<Entry>,
        /// Damaged lines met.
        problems: Vec<String>,
    },
    /// File `file` is indexed to its end.
    IndexDone {
        /// The file.
        file: usize,
    },
    /// File `file` could not be read.
    IndexFailed {
        /// The file.
        file: usize,
        /// Why.
        error: String,
    },
    /// The analysis started.
    AnalysisStarted,
    /// The running analysis has read this far.
    AnalysisProgress(analyzer::Progress),
    /// The analysis finished (or failed).
    Analysis(Box<Result<Analysis, String>>),
    /// The observed steps of a session were loaded.
    DiffLoaded(Box<DiffData>),
    /// An exchange was loaded for the detail screen.
    DetailLoaded(Box<DetailData>),
    /// A line for the status bar.
    Status(String),
}

/// What a key (or mouse event) asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Selection up by n.
    Up(usize),
    /// Selection down by n.
    Down(usize),
    /// To the first row.
    Top,
    /// To the last row.
    Bottom,
    /// Open the selected row.
    Open,
    /// Back one screen (quit from the first).
    Back,
    /// Quit.
    Quit,
    /// Next pane.
    NextPane,
    /// Open the findings screen.
    Findings,
    /// Fold or unfold the element under the cursor.
    Fold,
    /// Start typing a search.
    StartSearch,
    /// Start typing a filter.
    StartFilter,
    /// Next search match.
    NextMatch,
    /// A character typed into the prompt.
    PromptChar(char),
    /// Backspace in the prompt.
    PromptBackspace,
    /// Enter in the prompt.
    PromptSubmit,
    /// Esc: close the prompt or the help, or clear the filter.
    Cancel,
    /// Show or hide the help.
    ToggleHelp,
    /// Export the selected exchange's XML.
    ExportXml,
    /// Export the selected exchange as a curl command.
    ExportCurl,
}

/// An exchange of a session: its key, software page, and its entry index and place.
pub type ExchangeRef = (String, Option<u32>, Option<(usize, Loc)>);

/// I/O the event loop performs for the state; the answer comes back as a [`Msg`].
#[derive(Clone, Debug)]
pub enum Effect {
    /// Load the observed steps of a session.
    LoadDiff {
        /// The session index.
        session: usize,
        /// First or differential.
        kind: analyzer::SessionKind,
        /// Its exchanges: key, page, and the entry index and place of the record.
        exchanges: Vec<ExchangeRef>,
    },
    /// Load an exchange (and the previous page of the same kind, for deltas).
    LoadDetail {
        /// The entry index.
        entry: usize,
        /// Where it is.
        loc: Loc,
        /// The previous call of the same kind in the session.
        previous: Option<Loc>,
    },
    /// Write the exchange's XML or a curl command to a file.
    Export {
        /// The entry key.
        key: String,
        /// Where it is.
        loc: Loc,
        /// Curl rather than XML.
        curl: bool,
    },
}

/// One observed call of a session, as the diff shows it.
#[derive(Clone, Debug, Default)]
pub struct StepView {
    /// `file#id`.
    pub key: String,
    /// The index entry.
    pub entry: Option<usize>,
    /// Software page number.
    pub page: Option<u32>,
    /// What the request and response say.
    pub facts: Facts,
}

/// The sequence diff of one session.
#[derive(Clone, Debug, Default)]
pub struct DiffData {
    /// The session index.
    pub session: usize,
    /// Observed steps.
    pub steps: Vec<StepView>,
    /// The alignment.
    pub rows: Vec<Row>,
}

/// One exchange, loaded.
#[derive(Clone, Debug, Default)]
pub struct DetailData {
    /// The entry index.
    pub entry: usize,
    /// Summary lines (cookie, lists, deltas).
    pub summary: Vec<String>,
    /// Request XML.
    pub request: Vec<XmlLine>,
    /// Response XML.
    pub response: Vec<XmlLine>,
}

/// A screen on the stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Screen {
    /// One row per session.
    Sessions {
        /// Selected row.
        sel: usize,
    },
    /// Observed vs expected of one session.
    Diff {
        /// Session index.
        session: usize,
        /// Selected row.
        sel: usize,
    },
    /// One exchange.
    Detail {
        /// Entry index.
        entry: usize,
        /// 0 request, 1 response.
        pane: usize,
        /// Cursor line (among visible lines) per pane.
        cursor: [usize; 2],
        /// Folded element lines per pane.
        folded: [BTreeSet<usize>; 2],
    },
    /// Findings (of one session, or all).
    Findings {
        /// Only this session's.
        session: Option<usize>,
        /// Selected row.
        sel: usize,
    },
}

/// Which prompt is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptKind {
    /// `/` search.
    Search,
    /// `f` filter.
    Filter,
}

/// One input file.
#[derive(Clone, Debug)]
pub struct FileInfo {
    /// The path.
    pub path: PathBuf,
    /// The label in exchange keys.
    pub label: String,
    /// Size in bytes.
    pub size: u64,
    /// Bytes indexed.
    pub indexed: u64,
    /// Indexed to the end.
    pub done: bool,
}

/// Everything the view renders.
#[derive(Debug)]
pub struct State {
    /// Input files.
    pub files: Vec<FileInfo>,
    /// Following files still being written.
    pub follow: bool,
    /// Index entries in file order.
    pub entries: Vec<Entry>,
    /// Entry by key.
    pub by_key: HashMap<String, usize>,
    /// Damaged lines met while indexing.
    pub problems: Vec<String>,
    /// The latest analysis.
    pub analysis: Option<Analysis>,
    /// An analysis is running.
    pub analyzing: bool,
    /// When the running analysis started (for the status bar).
    pub analysis_since: Option<std::time::Instant>,
    /// How far the running analysis has read its inputs (bytes read, total).
    pub analysis_progress: Option<(u64, u64)>,
    /// The last analysis error.
    pub analysis_error: Option<String>,
    /// Entries indexed since the analysis last started (follow mode reruns it).
    pub unanalyzed: usize,
    /// The screen stack (never empty).
    pub screens: Vec<Screen>,
    /// The loaded diff.
    pub diff: Option<DiffData>,
    /// The loaded detail.
    pub detail: Option<DetailData>,
    /// The status-bar message.
    pub status: String,
    /// The open prompt and its text.
    pub prompt: Option<(PromptKind, String)>,
    /// The last search.
    pub search: Option<String>,
    /// The active filter (rule id or operation).
    pub filter: Option<String>,
    /// The help overlay is shown.
    pub help: bool,
    /// The user asked to quit.
    pub quit: bool,
    /// Select this exchange once the diff is loaded.
    pending_select: Option<String>,
}

impl State {
    /// A state for these files, nothing indexed yet.
    pub fn new(paths: &[PathBuf], labels: Vec<String>, sizes: Vec<u64>, follow: bool) -> Self {
        State {
            files: paths
                .iter()
                .zip(labels)
                .zip(sizes)
                .map(|((path, label), size)| FileInfo {
                    path: path.clone(),
                    label,
                    size,
                    indexed: 0,
                    done: false,
                })
                .collect(),
            follow,
            entries: Vec::new(),
            by_key: HashMap::new(),
            problems: Vec::new(),
            analysis: None,
            analyzing: false,
            analysis_since: None,
            analysis_progress: None,
            analysis_error: None,
            unanalyzed: 0,
            screens: vec![Screen::Sessions { sel: 0 }],
            diff: None,
            detail: None,
            status: String::new(),
            prompt: None,
            search: None,
            filter: None,
            help: false,
            quit: false,
            pending_select: None,
        }
    }

    /// The screen on top.
    pub fn screen(&self) -> &Screen {
        // The stack is never empty: `back` keeps the first screen.
        self.screens.last().unwrap_or(&Screen::Sessions { sel: 0 })
    }

    fn screen_mut(&mut self) -> &mut Screen {
        if self.screens.is_empty() {
            self.screens.push(Screen::Sessions { sel: 0 });
        }
        let last = self.screens.len() - 1;
        &mut self.screens[last]
    }

    /// Every file is indexed to its end.
    pub fn indexed(&self) -> bool {
        self.files.iter().all(|f| f.done)
    }

    /// Takes a message in.
    pub fn update(&mut self, msg: Msg) {
        match msg {
            Msg::Indexed {
                file,
                bytes,
                entries,
                mut problems,
            } => {
                if let Some(f) = self.files.get_mut(file) {
                    f.indexed = f.indexed.max(bytes);
                }
                self.unanalyzed += entries.len();
                for e in entries {
                    self.by_key.insert(e.key.clone(), self.entries.len());
                    self.entries.push(e);
                }
                self.problems.append(&mut problems);
            }
            Msg::IndexDone { file } => {
                if let Some(f) = self.files.get_mut(file) {
                    f.done = true;
                    f.indexed = f.size.max(f.indexed);
                }
            }
            Msg::IndexFailed { file, error } => {
                if let Some(f) = self.files.get_mut(file) {
                    f.done = true;
                }
                self.status = error;
            }
            Msg::AnalysisStarted => {
                self.analyzing = true;
                self.analysis_since = Some(std::time::Instant::now());
                self.analysis_progress = None;
                self.unanalyzed = 0;
            }
            Msg::AnalysisProgress(p) => {
                if self.analyzing {
                    self.analysis_progress = Some((p.read, p.total));
                }
            }
            Msg::Analysis(result) => {
                self.analyzing = false;
                match *result {
                    Ok(a) => {
                        self.analysis = Some(a);
                        self.analysis_error = None;
                        // Live: a session may have grown; a diff not on screen is rebuilt
                        // when next opened.
                        if !matches!(self.screen(), Screen::Diff { .. } | Screen::Detail { .. }) {
                            self.diff = None;
                        }
                    }
                    Err(e) => self.analysis_error = Some(e),
                }
            }
            Msg::DiffLoaded(d) => {
                let want = self.pending_select.take();
                let row = want.and_then(|k| {
                    d.rows.iter().position(|r| {
                        r.observed
                            .and_then(|o| d.steps.get(o))
                            .is_some_and(|s| s.key == k)
                    })
                });
                self.diff = Some(*d);
                if let (Some(row), Screen::Diff { sel, .. }) = (row, self.screen_mut()) {
                    *sel = row;
                }
            }
            Msg::DetailLoaded(d) => self.detail = Some(*d),
            Msg::Status(s) => self.status = s,
        }
    }

    /// The sessions of the analysis (empty before it).
    pub fn sessions(&self) -> &[analyzer::Session] {
        self.analysis.as_ref().map_or(&[], |a| &a.sessions)
    }

    fn filter_matches_op(&self, op: &str) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|f| op.to_ascii_lowercase().contains(&f.to_ascii_lowercase()))
    }

    fn filter_matches_finding(&self, f: &Finding, session: &analyzer::Session) -> bool {
        let Some(flt) = &self.filter else { return true };
        if f.rule.eq_ignore_ascii_case(flt) {
            return true;
        }
        f.exchanges.iter().any(|x| {
            session
                .exchanges
                .iter()
                .any(|e| &e.id == x && self.filter_matches_op(&e.operation))
        })
    }

    /// Session indexes shown (the filter keeps sessions with a matching rule or operation).
    pub fn visible_sessions(&self) -> Vec<usize> {
        self.sessions()
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                self.filter.is_none()
                    || s.exchanges
                        .iter()
                        .any(|e| self.filter_matches_op(&e.operation))
                    || s.findings.iter().any(|f| self.filter_matches_finding(f, s))
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Findings shown: (session, finding) pairs.
    pub fn visible_findings(&self, only: Option<usize>) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for (si, s) in self.sessions().iter().enumerate() {
            if only.is_some_and(|o| o != si) {
                continue;
            }
            for (fi, f) in s.findings.iter().enumerate() {
                if self.filter_matches_finding(f, s) {
                    out.push((si, fi));
                }
            }
        }
        // Violations before unverifiable ones, MUST before SHOULD before OBS.
        let sessions = self.sessions();
        out.sort_by_key(|&(si, fi)| {
            let f = &sessions[si].findings[fi];
            (f.status != Status::Violated, f.level, si, fi)
        });
        out
    }

    /// Diff rows shown (indexes into the loaded diff's rows).
    pub fn visible_rows(&self) -> Vec<usize> {
        let Some(d) = &self.diff else {
            return Vec::new();
        };
        let session = self.sessions().get(d.session);
        d.rows
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                if self.filter.is_none() {
                    return true;
                }
                let key = r
                    .expected
                    .as_ref()
                    .map(|e| e.key.clone())
                    .or_else(|| {
                        r.observed
                            .and_then(|o| d.steps.get(o))
                            .and_then(|s| s.entry)
                            .and_then(|e| self.entries.get(e))
                            .map(|e| e.operation.clone())
                    })
                    .unwrap_or_default();
                let step_key = r.observed.and_then(|o| d.steps.get(o)).map(|s| &s.key);
                self.filter_matches_op(&key)
                    || session.is_some_and(|s| {
                        s.findings.iter().any(|f| {
                            self.filter
                                .as_ref()
                                .is_some_and(|fl| f.rule.eq_ignore_ascii_case(fl))
                                && step_key.is_some_and(|k| f.exchanges.contains(k))
                        })
                    })
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Findings of a session that name an exchange: (MUST violations, others).
    pub fn badge(&self, session: usize, key: &str) -> (usize, usize) {
        let Some(s) = self.sessions().get(session) else {
            return (0, 0);
        };
        let mine = s
            .findings
            .iter()
            .filter(|f| f.exchanges.iter().any(|x| x == key));
        let (mut must, mut other) = (0, 0);
        for f in mine {
            if f.level == Level::Must && f.status == Status::Violated {
                must += 1;
            } else {
                other += 1;
            }
        }
        (must, other)
    }

    /// The visible lines of a detail pane: indexes into its lines, folded parts hidden.
    pub fn visible_lines(lines: &[XmlLine], folded: &BTreeSet<usize>) -> Vec<usize> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            out.push(i);
            match (folded.contains(&i), lines[i].end) {
                (true, Some(end)) => i = end + 1,
                _ => i += 1,
            }
        }
        out
    }

    fn rows_len(&self) -> usize {
        match self.screen() {
            Screen::Sessions { .. } => self.visible_sessions().len(),
            Screen::Diff { .. } => self.visible_rows().len(),
            Screen::Findings { session, .. } => self.visible_findings(*session).len(),
            Screen::Detail { pane, folded, .. } => self.detail.as_ref().map_or(0, |d| {
                let lines = if *pane == 0 { &d.request } else { &d.response };
                Self::visible_lines(lines, &folded[*pane]).len()
            }),
        }
    }

    fn move_sel(&mut self, f: impl Fn(usize, usize) -> usize) {
        let len = self.rows_len();
        let sel = match self.screen_mut() {
            Screen::Sessions { sel } | Screen::Diff { sel, .. } | Screen::Findings { sel, .. } => {
                sel
            }
            Screen::Detail { pane, cursor, .. } => &mut cursor[*pane],
        };
        *sel = if len == 0 {
            0
        } else {
            f(*sel, len).min(len - 1)
        };
    }

    /// The entry of the selected exchange, if the screen has one.
    pub fn selected_entry(&self) -> Option<usize> {
        match self.screen() {
            Screen::Diff { sel, .. } => {
                let d = self.diff.as_ref()?;
                let row = d.rows.get(*self.visible_rows().get(*sel)?)?;
                d.steps.get(row.observed?)?.entry
            }
            Screen::Detail { entry, .. } => Some(*entry),
            Screen::Findings { session, sel } => {
                let (si, fi) = *self.visible_findings(*session).get(*sel)?;
                let f = self.sessions().get(si)?.findings.get(fi)?;
                f.exchanges.iter().find_map(|k| self.by_key.get(k).copied())
            }
            Screen::Sessions { .. } => None,
        }
    }

    /// Applies an action; returns the I/O it needs.
    pub fn apply(&mut self, action: Action) -> Option<Effect> {
        if let Some((kind, text)) = &mut self.prompt {
            match action {
                Action::PromptChar(c) => text.push(c),
                Action::PromptBackspace => {
                    text.pop();
                }
                Action::PromptSubmit => {
                    let (kind, text) = (*kind, text.clone());
                    self.prompt = None;
                    let text = (!text.is_empty()).then_some(text);
                    match kind {
                        PromptKind::Search => {
                            self.search = text;
                            self.next_match(false);
                        }
                        PromptKind::Filter => {
                            self.filter = text;
                            self.move_sel(|_, _| 0);
                        }
                    }
                }
                Action::Cancel => self.prompt = None,
                _ => {}
            }
            return None;
        }
        if self.help {
            self.help = false;
            return None;
        }
        match action {
            Action::Up(n) => self.move_sel(|s, _| s.saturating_sub(n)),
            Action::Down(n) => self.move_sel(|s, _| s.saturating_add(n)),
            Action::Top => self.move_sel(|_, _| 0),
            Action::Bottom => self.move_sel(|_, len| len.saturating_sub(1)),
            Action::Open => return self.open(),
            Action::Back => {
                if self.screens.len() > 1 {
                    self.screens.pop();
                    if let Screen::Diff { session, .. } = self.screen().clone() {
                        return self.diff_effect(session);
                    }
                } else {
                    self.quit = true;
                }
            }
            Action::Quit => self.quit = true,
            Action::NextPane => {
                if let Screen::Detail { pane, .. } = self.screen_mut() {
                    *pane = 1 - *pane;
                }
            }
            Action::Findings => {
                let session = match self.screen() {
                    Screen::Diff { session, .. } => Some(*session),
                    _ => None,
                };
                self.screens.push(Screen::Findings { session, sel: 0 });
            }
            Action::Fold => {
                let Some(d) = &self.detail else { return None };
                if let Some(Screen::Detail {
                    pane,
                    cursor,
                    folded,
                    ..
                }) = self.screens.last_mut()
                {
                    let lines = if *pane == 0 { &d.request } else { &d.response };
                    let vis = Self::visible_lines(lines, &folded[*pane]);
                    if let Some(&line) = vis.get(cursor[*pane])
                        && lines[line].end.is_some()
                        && !folded[*pane].remove(&line)
                    {
                        folded[*pane].insert(line);
                    }
                }
            }
            Action::StartSearch => self.prompt = Some((PromptKind::Search, String::new())),
            Action::StartFilter => self.prompt = Some((PromptKind::Filter, String::new())),
            Action::NextMatch => self.next_match(true),
            Action::Cancel => {
                if self.filter.take().is_some() {
                    self.status = "filter cleared".into();
                }
            }
            Action::ToggleHelp => self.help = true,
            Action::ExportXml | Action::ExportCurl => {
                let Some(e) = self.selected_entry().and_then(|e| self.entries.get(e)) else {
                    self.status = "no exchange selected to export".into();
                    return None;
                };
                return Some(Effect::Export {
                    key: e.key.clone(),
                    loc: e.loc.clone(),
                    curl: action == Action::ExportCurl,
                });
            }
            Action::PromptChar(_) | Action::PromptBackspace | Action::PromptSubmit => {}
        }
        None
    }

    fn diff_effect(&mut self, session: usize) -> Option<Effect> {
        if self.diff.as_ref().is_some_and(|d| d.session == session) {
            return None;
        }
        let s = self.sessions().get(session)?;
        let exchanges = s
            .exchanges
            .iter()
            .map(|e| {
                let loc = self
                    .by_key
                    .get(&e.id)
                    .map(|&i| (i, self.entries[i].loc.clone()));
                (e.id.clone(), e.page, loc)
            })
            .collect();
        Some(Effect::LoadDiff {
            session,
            kind: s.kind,
            exchanges,
        })
    }

    fn open(&mut self) -> Option<Effect> {
        match self.screen().clone() {
            Screen::Sessions { sel } => {
                let session = *self.visible_sessions().get(sel)?;
                self.screens.push(Screen::Diff { session, sel: 0 });
                self.diff_effect(session)
            }
            Screen::Diff { session, .. } => {
                let entry = self.selected_entry()?;
                let previous = self.previous_of(session, entry);
                self.screens.push(Screen::Detail {
                    entry,
                    pane: 0,
                    cursor: [0, 0],
                    folded: Default::default(),
                });
                self.detail = None;
                Some(Effect::LoadDetail {
                    entry,
                    loc: self.entries[entry].loc.clone(),
                    previous,
                })
            }
            Screen::Findings { session, sel } => {
                let (si, fi) = *self.visible_findings(session).get(sel)?;
                let first = self
                    .sessions()
                    .get(si)?
                    .findings
                    .get(fi)?
                    .exchanges
                    .first()?;
                self.pending_select = Some(first.clone());
                self.screens.push(Screen::Diff {
                    session: si,
                    sel: 0,
                });
                match self.diff_effect(si) {
                    Some(e) => Some(e),
                    None => {
                        // Already loaded: select now.
                        if let Some(d) = self.diff.take() {
                            self.update(Msg::DiffLoaded(Box::new(d)));
                        }
                        None
                    }
                }
            }
            Screen::Detail { .. } => self.apply(Action::Fold),
        }
    }

    /// The previous call of the same kind (a software SyncUpdates page before this one).
    fn previous_of(&self, session: usize, entry: usize) -> Option<Loc> {
        let d = self.diff.as_ref().filter(|d| d.session == session)?;
        let pos = d.steps.iter().position(|s| s.entry == Some(entry))?;
        let me = &d.steps[pos];
        let op = &self.entries.get(entry)?.operation;
        d.steps[..pos]
            .iter()
            .rev()
            .find(|s| {
                s.facts.driver == me.facts.driver
                    && s.entry
                        .and_then(|e| self.entries.get(e))
                        .map(|e| &e.operation)
                        == Some(op)
            })
            .and_then(|s| s.entry)
            .map(|e| self.entries[e].loc.clone())
    }

    /// The text of each row of the current screen, for search.
    fn row_texts(&self) -> Vec<String> {
        match self.screen() {
            Screen::Sessions { .. } => self
                .visible_sessions()
                .iter()
                .filter_map(|&i| self.sessions().get(i))
                .map(|s| format!("{} {} {} {}", s.id, s.client, s.server, s.verdict))
                .collect(),
            Screen::Diff { .. } => {
                let Some(d) = &self.diff else {
                    return Vec::new();
                };
                self.visible_rows()
                    .iter()
                    .map(|&r| {
                        let row = &d.rows[r];
                        let obs = row
                            .observed
                            .and_then(|o| d.steps.get(o))
                            .map(|s| s.key.clone())
                            .unwrap_or_default();
                        let exp = row
                            .expected
                            .as_ref()
                            .map(|e| format!("{} {}", e.key, e.note))
                            .unwrap_or_default();
                        let op = row
                            .observed
                            .and_then(|o| d.steps.get(o))
                            .and_then(|s| s.entry)
                            .and_then(|e| self.entries.get(e))
                            .map(|e| e.operation.clone())
                            .unwrap_or_default();
                        format!("{obs} {op} {exp} {}", row.mark.as_str())
                    })
                    .collect()
            }
            Screen::Findings { session, .. } => self
                .visible_findings(*session)
                .iter()
                .filter_map(|&(si, fi)| self.sessions().get(si)?.findings.get(fi))
                .map(|f| format!("{} {} {} {}", f.rule, f.message, f.expected, f.observed))
                .collect(),
            Screen::Detail { pane, folded, .. } => {
                let Some(d) = &self.detail else {
                    return Vec::new();
                };
                let lines = if *pane == 0 { &d.request } else { &d.response };
                Self::visible_lines(lines, &folded[*pane])
                    .iter()
                    .map(|&i| lines[i].text.clone())
                    .collect()
            }
        }
    }

    fn next_match(&mut self, skip_current: bool) {
        let Some(needle) = self.search.clone().map(|s| s.to_ascii_lowercase()) else {
            return;
        };
        let texts = self.row_texts();
        let cur = match self.screen() {
            Screen::Sessions { sel } | Screen::Diff { sel, .. } | Screen::Findings { sel, .. } => {
                *sel
            }
            Screen::Detail { pane, cursor, .. } => cursor[*pane],
        };
        let n = texts.len();
        let start = if skip_current { 1 } else { 0 };
        let found = (start..n + start).map(|k| (cur + k) % n.max(1)).find(|&i| {
            texts
                .get(i)
                .is_some_and(|t| t.to_ascii_lowercase().contains(&needle))
        });
        match found {
            Some(i) => {
                self.move_sel(|_, _| i);
                self.status = format!("/{}: row {}", self.search.as_deref().unwrap_or(""), i + 1);
            }
            None => {
                self.status = format!("/{}: no match", self.search.as_deref().unwrap_or(""));
            }
        }
    }
}
