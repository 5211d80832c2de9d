//! Rebuilding a catalog from a recorded WSUS's responses.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use captures::Record;
use captures::wire::{ExchangeKind, classify, response_envelope};
use sha2::Digest as _;
use time::{Date, OffsetDateTime};
use wusp::fragment::{
    CoreFragment, FragmentKind, UpdateType, parse_core, parse_eula, parse_extended, parse_localized,
};
use wusp::types::{Deployment, ExtendedUpdateInfo, SyncInfo, UpdateData};
use wusp::values::DeploymentAction;
use wusp::{Body, Response};

use super::{
    Approvals, Catalog, CatalogError, CatalogFile, CatalogOrigin, CategoryType, Clause,
    DeploymentRow, DriverRow, FileSource, Fragments, Revision, RevisionKind, Update,
};

#[derive(Default)]
struct Seen {
    core: String,
    deployment: Option<Deployment>,
    declined: bool,
}

#[derive(Default)]
struct State {
    revs: BTreeMap<i32, Seen>,
    extended: HashMap<i32, String>,
    localized: HashMap<i32, Vec<(String, String)>>,
    eula: HashMap<i32, Vec<(String, String)>>,
    bodies: HashMap<[u8; 20], Arc<[u8]>>,
    servers: BTreeSet<String>,
    config_last_change: Option<OffsetDateTime>,
}

impl State {
    fn sync(&mut self, info: &SyncInfo) {
        let mut delivered = HashSet::new();
        for u in info
            .new_updates
            .items()
            .iter()
            .chain(info.changed_updates.items())
        {
            let Some(&id) = u.id.value() else { continue };
            delivered.insert(id);
            let seen = self.revs.entry(id).or_default();
            if let Some(text) = u.xml.value().and_then(|x| x.text().ok())
                && !text.trim().is_empty()
            {
                seen.core = text.into_owned();
            }
            if let Some(d) = u.deployment.value() {
                seen.deployment = Some(d.clone());
            }
            seen.declined = false;
        }
        for id in info.out_of_scope_revision_ids.items() {
            if !delivered.contains(id)
                && let Some(seen) = self.revs.get_mut(id)
            {
                seen.declined = true;
            }
        }
    }

    fn fragments(&mut self, updates: &[UpdateData]) {
        for u in updates {
            let (Some(&id), Some(text)) = (u.id.value(), u.xml.value().and_then(|x| x.text().ok()))
            else {
                continue;
            };
            match wusp::fragment::classify(&text) {
                FragmentKind::Extended => {
                    self.extended.insert(id, text.into_owned());
                }
                FragmentKind::LocalizedProperties => {
                    if let Ok(l) = parse_localized(&text) {
                        let list = self.localized.entry(id).or_default();
                        list.retain(|(lang, _)| !lang.eq_ignore_ascii_case(&l.language));
                        list.push((l.language, text.into_owned()));
                    }
                }
                FragmentKind::Eula => {
                    if let Ok(e) = parse_eula(&text) {
                        let lang = e.language.unwrap_or_default();
                        let list = self.eula.entry(id).or_default();
                        list.retain(|(l, _)| !l.eq_ignore_ascii_case(&lang));
                        list.push((lang, text.into_owned()));
                    }
                }
                FragmentKind::Core => {
                    self.revs.entry(id).or_default().core = text.into_owned();
                }
                FragmentKind::Unknown => {}
            }
        }
    }

    fn extended_info(&mut self, info: &ExtendedUpdateInfo) {
        self.fragments(info.updates.items());
    }
}

fn parse_date(s: &str) -> Option<Date> {
    let s = s.trim();
    let d = s.get(..10)?;
    let mut p = d.splitn(3, '-');
    let y: i32 = p.next()?.parse().ok()?;
    let m: u8 = p.next()?.parse().ok()?;
    let day: u8 = p.next()?.parse().ok()?;
    Date::from_calendar_date(y, time::Month::try_from(m).ok()?, day).ok()
}

fn row_of(d: &Deployment, fallback: Date) -> DeploymentRow {
    let last_change = d
        .last_change_time
        .value()
        .and_then(|x| parse_date(&x.0))
        .unwrap_or(fallback);
    DeploymentRow {
        id: d.id.value().copied().unwrap_or(0),
        action: Some(
            d.action
                .value()
                .cloned()
                .unwrap_or(DeploymentAction::Evaluate),
        ),
        deadline: d.deadline.value().and_then(|x| x.instant()),
        last_change,
        // Changes are ordered by day: a cookie's mark is the day of the latest deployment
        // it delivered, so reconstructions of one server agree on marks.
        counter: last_change.to_julian_day().max(1) as u64,
        is_assigned: d.is_assigned.value().copied().unwrap_or(true),
    }
}

fn driver_row(m: &wusp::fragment::DriverMetadata) -> Option<DriverRow> {
    let hw = m.hardware_id.as_deref()?;
    let s = |o: &Option<String>| o.as_deref().unwrap_or("").into();
    Some(DriverRow {
        hardware_id: hw.to_ascii_lowercase().into(),
        hardware_id_display: hw.into(),
        date: m.driver_ver_date.as_deref().and_then(parse_date),
        version: m.driver_version_packed().unwrap_or(0),
        class: s(&m.class),
        manufacturer: s(&m.manufacturer),
        provider: s(&m.provider),
        model: s(&m.model),
        feature_scores: m
            .feature_scores
            .iter()
            .filter_map(|f| Some((f.operating_system.to_ascii_lowercase().into(), f.score()?)))
            .collect(),
        chids: m
            .distribution_computer_hardware_ids
            .iter()
            .chain(&m.target_computer_hardware_ids)
            .map(|c| wusp::fragment::normalize_guid(c).into_boxed_str())
            .collect(),
    })
}

pub(super) fn from_capture<'a, I>(records: I) -> Result<Catalog, CatalogError>
where
    I: IntoIterator<Item = &'a Record>,
{
    let mut st = State::default();
    for rec in records {
        let Record::Exchange(ex) = rec else { continue };
        match classify(ex) {
            ExchangeKind::Soap(_) => {
                if let Some(host) = ex.request.header("Host") {
                    st.servers.insert(host.trim().to_ascii_lowercase());
                }
                if ex.response.status != 200 {
                    continue;
                }
                let env = match response_envelope(ex) {
                    Ok(e) => e,
                    Err(e) => {
                        tracing::debug!(exchange = ex.id, error = %e, "response not decoded");
                        continue;
                    }
                };
                let Body::Response(resp) = env.body else {
                    continue;
                };
                match resp {
                    Response::SyncUpdates(r) => {
                        if let Some(i) = r.result.value() {
                            st.sync(i);
                        }
                    }
                    Response::SyncPrinterCatalog(r) => {
                        if let Some(i) = r.result.value() {
                            st.sync(i);
                        }
                    }
                    Response::GetExtendedUpdateInfo(r) => {
                        if let Some(i) = r.result.value() {
                            st.extended_info(i);
                        }
                    }
                    Response::GetExtendedUpdateInfo2(r) => {
                        if let Some(i) = r.result.value() {
                            st.fragments(i.updates.items());
                        }
                    }
                    Response::RefreshCache(r) => {
                        for res in r.result.items() {
                            if let (Some(id), Some(d)) =
                                (res.revision_id.value(), res.deployment.value())
                                && let Some(seen) = st.revs.get_mut(id)
                            {
                                seen.deployment = Some(d.clone());
                                seen.declined = false;
                            }
                        }
                    }
                    Response::GetConfig(r) => {
                        if let Some(t) = r
                            .result
                            .value()
                            .and_then(|c| c.last_change.value())
                            .and_then(|t| t.instant())
                        {
                            st.config_last_change = Some(t);
                        }
                    }
                    _ => {}
                }
            }
            ExchangeKind::Content if ex.response.status == 200 => {
                if let Some(b) = ex.response.body.bytes()
                    && !ex.response.body_truncated
                {
                    st.bodies.insert(super::sha1_of(b), Arc::from(b));
                }
            }
            _ => {}
        }
    }
    build(st)
}

fn build(st: State) -> Result<Catalog, CatalogError> {
    let mut parsed: Vec<(i32, CoreFragment, String)> = Vec::new();
    for (id, seen) in &st.revs {
        if seen.core.is_empty() {
            continue;
        }
        match parse_core(&seen.core) {
            Ok(c) => parsed.push((*id, c, seen.core.clone())),
            Err(e) => tracing::warn!(revision = id, error = %e, "core fragment skipped"),
        }
    }
    if parsed.is_empty() {
        return Err(CatalogError::EmptyCapture);
    }
    let config_last_change = st
        .config_last_change
        .unwrap_or(time::macros::datetime!(2026-01-01 00:00 UTC));
    let base_date = config_last_change.date();
    // Updates, with revisions by ascending RevisionNumber.
    let mut updates: Vec<Update> = Vec::new();
    let mut by_uid: HashMap<String, u32> = HashMap::new();
    for (i, (_, c, _)) in parsed.iter().enumerate() {
        let key = c.normalized_update_id();
        let u = *by_uid.entry(key.clone()).or_insert_with(|| {
            updates.push(Update {
                update_id: key.into(),
                revisions: Vec::new(),
            });
            (updates.len() - 1) as u32
        });
        updates[u as usize].revisions.push(i as u32);
    }
    for u in &mut updates {
        u.revisions
            .sort_by_key(|r| parsed[*r as usize].1.revision_number);
    }
    let find = |uid: &str, rn: Option<i32>| -> Option<u32> {
        let u = &updates[*by_uid.get(&wusp::fragment::normalize_guid(uid))? as usize];
        match rn {
            Some(n) => u
                .revisions
                .iter()
                .copied()
                .find(|r| parsed[*r as usize].1.revision_number == n),
            None => u.highest(),
        }
    };
    let mut members: HashSet<u32> = HashSet::new();
    let bundled: Vec<Vec<u32>> = parsed
        .iter()
        .map(|(_, c, _)| {
            c.bundled
                .iter()
                .filter_map(|b| find(&b.update_id, b.revision_number))
                .collect()
        })
        .collect();
    for b in &bundled {
        members.extend(b.iter().copied());
    }
    let mut files: Vec<CatalogFile> = Vec::new();
    let mut file_index: HashMap<[u8; 20], u32> = HashMap::new();
    let mut revisions = Vec::with_capacity(parsed.len());
    let mut approvals_rows = Vec::new();
    for (i, ((id, c, core), bundled)) in parsed.iter().zip(bundled).enumerate() {
        let extended = st.extended.get(id).cloned();
        let ext = extended.as_deref().and_then(|x| parse_extended(x).ok());
        let kind = match &c.update_type {
            UpdateType::Category => RevisionKind::Category(
                ext.as_ref()
                    .and_then(|e| e.category_type.as_deref())
                    .map_or(CategoryType::Unknown, CategoryType::parse),
            ),
            UpdateType::Detectoid => RevisionKind::Detectoid,
            UpdateType::Driver => RevisionKind::Driver,
            UpdateType::Software if !bundled.is_empty() => RevisionKind::Bundle,
            UpdateType::Software if members.contains(&(i as u32)) => RevisionKind::BundleMember,
            UpdateType::Software => RevisionKind::Software,
            _ => RevisionKind::Other,
        };
        let mut rev_files = Vec::new();
        for f in ext.iter().flat_map(|e| e.files.iter()) {
            let Some(sha1) = f.sha1() else { continue };
            let idx = *file_index.entry(sha1).or_insert_with(|| {
                files.push(CatalogFile {
                    name: f
                        .file_name
                        .clone()
                        .unwrap_or_else(|| "file.bin".into())
                        .into(),
                    size: f.size.unwrap_or(0),
                    sha1,
                    sha256: f.sha256(),
                    modified: f
                        .modified
                        .as_deref()
                        .and_then(|m| wusp::values::DateTime(m.to_string()).instant())
                        .unwrap_or(config_last_change),
                    source: FileSource::Recorded(st.bodies.get(&sha1).cloned()),
                });
                (files.len() - 1) as u32
            });
            rev_files.push(idx);
        }
        let clauses = c
            .prerequisites
            .iter()
            .map(|p| Clause {
                updates: p
                    .update_ids
                    .iter()
                    .filter_map(|u| by_uid.get(&wusp::fragment::normalize_guid(u)).copied())
                    .collect(),
                is_category: p.is_category,
            })
            .collect();
        let seen = &st.revs[id];
        let row = match (&seen.deployment, seen.declined) {
            (Some(d), false) => Some(row_of(d, base_date)),
            _ => None,
        };
        approvals_rows.push(row);
        revisions.push(Revision {
            revision_id: *id,
            update: by_uid[&c.normalized_update_id()],
            revision_number: c.revision_number,
            update_type: c.update_type.clone(),
            kind,
            clauses,
            bundled,
            drivers: c.drivers.iter().filter_map(driver_row).collect(),
            files: rev_files,
            is_leaf: true,
            level: 0,
            core_xml: core.clone().into(),
            fragments: Fragments::Stored {
                extended: extended.map(String::into_boxed_str),
                localized: st
                    .localized
                    .get(id)
                    .map(|v| {
                        v.iter()
                            .map(|(l, x)| (l.clone().into_boxed_str(), x.clone().into_boxed_str()))
                            .collect()
                    })
                    .unwrap_or_default(),
                eula: st
                    .eula
                    .get(id)
                    .map(|v| {
                        v.iter()
                            .map(|(l, x)| (l.clone().into_boxed_str(), x.clone().into_boxed_str()))
                            .collect()
                    })
                    .unwrap_or_default(),
            },
        });
    }
    let mut approvals = Approvals::new(revisions.len());
    for (i, row) in approvals_rows.into_iter().enumerate() {
        if row.is_some() {
            approvals.put(0, i as u32, row);
        }
    }
    let servers: Vec<String> = st.servers.into_iter().collect();
    let seed = {
        let mut h = sha2::Sha256::new();
        for s in &servers {
            h.update(s.as_bytes());
        }
        let d = h.finalize();
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[..8]);
        u64::from_le_bytes(b)
    };
    Ok(Catalog::assemble(
        revisions,
        updates,
        files,
        CatalogOrigin::Capture { servers },
        approvals,
        config_last_change,
        base_date,
        seed,
    ))
}
