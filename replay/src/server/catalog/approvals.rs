//! Deployments per target group, and the approval changes of the admin API.

use std::collections::{HashMap, HashSet};

use time::{Date, Duration, OffsetDateTime};
use wusp::values::DeploymentAction;

use super::{Catalog, RevisionKind};

/// Deployment IDs of revisions that are in scope only as dependencies start here.
pub(crate) const SYNTHETIC_DEPLOYMENT_BASE: i32 = 1_000_000;

/// The default target group every client belongs to.
pub const ALL_COMPUTERS: &str = "All Computers";

/// One deployment row (reference 7.1 Deployment table): an administrator's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentRow {
    /// Deployment ID (a new one for every change, as WSUS creates a new deployment).
    pub id: i32,
    /// The action; `None` for a declined revision (not deployed; the row keeps the change).
    pub action: Option<DeploymentAction>,
    /// Deadline.
    pub deadline: Option<OffsetDateTime>,
    /// `LastChangeTime`.
    pub last_change: Date,
    /// Monotonic change counter (ChangedUpdates are rows newer than the client's mark).
    pub counter: u64,
    /// `IsAssigned`.
    pub is_assigned: bool,
}

/// What one admin request asks for (`{"approve": N, "decline": N, "change": N}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApprovalChange {
    /// Updates to approve (Install).
    pub approve: usize,
    /// Updates to decline (no longer deployed).
    pub decline: usize,
    /// Deployments to change (deadline, or Evaluate → Install).
    pub change: usize,
}

/// The revision IDs one admin request affected, under the same keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApprovalResult {
    /// Approved revision IDs.
    pub approve: Vec<i32>,
    /// Declined revision IDs.
    pub decline: Vec<i32>,
    /// Changed revision IDs.
    pub change: Vec<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct GroupOverrides {
    name: String,
    rows: HashMap<u32, Option<DeploymentRow>>,
}

/// The deployment table: rows of `All Computers` by revision index, sparse overrides for
/// other target groups (a group without an override inherits `All Computers`, as WSUS
/// approvals do), and the change counter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Approvals {
    rows: Vec<Option<DeploymentRow>>,
    groups: Vec<GroupOverrides>,
    counter: u64,
    generation: u64,
    next_id: i32,
}

impl Approvals {
    /// A table for `n` revisions with no row.
    pub fn new(n: usize) -> Approvals {
        Approvals {
            rows: vec![None; n],
            groups: Vec::new(),
            counter: 0,
            generation: 0,
            next_id: 1,
        }
    }

    /// The highest change counter (the mark a fully synchronized client holds).
    pub fn counter(&self) -> u64 {
        self.counter
    }

    /// Bumped by every change (scopes computed at an older generation are stale).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The target group index of a name (case-insensitive); unknown and empty names are
    /// `All Computers` (index 0).
    pub fn group_index(&self, name: &str) -> usize {
        self.groups
            .iter()
            .position(|g| g.name.eq_ignore_ascii_case(name))
            .map_or(0, |i| i + 1)
    }

    /// Adds a target group (inheriting `All Computers`) and returns its index.
    pub fn add_group(&mut self, name: &str) -> usize {
        let i = self.group_index(name);
        if i != 0 || name.eq_ignore_ascii_case(ALL_COMPUTERS) {
            return i;
        }
        self.groups.push(GroupOverrides {
            name: name.to_string(),
            rows: HashMap::new(),
        });
        self.groups.len()
    }

    /// The row of revision `rev` for group `group` (override, else `All Computers`).
    pub fn row(&self, group: usize, rev: u32) -> Option<&DeploymentRow> {
        if group > 0
            && let Some(g) = self.groups.get(group - 1)
            && let Some(o) = g.rows.get(&rev)
        {
            return o.as_ref();
        }
        self.rows.get(rev as usize).and_then(Option::as_ref)
    }

    /// Sets a row as recorded or generated (keeps its counter; raises the table's counter
    /// and next deployment ID past it).
    pub fn put(&mut self, group: usize, rev: u32, row: Option<DeploymentRow>) {
        if let Some(r) = &row {
            self.counter = self.counter.max(r.counter);
            self.next_id = self.next_id.max(r.id.saturating_add(1));
        }
        self.generation += 1;
        if group == 0 {
            if let Some(slot) = self.rows.get_mut(rev as usize) {
                *slot = row;
            }
        } else if let Some(g) = self.groups.get_mut(group - 1) {
            g.rows.insert(rev, row);
        }
    }

    /// Records an administrator's change of revision `rev` in group `group`: a new
    /// deployment ID, the next counter, today's LastChangeTime.
    pub fn set(
        &mut self,
        group: usize,
        rev: u32,
        action: Option<DeploymentAction>,
        deadline: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) {
        self.counter += 1;
        let row = DeploymentRow {
            id: self.next_id,
            action,
            deadline,
            last_change: now.date(),
            counter: self.counter,
            is_assigned: true,
        };
        self.next_id += 1;
        self.put(group, rev, Some(row));
    }

    /// Applies one admin request to `All Computers`: approvals first, then declines, then
    /// changes, never touching a revision twice.
    pub fn apply(
        &mut self,
        catalog: &Catalog,
        change: ApprovalChange,
        now: OffsetDateTime,
    ) -> ApprovalResult {
        let mut touched = HashSet::new();
        let approve = self.approve_excluding(catalog, change.approve, now, &mut touched);
        let decline = self.decline_excluding(catalog, change.decline, now, &mut touched);
        let change = self.change_excluding(catalog, change.change, now, &mut touched);
        ApprovalResult {
            approve,
            decline,
            change,
        }
    }

    /// Approves `n` updates (Install), picked deterministically: declined or never
    /// deployed standalone software whose prerequisites are all in scope first (they reach
    /// clients as NewUpdates), then unapproved (`Evaluate`) ones (ChangedUpdates).
    pub fn approve(&mut self, catalog: &Catalog, n: usize, now: OffsetDateTime) -> Vec<i32> {
        self.approve_excluding(catalog, n, now, &mut HashSet::new())
    }

    /// Declines `n` deployed standalone software leaves, picked deterministically (clients
    /// that cached them get them in OutOfScopeRevisionIDs).
    pub fn decline(&mut self, catalog: &Catalog, n: usize, now: OffsetDateTime) -> Vec<i32> {
        self.decline_excluding(catalog, n, now, &mut HashSet::new())
    }

    /// Changes `n` deployments, picked deterministically: approved software gets a new
    /// deadline, unapproved software becomes `Install` (clients that cached them get them
    /// in ChangedUpdates).
    pub fn change(&mut self, catalog: &Catalog, n: usize, now: OffsetDateTime) -> Vec<i32> {
        self.change_excluding(catalog, n, now, &mut HashSet::new())
    }

    /// Standalone software: the highest revision of its update, a leaf, not bundled.
    fn standalone(catalog: &Catalog) -> Vec<u32> {
        let mut v: Vec<u32> = catalog
            .revisions()
            .iter()
            .enumerate()
            .filter(|(_, r)| r.kind == RevisionKind::Software && r.is_leaf)
            .map(|(i, _)| i as u32)
            .collect();
        v.retain(|&i| {
            let r = &catalog.revisions()[i as usize];
            catalog.update(r.update).and_then(|u| u.highest()) == Some(i)
        });
        let seed = catalog.seed();
        v.sort_by_key(|&i| {
            (
                mix(seed ^ u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
                i,
            )
        });
        v
    }

    fn approve_excluding(
        &mut self,
        catalog: &Catalog,
        n: usize,
        now: OffsetDateTime,
        touched: &mut HashSet<u32>,
    ) -> Vec<i32> {
        let scope = catalog.scope(self, 0);
        let in_scope = |u: u32| {
            catalog
                .update(u)
                .and_then(|x| x.highest())
                .is_some_and(|h| scope.effective(h).is_some())
        };
        let candidates = Self::standalone(catalog);
        let mut picked = Vec::new();
        let first = candidates.iter().copied().filter(|&i| {
            self.row(0, i).is_none_or(|r| r.action.is_none())
                && catalog.prerequisites_satisfied(i, &in_scope)
        });
        let second = candidates.iter().copied().filter(|&i| {
            self.row(0, i)
                .is_some_and(|r| r.action == Some(DeploymentAction::Evaluate))
        });
        for i in first.chain(second) {
            if picked.len() == n {
                break;
            }
            if !touched.insert(i) {
                continue;
            }
            picked.push(i);
        }
        for &i in &picked {
            self.set(0, i, Some(DeploymentAction::Install), None, now);
        }
        picked
            .iter()
            .map(|&i| catalog.revisions()[i as usize].revision_id)
            .collect()
    }

    fn decline_excluding(
        &mut self,
        catalog: &Catalog,
        n: usize,
        now: OffsetDateTime,
        touched: &mut HashSet<u32>,
    ) -> Vec<i32> {
        let candidates = Self::standalone(catalog);
        let mut picked = Vec::new();
        for i in candidates {
            if picked.len() == n {
                break;
            }
            if self.row(0, i).is_some_and(|r| r.action.is_some()) && touched.insert(i) {
                picked.push(i);
            }
        }
        for &i in &picked {
            self.set(0, i, None, None, now);
        }
        picked
            .iter()
            .map(|&i| catalog.revisions()[i as usize].revision_id)
            .collect()
    }

    fn change_excluding(
        &mut self,
        catalog: &Catalog,
        n: usize,
        now: OffsetDateTime,
        touched: &mut HashSet<u32>,
    ) -> Vec<i32> {
        let candidates = Self::standalone(catalog);
        let install: Vec<u32> = candidates
            .iter()
            .copied()
            .filter(|&i| {
                self.row(0, i)
                    .is_some_and(|r| r.action == Some(DeploymentAction::Install))
            })
            .collect();
        let evaluate: Vec<u32> = candidates
            .iter()
            .copied()
            .filter(|&i| {
                self.row(0, i)
                    .is_some_and(|r| r.action == Some(DeploymentAction::Evaluate))
            })
            .collect();
        let mut picked = Vec::new();
        for i in install.into_iter().chain(evaluate) {
            if picked.len() == n {
                break;
            }
            if touched.insert(i) {
                picked.push(i);
            }
        }
        for &i in &picked {
            let (action, deadline) = match self.row(0, i) {
                Some(r) if r.action == Some(DeploymentAction::Install) => (
                    Some(DeploymentAction::Install),
                    Some(match r.deadline {
                        Some(d) => d + Duration::days(1),
                        None => deadline_from(now),
                    }),
                ),
                _ => (Some(DeploymentAction::Install), None),
            };
            self.set(0, i, action, deadline, now);
        }
        picked
            .iter()
            .map(|&i| catalog.revisions()[i as usize].revision_id)
            .collect()
    }
}

/// A deadline a week after `now`, at 15:00 UTC, whole seconds.
fn deadline_from(now: OffsetDateTime) -> OffsetDateTime {
    let day = now + Duration::days(7);
    day.replace_time(time::Time::from_hms(15, 0, 0).unwrap_or(time::Time::MIDNIGHT))
}

/// SplitMix64 finalizer.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
