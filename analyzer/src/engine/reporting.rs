//! ReportEventBatch rules (reference 3.10): C-42 (required fields and values), C-43
//! (EventID table and AllowedEventIds), C-44 (replacement strings), C-45 (MiscData form),
//! C-46 (DeviceID).

use std::collections::HashSet;

use wusp::messages::ReportEventBatch;
use wusp::values::ProcessorArchitecture;

use super::Engine;
use crate::input::Observed;

/// The EventIDs of the reference's table (section 3.10).
const EVENT_IDS: &[i16] = &[
    141, 145, 146, 147, 148, 150, 157, 158, // detection
    149, 153, 154, 156, // status
    161, 162, 163, 164, 165, 166, 167, 168, 169, 170, // download
    181, 182, 183, 184, 186, 187, 188, 189, 190, 191, 192, 193, 194, 195, 197, 198, 199, 200, 203,
    204, 221, 222, 223, 224, 225, // install
    521, 522, 523, 524, 525, // commit
    541, 542, 543, 544, 545, 546, // revert
    185, 196, // hide
    201, 202, // misc
];

/// Placeholders of the templates the reference spells out (147, 148: one; 182: two).
fn placeholders(event_id: i16) -> Option<usize> {
    match event_id {
        147 | 148 => Some(1),
        182 => Some(2),
        _ => None,
    }
}

/// EventInstanceIDs seen per client, for uniqueness across the analysis (C-42).
pub(super) type Seen = HashSet<String>;

impl Engine {
    /// Rules on a ReportEventBatch request.
    pub(super) fn reporting_rules(
        &mut self,
        si: usize,
        key: &(usize, String),
        ex: &Observed,
        m: &ReportEventBatch,
    ) {
        let id = ex.id.as_str();
        let client_id = self.clients[key.0].client_id.clone();
        let catalog = self.catalogs.entry(key.1.clone()).or_default();
        let pair = self.pairs.entry(key.clone()).or_default();
        let allowed: Vec<i32> = pair
            .config
            .as_ref()
            .map(|c| c.allowed_event_ids.items().to_vec())
            .unwrap_or_default();
        let drivers: HashSet<String> = pair
            .known
            .iter()
            .filter(|(_, r)| r.driver)
            .filter_map(|(rid, _)| catalog.update_id(*rid))
            .collect();
        let non_drivers: HashSet<String> = pair
            .known
            .iter()
            .filter(|(_, r)| !r.driver)
            .filter_map(|(rid, _)| catalog.update_id(*rid))
            .collect();
        let mut c42: Vec<String> = Vec::new();
        if !m.cookie.is_present() || !m.client_time.is_present() || m.event_batch.is_absent() {
            c42.push("cookie, clientTime or eventBatch missing".into());
        }
        let mut c43 = Vec::new();
        let mut c44 = Vec::new();
        let mut c45 = Vec::new();
        let mut c46 = Vec::new();
        for (n, e) in m.event_batch.items().iter().enumerate() {
            let n = n + 1;
            let Some(b) = e.basic_data.value() else {
                c42.push(format!("event {n}: no BasicData"));
                continue;
            };
            if b.namespace_id.value() != Some(&1) {
                c42.push(format!(
                    "event {n}: NamespaceID {:?}",
                    b.namespace_id.value()
                ));
            }
            if b.sequence_number.value() != Some(&0) {
                c42.push(format!(
                    "event {n}: SequenceNumber {:?}",
                    b.sequence_number.value()
                ));
            }
            let sid = b.target_id.value().and_then(|t| t.sid.value());
            if let Some(cid) = &client_id
                && sid.is_none_or(|s| !s.eq_ignore_ascii_case(cid))
            {
                c42.push(format!(
                    "event {n}: TargetID/Sid {sid:?} is not the clientId {cid}"
                ));
            }
            match b.event_instance_id.value() {
                Some(g) if g.is_well_formed() => {
                    if !pair.events.insert(g.normalized()) {
                        c42.push(format!("event {n}: EventInstanceID {} seen before", g.0));
                    }
                }
                other => c42.push(format!(
                    "event {n}: EventInstanceID {other:?} is not a GUID"
                )),
            }
            if !b.update_id.is_present() {
                c42.push(format!("event {n}: no UpdateID"));
            }
            let ext = e.extended_data.value();
            if ext
                .and_then(|x| x.processor_architecture.value())
                .is_some_and(|p| {
                    !p.is_known()
                        || matches!(
                            p,
                            ProcessorArchitecture::ArmCompatible
                                | ProcessorArchitecture::LpiaCompatible
                        )
                })
            {
                c42.push(format!(
                    "event {n}: ProcessorArchitecture outside the reporting enumeration"
                ));
            }
            if !e.private_data.is_present() {
                c42.push(format!("event {n}: no PrivateData"));
            }
            let Some(event_id) = b.event_id.value().copied() else {
                c42.push(format!("event {n}: no EventID"));
                continue;
            };
            if !EVENT_IDS.contains(&event_id)
                || (!allowed.is_empty() && !allowed.contains(&i32::from(event_id)))
            {
                c43.push(event_id.to_string());
            }
            if let (Some(want), Some(x)) = (placeholders(event_id), ext) {
                let got = x.replacement_strings.items().len();
                if got != want {
                    c44.push(format!("event {n} ({event_id}): {got} for {want}"));
                }
            }
            if let Some(x) = ext {
                for item in x.misc_data.items() {
                    let ok = item.split_once('=').is_some_and(|(tag, _)| {
                        !tag.is_empty() && !tag.contains(char::is_whitespace)
                    });
                    if !ok {
                        c45.push(format!("event {n}: {item:?}"));
                    }
                }
            }
            let update = b
                .update_id
                .value()
                .and_then(|u| u.update_id.value())
                .map(|g| g.normalized());
            let device = ext
                .and_then(|x| x.device_id.value())
                .map(String::as_str)
                .unwrap_or("");
            if let Some(u) = update {
                let download = (161..=170).contains(&event_id);
                if drivers.contains(&u) && download && device != "1" {
                    c46.push(format!(
                        "event {n} ({event_id}): driver download with DeviceID {device:?}"
                    ));
                } else if non_drivers.contains(&u) && !device.is_empty() {
                    c46.push(format!(
                        "event {n} ({event_id}): non-driver update with DeviceID {device:?}"
                    ));
                }
            }
        }
        for (rule, items, msg, exp) in [
            (
                "C-42",
                c42,
                "ReportEventBatch breaks the event format",
                "cookie, clientTime, eventBatch; NamespaceID=1, SequenceNumber=0, Sid=clientId, unique GUID EventInstanceID, UpdateID, PrivateData",
            ),
            (
                "C-43",
                c43,
                "EventIDs outside the EventID table or the server's AllowedEventIds",
                "EventIDs of table 3.10 (and of AllowedEventIds when given)",
            ),
            (
                "C-44",
                c44,
                "ReplacementStrings do not match the template's placeholders",
                "one string per %n of the template",
            ),
            (
                "C-45",
                c45,
                "MiscData entries not of the form tag=value",
                "tag=value",
            ),
            (
                "C-46",
                c46,
                "DeviceID does not fit the update kind",
                "empty for non-driver updates, \"1\" for driver downloads",
            ),
        ] {
            if !items.is_empty() {
                self.violated(si, rule, id, msg.to_string(), exp, items.join("; "));
            }
        }
    }
}
