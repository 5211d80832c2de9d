//! More server rules on answers: T-05 (result element), S-03 (AuthPlugInInfo/Parameter),
//! S-08 and S-37 (configuration changes), S-29 (requested fragment kinds and locales),
//! S-30 (file locations for extended files), S-34 (StartCategoryScan), S-36 (faults for
//! cookies known expired or foreign).

use std::collections::HashSet;

use wusp::fragment::FragmentKind;
use wusp::{ErrorCode, Request, Response};

use super::{Engine, cookie_key, request_cookie};
use crate::catalogue::{Level, known};
use crate::finding::{Finding, Profile, Status};
use crate::input::{Observed, Reply};

/// Facts for the configuration-change rules.
#[derive(Default)]
pub(super) struct ConfigFacts {
    /// A GetCookie with a stale lastChange was answered normally: the next SyncUpdates
    /// must fault ConfigChanged (S-08).
    stale_get_cookie: Option<String>,
    /// The lastChange the current cookie was obtained with (S-37).
    cookie_last_change: Option<wusp::values::DateTime>,
}

/// True when the answer to `op` lacks its `…Result` element.
fn result_missing(resp: &Response) -> bool {
    match resp {
        Response::GetAuthorizationCookie(r) => r.result.is_absent(),
        Response::GetConfig(r) => r.result.is_absent(),
        Response::GetCookie(r) => r.result.is_absent(),
        Response::SyncUpdates(r) => r.result.is_absent(),
        Response::SyncPrinterCatalog(r) => r.result.is_absent(),
        Response::GetExtendedUpdateInfo(r) => r.result.is_absent(),
        Response::GetExtendedUpdateInfo2(r) => r.result.is_absent(),
        Response::GetFileLocations(r) => r.result.is_absent(),
        Response::ReportEventBatch(r) => r.result.is_absent(),
        _ => false,
    }
}

impl Engine {
    /// Answer rules for one exchange.
    pub(super) fn reply_more_rules(
        &mut self,
        si: usize,
        key: &(usize, String),
        ex: &Observed,
        req: &Request,
    ) {
        let id = ex.id.as_str();
        let op = ex.op();
        let profile = self.profile;
        // S-36: a cookie known expired or foreign, answered with another fault.
        if let Some(sent) = request_cookie(req).and_then(cookie_key)
            && let Reply::Fault(f) = &ex.reply
        {
            let pair = self.pair(key);
            let expired = pair
                .issued
                .get(&sent)
                .copied()
                .flatten()
                .is_some_and(|e| e <= ex.time);
            let foreign = self.cookie_server(sent).is_some_and(|s| s != key.1);
            let code = f.error_code().map(ErrorCode::canonical);
            let fits = matches!(
                code,
                Some(
                    ErrorCode::CookieExpired | ErrorCode::InvalidCookie | ErrorCode::ServerChanged
                )
            );
            if (expired || foreign) && !fits {
                let code = code.map_or("(no ErrorCode)".to_string(), |c| c.to_string());
                self.violated(
                    si,
                    "S-36",
                    id,
                    format!(
                        "a {} cookie answered with {}",
                        if foreign { "foreign" } else { "expired" },
                        code
                    ),
                    "CookieExpired for an expired cookie, InvalidCookie or ServerChanged for a foreign one",
                    code,
                );
            }
        }
        // S-08 / S-37: configuration changes reach the client as ConfigChanged.
        if let Request::GetCookie(m) = req
            && let Reply::Ok(_) = &ex.reply
        {
            let pair = self.pair(key);
            let current = pair
                .config
                .as_ref()
                .and_then(|c| c.last_change.value().cloned());
            let sent = m.last_change.value().cloned();
            let stale = matches!((&current, &sent), (Some(c), Some(s)) if !c.same_instant(s));
            pair.config_facts.stale_get_cookie = stale.then(|| ex.id.clone());
            pair.config_facts.cookie_last_change = sent;
        }
        if let Request::SyncUpdates(_) = req {
            let pair = self.pair(key);
            let config_changed = matches!(&ex.reply, Reply::Fault(f) if f.error_code().map(ErrorCode::canonical) == Some(ErrorCode::ConfigChanged));
            if let Some(at) = pair.config_facts.stale_get_cookie.take()
                && !config_changed
            {
                let f = Finding::new(
                    known("S-08"),
                    Status::Violated,
                    "GetCookie with a stale lastChange was not followed by ConfigChanged",
                )
                .at([at, id.to_string()])
                .versus(
                    "ConfigChanged on the GetCookie or the next SyncUpdates",
                    "a normal answer",
                );
                self.push(si, f);
            }
            let pair = self.pair(key);
            let current = pair
                .config
                .as_ref()
                .and_then(|c| c.last_change.value().cloned());
            if let (Some(c), Some(k), Reply::Ok(_)) = (
                current,
                pair.config_facts.cookie_last_change.clone(),
                &ex.reply,
            ) && !c.same_instant(&k)
            {
                self.violated(
                    si,
                    "S-37",
                    id,
                    "SyncUpdates answered normally although the configuration changed after the cookie was issued".into(),
                    "ConfigChanged",
                    format!("cookie for LastChange {}, configuration {}", k.0, c.0),
                );
            }
        }
        let Reply::Ok(resp) = &ex.reply else { return };
        // T-05: the result element is there.
        if result_missing(resp) {
            self.violated(
                si,
                "T-05",
                id,
                format!("{op} response without its {op}Result element"),
                format!("<{op}Response><{op}Result>"),
                "no Result element",
            );
        }
        match (req, resp) {
            (_, Response::GetConfig(r)) => {
                let with_parameter = r
                    .result
                    .value()
                    .is_some_and(|c| c.auth_info.items().iter().any(|a| a.parameter.is_present()));
                // Native WSUS sends `<Parameter/>`: only the spec profile reports it, as
                // OBS (reference 10 #8).
                if with_parameter && profile == Profile::Spec {
                    let mut f = Finding::new(
                        known("S-03"),
                        Status::Violated,
                        "AuthPlugInInfo carries a Parameter element (WSUS sends <Parameter/>)",
                    )
                    .at([id.to_string()])
                    .versus("no Parameter", "a Parameter element");
                    f.level = Level::Obs;
                    self.push(si, f);
                }
            }
            (Request::GetExtendedUpdateInfo(q), Response::GetExtendedUpdateInfo(r)) => {
                let types: HashSet<&str> =
                    q.info_types.items().iter().map(|t| t.as_str()).collect();
                let locales: Vec<String> = q
                    .locales
                    .items()
                    .iter()
                    .map(|l| l.to_ascii_lowercase())
                    .collect();
                let mut extra = Vec::new();
                for u in r
                    .result
                    .value()
                    .map(|i| i.updates.items())
                    .unwrap_or_default()
                {
                    let Some(facts) = u.xml.value().and_then(|x| self.fragment_facts(x)) else {
                        continue;
                    };
                    let kind = facts.kind;
                    let rid = u.id.value().copied().unwrap_or_default();
                    if kind != FragmentKind::Unknown && !types.contains(kind.as_str()) {
                        extra.push(format!("{rid}: {kind} not requested"));
                    }
                    if kind == FragmentKind::LocalizedProperties
                        && let Some(language) = &facts.language
                    {
                        let lang = language.to_ascii_lowercase();
                        if !lang.starts_with("en") && !locales.contains(&lang) {
                            extra.push(format!("{rid}: LocalizedProperties in {language}"));
                        }
                    }
                }
                if !extra.is_empty() {
                    self.violated(
                        si,
                        "S-29",
                        id,
                        "GetExtendedUpdateInfo returns fragments not requested".into(),
                        "only the requested kinds; LocalizedProperties in a requested locale or English",
                        extra.join("; "),
                    );
                }
            }
            (Request::StartCategoryScan(q), Response::StartCategoryScan(r)) => {
                let asked: HashSet<String> = q
                    .requested_categories
                    .items()
                    .iter()
                    .filter_map(|c| c.category_id.value().map(|g| g.normalized()))
                    .collect();
                let stray: Vec<String> = r
                    .preferred_category_ids
                    .items()
                    .iter()
                    .chain(r.requested_category_ids_in_error.items())
                    .filter(|g| !asked.contains(&g.normalized()))
                    .map(|g| g.0.clone())
                    .collect();
                if !stray.is_empty() {
                    self.violated(
                        si,
                        "S-34",
                        id,
                        "StartCategoryScan answers with categories that were not requested".into(),
                        "preferred and in-error IDs among the requested categories",
                        stray.join(", "),
                    );
                }
            }
            _ => {}
        }
    }
}
