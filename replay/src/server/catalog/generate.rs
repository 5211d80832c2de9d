//! The seeded catalog generator.
//!
//! ```text
//!  Company ─► ProductFamily ─► Product ─► Detectoid ─► Software ─► chained Software ─► …
//!  Classification (roots) ──────────────────────────► Software, Bundles, Members
//!  Product + "Drivers" classification ──────────────► Drivers (printers among them)
//! ```
//!
//! Everything derives from the seed through SplitMix64; file bytes are derived on demand
//! from (seed, file index) and only their digests are kept.

use time::macros::{date, datetime};
use time::{Date, Duration, OffsetDateTime};
use wusp::fragment::{
    CoreFragmentBuilder, DriverMetadata, ExtendedFragmentBuilder, FeatureScore, FileMetadata,
    LocalizedPropertiesBuilder, UpdateIdentityRef, UpdateType, rules,
};
use wusp::values::DeploymentAction;

use super::approvals::mix;
use super::{
    Approvals, Catalog, CatalogError, CatalogFile, CatalogOrigin, CategoryType, Clause,
    DeploymentRow, DriverRow, FileSource, Fragments, Revision, RevisionKind, Update,
};

/// Languages of the generated LocalizedProperties.
pub(crate) const LANGUAGES: &[&str] = &["en", "de"];

const BASE_DATE: Date = date!(2026 - 09 - 01);
const CONFIG_LAST_CHANGE: OffsetDateTime = datetime!(2026-09-01 13:17:07.59 UTC);
const FIRST_REVISION_ID: i32 = 300_000;
const MAX_CHAINS: usize = 40;
const CLASSIFICATIONS: [&str; 8] = [
    "Security Updates",
    "Critical Updates",
    "Updates",
    "Update Rollups",
    "Feature Packs",
    "Definition Updates",
    "Tools",
    "Drivers",
];
const CMD_HANDLER: &str =
    "http://schemas.microsoft.com/msus/2002/12/UpdateHandlers/CommandLineInstallation";
const DRIVER_HANDLER: &str =
    "http://schemas.microsoft.com/msus/2002/12/UpdateHandlers/WindowsDriver";

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

fn guid(seed: u64, salt: u64, i: u64) -> String {
    let a = mix(seed ^ salt.wrapping_mul(0xA076_1D64_78BD_642F) ^ i);
    let b = mix(a ^ 0xE703_7ED1_A0B4_28DB);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_le_bytes());
    bytes[8..].copy_from_slice(&b.to_le_bytes());
    wusp::values::Guid::v4_from_bytes(bytes).0
}

/// The bytes of generated file `index`: an `MZ` or `MSCF` header, then SplitMix64 output.
pub(crate) fn content(seed: u64, index: u32, size: usize, name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 8);
    let header: &[u8] = if name.ends_with(".cab") {
        b"MSCF\0\0\0\0"
    } else {
        b"MZ"
    };
    out.extend_from_slice(&header[..header.len().min(size)]);
    let mut r = Rng(seed ^ u64::from(index).wrapping_mul(0xD6E8_FEB8_6659_FD93));
    while out.len() < size {
        out.extend_from_slice(&r.next().to_le_bytes());
    }
    out.truncate(size);
    out
}

struct Spec {
    update: u32,
    revision_number: i32,
    kind: RevisionKind,
    update_type: UpdateType,
    clauses: Vec<Clause>,
    bundled: Vec<u32>,
    drivers: Vec<(DriverRow, DriverMetadata)>,
    files: Vec<u32>,
    title: String,
    superseded: Option<u32>,
    action: Option<DeploymentAction>,
}

struct Builder {
    seed: u64,
    rng: Rng,
    revisions: Vec<Revision>,
    updates: Vec<Update>,
    display: Vec<String>,
    files: Vec<CatalogFile>,
    actions: Vec<Option<DeploymentAction>>,
}

impl Builder {
    fn new_update(&mut self, upper: bool) -> u32 {
        let id = guid(self.seed, 1, self.updates.len() as u64);
        self.display.push(if upper {
            id.to_ascii_uppercase()
        } else {
            id.clone()
        });
        self.updates.push(Update {
            update_id: id.into(),
            revisions: Vec::new(),
        });
        (self.updates.len() - 1) as u32
    }

    fn new_file(&mut self, name: String) -> u32 {
        let size = 512 + self.rng.below(6144);
        let days = self.rng.below(40) as i64;
        let secs = self.rng.below(86_400) as i64;
        let index = self.files.len() as u32;
        self.files.push(CatalogFile {
            name: name.into(),
            size,
            sha1: [0; 20],
            sha256: None,
            modified: CONFIG_LAST_CHANGE - Duration::days(days) - Duration::seconds(secs),
            source: FileSource::Generated { index },
        });
        index
    }

    fn reference(&self, u: u32) -> String {
        self.updates[u as usize].update_id.to_string()
    }

    fn add(&mut self, s: Spec) -> u32 {
        let idx = self.revisions.len() as u32;
        let revision_id = FIRST_REVISION_ID + idx as i32;
        let mut b = CoreFragmentBuilder::new(
            self.display[s.update as usize].clone(),
            s.revision_number,
            s.update_type.clone(),
        );
        match s.kind {
            RevisionKind::Software | RevisionKind::Bundle => {
                b = b.explicitly_deployable(true).auto_select_on_web_sites(true);
            }
            RevisionKind::BundleMember => {
                b = b
                    .explicitly_deployable(false)
                    .auto_select_on_web_sites(false);
            }
            _ => {}
        }
        for c in &s.clauses {
            let ids: Vec<String> = c.updates.iter().map(|u| self.reference(*u)).collect();
            b = if c.is_category || ids.len() > 1 {
                b.prerequisite_at_least_one(ids, c.is_category)
            } else {
                b.prerequisite(ids.into_iter().next().unwrap_or_default())
            };
        }
        if !s.bundled.is_empty() {
            let members: Vec<UpdateIdentityRef> = s
                .bundled
                .iter()
                .map(|m| {
                    let r = &self.revisions[*m as usize];
                    UpdateIdentityRef::new(
                        self.display[r.update as usize].clone(),
                        r.revision_number,
                    )
                })
                .collect();
            b = b.bundled_at_least_one(members);
        }
        if let Some(sup) = s.superseded {
            let r = &self.revisions[sup as usize];
            b = b.superseded(UpdateIdentityRef::new(
                self.reference(r.update),
                r.revision_number,
            ));
        }
        let kb = 5_000_000 + revision_id;
        b = match s.kind {
            RevisionKind::Category(CategoryType::Product) => b.is_installed(
                rules::windows_version("GreaterThanOrEqualTo", 10, 0, Some(1)),
            ),
            RevisionKind::Category(_) => b.is_installed(rules::TRUE),
            RevisionKind::Detectoid => b.is_installed(rules::element(
                "b.WindowsVersion",
                &[
                    ("Comparison", "GreaterThanOrEqualTo"),
                    ("MajorVersion", "10"),
                    ("MinorVersion", "0"),
                    ("BuildNumber", "22000"),
                ],
            )),
            RevisionKind::Bundle => b,
            RevisionKind::Driver => {
                for (_, m) in &s.drivers {
                    b = b.driver(m.clone());
                }
                b
            }
            _ => b
                .is_installed(rules::element(
                    "b.RegDword",
                    &[
                        ("Key", "HKEY_LOCAL_MACHINE"),
                        ("Subkey", r"SOFTWARE\Contoso\Updates"),
                        ("Value", &format!("KB{kb}")),
                        ("Comparison", "EqualTo"),
                        ("Data", "1"),
                    ],
                ))
                .is_installable(rules::element(
                    "b.RegKeyExists",
                    &[
                        ("Key", "HKEY_LOCAL_MACHINE"),
                        ("Subkey", r"SOFTWARE\Contoso"),
                    ],
                )),
        };
        let core_xml = b.build();
        self.updates[s.update as usize].revisions.push(idx);
        self.actions.push(s.action);
        self.revisions.push(Revision {
            revision_id,
            update: s.update,
            revision_number: s.revision_number,
            update_type: s.update_type,
            kind: s.kind,
            clauses: s.clauses,
            bundled: s.bundled,
            drivers: s.drivers.into_iter().map(|(d, _)| d).collect(),
            files: s.files,
            is_leaf: true,
            level: 0,
            core_xml: core_xml.into(),
            fragments: Fragments::Generated {
                title: s.title.into(),
            },
        });
        idx
    }

    fn category(&mut self, ty: CategoryType, title: String, parent: Option<u32>) -> (u32, u32) {
        let u = self.new_update(true);
        let clauses = parent
            .map(|p| Clause {
                updates: vec![p].into(),
                is_category: true,
            })
            .into_iter()
            .collect();
        let revision_number = 100 + self.rng.below(150) as i32;
        let r = self.add(Spec {
            update: u,
            revision_number,
            kind: RevisionKind::Category(ty),
            update_type: UpdateType::Category,
            clauses,
            bundled: Vec::new(),
            drivers: Vec::new(),
            files: Vec::new(),
            title,
            superseded: None,
            action: None,
        });
        (u, r)
    }
}

fn cat_clause(u: u32) -> Clause {
    Clause {
        updates: vec![u].into(),
        is_category: true,
    }
}

fn direct(u: u32) -> Clause {
    Clause {
        updates: vec![u].into(),
        is_category: false,
    }
}

pub(super) fn generate(size: usize, seed: u64) -> Result<Catalog, CatalogError> {
    if !(10..=100_000).contains(&size) {
        return Err(CatalogError::Size(size));
    }
    let mut b = Builder {
        seed,
        rng: Rng(seed),
        revisions: Vec::with_capacity(size),
        updates: Vec::with_capacity(size),
        display: Vec::with_capacity(size),
        files: Vec::new(),
        actions: Vec::with_capacity(size),
    };
    let n_class = (size / 25).clamp(1, 8);
    let n_family = if size >= 40 {
        (size / 2000).clamp(1, 30)
    } else {
        0
    };
    let n_product = (size / 400).clamp(1, 150);
    let n_detectoid = (size / 200).clamp(1, 120);
    let n_driver = if size >= 40 { size / 12 } else { 0 };
    let n_bundle = if size >= 30 { size / 25 } else { 0 };
    let n_member = n_bundle + n_bundle / 3;
    let n_older = if size >= 30 { size / 30 } else { 0 };
    let fixed =
        1 + n_class + n_family + n_product + n_detectoid + n_driver + n_bundle + n_member + n_older;
    let n_software = size - fixed;

    // Categories.
    let (company, _) = b.category(CategoryType::Company, "Contoso Ltd.".into(), None);
    let mut classes = Vec::new();
    for name in CLASSIFICATIONS.iter().take(n_class) {
        classes.push(
            b.category(CategoryType::UpdateClassification, (*name).into(), None)
                .0,
        );
    }
    let driver_class = if n_class >= 8 { Some(classes[7]) } else { None };
    let software_classes: Vec<u32> = classes.iter().copied().take(7).collect();
    let mut families = Vec::new();
    for i in 0..n_family {
        families.push(
            b.category(
                CategoryType::ProductFamily,
                format!("Contoso Product Family {}", i + 1),
                Some(company),
            )
            .0,
        );
    }
    let mut products = Vec::new();
    for i in 0..n_product {
        let parent = if families.is_empty() {
            company
        } else {
            families[i % families.len()]
        };
        products.push(
            b.category(
                CategoryType::Product,
                format!("Contoso Product {}", i + 1),
                Some(parent),
            )
            .0,
        );
    }
    // Detectoids: one per product slot.
    let mut detectoids = Vec::new();
    for i in 0..n_detectoid {
        let p = products[i % products.len()];
        let u = b.new_update(false);
        let revision_number = 100 + b.rng.below(20) as i32;
        b.add(Spec {
            update: u,
            revision_number,
            kind: RevisionKind::Detectoid,
            update_type: UpdateType::Detectoid,
            clauses: vec![direct(p)],
            bundled: Vec::new(),
            drivers: Vec::new(),
            files: Vec::new(),
            title: format!(
                "Contoso Product {} on Windows 11 (detectoid)",
                i % products.len() + 1
            ),
            superseded: None,
            action: None,
        });
        detectoids.push((u, p));
    }
    let base_clauses = |b: &mut Builder, i: usize| -> Vec<Clause> {
        let (det, p) = detectoids[i % detectoids.len()];
        let mut prods = vec![p];
        if i % 7 == 3 && products.len() > 1 {
            let other = products[(i + 1) % products.len()];
            if other != p {
                prods.push(other);
            }
        }
        let class = software_classes[b.rng.below(software_classes.len() as u64) as usize];
        vec![
            direct(det),
            Clause {
                updates: prods.into(),
                is_category: true,
            },
            cat_clause(class),
        ]
    };

    // Software: standalone updates and prerequisite chains (A ◄ B ◄ C every 12).
    let mut older_left = n_older;
    let mut previous_standalone: Option<u32> = None;
    let mut chain_prev: Option<u32> = None;
    for i in 0..n_software {
        let pos = i % 12;
        // At most 40 chains: non-leaf software stays rare, so a client's installed non-leaf
        // list stays under the 400 that WS2025 accepts even on the largest catalogs.
        let in_chain = pos < 3 && n_software - (i - pos) >= 3 && i / 12 < MAX_CHAINS;
        let u = b.new_update(false);
        let mut clauses = base_clauses(&mut b, i);
        let title;
        let action;
        if in_chain {
            if pos > 0
                && let Some(prev) = chain_prev
            {
                clauses.push(direct(b.revisions[prev as usize].update));
            }
            title = match pos {
                0 => format!("2026-10 Servicing Stack Update for Contoso Product (KB{{kb}}) #{i}"),
                _ => format!("2026-10 Cumulative Update for Contoso Product (KB{{kb}}) #{i}"),
            };
            action = if b.rng.below(100) < 30 {
                DeploymentAction::Install
            } else {
                DeploymentAction::Evaluate
            };
        } else {
            title = format!("2026-10 Security Update for Contoso Product (KB{{kb}}) #{i}");
            action = DeploymentAction::Evaluate;
        }
        let roll = b.rng.below(100);
        let action = if in_chain {
            Some(action)
        } else if roll < 15 {
            Some(DeploymentAction::Install)
        } else if roll < 25 {
            None
        } else {
            Some(DeploymentAction::Evaluate)
        };
        // An older revision of some standalone updates (not deployed: superseded revision).
        if !in_chain && older_left > 0 && i % 3 == 1 {
            older_left -= 1;
            let f = b.new_file(format!("contoso-{i}-old-x64.exe"));
            b.add(Spec {
                update: u,
                revision_number: 200,
                kind: RevisionKind::Software,
                update_type: UpdateType::Software,
                clauses: clauses.clone(),
                bundled: Vec::new(),
                drivers: Vec::new(),
                files: vec![f],
                title: title.clone(),
                superseded: None,
                action: None,
            });
        }
        let mut files = vec![b.new_file(format!("contoso-{i}-x64.exe"))];
        if i % 10 == 9 {
            files.push(b.new_file(format!("contoso-{i}-x64-express.cab")));
        }
        let superseded = if !in_chain && i % 5 == 4 {
            previous_standalone
        } else {
            None
        };
        let r = b.add(Spec {
            update: u,
            revision_number: 201,
            kind: RevisionKind::Software,
            update_type: UpdateType::Software,
            clauses,
            bundled: Vec::new(),
            drivers: Vec::new(),
            files,
            title,
            superseded,
            action,
        });
        if in_chain {
            chain_prev = Some(r);
        } else {
            previous_standalone = Some(r);
        }
    }
    // Spend older revisions not placed (tiny catalogs) as extra standalone software.
    for k in 0..older_left {
        let u = b.new_update(false);
        let clauses = base_clauses(&mut b, k);
        let f = b.new_file(format!("contoso-extra-{k}-x64.exe"));
        b.add(Spec {
            update: u,
            revision_number: 201,
            kind: RevisionKind::Software,
            update_type: UpdateType::Software,
            clauses,
            bundled: Vec::new(),
            drivers: Vec::new(),
            files: vec![f],
            title: format!("2026-10 Update for Contoso Product (KB{{kb}}) extra #{k}"),
            superseded: None,
            action: Some(DeploymentAction::Evaluate),
        });
    }

    // Bundles: members first, then the parent.
    for i in 0..n_bundle {
        let clauses = base_clauses(&mut b, i + 5);
        let n_members = if i % 3 == 2 { 2 } else { 1 };
        let mut members = Vec::new();
        for m in 0..n_members {
            let u = b.new_update(false);
            let f = b.new_file(format!("contoso-fp{i}-{m}-x64.cab"));
            members.push(b.add(Spec {
                update: u,
                revision_number: 100,
                kind: RevisionKind::BundleMember,
                update_type: UpdateType::Software,
                clauses: clauses.clone(),
                bundled: Vec::new(),
                drivers: Vec::new(),
                files: vec![f],
                title: format!(
                    "2026-10 Feature Pack {i} for Contoso Product, package {m} (KB{{kb}})"
                ),
                superseded: None,
                action: None,
            }));
        }
        let u = b.new_update(false);
        let action = if b.rng.below(100) < 40 {
            DeploymentAction::Install
        } else {
            DeploymentAction::Evaluate
        };
        b.add(Spec {
            update: u,
            revision_number: 100,
            kind: RevisionKind::Bundle,
            update_type: UpdateType::Software,
            clauses,
            bundled: members,
            drivers: Vec::new(),
            files: Vec::new(),
            title: format!("2026-10 Feature Pack {i} for Contoso Product (KB{{kb}})"),
            superseded: None,
            action: Some(action),
        });
    }

    // Drivers: two competing drivers per device ID; every fourth device a printer.
    let chids: Vec<String> = (0..4).map(|k| guid(seed, 7, k)).collect();
    for i in 0..n_driver {
        let device = i / 2;
        let printer = device % 4 == 3;
        let p = products[i % products.len()];
        let mut clauses = vec![cat_clause(p)];
        if let Some(dc) = driver_class {
            clauses.push(cat_clause(dc));
        }
        let (hwid, generic, class, provider) = if printer {
            (
                format!("USBPRINT\\CONTOSOLASER{device:03}A1B2"),
                format!("USBPRINT\\CONTOSOLASER{device:03}"),
                "Printer",
                if i % 2 == 0 { "Contoso" } else { "Fabrikam" },
            )
        } else {
            (
                format!("PCI\\VEN_1A2B&DEV_{device:04X}&SUBSYS_0001{device:04X}"),
                format!("PCI\\VEN_1A2B&DEV_{device:04X}"),
                "Net",
                "Contoso",
            )
        };
        // The first driver of a pair matches the specific ID, the second the generic one.
        let matched = if i % 2 == 0 { hwid } else { generic };
        let month = 1 + b.rng.below(9) as u8;
        let day = 1 + b.rng.below(28) as u8;
        let date = Date::from_calendar_date(
            2026,
            time::Month::try_from(month).unwrap_or(time::Month::January),
            day,
        )
        .unwrap_or(BASE_DATE);
        let version = format!("10.0.{}.{}", 100 + b.rng.below(900), b.rng.below(1000));
        let score = if i % 3 == 0 {
            Some(b.rng.below(256) as u8)
        } else {
            None
        };
        let chid = if i % 5 == 4 {
            Some(chids[i % chids.len()].clone())
        } else {
            None
        };
        let manufacturer = "Contoso";
        let model = format!("Contoso Device {device}");
        let meta = DriverMetadata {
            hardware_id: Some(matched.clone()),
            driver_ver_date: Some(format!("{date}")),
            driver_ver_version: Some(version.clone()),
            class: Some(class.into()),
            manufacturer: Some(manufacturer.into()),
            provider: Some(provider.into()),
            model: Some(model.clone()),
            whql_driver_id: None,
            other_attributes: Vec::new(),
            feature_scores: score
                .map(|s| FeatureScore {
                    operating_system: "amd64.10.0".into(),
                    feature_score: format!("0x{s:02X}"),
                })
                .into_iter()
                .collect(),
            distribution_computer_hardware_ids: chid.clone().into_iter().collect(),
            target_computer_hardware_ids: Vec::new(),
        };
        let row = DriverRow {
            hardware_id: matched.to_ascii_lowercase().into(),
            hardware_id_display: matched.into(),
            date: Some(date),
            version: wusp::fragment::pack_driver_version(&version).unwrap_or(0),
            class: class.into(),
            manufacturer: manufacturer.into(),
            provider: provider.into(),
            model: model.into(),
            feature_scores: score
                .map(|s| (Box::<str>::from("amd64.10.0"), s))
                .into_iter()
                .collect(),
            chids: chid.map(|c| c.into_boxed_str()).into_iter().collect(),
        };
        let u = b.new_update(false);
        let f = b.new_file(format!("contoso-drv-{i}.cab"));
        let action = if b.rng.below(100) < 60 {
            DeploymentAction::Install
        } else {
            DeploymentAction::Evaluate
        };
        b.add(Spec {
            update: u,
            revision_number: 100,
            kind: RevisionKind::Driver,
            update_type: UpdateType::Driver,
            clauses,
            bundled: Vec::new(),
            drivers: vec![(row, meta)],
            files: vec![f],
            title: format!("Contoso - {class} - {version}"),
            superseded: None,
            action: Some(action),
        });
    }

    hash_files(seed, &mut b.files);

    let mut approvals = Approvals::new(b.revisions.len());
    let mut id = 20_000;
    for (i, a) in b.actions.iter().enumerate() {
        if let Some(action) = a {
            id += 1;
            let days = mix(seed ^ i as u64) % 25;
            approvals.put(
                0,
                i as u32,
                Some(DeploymentRow {
                    id,
                    action: Some(action.clone()),
                    deadline: None,
                    last_change: BASE_DATE + Duration::days(days as i64),
                    counter: 1,
                    is_assigned: true,
                }),
            );
        }
    }
    Ok(Catalog::assemble(
        b.revisions,
        b.updates,
        b.files,
        CatalogOrigin::Generated { size, seed },
        approvals,
        CONFIG_LAST_CHANGE,
        BASE_DATE,
        seed,
    ))
}

/// Computes the digests of every generated file, on all cores.
fn hash_files(seed: u64, files: &mut [CatalogFile]) {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let chunk = files.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        for part in files.chunks_mut(chunk) {
            s.spawn(move || {
                for f in part {
                    if let FileSource::Generated { index } = f.source {
                        let bytes = content(seed, index, f.size as usize, &f.name);
                        f.sha1 = super::sha1_of(&bytes);
                        f.sha256 = Some(super::sha256_of(&bytes));
                    }
                }
            });
        }
    });
}

fn kb(r: &Revision) -> i32 {
    5_000_000 + r.revision_id
}

fn title_of(r: &Revision, title: &str) -> String {
    title.replace("{kb}", &kb(r).to_string())
}

/// The Extended fragment of a generated revision.
pub(crate) fn extended_xml(catalog: &Catalog, r: &Revision) -> String {
    let b = ExtendedFragmentBuilder::new().default_properties_language("en");
    let file_meta = |f: u32| {
        catalog.file(f).map(|f| {
            let m = FileMetadata::from_sha1(&f.sha1, f.name.to_string(), f.size)
                .with_modified(wusp::values::DateTime::from_instant(f.modified).0);
            match &f.sha256 {
                Some(s) => m.with_sha256(s),
                None => m,
            }
        })
    };
    let size: u64 = r
        .files
        .iter()
        .filter_map(|f| catalog.file(*f))
        .map(|f| f.size)
        .sum();
    match r.kind {
        RevisionKind::Category(t) => b.category(t.as_str()).build(),
        RevisionKind::Detectoid | RevisionKind::Other => b.build(),
        RevisionKind::Bundle => {
            let members: u64 = r
                .bundled
                .iter()
                .filter_map(|m| catalog.revision(*m))
                .flat_map(|m| m.files.iter())
                .filter_map(|f| catalog.file(*f))
                .map(|f| f.size)
                .sum();
            b.max_download_size(members)
                .min_download_size(0)
                .properties_inner_xml(
                    r#"<InstallationBehavior RebootBehavior="CanRequestReboot" />"#,
                )
                .build()
        }
        RevisionKind::Driver => {
            let mut b = b
                .handler(DRIVER_HANDLER)
                .max_download_size(size)
                .min_download_size(size)
                .properties_inner_xml(r#"<InstallationBehavior RebootBehavior="NeverReboots" />"#);
            for m in r.files.iter().filter_map(|f| file_meta(*f)) {
                b = b.file(m);
            }
            b.handler_specific_data("drv:WindowsDriver", "<WindowsDriver />")
                .build()
        }
        RevisionKind::Software | RevisionKind::BundleMember => {
            let mut b = b
                .handler(CMD_HANDLER)
                .max_download_size(size)
                .min_download_size(size)
                .properties_inner_xml(
                    r#"<InstallationBehavior RebootBehavior="CanRequestReboot" />"#,
                );
            let program = r
                .files
                .first()
                .and_then(|f| catalog.file(*f))
                .map_or_else(String::new, |f| f.name.to_string());
            for m in r.files.iter().filter_map(|f| file_meta(*f)) {
                b = b.file(m);
            }
            let command = format!(
                r#"<InstallCommand Arguments="/quiet /norestart" Program="{program}" RebootByDefault="false" DefaultResult="Failed"><ReturnCode Reboot="false" Result="Succeeded" Code="0" /><ReturnCode Reboot="true" Result="Succeeded" Code="3010" /></InstallCommand>"#
            );
            b.handler_specific_data("cmd:CommandLineInstallation", command)
                .build()
        }
    }
}

/// The LocalizedProperties fragment of a generated revision in `language` (`en` or `de`).
pub(crate) fn localized_xml(r: &Revision, title: &str, language: &str) -> Option<String> {
    let lang = LANGUAGES
        .iter()
        .find(|l| l.eq_ignore_ascii_case(language))?;
    let title = title_of(r, title);
    let kb = kb(r);
    let b = LocalizedPropertiesBuilder::new(*lang);
    let b = match (*lang, r.kind) {
        ("de", RevisionKind::Software | RevisionKind::Bundle | RevisionKind::BundleMember) => b
            .title(format!("{title} [de]"))
            .description(format!(
                "Installieren Sie dieses Update, um Probleme in Contoso zu beheben. (KB{kb})"
            ))
            .more_info_url(format!("https://support.contoso.test/de/help/{kb}")),
        ("de", _) => b.title(format!("{title} [de]")).description(title.clone()),
        (_, RevisionKind::Software | RevisionKind::Bundle | RevisionKind::BundleMember) => b
            .title(title)
            .description(format!(
                "Install this update to resolve issues in Contoso products. After you install this item, you may have to restart your computer. (KB{kb})"
            ))
            .more_info_url(format!("https://support.contoso.test/help/{kb}"))
            .support_url("https://support.contoso.test/"),
        _ => b.title(title.clone()).description(title),
    };
    Some(b.build())
}
