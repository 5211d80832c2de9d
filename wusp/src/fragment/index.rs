//! An index of update metadata keyed by revision ID and UpdateID (reference 7.1, 7.3).

use std::collections::{HashMap, HashSet};

use super::core_fragment::{CoreFragment, UpdateIdentityRef, UpdateType, parse_core_with};
use super::extended::{ExtendedFragment, FileMetadata, parse_extended_with};
use super::{FragmentError, ParseLimits, normalize_guid};

#[derive(Debug, Clone)]
struct IndexedCore {
    xml: String,
    key: String,
    /// The prerequisite CNF with normalized UpdateIDs, for allocation-free checks.
    clauses: Vec<Vec<String>>,
    fragment: CoreFragment,
}

#[derive(Debug, Clone)]
struct IndexedExtended {
    xml: String,
    fragment: ExtendedFragment,
}

/// A bundled member of a revision, resolved against the index when possible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundledMember<'a> {
    /// The `UpdateIdentity` as written in `BundledUpdates`.
    pub identity: &'a UpdateIdentityRef,
    /// The indexed revision it names: the exact revision, or the highest one when the
    /// identity carries no RevisionNumber; `None` when not indexed.
    pub revision_id: Option<i32>,
}

/// Core and Extended fragments indexed by revision ID and by UpdateID.
///
/// GUIDs are compared case-insensitively: keys are [`normalize_guid`] forms. The fragment
/// texts are kept as given, so a server can hand them out again.
#[derive(Debug, Clone, Default)]
pub struct MetadataIndex {
    limits: ParseLimits,
    cores: HashMap<i32, IndexedCore>,
    extended: HashMap<i32, IndexedExtended>,
    by_update_id: HashMap<String, Vec<i32>>,
    by_identity: HashMap<(String, i32), i32>,
    prerequisite_targets: HashMap<String, usize>,
}

impl MetadataIndex {
    /// An empty index that parses with the default limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty index that parses with the given limits.
    pub fn with_limits(limits: ParseLimits) -> Self {
        MetadataIndex {
            limits,
            ..Self::default()
        }
    }

    /// Number of revisions with a Core fragment.
    pub fn len(&self) -> usize {
        self.cores.len()
    }

    /// Whether no Core fragment is indexed.
    pub fn is_empty(&self) -> bool {
        self.cores.is_empty()
    }

    /// Parses and indexes the Core fragment of a revision, replacing an earlier one.
    ///
    /// On error the index is unchanged.
    pub fn insert_core(&mut self, revision_id: i32, xml: &str) -> Result<(), FragmentError> {
        let fragment = parse_core_with(xml, &self.limits)?;
        self.remove_core(revision_id);
        let key = fragment.normalized_update_id();
        let clauses: Vec<Vec<String>> = fragment
            .prerequisites
            .iter()
            .map(|clause| {
                clause
                    .update_ids
                    .iter()
                    .map(|id| normalize_guid(id))
                    .collect()
            })
            .collect();
        for target in clauses.iter().flatten() {
            *self.prerequisite_targets.entry(target.clone()).or_insert(0) += 1;
        }
        self.by_update_id
            .entry(key.clone())
            .or_default()
            .push(revision_id);
        self.by_identity
            .insert((key.clone(), fragment.revision_number), revision_id);
        self.cores.insert(
            revision_id,
            IndexedCore {
                xml: xml.to_owned(),
                key,
                clauses,
                fragment,
            },
        );
        Ok(())
    }

    /// Parses and indexes the Extended fragment of a revision, replacing an earlier one.
    ///
    /// The revision's Core fragment may arrive before or after.
    pub fn insert_extended(&mut self, revision_id: i32, xml: &str) -> Result<(), FragmentError> {
        let fragment = parse_extended_with(xml, &self.limits)?;
        self.extended.insert(
            revision_id,
            IndexedExtended {
                xml: xml.to_owned(),
                fragment,
            },
        );
        Ok(())
    }

    /// Removes a revision (Core and Extended), e.g. when it went out of scope.
    ///
    /// Returns whether a Core fragment was indexed under that revision ID.
    pub fn remove(&mut self, revision_id: i32) -> bool {
        self.extended.remove(&revision_id);
        self.remove_core(revision_id)
    }

    fn remove_core(&mut self, revision_id: i32) -> bool {
        let Some(old) = self.cores.remove(&revision_id) else {
            return false;
        };
        for target in old.clauses.iter().flatten() {
            if let Some(count) = self.prerequisite_targets.get_mut(target) {
                *count -= 1;
                if *count == 0 {
                    self.prerequisite_targets.remove(target);
                }
            }
        }
        if let Some(revisions) = self.by_update_id.get_mut(&old.key) {
            revisions.retain(|&r| r != revision_id);
            if revisions.is_empty() {
                self.by_update_id.remove(&old.key);
            }
        }
        let identity = (old.key, old.fragment.revision_number);
        if self.by_identity.get(&identity) == Some(&revision_id) {
            self.by_identity.remove(&identity);
        }
        true
    }

    /// Indexed revision IDs (with a Core fragment), in no particular order.
    pub fn revision_ids(&self) -> impl Iterator<Item = i32> + '_ {
        self.cores.keys().copied()
    }

    /// The parsed Core fragment of a revision.
    pub fn core(&self, revision_id: i32) -> Option<&CoreFragment> {
        self.cores.get(&revision_id).map(|c| &c.fragment)
    }

    /// The Core fragment text of a revision, as inserted.
    pub fn core_xml(&self, revision_id: i32) -> Option<&str> {
        self.cores.get(&revision_id).map(|c| c.xml.as_str())
    }

    /// The parsed Extended fragment of a revision.
    pub fn extended(&self, revision_id: i32) -> Option<&ExtendedFragment> {
        self.extended.get(&revision_id).map(|e| &e.fragment)
    }

    /// The Extended fragment text of a revision, as inserted.
    pub fn extended_xml(&self, revision_id: i32) -> Option<&str> {
        self.extended.get(&revision_id).map(|e| e.xml.as_str())
    }

    /// `UpdateType` of a revision.
    pub fn update_type(&self, revision_id: i32) -> Option<&UpdateType> {
        self.core(revision_id).map(|c| &c.update_type)
    }

    /// Revision IDs indexed for an UpdateID (any case), in insertion order.
    pub fn revisions_of(&self, update_id: &str) -> &[i32] {
        self.by_update_id
            .get(&normalize_guid(update_id))
            .map_or(&[][..], Vec::as_slice)
    }

    /// The revision ID with the highest RevisionNumber of an UpdateID.
    ///
    /// This is the revision a prerequisite naming the UpdateID means (reference 0.3).
    pub fn highest_revision(&self, update_id: &str) -> Option<i32> {
        self.revisions_of(update_id)
            .iter()
            .copied()
            .max_by_key(|&r| self.core(r).map_or(i32::MIN, |c| c.revision_number))
    }

    /// The revision ID of an identity (UpdateID in any case, RevisionNumber).
    pub fn revision_for_identity(&self, update_id: &str, revision_number: i32) -> Option<i32> {
        self.by_identity
            .get(&(normalize_guid(update_id), revision_number))
            .copied()
    }

    /// Whether some indexed revision lists this UpdateID in its prerequisites.
    ///
    /// Such an update is non-leaf (reference 7.3.1); bundling does not count.
    pub fn is_prerequisite_target(&self, update_id: &str) -> bool {
        self.prerequisite_targets
            .contains_key(&normalize_guid(update_id))
    }

    /// `IsLeaf` of a revision: no indexed revision names its UpdateID as a prerequisite.
    pub fn is_leaf(&self, revision_id: i32) -> Option<bool> {
        let core = self.cores.get(&revision_id)?;
        Some(!self.prerequisite_targets.contains_key(&core.key))
    }

    /// The UpdateIDs (normalized) of the given revision IDs that are indexed.
    ///
    /// Applied to `InstalledNonLeafUpdateIDs`, this gives the set `InstU` of reference 7.3.
    pub fn installed_update_ids<I>(&self, revision_ids: I) -> HashSet<String>
    where
        I: IntoIterator<Item = i32>,
    {
        revision_ids
            .into_iter()
            .filter_map(|r| self.cores.get(&r).map(|c| c.key.clone()))
            .collect()
    }

    /// The prerequisite filter of reference 7.3 step 2 for one revision.
    ///
    /// True when every AND-clause has a member in `installed_update_ids` (normalized
    /// UpdateIDs, see [`MetadataIndex::installed_update_ids`]); a revision without
    /// prerequisites passes. `None` when the revision is not indexed.
    pub fn prerequisites_satisfied(
        &self,
        revision_id: i32,
        installed_update_ids: &HashSet<String>,
    ) -> Option<bool> {
        let core = self.cores.get(&revision_id)?;
        Some(
            core.clauses
                .iter()
                .all(|clause| clause.iter().any(|id| installed_update_ids.contains(id))),
        )
    }

    /// The bundled members of a revision, resolved to indexed revision IDs where possible.
    pub fn bundled_members(&self, revision_id: i32) -> Vec<BundledMember<'_>> {
        let Some(core) = self.core(revision_id) else {
            return Vec::new();
        };
        core.bundled
            .iter()
            .map(|identity| BundledMember {
                identity,
                revision_id: match identity.revision_number {
                    Some(number) => self.revision_for_identity(&identity.update_id, number),
                    None => self.highest_revision(&identity.update_id),
                },
            })
            .collect()
    }

    /// The files of a revision, from its Extended fragment (empty when not indexed).
    pub fn files(&self, revision_id: i32) -> &[FileMetadata] {
        self.extended(revision_id)
            .map_or(&[][..], |e| e.files.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fragment::{CoreFragmentBuilder, ExtendedFragmentBuilder, FileMetadata};

    const COMPANY: &str = "56309036-4C77-4DD9-951A-99EE9C246A94";
    const PRODUCT: &str = "DD78B8A1-0B20-45C1-ADD6-4DA72E9364CF";
    const LEAF: &str = "a1b2c3d4-0000-4000-8000-000000000001";
    const CHILD: &str = "a1b2c3d4-0000-4000-8000-000000000002";

    /// Company (root) -> Product (category prerequisite) -> leaf software bundle -> child.
    fn chain() -> MetadataIndex {
        let mut index = MetadataIndex::new();
        let company = CoreFragmentBuilder::new(COMPANY, 101, UpdateType::Category)
            .is_installed(crate::fragment::rules::TRUE)
            .build();
        let product = CoreFragmentBuilder::new(PRODUCT, 202, UpdateType::Category)
            .prerequisite_at_least_one([COMPANY.to_ascii_lowercase()], true)
            .is_installed(crate::fragment::rules::TRUE)
            .build();
        let leaf = CoreFragmentBuilder::new(LEAF, 200, UpdateType::Software)
            .explicitly_deployable(true)
            .prerequisite(PRODUCT.to_ascii_lowercase())
            .bundled_update(CHILD.to_ascii_uppercase(), 201)
            .is_installed(crate::fragment::rules::FALSE)
            .build();
        let child = CoreFragmentBuilder::new(CHILD, 201, UpdateType::Software)
            .is_installed(crate::fragment::rules::FALSE)
            .is_installable(crate::fragment::rules::TRUE)
            .build();
        index.insert_core(10, &company).unwrap();
        index.insert_core(20, &product).unwrap();
        index.insert_core(30, &leaf).unwrap();
        index.insert_core(31, &child).unwrap();
        index
    }

    #[test]
    fn leaf_logic_on_three_levels() {
        let index = chain();
        assert_eq!(index.len(), 4);
        assert_eq!(index.is_leaf(10), Some(false));
        assert_eq!(index.is_leaf(20), Some(false));
        assert_eq!(index.is_leaf(30), Some(true));
        // A bundle member is still a leaf (7.3.1).
        assert_eq!(index.is_leaf(31), Some(true));
        assert_eq!(index.is_leaf(99), None);
        assert!(index.is_prerequisite_target(&COMPANY.to_ascii_lowercase()));
        assert!(index.is_prerequisite_target(PRODUCT));
        assert!(!index.is_prerequisite_target(LEAF));
        assert_eq!(index.update_type(10), Some(&UpdateType::Category));
        assert_eq!(index.update_type(30), Some(&UpdateType::Software));
    }

    #[test]
    fn prerequisite_filter_stages() {
        let index = chain();
        let none = HashSet::new();
        assert_eq!(index.prerequisites_satisfied(10, &none), Some(true));
        assert_eq!(index.prerequisites_satisfied(20, &none), Some(false));
        assert_eq!(index.prerequisites_satisfied(30, &none), Some(false));
        assert_eq!(index.prerequisites_satisfied(31, &none), Some(true));
        assert_eq!(index.prerequisites_satisfied(99, &none), None);

        let company = index.installed_update_ids([10]);
        assert_eq!(company, HashSet::from([normalize_guid(COMPANY)]));
        assert_eq!(index.prerequisites_satisfied(20, &company), Some(true));
        assert_eq!(index.prerequisites_satisfied(30, &company), Some(false));

        let both = index.installed_update_ids([10, 20, 12345]);
        assert_eq!(both.len(), 2);
        assert_eq!(index.prerequisites_satisfied(30, &both), Some(true));
    }

    #[test]
    fn every_clause_must_hold() {
        let mut index = MetadataIndex::new();
        let text = CoreFragmentBuilder::new(
            "00000000-0000-0000-0000-00000000000a",
            1,
            UpdateType::Software,
        )
        .prerequisite("00000000-0000-0000-0000-000000000001")
        .prerequisite_at_least_one(
            [
                "00000000-0000-0000-0000-000000000002",
                "00000000-0000-0000-0000-000000000003",
            ],
            false,
        )
        .build();
        index.insert_core(1, &text).unwrap();
        let set = |ids: &[&str]| {
            ids.iter()
                .map(|s| normalize_guid(s))
                .collect::<HashSet<_>>()
        };
        assert_eq!(
            index.prerequisites_satisfied(1, &set(&["00000000-0000-0000-0000-000000000001"])),
            Some(false)
        );
        assert_eq!(
            index.prerequisites_satisfied(
                1,
                &set(&[
                    "00000000-0000-0000-0000-000000000001",
                    "00000000-0000-0000-0000-000000000003"
                ])
            ),
            Some(true)
        );
    }

    #[test]
    fn identities_revisions_and_bundles() {
        let mut index = chain();
        assert_eq!(index.revisions_of(&CHILD.to_ascii_uppercase()), &[31]);
        assert_eq!(index.revision_for_identity(CHILD, 201), Some(31));
        assert_eq!(index.revision_for_identity(CHILD, 200), None);
        let members = index.bundled_members(30);
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].revision_id, Some(31));
        assert_eq!(members[0].identity.revision_number, Some(201));

        // A newer revision of the child: the bundle still names revision 201.
        let newer = CoreFragmentBuilder::new(CHILD, 205, UpdateType::Software).build();
        index.insert_core(32, &newer).unwrap();
        assert_eq!(index.revisions_of(CHILD), &[31, 32]);
        assert_eq!(index.highest_revision(CHILD), Some(32));
        assert_eq!(index.bundled_members(30)[0].revision_id, Some(31));
        assert!(index.bundled_members(99).is_empty());

        // Removing the leaf drops its prerequisite on the product: the product becomes a leaf.
        assert!(index.remove(30));
        assert!(!index.remove(30));
        assert_eq!(index.is_leaf(20), Some(true));
        assert_eq!(index.is_leaf(10), Some(false));
        // Removing a revision keeps the other revisions of its update.
        assert!(index.remove(32));
        assert_eq!(index.highest_revision(CHILD), Some(31));
        assert!(index.remove(31));
        assert_eq!(index.highest_revision(CHILD), None);
        assert_eq!(index.revisions_of(CHILD), &[] as &[i32]);
    }

    #[test]
    fn replacing_a_revision_updates_the_maps() {
        let mut index = chain();
        // Revision ID 20 now holds a product without the company prerequisite.
        let product = CoreFragmentBuilder::new(PRODUCT, 203, UpdateType::Category).build();
        index.insert_core(20, &product).unwrap();
        assert_eq!(index.len(), 4);
        assert_eq!(index.is_leaf(10), Some(true));
        assert_eq!(index.revision_for_identity(PRODUCT, 202), None);
        assert_eq!(index.revision_for_identity(PRODUCT, 203), Some(20));
        assert_eq!(index.core_xml(20), Some(product.as_str()));
        // A bad fragment leaves the index unchanged.
        assert!(index.insert_core(20, "<UpdateIdentity").is_err());
        assert_eq!(index.core(20).unwrap().revision_number, 203);
    }

    #[test]
    fn files_from_extended() {
        let mut index = chain();
        assert!(index.files(30).is_empty());
        let file = FileMetadata::from_sha1(&[1; 20], "x.exe", 42).with_sha256(&[2; 32]);
        let extended = ExtendedFragmentBuilder::new()
            .handler(
                "http://schemas.microsoft.com/msus/2002/12/UpdateHandlers/CommandLineInstallation",
            )
            .file(file.clone())
            .build();
        index.insert_extended(31, &extended).unwrap();
        assert_eq!(index.files(31), &[file]);
        assert_eq!(index.extended_xml(31), Some(extended.as_str()));
        assert!(index.extended(31).unwrap().handler().is_some());
        assert!(index.insert_extended(31, "<Files/>").is_err());
        assert!(index.remove(31));
        assert!(index.files(31).is_empty());
    }
}
