//! The software loop: rules of SyncUpdates requests and answers (C-19…C-27, C-30, S-09,
//! S-11…S-13, S-17, S-24), the session kind and cache counts, and what each page teaches
//! the client-cache model `Known`.

use std::collections::{BTreeSet, HashSet};

use wusp::Field;
use wusp::messages::{SyncUpdates, SyncUpdatesResponse};
use wusp::types::UpdateInfo;

use super::{Engine, Lists, cookie_key, quote};
use crate::catalogue::known;
use crate::finding::{Finding, Profile, Status};
use crate::input::Observed;
use crate::report::{CacheCounts, SessionKind};

impl Engine {
    /// Client rules of a SyncUpdates request (C-19…C-27, C-30) and the session kind.
    pub(super) fn sync_request(
        &mut self,
        si: usize,
        key: &(usize, String),
        ex: &Observed,
        m: &SyncUpdates,
    ) {
        let id = ex.id.clone();
        let lists = Lists::of(m);
        let params = m.parameters.value();
        // C-19.
        let express = params.and_then(|p| p.express_query.value().copied());
        if params.is_none() || express != Some(false) {
            let f = Finding::new(
                known("C-19"),
                Status::Violated,
                "SyncUpdates without parameters or with ExpressQuery not false",
            )
            .at([id.clone()])
            .versus(
                "parameters with ExpressQuery=false",
                match (params.is_some(), express) {
                    (false, _) => "no parameters".to_string(),
                    (true, v) => format!("ExpressQuery {v:?}"),
                },
            );
            self.push(si, f);
        }
        // C-20.
        let has_spec = params
            .is_some_and(|p| p.system_spec.is_present() && !matches!(p.system_spec, Field::Nil));
        if has_spec && lists.software {
            let f = Finding::new(
                known("C-20"),
                Status::Violated,
                "SystemSpec sent in a software SyncUpdates",
            )
            .at([id.clone()])
            .versus(
                "SystemSpec only with SkipSoftwareSync=true",
                "SystemSpec with SkipSoftwareSync=false",
            );
            self.push(si, f);
        }
        // C-24: disjoint lists, no duplicates.
        let mut seen = HashSet::new();
        let dups: BTreeSet<i32> = lists.all().filter(|i| !seen.insert(*i)).collect();
        if !dups.is_empty() {
            let d: Vec<i32> = dups.into_iter().collect();
            let f = Finding::new(
                known("C-24"),
                Status::Violated,
                format!(
                    "{} revision ID(s) listed twice across the cached lists",
                    d.len()
                ),
            )
            .at([id.clone()])
            .versus("pairwise disjoint lists without duplicates", quote(&d));
            self.push(si, f);
        }
        if !lists.software {
            // Only answered driver passes count: a faulted one is retried (C-39).
            let b = &mut self.sessions[si];
            if b.driver_passes >= 1 {
                let f = Finding::new(
                    known("C-30"),
                    Status::Violated,
                    "a second driver pass in the session",
                )
                .at([id.clone()])
                .versus(
                    "at most one SyncUpdates with SkipSoftwareSync=true",
                    format!("driver pass #{}", b.driver_passes + 1),
                );
                self.push(si, f);
            }
        }
        let first_sw = lists.software && self.sessions[si].sw_requests == 0;
        let profile = self.profile;
        let pair = self.pair(key);
        let enumerated = pair.enumerated;
        // Only the session's first software call compares against the whole of Known.
        let known_sw: HashSet<i32> = if first_sw {
            pair.known
                .iter()
                .filter(|(_, r)| !r.driver)
                .map(|(i, _)| *i)
                .collect()
        } else {
            HashSet::new()
        };
        let sent = lists.set();
        let mut findings = Vec::new();
        // C-21 and the session kind.
        if first_sw {
            let kind = if pair.known.is_empty() && lists.is_empty() {
                SessionKind::First
            } else {
                SessionKind::Differential
            };
            let expected_inst = pair.last_installed.intersection(&known_sw).count();
            let cache = CacheCounts {
                installed_non_leaf_sent: lists
                    .installed
                    .iter()
                    .filter(|i| !enumerated || known_sw.contains(i))
                    .count(),
                other_cached_sent: lists
                    .other
                    .iter()
                    .filter(|i| !enumerated || known_sw.contains(i))
                    .count(),
                known: known_sw.len(),
                installed_non_leaf_expected: expected_inst,
                other_cached_expected: known_sw.len() - expected_inst,
            };
            // C-27 across sessions: every cached revision is listed (native profile).
            if enumerated {
                let mut missing: Vec<i32> = known_sw
                    .iter()
                    .filter(|i| !sent.contains(i))
                    .copied()
                    .collect();
                missing.sort_unstable();
                if !missing.is_empty() {
                    findings.push(
                        Finding::new(known("C-27"), if profile == Profile::Spec { Status::Unverifiable } else { Status::Violated },
                            format!("the first SyncUpdates of the session omits {} of {} cached revisions (cache not sent)", missing.len(), known_sw.len()))
                        .at([id.clone()])
                        .versus(format!("all {} revisions delivered earlier and not out of scope listed", known_sw.len()), format!("missing: {}", quote(&missing))),
                    );
                }
            }
            if kind == SessionKind::First {
                self.first_contact_rule(si, key, &id);
                self.pair(key).state.fresh_seen = true;
            }
            let b = &mut self.sessions[si];
            b.session.kind = kind;
            b.session.cache = cache;
            b.cache_known_from_history = enumerated;
        } else if lists.software {
            // C-27 within the session: IDs of the previous page are listed.
            let missing: Vec<(i32, String)> = pair
                .pending
                .iter()
                .filter(|(i, _)| !sent.contains(i))
                .cloned()
                .collect();
            if !missing.is_empty() {
                let ids: Vec<i32> = missing.iter().map(|(i, _)| *i).collect();
                let mut at: Vec<String> = missing.iter().map(|(_, e)| e.clone()).collect();
                at.dedup();
                at.push(id.clone());
                findings.push(
                    Finding::new(known("C-27"), if profile == Profile::Spec { Status::Unverifiable } else { Status::Violated },
                        format!("{} revision(s) delivered on the previous page are not listed on the next", ids.len()))
                    .at(at)
                    .versus("every NewUpdates ID of page n listed on page n+1", format!("missing: {}", quote(&ids))),
                );
            }
        }
        // C-21: a fresh cache sends no installed list on its first call. Traffic cannot tell
        // a fresh cache from one built before the first capture, so a first contact that
        // lists installed revisions nobody was seen to deliver stays unverifiable. Once the
        // cache has been followed from its first SyncUpdates with no page missing, an empty
        // Known is an empty cache and the rule is decided.
        let pair = self.pair(key);
        if first_sw
            && pair.enumerated
            && !pair.known_incomplete
            && pair.known.is_empty()
            && !lists.installed.is_empty()
        {
            findings.push(
                Finding::new(known("C-21"), Status::Violated, format!("the first SyncUpdates of the session lists {} installed non-leaf revision(s) although the client's cache, followed since its first SyncUpdates, is empty", lists.installed.len()))
                    .at([id.clone()])
                    .versus("no InstalledNonLeafUpdateIDs on the first call of an empty cache", format!("installed: {}", quote(&lists.installed))),
            );
        } else if first_sw
            && !pair.enumerated
            && pair.known.is_empty()
            && !lists.installed.is_empty()
            && pair.state.first_contact
        {
            findings.push(
                Finding::new(known("C-21"), Status::Unverifiable, "the first SyncUpdates after a handshake lists installed non-leaf revisions never seen delivered: a cache from before the capture, or a fresh cache breaking C-21")
                    .at([id.clone()])
                    .versus("no InstalledNonLeafUpdateIDs on the first call of an empty cache", format!("{} installed IDs", lists.installed.len())),
            );
        }
        // C-22: every listed ID is in Known; C-23: installed ones are non-leaf; C-26: not out of scope.
        let unknown: Vec<i32> = lists
            .all()
            .filter(|i| !pair.known.contains_key(i))
            .collect();
        let mut leaf: Vec<i32> = lists
            .installed
            .iter()
            .filter(|i| pair.known.get(i).and_then(|r| r.is_leaf) == Some(true))
            .copied()
            .collect();
        leaf.sort_unstable();
        let dropped: Vec<i32> = lists
            .all()
            .filter(|i| pair.out_of_scope.contains(i))
            .collect();
        if !unknown.is_empty() {
            let (status, msg) = if pair.known_incomplete {
                (
                    Status::Unverifiable,
                    format!(
                        "{} listed revision ID(s) are not in Known, which misses pages absent from the capture",
                        unknown.len()
                    ),
                )
            } else if pair.enumerated {
                (
                    Status::Violated,
                    format!(
                        "{} listed revision ID(s) were never delivered to this client by this server",
                        unknown.len()
                    ),
                )
            } else {
                (
                    Status::Unverifiable,
                    format!(
                        "{} listed revision ID(s) were learned before this analysis' first capture",
                        unknown.len()
                    ),
                )
            };
            let unknown_q: Vec<i32> = unknown
                .iter()
                .filter(|i| !dropped.contains(i))
                .copied()
                .collect();
            if !unknown_q.is_empty() {
                findings.push(
                    Finding::new(known("C-22"), status, msg)
                        .at([id.clone()])
                        .versus(
                            "IDs from NewUpdates, ChangedUpdates or RefreshCache of this server",
                            format!("not in Known: {}", quote(&unknown_q)),
                        ),
                );
            }
            if !pair.enumerated {
                for i in &unknown {
                    pair.known.entry(*i).or_default();
                }
            }
        }
        if !leaf.is_empty() {
            findings.push(
                Finding::new(known("C-23"), Status::Violated, format!("{} revision(s) delivered with IsLeaf=true are listed as installed non-leaf", leaf.len()))
                    .at([id.clone()])
                    .versus("only IsLeaf=false revisions in InstalledNonLeafUpdateIDs", quote(&leaf)),
            );
        }
        if !dropped.is_empty() {
            findings.push(
                Finding::new(
                    known("C-26"),
                    Status::Violated,
                    format!(
                        "{} revision(s) returned as out of scope are still listed",
                        dropped.len()
                    ),
                )
                .at([id.clone()])
                .versus("out-of-scope IDs dropped from the lists", quote(&dropped)),
            );
        }
        if lists.software {
            pair.enumerated = true;
            pair.pending.clear();
            pair.last_installed = lists.installed.iter().copied().collect();
            self.sessions[si].sw_requests += 1;
        }
        for f in findings {
            self.push(si, f);
        }
    }

    /// Server rules of a SyncUpdates answer (S-09, S-11…S-13, S-17, S-24) and what it
    /// teaches Known and the loop.
    pub(super) fn sync_reply(
        &mut self,
        si: usize,
        key: &(usize, String),
        ex: &Observed,
        q: Option<&SyncUpdates>,
        r: &SyncUpdatesResponse,
    ) {
        let id = ex.id.clone();
        // Without a decodable request, the pass is guessed from the session and the
        // request-relative checks (S-11, S-12, S-17) are skipped.
        let lists = match q {
            Some(q) => Lists::of(q),
            None => Lists {
                installed: Vec::new(),
                other: Vec::new(),
                drivers: Vec::new(),
                software: self.sessions[si].driver_passes == 0,
            },
        };
        let have_request = q.is_some();
        let Some(info) = r.result.value() else {
            let f = Finding::new(
                known("S-09"),
                Status::Violated,
                "SyncUpdates response without SyncUpdatesResult",
            )
            .at([id])
            .versus(
                "SyncUpdatesResult with Truncated and NewCookie",
                "no result",
            );
            self.push(si, f);
            return;
        };
        let mut findings = Vec::new();
        // S-09.
        if !matches!(info.truncated, Field::Value(_)) || cookie_key(&info.new_cookie).is_none() {
            findings.push(
                Finding::new(
                    known("S-09"),
                    Status::Violated,
                    "SyncUpdates result lacks Truncated or NewCookie",
                )
                .at([id.clone()])
                .versus(
                    "Truncated and NewCookie present",
                    format!(
                        "Truncated {}, NewCookie {}",
                        if info.truncated.is_present() {
                            "present"
                        } else {
                            "absent"
                        },
                        if info.new_cookie.is_present() {
                            "present"
                        } else {
                            "absent"
                        }
                    ),
                ),
            );
        }
        let sent = lists.set();
        let new: Vec<&UpdateInfo> = info.new_updates.items().iter().collect();
        let new_ids: Vec<i32> = new.iter().filter_map(|u| u.id.value().copied()).collect();
        // S-11: nothing the client listed comes back as new.
        let mut resent: Vec<i32> = new_ids
            .iter()
            .filter(|i| sent.contains(i))
            .copied()
            .collect();
        resent.sort_unstable();
        if !resent.is_empty() {
            self.sessions[si].resent += resent.len();
            findings.push(
                Finding::new(
                    known("S-11"),
                    Status::Violated,
                    format!(
                        "the server re-sends {} revision(s) the client listed as cached",
                        resent.len()
                    ),
                )
                .at([id.clone()])
                .versus(
                    "NewUpdates disjoint from the request's cached lists",
                    format!("re-sent: {}", quote(&resent)),
                ),
            );
        }
        // S-12.
        let oos: Vec<i32> = info.out_of_scope_revision_ids.items().to_vec();
        let bad_oos: Vec<i32> = oos.iter().filter(|i| !sent.contains(i)).copied().collect();
        let changed_ids: Vec<i32> = info
            .changed_updates
            .items()
            .iter()
            .filter_map(|u| u.id.value().copied())
            .collect();
        let bad_changed: Vec<i32> = changed_ids
            .iter()
            .filter(|i| !sent.contains(i) || oos.contains(i))
            .copied()
            .collect();
        if have_request && (!bad_oos.is_empty() || !bad_changed.is_empty()) {
            // Revisions the client has cached (Known) but left out of its lists are its own
            // error (C-27): what the server answered about them cannot be judged from this
            // request, so S-12 is unverifiable for them and violated only for the others.
            let cached = |i: &i32| self.pairs.get(key).is_some_and(|p| p.known.contains_key(i));
            let (status, statement) = if bad_oos.iter().chain(&bad_changed).all(cached) {
                (
                    Status::Unverifiable,
                    "OutOfScopeRevisionIDs or ChangedUpdates name cached revisions the client left out of its lists (C-27): the server's answer cannot be judged from this request",
                )
            } else {
                (
                    Status::Violated,
                    "OutOfScopeRevisionIDs or ChangedUpdates name revisions the request did not list",
                )
            };
            findings.push(
                Finding::new(known("S-12"), status, statement)
                    .at([id.clone()])
                    .versus(
                        "OutOfScope ⊆ cached lists; ChangedUpdates ⊆ cached lists \\ OutOfScope",
                        format!(
                            "out of scope not listed: [{}]; changed not listed: [{}]",
                            quote(&bad_oos),
                            quote(&bad_changed)
                        ),
                    ),
            );
        }
        // S-13 (ChangedUpdates items need no Xml: reference 11 leaves it open).
        let complete = |u: &UpdateInfo, need_xml: bool| {
            let dep_ok = u.deployment.value().is_some_and(|d| {
                d.id.is_present()
                    && d.action.is_present()
                    && d.is_assigned.is_present()
                    && d.last_change_time.is_present()
            });
            let xml_ok = !need_xml || u.xml.value().is_some_and(|x| !x.is_empty());
            u.id.is_present() && u.is_leaf.is_present() && dep_ok && xml_ok
        };
        let incomplete: Vec<String> = new
            .iter()
            .copied()
            .filter(|u| !complete(u, true))
            .chain(
                info.changed_updates
                    .items()
                    .iter()
                    .filter(|u| !complete(u, false)),
            )
            .map(|u| u.id.value().map_or("(no ID)".to_string(), i32::to_string))
            .collect();
        if !incomplete.is_empty() {
            findings.push(
                Finding::new(
                    known("S-13"),
                    Status::Violated,
                    format!(
                        "{} UpdateInfo item(s) lack ID, IsLeaf, Xml or a complete Deployment",
                        incomplete.len()
                    ),
                )
                .at([id.clone()])
                .versus(
                    "ID, IsLeaf, core Xml, Deployment with ID, Action, IsAssigned, LastChangeTime",
                    incomplete.join(", "),
                ),
            );
        }
        // S-17: pass content.
        let cores = self.cores(&id, info.new_updates.items());
        let drivers: Vec<bool> = cores
            .iter()
            .map(|c| c.as_ref().is_some_and(|c| c.is_driver()))
            .collect();
        let wrong: Vec<i32> = new
            .iter()
            .zip(&drivers)
            .filter(|(_, d)| **d == lists.software)
            .filter_map(|(u, _)| u.id.value().copied())
            .collect();
        if have_request && !wrong.is_empty() {
            let pass = if lists.software {
                "software pass delivers drivers"
            } else {
                "driver pass delivers non-drivers"
            };
            findings.push(
                Finding::new(known("S-17"), Status::Violated, format!("the {pass}"))
                    .at([id.clone()])
                    .versus(
                        "no drivers in the software pass, only drivers in the driver pass",
                        quote(&wrong),
                    ),
            );
        }
        // S-24.
        let truncated = info.truncated.value().copied() == Some(true);
        if truncated && new.is_empty() {
            findings.push(
                Finding::new(
                    known("S-24"),
                    Status::Violated,
                    "Truncated=true with no NewUpdates",
                )
                .at([id.clone()])
                .versus("Truncated=true only with NewUpdates", "empty NewUpdates"),
            );
        }
        // State: Known, pending listings, loop.
        let pair = self.pair(key);
        for (u, driver) in new.iter().zip(&drivers) {
            let Some(rid) = u.id.value().copied() else {
                continue;
            };
            let e = pair.known.entry(rid).or_default();
            e.is_leaf = u.is_leaf.value().copied();
            e.driver = *driver;
            pair.out_of_scope.remove(&rid);
            if lists.software && !*driver {
                pair.pending.push((rid, id.clone()));
            }
        }
        for u in info.changed_updates.items() {
            if let Some(rid) = u.id.value()
                && let Some(e) = pair.known.get_mut(rid)
            {
                if let Some(l) = u.is_leaf.value() {
                    e.is_leaf = Some(*l);
                }
                e.fragments.clear();
            }
        }
        for rid in &oos {
            pair.known.remove(rid);
            pair.out_of_scope.insert(*rid);
        }
        pair.pending.retain(|(i, _)| !oos.contains(i));
        let b = &mut self.sessions[si];
        b.new_updates += new.len();
        if !lists.software {
            b.driver_passes += 1;
        }
        if lists.software {
            b.loop_state.pages += 1;
            if truncated {
                b.loop_state.must_continue = Some((id.clone(), "Truncated=true"));
            } else if new.iter().any(|u| u.is_leaf.value() == Some(&false)) {
                b.loop_state.must_continue = Some((id.clone(), "a non-leaf NewUpdates item"));
            } else {
                b.loop_state.must_continue = None;
                b.loop_state.done = true;
            }
        }
        self.issue_cookie(key, &info.new_cookie);
        for f in findings {
            self.push(si, f);
        }
    }
}
