//! The call sequence a client state machine is expected to make in one session (reference
//! 5.2–5.5), and its side-by-side alignment with the observed calls.
//!
//! Pure: the caller says what each observed call was (operation, driver pass, fault code,
//! whether a software page asks for another); [`align`] builds the expected sequence for
//! the session's kind and lines the two up like a diff: matched steps, expected steps that
//! are missing, unexpected calls, calls made out of order, and fault-recovery detours.

use crate::SessionKind;

/// What one observed call of a session was, as far as the sequence is concerned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedStep {
    /// The web method (`SyncUpdates`, …) or `Content` for a download.
    pub operation: String,
    /// A SyncUpdates with `SkipSoftwareSync=true` (the driver pass).
    pub driver: bool,
    /// The fault's ErrorCode when the call was answered with a SOAP fault.
    pub fault: Option<String>,
    /// For a software SyncUpdates page: the response asks for another page
    /// (`Truncated=true` or a non-leaf NewUpdate); `None` when unknown.
    pub continues: Option<bool>,
}

impl ObservedStep {
    /// A step of `operation` with nothing else known.
    pub fn new(operation: impl Into<String>) -> Self {
        ObservedStep {
            operation: operation.into(),
            ..ObservedStep::default()
        }
    }

    /// The key steps are matched on: the operation, the driver pass told apart.
    pub fn key(&self) -> String {
        if self.driver && self.operation == "SyncUpdates" {
            "SyncUpdates (driver)".to_string()
        } else {
            self.operation.clone()
        }
    }
}

/// One step of the expected sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedStep {
    /// The matching key (operation, `SyncUpdates (driver)` for the driver pass).
    pub key: String,
    /// What the step is, in the reference's words (`software page 2`, `after CookieExpired (4.2)`).
    pub note: String,
    /// Part of a fault-recovery detour (reference 4.2, 5.2).
    pub detour: bool,
    /// The state machine allows the step but does not require it.
    pub optional: bool,
}

/// How a row of the alignment compares the two sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// The observed call is the expected step.
    Match,
    /// The observed call is an expected step of a fault-recovery detour.
    Detour,
    /// An expected (required) step the client did not make.
    Missing,
    /// A call the state machine does not expect here or anywhere.
    Unexpected,
    /// A call the state machine expects, but at another place (its other row is marked too).
    OutOfOrder,
}

impl Mark {
    /// A one-character sign for diff-like rendering.
    pub fn sign(self) -> char {
        match self {
            Mark::Match => ' ',
            Mark::Detour => '>',
            Mark::Missing => '-',
            Mark::Unexpected => '+',
            Mark::OutOfOrder => '~',
        }
    }

    /// The mark in words.
    pub fn as_str(self) -> &'static str {
        match self {
            Mark::Match => "ok",
            Mark::Detour => "recovery",
            Mark::Missing => "missing",
            Mark::Unexpected => "unexpected",
            Mark::OutOfOrder => "out of order",
        }
    }
}

/// One row of the side-by-side alignment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Index into the observed steps.
    pub observed: Option<usize>,
    /// The expected step.
    pub expected: Option<ExpectedStep>,
    /// How the two compare.
    pub mark: Mark,
}

/// The recovery calls a fault's ErrorCode requires before the call is retried (reference 4.2, 5.2).
pub fn recovery_for(code: &str) -> &'static [&'static str] {
    match code {
        "CookieExpired" => &["GetAuthorizationCookie", "GetCookie"],
        "InvalidCookie" | "ServerChanged" => &[
            "GetConfig",
            "GetAuthorizationCookie",
            "GetCookie",
            "RefreshCache",
        ],
        "ConfigChanged" => &["GetConfig", "GetAuthorizationCookie", "GetCookie"],
        "RegistrationRequired" => &["RegisterComputer"],
        "FileLocationChanged" => &["GetFileLocations"],
        _ => &[],
    }
}

fn step(key: &str, note: impl Into<String>, optional: bool) -> ExpectedStep {
    ExpectedStep {
        key: key.to_string(),
        note: note.into(),
        detour: false,
        optional,
    }
}

/// The expected sequence of a session of `kind` (reference 5.3 first, 5.4 differential),
/// sized by what was observed: as many software pages as the responses asked for, the
/// optional calls the client made, and a detour after every faulted call.
pub fn expected_sequence(kind: SessionKind, observed: &[ObservedStep]) -> Vec<ExpectedStep> {
    let clean = |op: &str| {
        observed
            .iter()
            .filter(|o| o.fault.is_none() && o.key() == op)
            .count()
    };
    let first = match kind {
        SessionKind::First => true,
        SessionKind::Differential => false,
        SessionKind::Unknown => observed.first().is_some_and(|o| o.operation == "GetConfig"),
    };
    let mut out = Vec::new();
    if first {
        out.push(step("GetConfig", "handshake (5.3 step 2)", false));
        out.push(step(
            "GetAuthorizationCookie",
            "handshake (5.3 step 3)",
            false,
        ));
        out.push(step("GetCookie", "handshake (5.3 step 4)", false));
        if clean("RegisterComputer") > 0 {
            out.push(step(
                "RegisterComputer",
                "if registration required (5.3)",
                true,
            ));
        }
    }
    if clean("StartCategoryScan") > 0 {
        out.push(step("StartCategoryScan", "category scan (5.7)", true));
    }
    // Software loop (5.5): every page answered; one more when the last asked for it.
    let pages: Vec<&ObservedStep> = observed
        .iter()
        .filter(|o| o.fault.is_none() && o.key() == "SyncUpdates")
        .collect();
    let mut n_pages = pages.len().max(1);
    if pages.last().is_some_and(|p| p.continues == Some(true)) {
        n_pages += 1;
    }
    for p in 1..=n_pages {
        let note = if p == 1 && !first {
            "software page 1, full cache (5.4 step 2)".to_string()
        } else {
            format!("software page {p} (5.5)")
        };
        out.push(step("SyncUpdates", note, false));
    }
    out.push(step("SyncUpdates (driver)", "driver pass (5.6)", false));
    for (op, note) in [
        ("GetExtendedUpdateInfo", "extended metadata (5.8)"),
        ("GetExtendedUpdateInfo2", "extended metadata (5.8)"),
        ("GetFileLocations", "file locations (5.8)"),
        ("Content", "content download (1.7)"),
        ("ReportEventBatch", "reporting (5.9)"),
    ] {
        for _ in 0..clean(op) {
            out.push(step(op, note, true));
        }
    }
    // Fault detours: the faulted call, its recovery calls, then the retry (the step itself).
    let mut seen: std::collections::HashMap<String, usize> = Default::default();
    let mut inserts: Vec<(usize, Vec<ExpectedStep>)> = Vec::new();
    for o in observed {
        let key = o.key();
        let k = *seen.get(&key).unwrap_or(&0);
        match &o.fault {
            None => {
                seen.insert(key, k + 1);
            }
            Some(code) => {
                // The k-th clean occurrence of this call in the template is the retry.
                let at = out
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| e.key == key)
                    .nth(k)
                    .map_or(out.len(), |(i, _)| i);
                let mut detour = vec![ExpectedStep {
                    key: key.clone(),
                    note: format!("fault {code}"),
                    detour: true,
                    optional: true,
                }];
                for r in recovery_for(code) {
                    detour.push(ExpectedStep {
                        key: (*r).to_string(),
                        note: format!("after {code} (4.2)"),
                        detour: true,
                        optional: false,
                    });
                }
                inserts.push((at, detour));
            }
        }
    }
    // Insert from the back so earlier positions stay valid; ties keep observed order.
    inserts.sort_by_key(|(at, _)| *at);
    for (at, detour) in inserts.into_iter().rev() {
        let at = at.min(out.len());
        out.splice(at..at, detour);
    }
    out
}

/// Aligns the observed calls with [`expected_sequence`] like a diff (longest common
/// subsequence on the step keys), then pairs missing and unexpected steps of the same key
/// as out of order. Optional expected steps the client skipped are left out.
pub fn align(kind: SessionKind, observed: &[ObservedStep]) -> Vec<Row> {
    let expected = expected_sequence(kind, observed);
    let obs: Vec<String> = observed.iter().map(ObservedStep::key).collect();
    let (n, m) = (obs.len(), expected.len());
    // lcs[i][j]: length of the LCS of obs[i..] and expected[j..].
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if obs[i] == expected[j].key {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut rows = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && obs[i] == expected[j].key {
            let mark = if expected[j].detour {
                Mark::Detour
            } else {
                Mark::Match
            };
            rows.push(Row {
                observed: Some(i),
                expected: Some(expected[j].clone()),
                mark,
            });
            i += 1;
            j += 1;
        } else if j < m && (i >= n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            if !expected[j].optional {
                rows.push(Row {
                    observed: None,
                    expected: Some(expected[j].clone()),
                    mark: Mark::Missing,
                });
            }
            j += 1;
        } else {
            rows.push(Row {
                observed: Some(i),
                expected: None,
                mark: Mark::Unexpected,
            });
            i += 1;
        }
    }
    // A missing step whose call was made elsewhere: both rows are out of order.
    for a in 0..rows.len() {
        if rows[a].mark != Mark::Missing {
            continue;
        }
        let key = rows[a].expected.as_ref().map(|e| e.key.clone());
        let partner = (0..rows.len()).find(|&b| {
            rows[b].mark == Mark::Unexpected && rows[b].observed.map(|o| &obs[o]) == key.as_ref()
        });
        if let Some(b) = partner {
            rows[a].mark = Mark::OutOfOrder;
            rows[b].mark = Mark::OutOfOrder;
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(ops: &[&str]) -> Vec<ObservedStep> {
        ops.iter()
            .map(|op| match op.strip_suffix("/drv") {
                Some(op) => ObservedStep {
                    driver: true,
                    ..ObservedStep::new(op)
                },
                None => ObservedStep::new(*op),
            })
            .collect()
    }

    fn marks(rows: &[Row]) -> Vec<Mark> {
        rows.iter().map(|r| r.mark).collect()
    }

    #[test]
    fn a_clean_first_sync_matches_step_for_step() {
        let o = obs(&[
            "GetConfig",
            "GetAuthorizationCookie",
            "GetCookie",
            "RegisterComputer",
            "SyncUpdates",
            "SyncUpdates",
            "SyncUpdates/drv",
            "GetExtendedUpdateInfo",
            "ReportEventBatch",
        ]);
        let rows = align(SessionKind::First, &o);
        assert_eq!(rows.len(), 9);
        assert!(rows.iter().all(|r| r.mark == Mark::Match), "{rows:?}");
    }

    #[test]
    fn a_differential_sync_with_a_handshake_and_no_driver_pass() {
        let o = obs(&["GetConfig", "SyncUpdates", "ReportEventBatch"]);
        let rows = align(SessionKind::Differential, &o);
        assert_eq!(
            marks(&rows),
            [Mark::Unexpected, Mark::Match, Mark::Missing, Mark::Match]
        );
        assert_eq!(
            rows[2].expected.as_ref().map(|e| e.key.as_str()),
            Some("SyncUpdates (driver)")
        );
    }

    #[test]
    fn a_truncated_last_page_expects_one_more() {
        let mut o = obs(&["SyncUpdates", "SyncUpdates/drv"]);
        o[0].continues = Some(true);
        let rows = align(SessionKind::Differential, &o);
        assert_eq!(marks(&rows), [Mark::Match, Mark::Missing, Mark::Match]);
        assert!(
            rows[1]
                .expected
                .as_ref()
                .is_some_and(|e| e.note.contains("page 2"))
        );
    }

    #[test]
    fn a_cookie_expired_fault_is_a_detour_then_the_retry() {
        let mut o = obs(&[
            "SyncUpdates",
            "GetAuthorizationCookie",
            "GetCookie",
            "SyncUpdates",
            "SyncUpdates/drv",
        ]);
        o[0].fault = Some("CookieExpired".into());
        let rows = align(SessionKind::Differential, &o);
        assert_eq!(
            marks(&rows),
            [
                Mark::Detour,
                Mark::Detour,
                Mark::Detour,
                Mark::Match,
                Mark::Match
            ]
        );
    }

    #[test]
    fn a_missing_recovery_step_is_reported() {
        let mut o = obs(&["SyncUpdates", "GetCookie", "SyncUpdates", "SyncUpdates/drv"]);
        o[0].fault = Some("CookieExpired".into());
        let rows = align(SessionKind::Differential, &o);
        assert!(rows.iter().any(|r| {
            r.mark == Mark::Missing
                && r.expected
                    .as_ref()
                    .is_some_and(|e| e.key == "GetAuthorizationCookie")
        }));
    }

    #[test]
    fn swapped_calls_are_out_of_order() {
        let o = obs(&[
            "GetAuthorizationCookie",
            "GetConfig",
            "GetCookie",
            "SyncUpdates",
            "SyncUpdates/drv",
        ]);
        let rows = align(SessionKind::First, &o);
        let ooo = rows.iter().filter(|r| r.mark == Mark::OutOfOrder).count();
        assert_eq!(ooo, 2, "{rows:?}");
        assert!(!rows.iter().any(|r| r.mark == Mark::Missing));
    }
}
