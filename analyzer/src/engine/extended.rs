//! Extended metadata: GetExtendedUpdateInfo requests (C-22, C-34, C-49) and answers (S-28,
//! T-12), and the fragments and files they deliver to `Known`.

use std::collections::HashSet;
use std::rc::Rc;

use wusp::fragment::FragmentKind;
use wusp::messages::{GetExtendedUpdateInfo, GetExtendedUpdateInfoResponse};
use wusp::values::{Base64, XmlText};

use super::{Engine, digest, quote};
use crate::catalogue::known;
use crate::finding::{Finding, Status};
use crate::input::Observed;

/// What the rules take from one fragment of a GetExtendedUpdateInfo answer, parsed once.
pub(super) struct FragmentFacts {
    /// The kind of fragment.
    pub(super) kind: FragmentKind,
    /// The language of a LocalizedProperties fragment that parsed, or of an EULA fragment
    /// that parsed and names one.
    pub(super) language: Option<String>,
    /// The files of an Extended fragment that parsed: (decoded digest, size), digests that
    /// do not decode left out.
    pub(super) files: Vec<(Vec<u8>, Option<u64>)>,
}

impl FragmentFacts {
    /// Parses the unescaped fragment `text`.
    fn parse(text: &str) -> FragmentFacts {
        let kind = wusp::fragment::classify(text);
        let mut facts = FragmentFacts {
            kind,
            language: None,
            files: Vec::new(),
        };
        match kind {
            FragmentKind::LocalizedProperties => {
                facts.language = wusp::fragment::LocalizedPropertiesFragment::parse(text)
                    .ok()
                    .map(|l| l.language);
            }
            FragmentKind::Eula => {
                facts.language = wusp::fragment::EulaFragment::parse(text)
                    .ok()
                    .and_then(|e| e.language);
            }
            FragmentKind::Extended => {
                if let Ok(ext) = wusp::fragment::ExtendedFragment::parse(text) {
                    facts.files = ext
                        .files
                        .into_iter()
                        .filter_map(|f| Some((Base64(f.digest).bytes()?, f.size)))
                        .collect();
                }
            }
            _ => {}
        }
        facts
    }
}

impl Engine {
    /// The facts of fragment `xml`, parsed once while they stay in a bounded table; None
    /// when its text does not unescape.
    pub(super) fn fragment_facts(&mut self, xml: &XmlText) -> Option<Rc<FragmentFacts>> {
        self.parsed_fragments
            .get_or_make(digest(3, xml.escaped()), || {
                Some(Rc::new(FragmentFacts::parse(&xml.text().ok()?)))
            })
    }

    /// Client rules of a GetExtendedUpdateInfo request (C-22, C-34, C-49).
    pub(super) fn ext_request(
        &mut self,
        si: usize,
        key: &(usize, String),
        ex: &Observed,
        m: &GetExtendedUpdateInfo,
    ) {
        let id = ex.id.clone();
        let ids = m.revision_ids.items();
        let types: Vec<String> = m
            .info_types
            .items()
            .iter()
            .map(|t| t.as_str().to_string())
            .collect();
        let locales: Vec<String> = m.locales.items().to_vec();
        // The fragments asked for, as ids of `fragment_kinds` (C-49).
        let asked = self.fragment_kinds.matching(|ft, fl| {
            types.iter().any(|t| {
                t == ft
                    && if t == "LocalizedProperties" || t == "Eula" {
                        locales.iter().any(|l| fl.eq_ignore_ascii_case(l))
                    } else {
                        fl.is_empty()
                    }
            })
        });
        let pair = self.pair(key);
        let max = pair.config.as_ref().and_then(|c| {
            c.properties
                .items()
                .iter()
                .find(|p| {
                    p.name
                        .value()
                        .is_some_and(|n| n == "MaxExtendedUpdatesPerRequest")
                })
                .and_then(|p| p.value.value())
                .and_then(|v| v.trim().parse::<usize>().ok())
        });
        let mut findings = Vec::new();
        // C-34.
        let needs_locales = types
            .iter()
            .any(|t| t == "Eula" || t == "LocalizedProperties");
        if types.is_empty() || (needs_locales && locales.is_empty()) {
            findings.push(
                Finding::new(known("C-34"), Status::Violated, "GetExtendedUpdateInfo without infoTypes, or without locales for localized types")
                    .at([id.clone()])
                    .versus("infoTypes present; locales when Eula or LocalizedProperties is asked", format!("infoTypes [{}], locales [{}]", types.join(", "), locales.join(", "))),
            );
        }
        match max {
            Some(max) if ids.len() > max => findings.push(
                Finding::new(known("C-34"), Status::Violated, format!("GetExtendedUpdateInfo asks for {} revisions, above MaxExtendedUpdatesPerRequest {max}", ids.len()))
                    .at([id.clone()])
                    .versus(format!("at most {max} revisionIDs"), format!("{} revisionIDs", ids.len())),
            ),
            // Ambiguous (reference 10 #16); repeats merge into one finding (push).
            Some(max) if ids.len() == max => findings.push(
                Finding::new(known("C-34"), Status::Unverifiable, format!("GetExtendedUpdateInfo asks for exactly MaxExtendedUpdatesPerRequest ({max}) revisions: the spec's \"smaller than\" and the property's \"maximum\" disagree"))
                    .at([id.clone()])
                    .versus(format!("fewer than {max} (spec) or at most {max} (property)"), format!("{} revisionIDs", ids.len())),
            ),
            _ => {}
        }
        // C-22: the revisions asked for are cached (Known, or delivered so far).
        let unknown: Vec<i32> = ids
            .iter()
            .filter(|i| !pair.known.contains_key(i))
            .copied()
            .collect();
        if !unknown.is_empty() {
            let status = if pair.enumerated && !pair.known_incomplete {
                Status::Violated
            } else {
                Status::Unverifiable
            };
            let msg = if pair.known_incomplete {
                format!(
                    "GetExtendedUpdateInfo asks for {} revision ID(s) not in Known, which misses pages absent from the capture",
                    unknown.len()
                )
            } else if pair.enumerated {
                format!(
                    "GetExtendedUpdateInfo asks for {} revision ID(s) this server has not delivered to the client (yet)",
                    unknown.len()
                )
            } else {
                format!(
                    "GetExtendedUpdateInfo asks for {} revision ID(s) before the client's cache was seen",
                    unknown.len()
                )
            };
            findings.push(
                Finding::new(known("C-22"), status, msg)
                    .at([id.clone()])
                    .versus("revision IDs in Known (delivered by SyncUpdates or RefreshCache before the request)", format!("not in Known: {}", quote(&unknown))),
            );
        }
        // C-49: no re-fetch of fragments already returned.
        let mut refetch: Vec<i32> = Vec::new();
        for rid in ids {
            let Some(rev) = pair.known.get(rid) else {
                continue;
            };
            let again = rev.fragments.iter().any(|f| asked.contains(f));
            if again {
                refetch.push(*rid);
            }
        }
        // A request that asks for revisions not delivered yet (C-22 violated) is out of the
        // order the capture shows: the ChangedUpdates that would justify asking again may be
        // in the answer it follows, so the re-fetch cannot be judged on that request.
        let out_of_order = findings
            .iter()
            .any(|f| f.rule == "C-22" && f.status == Status::Violated);
        if !refetch.is_empty() && out_of_order {
            findings.push(
                Finding::new(known("C-49"), Status::Unverifiable, format!("GetExtendedUpdateInfo asks again for fragments of {} revision(s), in a request that precedes the sync delivering the rest (C-22): whether the client knew them changed cannot be told", refetch.len()))
                    .at([id.clone()])
                    .versus("no re-fetch without ChangedUpdates, RefreshCache or cache loss", format!("re-fetched: {}", quote(&refetch))),
            );
        } else if !refetch.is_empty() {
            self.sessions[si].refetched += refetch.len();
            findings.push(
                Finding::new(known("C-49"), Status::Violated, format!("GetExtendedUpdateInfo asks again for fragments of {} revision(s) it already received", refetch.len()))
                    .at([id])
                    .versus("no re-fetch without ChangedUpdates, RefreshCache or cache loss", format!("re-fetched: {}", quote(&refetch))),
            );
        }
        for f in findings {
            self.push(si, f);
        }
    }

    /// Server rules of its answer (S-28, T-12) and the fragments and files it delivers.
    pub(super) fn ext_reply(
        &mut self,
        si: usize,
        key: &(usize, String),
        ex: &Observed,
        q: &GetExtendedUpdateInfo,
        r: &GetExtendedUpdateInfoResponse,
    ) {
        let id = ex.id.clone();
        let Some(info) = r.result.value() else { return };
        let asked: HashSet<i32> = q.revision_ids.items().iter().copied().collect();
        let mut stray: Vec<i32> = info
            .updates
            .items()
            .iter()
            .filter_map(|u| u.id.value().copied())
            .chain(info.out_of_scope_revision_ids.items().iter().copied())
            .filter(|i| !asked.contains(i))
            .collect();
        stray.sort_unstable();
        stray.dedup();
        let no_xml = info
            .updates
            .items()
            .iter()
            .filter(|u| u.xml.value().is_none_or(|x| x.is_empty()))
            .count();
        let bad_loc = info
            .file_locations
            .items()
            .iter()
            .filter(|l| {
                l.file_digest
                    .value()
                    .and_then(|d| d.bytes())
                    .is_none_or(|b| b.len() != 20)
                    || l.url.value().is_none_or(|u| u.is_empty())
            })
            .count();
        if !stray.is_empty() || no_xml > 0 || bad_loc > 0 {
            let f = Finding::new(known("S-28"), Status::Violated, "GetExtendedUpdateInfo result names revisions not asked for, or has an Update without Xml or a FileLocation without a 20-byte digest and Url")
                .at([id.clone()])
                .versus("Update IDs and OutOfScope ⊆ revisionIDs; Xml in every Update; 20-byte FileDigest and Url", format!("not asked: [{}]; Updates without Xml: {no_xml}; bad FileLocations: {bad_loc}", quote(&stray)));
            self.push(si, f);
        }
        if bad_loc > 0 {
            let f = Finding::new(
                known("T-12"),
                Status::Violated,
                format!("{bad_loc} FileDigest(s) do not decode to 20 bytes (or lack a Url)"),
            )
            .at([id])
            .versus("20-byte FileDigest", format!("{bad_loc} bad"));
            self.push(si, f);
        }
        self.learn_locations(si, key, ex, info.file_locations.items());
        for u in info.updates.items() {
            let (Some(rid), Some(facts)) = (
                u.id.value(),
                u.xml.value().and_then(|x| self.fragment_facts(x)),
            ) else {
                continue;
            };
            let kind = facts.kind;
            if kind == FragmentKind::Extended {
                self.learn_fragment_files(si, key, &ex.id, &facts.files);
            }
            let locale = match kind {
                FragmentKind::LocalizedProperties | FragmentKind::Eula => {
                    facts.language.as_deref().unwrap_or_default()
                }
                _ => "",
            };
            let fragment = self.fragment_kinds.intern(kind.as_str(), locale);
            if let Some(rev) = self.pair(key).known.get_mut(rid)
                && !rev.fragments.contains(&fragment)
            {
                rev.fragments.push(fragment);
            }
        }
    }
}
