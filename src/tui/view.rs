//! The view: renders a frame from `&State`, and maps keys and mouse events to [`Action`]s.

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEventKind};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, TableState, Wrap};

use analyzer::{Mark, SessionKind, Status};

use super::state::{Action, PromptKind, Screen, State};

/// Every key, as the help overlay lists it.
pub const KEYS: &[(&str, &str)] = &[
    ("Up/k, Down/j", "move the selection (mouse wheel scrolls)"),
    ("PgUp/PgDn, Ctrl-u/Ctrl-d", "move by a page"),
    ("Home/g, End/G", "first / last row"),
    (
        "Enter",
        "open: session -> diff -> exchange; finding -> its exchanges",
    ),
    (
        "Tab",
        "next pane (request / response in the exchange detail)",
    ),
    (
        "Space, z",
        "fold or unfold the XML element under the cursor",
    ),
    ("F", "findings (of the session in the diff, else all)"),
    (
        "/",
        "search the rows or lines of this screen; n: next match",
    ),
    (
        "f",
        "filter by rule id (C-15) or operation (SyncUpdates); Esc clears",
    ),
    ("x", "export the selected exchange's XML to a file"),
    ("c", "export the selected exchange as a curl command"),
    ("?", "this help (any key closes it)"),
    ("q, Backspace", "back; quit from the sessions screen"),
    ("Ctrl-c", "quit"),
];

/// Maps a terminal event to an action.
pub fn action_for(state: &State, event: &Event) -> Option<Action> {
    match event {
        Event::Key(k) if k.kind != KeyEventKind::Release => key_action(state, k),
        Event::Mouse(m) => match m.kind {
            MouseEventKind::ScrollDown => Some(Action::Down(3)),
            MouseEventKind::ScrollUp => Some(Action::Up(3)),
            _ => None,
        },
        _ => None,
    }
}

fn key_action(state: &State, k: &KeyEvent) -> Option<Action> {
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && k.code == KeyCode::Char('c') {
        return Some(Action::Quit);
    }
    if state.prompt.is_some() {
        return match k.code {
            KeyCode::Enter => Some(Action::PromptSubmit),
            KeyCode::Esc => Some(Action::Cancel),
            KeyCode::Backspace => Some(Action::PromptBackspace),
            KeyCode::Char(c) => Some(Action::PromptChar(c)),
            _ => None,
        };
    }
    Some(match k.code {
        KeyCode::Char('d') if ctrl => Action::Down(10),
        KeyCode::Char('u') if ctrl => Action::Up(10),
        KeyCode::Up | KeyCode::Char('k') => Action::Up(1),
        KeyCode::Down | KeyCode::Char('j') => Action::Down(1),
        KeyCode::PageUp => Action::Up(10),
        KeyCode::PageDown => Action::Down(10),
        KeyCode::Home | KeyCode::Char('g') => Action::Top,
        KeyCode::End | KeyCode::Char('G') => Action::Bottom,
        KeyCode::Enter => Action::Open,
        KeyCode::Tab | KeyCode::BackTab => Action::NextPane,
        KeyCode::Char(' ') | KeyCode::Char('z') => Action::Fold,
        KeyCode::Char('F') => Action::Findings,
        KeyCode::Char('/') => Action::StartSearch,
        KeyCode::Char('n') => Action::NextMatch,
        KeyCode::Char('f') => Action::StartFilter,
        KeyCode::Char('x') => Action::ExportXml,
        KeyCode::Char('c') => Action::ExportCurl,
        KeyCode::Char('?') => Action::ToggleHelp,
        KeyCode::Esc => Action::Cancel,
        KeyCode::Char('q') | KeyCode::Backspace => Action::Back,
        _ => return None,
    })
}

/// Draws the whole frame.
pub fn render(f: &mut Frame<'_>, state: &State) {
    let [main, status] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(f.area());
    match state.screen() {
        Screen::Sessions { sel } => sessions(f, main, state, *sel),
        Screen::Diff { session, sel } => diff(f, main, state, *session, *sel),
        Screen::Detail { .. } => detail(f, main, state),
        Screen::Findings { session, sel } => findings(f, main, state, *session, *sel),
    }
    status_bar(f, status, state);
    if state.help {
        help(f, main);
    }
}

fn block(title: String) -> Block<'static> {
    Block::default().borders(Borders::ALL).title(title)
}

fn highlight() -> Style {
    Style::default().add_modifier(Modifier::REVERSED)
}

fn filter_note(state: &State) -> String {
    state
        .filter
        .as_ref()
        .map(|f| format!(" [filter: {f}]"))
        .unwrap_or_default()
}

fn kind_str(k: SessionKind) -> &'static str {
    match k {
        SessionKind::First => "first",
        SessionKind::Differential => "differential",
        SessionKind::Unknown => "unknown",
    }
}

fn sessions(f: &mut Frame<'_>, area: Rect, state: &State, sel: usize) {
    let title = format!(" Sessions{} ", filter_note(state));
    if state.analysis.is_none() {
        let mut lines = vec![Line::from(
            if state.analyzing || state.analysis_error.is_none() {
                "analysis running in the background…".to_string()
            } else {
                String::new()
            },
        )];
        if let Some(e) = &state.analysis_error {
            lines.push(Line::from(format!("analysis failed: {e}")));
        }
        for file in &state.files {
            lines.push(Line::from(format!(
                "{} ({}): {} of {} bytes indexed",
                file.label,
                file.path.display(),
                file.indexed.min(file.size),
                file.size
            )));
        }
        lines.push(Line::from(format!(
            "{} exchange(s) indexed so far",
            state.entries.len()
        )));
        for e in state
            .entries
            .iter()
            .take(area.height.saturating_sub(4) as usize)
        {
            lines.push(Line::from(format!(
                "  {}  {:<24} {}",
                short_time(&e.time),
                e.operation,
                e.key
            )));
        }
        f.render_widget(Paragraph::new(lines).block(block(title)), area);
        return;
    }
    let [top, bottom] = Layout::vertical([Constraint::Min(3), Constraint::Length(7)]).areas(area);
    let vis = state.visible_sessions();
    let (start, end) = window(vis.len(), sel, top.height);
    let rows: Vec<Row> = vis[start..end]
        .iter()
        .filter_map(|&i| state.sessions().get(i))
        .map(|s| {
            let must = s
                .findings
                .iter()
                .filter(|x| x.level == analyzer::Level::Must && x.status == Status::Violated)
                .count();
            let should = s
                .findings
                .iter()
                .filter(|x| x.level == analyzer::Level::Should && x.status == Status::Violated)
                .count();
            let pages = s.exchanges.iter().filter(|e| e.page.is_some()).count();
            let style = if must > 0 {
                Style::default().fg(Color::Red)
            } else {
                Style::default()
            };
            Row::new(vec![
                Cell::from(s.id.clone()),
                Cell::from(s.client.clone()),
                Cell::from(s.server.clone()),
                Cell::from(kind_str(s.kind)),
                Cell::from(pages.to_string()),
                Cell::from(must.to_string()),
                Cell::from(should.to_string()),
                Cell::from(s.verdict.clone()),
            ])
            .style(style)
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(6),
            Constraint::Length(36),
            Constraint::Length(16),
            Constraint::Length(12),
            Constraint::Length(5),
            Constraint::Length(4),
            Constraint::Length(6),
            Constraint::Min(20),
        ],
    )
    .header(
        Row::new(vec![
            "id", "client", "server", "kind", "pages", "MUST", "SHOULD", "verdict",
        ])
        .style(Style::default().add_modifier(Modifier::BOLD)),
    )
    .row_highlight_style(highlight())
    .block(block(title));
    let mut ts = TableState::default().with_selected(Some(sel.saturating_sub(start)));
    f.render_stateful_widget(table, top, &mut ts);
    let Some(s) = state
        .visible_sessions()
        .get(sel)
        .and_then(|&i| state.sessions().get(i))
    else {
        return;
    };
    let c = &s.cache;
    let lines = vec![
        Line::from(format!("{} {}", s.id, s.verdict)),
        Line::from(format!("client {} -> server {}", s.client, s.server)),
        Line::from(format!(
            "{} exchange(s), {} .. {}",
            s.exchanges.len(),
            s.exchanges.first().map_or("", |e| e.id.as_str()),
            s.exchanges.last().map_or("", |e| e.id.as_str())
        )),
        Line::from(format!(
            "cache sent: {} installed non-leaf (expected {}), {} other (expected {}), Known {}",
            c.installed_non_leaf_sent,
            c.installed_non_leaf_expected,
            c.other_cached_sent,
            c.other_cached_expected,
            c.known
        )),
        Line::from("Enter: sequence diff   F: findings   ?: keys"),
    ];
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(" Session ".into())),
        bottom,
    );
}

/// The rows of a table of `height` (borders and header included) to build so that row
/// `sel` of `len` is shown: only those are rendered, however long the list.
fn window(len: usize, sel: usize, height: u16) -> (usize, usize) {
    let h = (height.saturating_sub(3) as usize).max(1);
    let start = if sel < h { 0 } else { sel + 1 - h }.min(len);
    (start, (start + h).min(len))
}

/// `16:03:35.087` from an RFC 3339 time.
fn short_time(t: &str) -> String {
    t.split('T')
        .nth(1)
        .map(|x| x.trim_end_matches('Z').chars().take(12).collect())
        .unwrap_or_default()
}

fn diff(f: &mut Frame<'_>, area: Rect, state: &State, session: usize, sel: usize) {
    let s = state.sessions().get(session);
    let title = format!(
        " Sequence diff {} ({} sync): observed | expected by reference 5.2-5.5{} ",
        s.map_or("", |s| s.id.as_str()),
        s.map_or("", |s| kind_str(s.kind)),
        filter_note(state)
    );
    let Some(d) = state.diff.as_ref().filter(|d| d.session == session) else {
        f.render_widget(Paragraph::new("loading…").block(block(title)), area);
        return;
    };
    let vis = state.visible_rows();
    let (start, end) = window(vis.len(), sel, area.height);
    let rows: Vec<Row> = vis[start..end]
        .iter()
        .map(|&ri| {
            let r = &d.rows[ri];
            let step = r.observed.and_then(|o| d.steps.get(o));
            let entry = step
                .and_then(|s| s.entry)
                .and_then(|e| state.entries.get(e));
            let (time, op, trunc, sizes, status, badge) = match (step, entry) {
                (Some(st), Some(e)) => {
                    let mut op = e.operation.clone();
                    if st.facts.driver {
                        op.push_str(" (driver)");
                    } else if let Some(p) = st.page {
                        op.push_str(&format!(" p{p}"));
                    }
                    let trunc = match st.facts.truncated {
                        Some(true) => "T",
                        Some(false) => "-",
                        None => "",
                    };
                    let status = match (&st.facts.fault, e.status) {
                        (Some(code), _) => code.clone(),
                        (None, Some(s)) => s.to_string(),
                        (None, None) => e.error.clone().unwrap_or_default(),
                    };
                    let (must, other) = state.badge(session, &st.key);
                    let badge = match (must, other) {
                        (0, 0) => String::new(),
                        (0, o) => format!("!{o}"),
                        (m, o) => format!("!!{}", m + o),
                    };
                    (
                        short_time(&e.time),
                        op,
                        trunc.to_string(),
                        format!("{}/{}", human(e.request_size), human(e.response_size)),
                        status,
                        badge,
                    )
                }
                (Some(st), None) => (
                    String::new(),
                    format!("{} (not in index)", st.key),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ),
                _ => Default::default(),
            };
            let mut exp = r
                .expected
                .as_ref()
                .map(|e| format!("{} — {}", e.key, e.note))
                .unwrap_or_default();
            if !matches!(r.mark, Mark::Match | Mark::Detour) {
                exp = if exp.is_empty() {
                    r.mark.as_str().to_string()
                } else {
                    format!("{}: {exp}", r.mark.as_str())
                };
            }
            let style = match r.mark {
                Mark::Match => Style::default(),
                Mark::Detour => Style::default().fg(Color::Yellow),
                Mark::Missing => Style::default().fg(Color::Red),
                Mark::Unexpected => Style::default().fg(Color::Magenta),
                Mark::OutOfOrder => Style::default().fg(Color::Cyan),
            };
            Row::new(vec![
                Cell::from(r.mark.sign().to_string()),
                Cell::from(time),
                Cell::from(op),
                Cell::from(trunc),
                Cell::from(sizes),
                Cell::from(status),
                Cell::from(badge),
                Cell::from("|"),
                Cell::from(exp),
            ])
            .style(style)
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(1),
            Constraint::Length(12),
            Constraint::Length(24),
            Constraint::Length(1),
            Constraint::Length(10),
            Constraint::Length(13),
            Constraint::Length(4),
            Constraint::Length(1),
            Constraint::Min(20),
        ],
    )
    .header(
        Row::new(vec![
            "", "time", "observed", "T", "req/resp", "status", "find", "|", "expected",
        ])
        .style(Style::default().add_modifier(Modifier::BOLD)),
    )
    .row_highlight_style(highlight())
    .block(block(title));
    let mut ts = TableState::default().with_selected(Some(sel.saturating_sub(start)));
    f.render_stateful_widget(table, area, &mut ts);
}

fn human(n: u64) -> String {
    if n >= 10 * 1024 * 1024 {
        format!("{}M", n / (1024 * 1024))
    } else if n >= 10 * 1024 {
        format!("{}k", n / 1024)
    } else {
        n.to_string()
    }
}

fn detail(f: &mut Frame<'_>, area: Rect, state: &State) {
    let Screen::Detail {
        entry,
        pane,
        cursor,
        folded,
    } = state.screen()
    else {
        return;
    };
    let e = state.entries.get(*entry);
    let title = format!(
        " Exchange {} {} ",
        e.map_or("", |e| e.key.as_str()),
        e.map_or("", |e| e.operation.as_str())
    );
    let Some(d) = state.detail.as_ref().filter(|d| d.entry == *entry) else {
        f.render_widget(Paragraph::new("loading…").block(block(title)), area);
        return;
    };
    let summary_h = (d.summary.len() as u16 + 2).min(area.height / 3).max(3);
    let [top, panes] =
        Layout::vertical([Constraint::Length(summary_h), Constraint::Min(3)]).areas(area);
    let summary: Vec<Line> = d.summary.iter().map(|s| Line::from(s.clone())).collect();
    f.render_widget(
        Paragraph::new(summary)
            .wrap(Wrap { trim: false })
            .block(block(title)),
        top,
    );
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(panes);
    for (p, (area, lines, name)) in [
        (left, &d.request, "request"),
        (right, &d.response, "response"),
    ]
    .into_iter()
    .enumerate()
    {
        let vis = State::visible_lines(lines, &folded[p]);
        let h = area.height.saturating_sub(2) as usize;
        let cur = cursor[p].min(vis.len().saturating_sub(1));
        let offset = if cur < h { 0 } else { cur + 1 - h };
        let text: Vec<Line> = vis
            .iter()
            .enumerate()
            .skip(offset)
            .take(h)
            .map(|(vi, &li)| {
                let l = &lines[li];
                let fold = match (l.end, folded[p].contains(&li)) {
                    (Some(_), true) => "+",
                    (Some(_), false) => "-",
                    _ => " ",
                };
                let mut text = format!("{fold}{}{}", "  ".repeat(l.depth), l.text);
                if folded[p].contains(&li) {
                    text.push_str(" …");
                }
                let style = if p == *pane && vi == cur {
                    highlight()
                } else {
                    Style::default()
                };
                Line::from(Span::styled(text, style))
            })
            .collect();
        let focus = if p == *pane { " *" } else { "" };
        let b = block(format!(
            " {name}{focus} ({} lines, {} shown) ",
            lines.len(),
            vis.len()
        ));
        f.render_widget(Paragraph::new(text).block(b), area);
    }
}

fn findings(f: &mut Frame<'_>, area: Rect, state: &State, session: Option<usize>, sel: usize) {
    let list = state.visible_findings(session);
    let scope = session
        .and_then(|s| state.sessions().get(s))
        .map_or("all sessions".to_string(), |s| format!("session {}", s.id));
    let title = format!(
        " Findings — {scope} ({}){} ",
        list.len(),
        filter_note(state)
    );
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area);
    if list.is_empty() {
        let text = if state.analysis.is_none() {
            "analysis running in the background…"
        } else {
            "no findings"
        };
        f.render_widget(Paragraph::new(text).block(block(title)), area);
        return;
    }
    let (start, end) = window(list.len(), sel, top.height);
    let rows: Vec<Row> = list[start..end]
        .iter()
        .filter_map(|&(si, fi)| {
            let s = state.sessions().get(si)?;
            let x = s.findings.get(fi)?;
            let style = match (x.level, x.status) {
                (analyzer::Level::Must, Status::Violated) => Style::default().fg(Color::Red),
                (_, Status::Unverifiable) => Style::default().fg(Color::DarkGray),
                _ => Style::default().fg(Color::Yellow),
            };
            Some(
                Row::new(vec![
                    Cell::from(s.id.clone()),
                    Cell::from(x.rule),
                    Cell::from(x.level.as_str().to_ascii_uppercase()),
                    Cell::from(x.status.as_str()),
                    Cell::from(x.message.clone()),
                ])
                .style(style),
            )
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(6),
            Constraint::Length(5),
            Constraint::Length(6),
            Constraint::Length(12),
            Constraint::Min(20),
        ],
    )
    .header(
        Row::new(vec!["sess", "rule", "level", "status", "message"])
            .style(Style::default().add_modifier(Modifier::BOLD)),
    )
    .row_highlight_style(highlight())
    .block(block(title));
    let mut ts = TableState::default().with_selected(Some(sel.saturating_sub(start)));
    f.render_stateful_widget(table, top, &mut ts);
    let Some(x) = list
        .get(sel)
        .and_then(|&(si, fi)| state.sessions().get(si)?.findings.get(fi))
    else {
        return;
    };
    let statement = analyzer::catalogue::find(x.rule).map_or("", |r| r.statement);
    let lines = vec![
        Line::from(format!(
            "{} {} {} (profile {})",
            x.rule,
            x.level.as_str().to_ascii_uppercase(),
            x.status.as_str(),
            x.profile.as_str()
        )),
        Line::from(format!("statement: {statement}")),
        Line::from(format!("cite:      {}", x.cite)),
        Line::from(format!("expected:  {}", x.expected)),
        Line::from(format!("observed:  {}", x.observed)),
        Line::from(format!(
            "exchanges: {}  (Enter jumps to them)",
            x.exchanges.join(", ")
        )),
    ];
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(" Finding ".into())),
        bottom,
    );
}

fn status_bar(f: &mut Frame<'_>, area: Rect, state: &State) {
    let left = match &state.prompt {
        Some((PromptKind::Search, t)) => format!("/{t}_"),
        Some((PromptKind::Filter, t)) => format!("filter (rule or operation): {t}_"),
        None if !state.status.is_empty() => state.status.clone(),
        None => "? help  q back/quit".to_string(),
    };
    let total: u64 = state.files.iter().map(|f| f.size).sum();
    let done: u64 = state.files.iter().map(|f| f.indexed.min(f.size)).sum();
    let index = if state.follow {
        format!("{} exchanges, following", state.entries.len())
    } else if state.indexed() {
        format!("{} exchanges", state.entries.len())
    } else {
        let pct = (done * 100).checked_div(total).unwrap_or(100);
        format!("indexing {pct}% ({} exchanges)", state.entries.len())
    };
    let analysis = match (&state.analysis, state.analyzing, &state.analysis_error) {
        (_, true, _) => {
            let secs = state.analysis_since.map_or(0, |t| t.elapsed().as_secs());
            match state.analysis_progress {
                Some((read, total)) if total > 0 => {
                    format!("analyzing {}% ({secs} s)", (read.min(total) * 100) / total)
                }
                _ => format!("analyzing… {secs} s"),
            }
        }
        (Some(a), false, _) => format!(
            "{} sessions, {} MUST, {} SHOULD, {} unverifiable",
            a.summary.sessions,
            a.summary.must_violations,
            a.summary.should_violations,
            a.summary.unverifiable
        ),
        (None, false, Some(_)) => "analysis failed".to_string(),
        (None, false, None) => "analysis pending".to_string(),
    };
    let problems = if state.problems.is_empty() {
        String::new()
    } else {
        format!(" | {} damaged line(s)", state.problems.len())
    };
    let right = format!("{index} | {analysis}{problems} ");
    let [l, r] = Layout::horizontal([
        Constraint::Min(10),
        Constraint::Length(right.chars().count() as u16),
    ])
    .areas(area);
    let style = Style::default().add_modifier(Modifier::REVERSED);
    f.render_widget(Paragraph::new(format!(" {left}")).style(style), l);
    f.render_widget(Paragraph::new(right).style(style), r);
}

fn help(f: &mut Frame<'_>, area: Rect) {
    let w = 84.min(area.width);
    let h = (KEYS.len() as u16 + 4).min(area.height);
    let rect = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    let mut lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| Line::from(format!(" {k:<26} {what}")))
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(" any key closes this help"));
    f.render_widget(Clear, rect);
    f.render_widget(Paragraph::new(lines).block(block(" Keys ".into())), rect);
}

#[cfg(test)]
mod tests {
    use super::window;

    #[test]
    fn the_window_keeps_the_selection_on_screen() {
        assert_eq!(window(5, 0, 23), (0, 5));
        assert_eq!(window(100, 19, 23), (0, 20));
        assert_eq!(window(100, 50, 23), (31, 51));
        assert_eq!(window(100, 99, 23), (80, 100));
        assert_eq!(window(0, 0, 2), (0, 0));
    }
}
