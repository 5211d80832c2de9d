//! The update catalog of the server role (reference 7.1): revisions, their fragments,
//! prerequisites, bundles, drivers, files, and the deployments of [`Approvals`].
//!
//! A [`Catalog`] is immutable once built, by [`Catalog::generate`] (seeded, 10 to 100,000
//! revisions) or [`Catalog::from_capture`] (what a recorded WSUS sent). What changes at run
//! time are the deployments ([`Approvals`], shared behind a lock by the server) and, derived
//! from both, the per-target-group [`Scope`]: the deployed closure of reference 7.3 step 1
//! with the effective deployment of every revision in it.
//!
//! Revisions are addressed by their index in the catalog (`u32`, dense) internally and by
//! their revision ID (`i32`, what flows on the wire) at the edges.

use std::collections::HashMap;

use sha1::Digest as _;
use time::{Date, OffsetDateTime};
use wusp::fragment::UpdateType;
use wusp::values::DeploymentAction;

mod approvals;
mod capture;
mod generate;

pub use approvals::{ALL_COMPUTERS, ApprovalChange, ApprovalResult, Approvals, DeploymentRow};

/// Why a catalog could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// `--catalog-size` outside 10..=100,000.
    #[error("catalog size {0} is outside 10..=100000")]
    Size(usize),
    /// The capture holds no SyncUpdates response with updates.
    #[error("the capture holds no SyncUpdates response with updates to rebuild a catalog from")]
    EmptyCapture,
}

/// The category kind of a category revision (`CategoryInformation/@CategoryType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CategoryType {
    /// A company (root).
    Company,
    /// A product family.
    ProductFamily,
    /// A product.
    Product,
    /// An update classification (root).
    UpdateClassification,
    /// A category whose type was not seen (captures).
    Unknown,
}

impl CategoryType {
    /// The `CategoryType` attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            CategoryType::Company => "Company",
            CategoryType::ProductFamily => "ProductFamily",
            CategoryType::Product => "Product",
            CategoryType::UpdateClassification => "UpdateClassification",
            CategoryType::Unknown => "Unknown",
        }
    }

    fn parse(s: &str) -> CategoryType {
        match s {
            "Company" => CategoryType::Company,
            "ProductFamily" => CategoryType::ProductFamily,
            "Product" => CategoryType::Product,
            "UpdateClassification" => CategoryType::UpdateClassification,
            _ => CategoryType::Unknown,
        }
    }
}

/// What a revision is, beyond its `UpdateType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevisionKind {
    /// A category.
    Category(CategoryType),
    /// A detectoid.
    Detectoid,
    /// An installable software update.
    Software,
    /// A software update that bundles others.
    Bundle,
    /// A revision bundled by another (delivered with Action=Bundle).
    BundleMember,
    /// A driver.
    Driver,
    /// Anything else (unknown UpdateType in a capture).
    Other,
}

/// One AND-clause of a prerequisite CNF: any of these updates satisfies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// Update indices ([`Catalog::update`]); an empty list names only unknown updates.
    pub updates: Box<[u32]>,
    /// `AtLeastOne/@IsCategory`.
    pub is_category: bool,
}

/// One `WindowsDriverMetaData` row of a driver revision, normalized for matching (7.3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverRow {
    /// Hardware or compatible ID the driver matches, lower case.
    pub hardware_id: Box<str>,
    /// Hardware ID as written (sent back in `Deployment/HardwareIds`).
    pub hardware_id_display: Box<str>,
    /// `DriverVerDate`.
    pub date: Option<Date>,
    /// `DriverVerVersion` packed (a<<48|b<<32|c<<16|d).
    pub version: u64,
    /// `Class`.
    pub class: Box<str>,
    /// `Manufacturer`.
    pub manufacturer: Box<str>,
    /// `Provider`.
    pub provider: Box<str>,
    /// `Model`.
    pub model: Box<str>,
    /// `FeatureScore` per `OperatingSystem` (lower case), 0 best.
    pub feature_scores: Vec<(Box<str>, u8)>,
    /// Target and distribution computer hardware IDs (lower case); empty: any computer.
    pub chids: Vec<Box<str>>,
}

impl DriverRow {
    /// The feature score for `Arch.Major.Minor` (case-insensitive), 255 when none is given.
    pub fn feature_score(&self, key: &str) -> u8 {
        self.feature_scores
            .iter()
            .find(|(os, _)| os.eq_ignore_ascii_case(key))
            .map_or(255, |(_, s)| *s)
    }

    /// True for printer drivers (`Class` Printer or the printer class GUID).
    pub fn is_printer(&self) -> bool {
        is_printer_class(&self.class)
    }
}

/// True for `Printer` or the printer setup class GUID.
pub fn is_printer_class(class: &str) -> bool {
    class.eq_ignore_ascii_case("Printer")
        || class.eq_ignore_ascii_case("{4d36e979-e325-11ce-bfc1-08002be10318}")
        || class.eq_ignore_ascii_case("4d36e979-e325-11ce-bfc1-08002be10318")
}

/// Where a file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileSource {
    /// Derived on demand from (seed, index) by the generator.
    Generated {
        /// Index in the generator's file sequence.
        index: u32,
    },
    /// Recorded in a capture (when a complete download was recorded).
    Recorded(Option<std::sync::Arc<[u8]>>),
}

/// A content file (`Files/File` of an Extended fragment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogFile {
    /// `@FileName`.
    pub name: Box<str>,
    /// Size in bytes.
    pub size: u64,
    /// SHA-1 (`FileDigest`).
    pub sha1: [u8; 20],
    /// SHA-256 (`AdditionalDigest`), when known.
    pub sha256: Option<[u8; 32]>,
    /// `@Modified`.
    pub modified: OffsetDateTime,
    pub(crate) source: FileSource,
}

impl CatalogFile {
    /// The WSUS content path `/Content/<XX>/<SHA1HEX>.<ext>` (reference 1.7).
    pub fn content_path(&self) -> String {
        let hex = hex::encode_upper(self.sha1);
        let ext = self
            .name
            .rsplit_once('.')
            .map_or("bin", |(_, e)| e)
            .to_ascii_lowercase();
        format!("/Content/{}/{hex}.{ext}", &hex[38..])
    }
}

/// Fragments other than Core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fragments {
    /// Built on demand by the generator from the revision and its files.
    Generated {
        /// English title.
        title: Box<str>,
    },
    /// Recorded text.
    Stored {
        /// The Extended fragment.
        extended: Option<Box<str>>,
        /// LocalizedProperties fragments by language.
        localized: Vec<(Box<str>, Box<str>)>,
        /// Eula fragments by language.
        eula: Vec<(Box<str>, Box<str>)>,
    },
}

/// One revision of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// The server-local revision ID.
    pub revision_id: i32,
    /// Index of its update ([`Catalog::update`]).
    pub update: u32,
    /// `RevisionNumber`.
    pub revision_number: i32,
    /// `UpdateType`.
    pub update_type: UpdateType,
    /// What it is.
    pub kind: RevisionKind,
    /// Prerequisites (CNF).
    pub clauses: Vec<Clause>,
    /// Bundled revisions (indices).
    pub bundled: Vec<u32>,
    /// Driver rows (drivers only).
    pub drivers: Vec<DriverRow>,
    /// Files (indices into [`Catalog::file`]).
    pub files: Vec<u32>,
    /// IsLeaf per reference 7.3.1.
    pub is_leaf: bool,
    /// Prerequisite level: 0 for roots, else 1 + the deepest clause (7.3.2).
    pub level: u16,
    /// The Core fragment (unescaped).
    pub core_xml: Box<str>,
    pub(crate) fragments: Fragments,
}

impl Revision {
    /// True for drivers (never in the software pass, rule S-17).
    pub fn is_driver(&self) -> bool {
        self.update_type == UpdateType::Driver
    }
}

/// An update: its UpdateID and its revisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// UpdateID in lower case.
    pub update_id: Box<str>,
    /// Revision indices, ascending RevisionNumber.
    pub revisions: Vec<u32>,
}

impl Update {
    /// The highest revision (what a prerequisite names, reference 0.3).
    pub fn highest(&self) -> Option<u32> {
        self.revisions.last().copied()
    }
}

/// Where the catalog came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogOrigin {
    /// [`Catalog::generate`].
    Generated {
        /// Number of revisions asked for.
        size: usize,
        /// The seed.
        seed: u64,
    },
    /// [`Catalog::from_capture`].
    Capture {
        /// The recorded server(s) (`Host` of the requests).
        servers: Vec<String>,
    },
}

/// The effective deployment of a revision to one target group (reference 7.3 step 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// Deployment ID.
    pub id: i32,
    /// Action (`Block` already mapped to `PreDeploymentCheck`).
    pub action: DeploymentAction,
    /// Deadline.
    pub deadline: Option<OffsetDateTime>,
    /// `LastChangeTime` (a date).
    pub last_change: Date,
    /// Change counter of the deployment (ChangedUpdates are newer than the cookie's mark).
    pub counter: u64,
    /// `IsAssigned`.
    pub is_assigned: bool,
}

/// The deployed closure for one target group at one state of the approvals.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The [`Approvals::generation`] it was computed at.
    pub generation: u64,
    /// The [`Approvals::counter`] it was computed at (the NewCookie mark).
    pub counter: u64,
    eff: Vec<Option<Effective>>,
    order: Vec<u32>,
    drivers: Vec<u32>,
}

impl Scope {
    /// The effective deployment of revision `rev`, when in scope.
    pub fn effective(&self, rev: u32) -> Option<&Effective> {
        self.eff.get(rev as usize).and_then(Option::as_ref)
    }
    /// Non-driver revisions in scope, by (level, leaves first, revision ID).
    pub fn software(&self) -> &[u32] {
        &self.order
    }
    /// Driver revisions in scope, by revision ID.
    pub fn drivers(&self) -> &[u32] {
        &self.drivers
    }
}

/// The catalog: revisions, updates, files, and the initial approvals.
#[derive(Debug, Clone)]
pub struct Catalog {
    revisions: Vec<Revision>,
    by_id: HashMap<i32, u32>,
    updates: Vec<Update>,
    by_update_id: HashMap<Box<str>, u32>,
    files: Vec<CatalogFile>,
    by_sha1: HashMap<[u8; 20], u32>,
    origin: CatalogOrigin,
    initial: Approvals,
    config_last_change: OffsetDateTime,
    base_date: Date,
    seed: u64,
    fingerprint: [u8; 16],
}

impl Catalog {
    /// A deterministic WSUS-shaped catalog of `size` revisions (10..=100,000) from `seed`.
    ///
    /// Companies, product families, products and classifications (categories), detectoids,
    /// software updates with prerequisite chains, bundles and their members, superseded and
    /// older revisions, drivers (printers among them) with hardware IDs, dates, versions and
    /// feature scores, and files whose SHA-1 and SHA-256 are those of bytes derived on
    /// demand from (seed, file index). Default approvals as reference 3.5 observes them:
    /// most content unapproved (`Evaluate`), some approved (`Install`), some declined
    /// (not deployed), categories and detectoids `Evaluate`, bundle members `Bundle`.
    pub fn generate(size: usize, seed: u64) -> Result<Catalog, CatalogError> {
        generate::generate(size, seed)
    }

    /// Rebuilds the catalog a recorded WSUS served: every revision of its SyncUpdates
    /// responses (core fragment, last deployment seen, revision ID as recorded), the
    /// fragments and file locations of its GetExtendedUpdateInfo responses, the
    /// deployments of RefreshCache, the `Config.LastChange` of GetConfig, and the bytes of
    /// complete content downloads. Revisions reported out of scope after their last delivery
    /// are taken as declined. Records are read in order.
    pub fn from_capture<'a, I>(records: I) -> Result<Catalog, CatalogError>
    where
        I: IntoIterator<Item = &'a captures::Record>,
    {
        capture::from_capture(records)
    }

    /// Number of revisions.
    pub fn len(&self) -> usize {
        self.revisions.len()
    }

    /// True when there is no revision.
    pub fn is_empty(&self) -> bool {
        self.revisions.is_empty()
    }

    /// All revisions, by index.
    pub fn revisions(&self) -> &[Revision] {
        &self.revisions
    }

    /// The revision at index `rev`.
    pub fn revision(&self, rev: u32) -> Option<&Revision> {
        self.revisions.get(rev as usize)
    }

    /// The index of the revision with this revision ID.
    pub fn index_of(&self, revision_id: i32) -> Option<u32> {
        self.by_id.get(&revision_id).copied()
    }

    /// The update at index `u`.
    pub fn update(&self, u: u32) -> Option<&Update> {
        self.updates.get(u as usize)
    }

    /// The update index of an UpdateID (any case, braces allowed).
    pub fn update_index(&self, update_id: &str) -> Option<u32> {
        let key = wusp::fragment::normalize_guid(update_id);
        self.by_update_id.get(key.as_str()).copied()
    }

    /// The revision index of (UpdateID, RevisionNumber).
    pub fn revision_for_identity(&self, update_id: &str, revision_number: i32) -> Option<u32> {
        let u = self.update(self.update_index(update_id)?)?;
        u.revisions
            .iter()
            .copied()
            .find(|r| self.revisions[*r as usize].revision_number == revision_number)
    }

    /// The UpdateID (lower case) of revision `rev`.
    pub fn update_id_of(&self, rev: u32) -> &str {
        self.revision(rev)
            .and_then(|r| self.update(r.update))
            .map_or("", |u| &u.update_id)
    }

    /// The file at index `f`.
    pub fn file(&self, f: u32) -> Option<&CatalogFile> {
        self.files.get(f as usize)
    }

    /// All files.
    pub fn files(&self) -> &[CatalogFile] {
        &self.files
    }

    /// The file with this SHA-1.
    pub fn file_by_sha1(&self, sha1: &[u8; 20]) -> Option<u32> {
        self.by_sha1.get(sha1).copied()
    }

    /// Where the catalog came from.
    pub fn origin(&self) -> &CatalogOrigin {
        &self.origin
    }

    /// The approvals the catalog starts with.
    pub fn initial_approvals(&self) -> &Approvals {
        &self.initial
    }

    /// The `Config.LastChange` the catalog starts with.
    pub fn config_last_change(&self) -> OffsetDateTime {
        self.config_last_change
    }

    /// A digest of the catalog's origin: part of the server identity (a server whose catalog
    /// is replaced answers old cookies with ServerChanged).
    pub fn fingerprint(&self) -> [u8; 16] {
        self.fingerprint
    }

    /// The seed of deterministic picks (the generator's seed, or derived from a capture).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// True when `rev` satisfies its prerequisites given the installed update indices.
    pub fn prerequisites_satisfied(&self, rev: u32, installed: &dyn Fn(u32) -> bool) -> bool {
        self.revision(rev).is_some_and(|r| {
            r.clauses
                .iter()
                .all(|c| c.updates.iter().any(|u| installed(*u)))
        })
    }

    /// The bytes of a file (generated on demand, or as recorded).
    pub fn file_bytes(&self, f: u32) -> Option<std::sync::Arc<[u8]>> {
        let file = self.file(f)?;
        match &file.source {
            FileSource::Generated { index } => {
                Some(generate::content(self.seed, *index, file.size as usize, &file.name).into())
            }
            FileSource::Recorded(bytes) => bytes.clone(),
        }
    }

    /// The Extended fragment of `rev` (unescaped).
    pub fn extended_xml(&self, rev: u32) -> Option<String> {
        let r = self.revision(rev)?;
        match &r.fragments {
            Fragments::Generated { .. } => Some(generate::extended_xml(self, r)),
            Fragments::Stored { extended, .. } => extended.as_deref().map(str::to_string),
        }
    }

    /// The languages that have LocalizedProperties for `rev`.
    pub fn languages(&self, rev: u32) -> Vec<String> {
        match self.revision(rev).map(|r| &r.fragments) {
            Some(Fragments::Generated { .. }) => {
                generate::LANGUAGES.iter().map(|l| l.to_string()).collect()
            }
            Some(Fragments::Stored { localized, .. }) => {
                localized.iter().map(|(l, _)| l.to_string()).collect()
            }
            None => Vec::new(),
        }
    }

    /// The LocalizedProperties fragment of `rev` in `language` (exact, case-insensitive).
    pub fn localized_xml(&self, rev: u32, language: &str) -> Option<String> {
        let r = self.revision(rev)?;
        match &r.fragments {
            Fragments::Generated { title } => generate::localized_xml(r, title, language),
            Fragments::Stored { localized, .. } => localized
                .iter()
                .find(|(l, _)| l.eq_ignore_ascii_case(language))
                .map(|(_, x)| x.to_string()),
        }
    }

    /// The Eula fragments of `rev` as (language, text).
    pub fn eula_xml(&self, rev: u32) -> Vec<(String, String)> {
        match self.revision(rev).map(|r| &r.fragments) {
            Some(Fragments::Stored { eula, .. }) => eula
                .iter()
                .map(|(l, x)| (l.to_string(), x.to_string()))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The deployed closure for target group `group` (reference 7.3 step 1, 6): revisions
    /// with an active deployment row, plus, transitively, every prerequisite (`Evaluate`)
    /// and bundled revision (`Bundle`); one revision per update (the highest in scope).
    pub fn scope(&self, approvals: &Approvals, group: usize) -> Scope {
        let n = self.revisions.len();
        let mut eff: Vec<Option<Effective>> = vec![None; n];
        let mut stack: Vec<u32> = Vec::new();
        for (i, slot) in eff.iter_mut().enumerate() {
            if let Some(row) = approvals.row(group, i as u32)
                && let Some(action) = &row.action
            {
                let action = match action {
                    DeploymentAction::Block => DeploymentAction::PreDeploymentCheck,
                    a => a.clone(),
                };
                *slot = Some(Effective {
                    id: row.id,
                    action,
                    deadline: row.deadline,
                    last_change: row.last_change,
                    counter: row.counter,
                    is_assigned: row.is_assigned,
                });
                stack.push(i as u32);
            }
        }
        let synth = |rev: u32, action: DeploymentAction| match approvals.row(group, rev) {
            Some(row) => Effective {
                id: row.id,
                action,
                deadline: None,
                last_change: row.last_change,
                counter: row.counter,
                is_assigned: true,
            },
            None => Effective {
                id: approvals::SYNTHETIC_DEPLOYMENT_BASE.saturating_add(rev as i32),
                action,
                deadline: None,
                last_change: self.base_date,
                counter: 0,
                is_assigned: true,
            },
        };
        while let Some(r) = stack.pop() {
            let rev = &self.revisions[r as usize];
            for &b in &rev.bundled {
                if eff[b as usize].is_none() {
                    eff[b as usize] = Some(synth(b, DeploymentAction::Bundle));
                    stack.push(b);
                }
            }
            for c in &rev.clauses {
                for &u in c.updates.iter() {
                    if let Some(h) = self.updates[u as usize].highest()
                        && eff[h as usize].is_none()
                    {
                        eff[h as usize] = Some(synth(h, DeploymentAction::Evaluate));
                        stack.push(h);
                    }
                }
            }
        }
        // One revision per update: the highest revision in scope (rule S-14).
        for u in &self.updates {
            let mut seen = false;
            for &r in u.revisions.iter().rev() {
                if eff[r as usize].is_some() {
                    if seen {
                        eff[r as usize] = None;
                    }
                    seen = true;
                }
            }
        }
        let mut order = Vec::new();
        let mut drivers = Vec::new();
        for (i, e) in eff.iter().enumerate() {
            if e.is_some() {
                if self.revisions[i].is_driver() {
                    drivers.push(i as u32);
                } else {
                    order.push(i as u32);
                }
            }
        }
        // Leaves first within a level: the last page of a stage then carries its non-leaf
        // revisions, so the client calls again for the next level (7.3.2).
        let key = |r: &u32| {
            let rev = &self.revisions[*r as usize];
            (rev.level, !rev.is_leaf, rev.revision_id)
        };
        order.sort_by_key(key);
        drivers.sort_by_key(|r| self.revisions[*r as usize].revision_id);
        Scope {
            generation: approvals.generation(),
            counter: approvals.counter(),
            eff,
            order,
            drivers,
        }
    }

    /// Assembles a catalog from revisions whose `update`, `clauses` and `bundled` are
    /// resolved: fills the indices, IsLeaf (7.3.1) and levels (7.3.2).
    #[allow(clippy::too_many_arguments)]
    fn assemble(
        mut revisions: Vec<Revision>,
        updates: Vec<Update>,
        files: Vec<CatalogFile>,
        origin: CatalogOrigin,
        initial: Approvals,
        config_last_change: OffsetDateTime,
        base_date: Date,
        seed: u64,
    ) -> Catalog {
        let by_id = revisions
            .iter()
            .enumerate()
            .map(|(i, r)| (r.revision_id, i as u32))
            .collect();
        let by_update_id = updates
            .iter()
            .enumerate()
            .map(|(i, u)| (u.update_id.clone(), i as u32))
            .collect();
        let by_sha1 = files
            .iter()
            .enumerate()
            .map(|(i, f)| (f.sha1, i as u32))
            .collect();
        // IsLeaf: no revision names the update as a prerequisite.
        let mut named = vec![false; updates.len()];
        for r in &revisions {
            for c in &r.clauses {
                for &u in c.updates.iter() {
                    named[u as usize] = true;
                }
            }
        }
        for r in &mut revisions {
            r.is_leaf = !named[r.update as usize];
        }
        let levels = compute_levels(&revisions, &updates);
        for (r, l) in revisions.iter_mut().zip(levels) {
            r.level = l;
        }
        let fingerprint = {
            let mut h = sha2::Sha256::new();
            match &origin {
                CatalogOrigin::Generated { size, seed } => {
                    h.update(b"generated\0");
                    h.update((*size as u64).to_le_bytes());
                    h.update(seed.to_le_bytes());
                }
                CatalogOrigin::Capture { servers } => {
                    h.update(b"capture\0");
                    for s in servers {
                        h.update(s.as_bytes());
                        h.update([0]);
                    }
                }
            }
            let d = h.finalize();
            let mut f = [0u8; 16];
            f.copy_from_slice(&d[..16]);
            f
        };
        Catalog {
            revisions,
            by_id,
            updates,
            by_update_id,
            files,
            by_sha1,
            origin,
            initial,
            config_last_change,
            base_date,
            seed,
            fingerprint,
        }
    }
}

/// Levels: 0 without prerequisites, else 1 + max over clauses of the lowest level among the
/// clause's updates (their highest revisions). Cycles count as level 0.
fn compute_levels(revisions: &[Revision], updates: &[Update]) -> Vec<u16> {
    const UNSET: u16 = u16::MAX;
    const BUSY: u16 = u16::MAX - 1;
    let mut level = vec![UNSET; revisions.len()];
    for start in 0..revisions.len() {
        if level[start] != UNSET {
            continue;
        }
        // Iterative post-order DFS.
        let mut stack: Vec<(usize, bool)> = vec![(start, false)];
        while let Some((r, expanded)) = stack.pop() {
            if expanded {
                let mut l: u16 = 0;
                for c in &revisions[r].clauses {
                    let best = c
                        .updates
                        .iter()
                        .filter_map(|u| updates[*u as usize].highest())
                        .map(|h| match level[h as usize] {
                            UNSET | BUSY => 0,
                            x => x,
                        })
                        .min();
                    if let Some(b) = best {
                        l = l.max(b.saturating_add(1));
                    }
                }
                level[r] = l;
                continue;
            }
            if level[r] != UNSET {
                continue;
            }
            level[r] = BUSY;
            stack.push((r, true));
            for c in &revisions[r].clauses {
                for u in c.updates.iter() {
                    if let Some(h) = updates[*u as usize].highest()
                        && level[h as usize] == UNSET
                    {
                        stack.push((h as usize, false));
                    }
                }
            }
        }
    }
    level
}

/// SplitMix64 finalizer (deterministic picks and IDs).
pub(crate) fn mix_u64(z: u64) -> u64 {
    approvals::mix(z)
}

/// SHA-1 of bytes.
pub(crate) fn sha1_of(bytes: &[u8]) -> [u8; 20] {
    let mut out = [0u8; 20];
    out.copy_from_slice(&sha1::Sha1::digest(bytes));
    out
}

/// SHA-256 of bytes.
pub(crate) fn sha256_of(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&sha2::Sha256::digest(bytes));
    out
}
