//! The rule catalogue: every T-, C- and S-rule of reference sections 6 and 7.5 as data.
//!
//! The statements follow the reference's check column; `profile` notes where real Windows
//! and the spec disagree (reference section 10) and how the analyzer measures the rule.

use serde::{Deserialize, Serialize};

/// The level of a rule (reference 0.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Violation = non-conformant.
    Must,
    /// Violation = warning.
    Should,
    /// Deviation from what real Windows does; informational.
    Obs,
}

impl Level {
    /// `must`, `should` or `obs`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "must",
            Level::Should => "should",
            Level::Obs => "obs",
        }
    }
}

impl std::str::FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "must" => Ok(Level::Must),
            "should" => Ok(Level::Should),
            "obs" => Ok(Level::Obs),
            _ => Err(format!("no rule level {s:?} (must, should, obs)")),
        }
    }
}

/// Whether and how the analyzer checks a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Evaluated on every capture.
    Implemented,
    /// Traffic cannot decide it (the reason).
    NotDecidable(&'static str),
    /// Decidable but not checked yet (the reason).
    NotYet(&'static str),
}

impl Check {
    /// True when the analyzer evaluates the rule.
    pub fn is_checked(self) -> bool {
        matches!(self, Check::Implemented)
    }

    /// Why the rule is not checked, if it is not.
    pub fn reason(self) -> Option<&'static str> {
        match self {
            Check::Implemented => None,
            Check::NotDecidable(r) | Check::NotYet(r) => Some(r),
        }
    }
}

/// One rule of the reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// `T-01`, `C-28`, `S-11`, exactly as in the reference.
    pub id: &'static str,
    /// MUST, SHOULD or OBS.
    pub level: Level,
    /// What is checked, in one line.
    pub statement: &'static str,
    /// The citation (MS-WUSP sections, product notes, observations).
    pub cite: &'static str,
    /// How section 10 (spec vs native) bears on the rule, if it does.
    pub profile: Option<&'static str>,
    /// Whether the analyzer checks it.
    pub check: Check,
}

const fn rule(
    id: &'static str,
    level: Level,
    statement: &'static str,
    cite: &'static str,
    profile: Option<&'static str>,
    check: Check,
) -> Rule {
    Rule {
        id,
        level,
        statement,
        cite,
        profile,
        check,
    }
}

/// Every rule, in reference order: T-01…T-16, C-01…C-49, S-01…S-39.
pub static RULES: &[Rule] = &[
    rule(
        "T-01",
        Level::Must,
        "WSUS-profile SOAP requests and responses use the SOAP 1.1 envelope namespace",
        "§2, §2.2",
        None,
        Check::Implemented,
    ),
    rule(
        "T-02",
        Level::Must,
        "No `Header` element in the envelope (WSUS profile)",
        "§2.2",
        None,
        Check::Implemented,
    ),
    rule(
        "T-03",
        Level::Must,
        "Path, SOAPAction and body root element identify the same operation (table 1.5; SyncPrinterCatalog: accept `.../SyncPrinterCatalog`, flag `.../SyncUpdates` as the spec-prose variant)",
        "§2.2.2, §6",
        Some(
            "spec prose gives `.../SyncUpdates` as the SyncPrinterCatalog SOAPAction, the WSDL `.../SyncPrinterCatalog`: both accepted, the prose variant flagged (section 10 #3)",
        ),
        Check::Implemented,
    ),
    rule(
        "T-04",
        Level::Must,
        "Body root element is in the service's namespace (cws / sa / rpt) and all descendants are in that same namespace",
        "§2.2.1, §6 WSDL (qualified)",
        None,
        Check::Implemented,
    ),
    rule(
        "T-05",
        Level::Must,
        "Response root is `<Op>Response`; for operations with a result, its single child `<Op>Result` (RegisterComputer: empty; StartCategoryScan: two direct lists)",
        "§2.2.2.x",
        None,
        Check::Implemented,
    ),
    rule(
        "T-06",
        Level::Must,
        "A fault response is a SOAP Fault whose `detail` has an `ErrorCode` from table 4.2 and an `ID` GUID (accept `Message`/`Method` absent)",
        "§2.2.2.4",
        Some(
            "`FileLocationChanged`/`FileLocationsChanged` and `InvalidParameter`/`InvalidParameters` both accepted (section 10 #4)",
        ),
        Check::Implemented,
    ),
    rule(
        "T-07",
        Level::Should,
        "Faults are returned with HTTP status 500; successes with 200",
        "SOAP 1.1; `OBS-N`",
        None,
        Check::Implemented,
    ),
    rule(
        "T-08",
        Level::Must,
        "If a response has `Content-Encoding: xpress`, the request's `Accept-Encoding` listed `xpress`; the body decodes as the block format of 1.3",
        "§2.1, §2.1.1",
        None,
        Check::Implemented,
    ),
    rule(
        "T-09",
        Level::Should,
        "Client SOAP requests to the Client and SimpleAuth services carry `Accept-Encoding` including `xpress`",
        "§2.1",
        None,
        Check::Implemented,
    ),
    rule(
        "T-10",
        Level::Must,
        "Every element conforms to the WSDL types: ints parse, booleans are `true/false/1/0`, GUIDs match the pattern, base64 decodes, required-by-WSDL elements present (`minOccurs=1`: e.g. `ExpressQuery`, `SkipSoftwareSync`, `Truncated`, `UpdateInfo/ID`, `UpdateInfo/IsLeaf`, `Deployment/ID`, `Action`, `IsAssigned`, `LastChangeTime`, `Cookie/Expiration`, `GetCookie/lastChange`, `currentTime`, `ReportEventBatch/clientTime`, `ReportEventBatchResult`)",
        "§2.2.3, §6",
        Some(
            "judged: bodies that do not decode, text outside the WSDL type (int, short, long, unsignedByte, unsignedShort, boolean, guid, base64Binary, dateTime; an empty element is the empty text) and missing minOccurs=1 elements the reference states, at every depth; not judged: elements the WSDL types more loosely than wusp (Deployment/Deadline is a string there), SOAP Fault details, xsi:nil values (nil counts as present), the spec's extensionDriver container (native sends extensionDrivers, section 10 #7); section 10 records no Windows deviation for what is judged, so both profiles judge alike",
        ),
        Check::Implemented,
    ),
    rule(
        "T-11",
        Level::Must,
        "Enumerated values are from their enumerations: DeploymentAction, XmlUpdateFragmentType (spec or MU-WSDL list; flag MU-only values as extension), ProcessorArchitecture (reporting), MetadataType",
        "§2.2.2.2.4, §2.2.2.2.6, §2.2.2.3.1",
        Some("MU-WSDL-only enumeration values flagged as extensions, not violations"),
        Check::Implemented,
    ),
    rule(
        "T-12",
        Level::Must,
        "Each `FileDigest` and each `fileDigests/base64Binary` decodes to exactly 20 bytes",
        "§2.2.2.2.6, §3.1.5.10",
        None,
        Check::Implemented,
    ),
    rule(
        "T-13",
        Level::Should,
        "Element order follows the schema sequence (XmlSerializer-based peers are order-sensitive)",
        "§6 WSDL",
        Some(
            "section 10 records no order deviation: the sequence checked is the union of spec and MU-WSDL, which is also the native order observed (reference 2.7, 2.10), so both profiles judge alike; SOAP Fault details (not a WSDL sequence) and the update metadata fragments inside `Xml` (their own schema) are not judged",
        ),
        Check::Implemented,
    ),
    rule(
        "T-14",
        Level::Must,
        "Content URLs returned in FileLocation.Url are HTTP(S) URIs; content GET/HEAD with Range is answered (206 for a satisfiable range)",
        "§2.2.2.2.6, §2.2.2.5",
        None,
        Check::Implemented,
    ),
    rule(
        "T-15",
        Level::Must,
        "Downloaded content's SHA-1 equals the FileDigest it was fetched for (and SHA-256 equals the AdditionalDigest when present)",
        "§2.2.2.2.6, PB<26>, §5.1",
        None,
        Check::Implemented,
    ),
    rule(
        "T-16",
        Level::Obs,
        "`SOAPAction` value is double-quoted; `Content-Type: text/xml; charset=utf-8`",
        "`OBS-N`",
        None,
        Check::Implemented,
    ),
    rule(
        "C-01",
        Level::Must,
        "In a capture with no prior state for this client/server pair (first contact), the first Client/SimpleAuth SOAP request is `GetConfig` (self-update GETs may precede it)",
        "§3.1.5.2, §3.1.5",
        None,
        Check::Implemented,
    ),
    rule(
        "C-02",
        Level::Should,
        "A session that starts without GetConfig (differential sync) starts with a cookie-bearing call whose cookie was issued earlier by the same server (previous capture); otherwise flag \"unknown cookie provenance\" (`INF`)",
        "§3.2.5, OD§3.4",
        None,
        Check::Implemented,
    ),
    rule(
        "C-03",
        Level::Must,
        "`GetAuthorizationCookie` is sent only after a GetConfig result is known, to the URL formed from `AuthInfo/ServiceUrl`",
        "§2.2.2.2.1, §3.1.5",
        None,
        Check::Implemented,
    ),
    rule(
        "C-04",
        Level::Must,
        "`GetAuthorizationCookie` carries non-empty `clientId` (1-255 chars of `[a-z0-9-]`; WUA sends a lower-case GUID) and non-empty `dnsName`",
        "§2.2.2.1.1, §3.1.5.3",
        None,
        Check::Implemented,
    ),
    rule(
        "C-05",
        Level::Must,
        "`GetCookie` follows GetConfig and GetAuthorizationCookie in the handshake, and no other Client-service call (except GetConfig) precedes the first GetCookie of a handshake",
        "§3.1.5.4",
        None,
        Check::Implemented,
    ),
    rule(
        "C-06",
        Level::Must,
        "`GetCookie.authCookies` contains exactly one AuthorizationCookie, byte-identical (PlugInId, CookieData) to the latest GetAuthorizationCookie result",
        "§2.2.2.2.2, §3.1.5.4",
        None,
        Check::Implemented,
    ),
    rule(
        "C-07",
        Level::Must,
        "`GetCookie.lastChange` equals `Cfg.LastChange` (compare as instants)",
        "§2.2.2.2.2",
        None,
        Check::Implemented,
    ),
    rule(
        "C-08",
        Level::Must,
        "`GetCookie.oldCookie`, when it carries EncryptedData, equals a cookie previously issued by this server (GetCookie result, SyncUpdates/SyncPrinterCatalog NewCookie, GetFileLocations NewCookie)",
        "§2.2.2.2.2",
        Some("a SyncPrinterCatalog NewCookie counts as issued (section 10 #23)"),
        Check::Implemented,
    ),
    rule(
        "C-09",
        Level::Should,
        "`protocolVersion` (GetConfig, GetCookie) is a two-part `x.y` string; value `1.8` per spec (real Windows sends 2.x: report as OBS, not as violation)",
        "§2.2.2.2.1, §3.1.5.2, §3.1.5.4",
        Some(
            "spec: protocolVersion 1.8; native Windows sends 2.x: a violation under the spec profile, OBS under native (section 10 #9)",
        ),
        Check::Implemented,
    ),
    rule(
        "C-10",
        Level::Must,
        "If `Cfg.IsRegistrationRequired=true` and the client has not registered with this server, a `RegisterComputer` occurs after GetCookie and before the first SyncUpdates",
        "§3.1.5.5",
        None,
        Check::Implemented,
    ),
    rule(
        "C-11",
        Level::Should,
        "`RegisterComputer` is not called when `Cfg.IsRegistrationRequired=false`",
        "§2.2.2.4 (RegistrationNotRequired), §3.1.5.5",
        None,
        Check::Implemented,
    ),
    rule(
        "C-12",
        Level::Should,
        "`RegisterComputer` is not repeated unless its computerInfo differs from the previous one or a RegistrationRequired fault occurred",
        "§3.1.5.5, §3.2.5, §3.2.7",
        None,
        Check::Implemented,
    ),
    rule(
        "C-13",
        Level::Must,
        "`ComputerInfo.DnsName` equals the `dnsName` of GetAuthorizationCookie",
        "§2.2.2.1.1, §2.2.2.2.3",
        None,
        Check::Implemented,
    ),
    rule(
        "C-14",
        Level::Must,
        "Every cookie-bearing request (RegisterComputer, SyncUpdates, SyncPrinterCatalog, RefreshCache, GetExtendedUpdateInfo(2), GetFileLocations, ReportEventBatch) contains a `cookie`",
        "§2.2.2.x \"MUST be present\"",
        None,
        Check::Implemented,
    ),
    rule(
        "C-15",
        Level::Should,
        "The cookie sent is the most recently issued one (latest of GetCookie result / NewCookie); using a superseded cookie is a warning, using a cookie from another server an error",
        "§2.2.2.2.4, §2.2.2.2.7, §3.2.1",
        None,
        Check::Implemented,
    ),
    rule(
        "C-16",
        Level::Should,
        "The cookie sent has `Expiration` later than the request time (client clock from `currentTime`/capture time); otherwise the client should have renewed first",
        "§3.2.5",
        None,
        Check::Implemented,
    ),
    rule(
        "C-17",
        Level::Should,
        "GetConfig is not repeated for the same server unless a ConfigChanged, InvalidCookie or ServerChanged fault happened since the previous GetConfig",
        "§3.1.5.2, §3.2.5",
        None,
        Check::Implemented,
    ),
    rule(
        "C-18",
        Level::Should,
        "GetAuthorizationCookie/GetCookie are not repeated while the cached cookie is unexpired, unless a fault from {InvalidCookie, ServerChanged, ConfigChanged, CookieExpired} happened",
        "§3.1.5.3, §3.1.5.4, §3.2.5",
        None,
        Check::Implemented,
    ),
    rule(
        "C-19",
        Level::Must,
        "SyncUpdates has `parameters`; `ExpressQuery` is false",
        "§2.2.2.2.4",
        None,
        Check::Implemented,
    ),
    rule(
        "C-20",
        Level::Must,
        "`SystemSpec` is present only when `SkipSoftwareSync=true`",
        "§3.1.5.7",
        None,
        Check::Implemented,
    ),
    rule(
        "C-21",
        Level::Must,
        "The first software SyncUpdates of a session with an empty cache has no (or empty) `InstalledNonLeafUpdateIDs`",
        "§3.1.5.7 step 1",
        None,
        Check::Implemented,
    ),
    rule(
        "C-22",
        Level::Must,
        "Every ID in `InstalledNonLeafUpdateIDs`, `OtherCachedUpdateIDs`, `CachedDriverIDs`, `printerUpdateIDs`, GetExtendedUpdateInfo `revisionIDs` is in `Known` (for IDs learned in an earlier capture, flag \"unverifiable\" rather than error)",
        "§2.2.2.2.4, §2.2.2.2.6, §2.2.2.2.9",
        None,
        Check::Implemented,
    ),
    rule(
        "C-23",
        Level::Must,
        "Every ID in `InstalledNonLeafUpdateIDs` was delivered with `IsLeaf=false` (latest value including ChangedUpdates)",
        "§2.2.2.2.4, §3.1.5.7 step 4",
        None,
        Check::Implemented,
    ),
    rule(
        "C-24",
        Level::Should,
        "The three ID lists are pairwise disjoint and contain no duplicates",
        "§3.1.5.7 step 4 (`INF` for duplicates)",
        None,
        Check::Implemented,
    ),
    rule(
        "C-25",
        Level::Should,
        "Driver revisions (core `UpdateType=\"Driver\"`) are sent in `CachedDriverIDs`, not in the software lists",
        "§3.1.5.7 step 4",
        None,
        Check::Implemented,
    ),
    rule(
        "C-26",
        Level::Should,
        "IDs returned in `OutOfScopeRevisionIDs` do not appear in any list of later requests (unless re-delivered)",
        "§2.2.2.2.4",
        None,
        Check::Implemented,
    ),
    rule(
        "C-27",
        Level::Should,
        "Every ID delivered in `NewUpdates` of page n appears in one of the lists of page n+1 (otherwise the server will resend it); an ID may move from Other to Installed only after re-evaluation",
        "§3.1.5.7 step 4, `OBS-N`",
        Some(
            "native WUA lists every cached revision; a literal spec reading lists only applicable ones, so under the spec profile a missing ID is unverifiable (section 10 #12)",
        ),
        Check::Implemented,
    ),
    rule(
        "C-28",
        Level::Must,
        "Loop continuation: after a software SyncUpdates response with `Truncated=true`, or with `Truncated=false` and at least one NewUpdates item with `IsLeaf=false`, the next ClientWebService call of the session (ignoring renewal/recovery calls) is another software SyncUpdates; a driver pass or extended-info call instead is a violation (§3.1.5.7 makes the loop rules MUST; §2.2.2.2.4 words the Truncated case as SHOULD)",
        "§3.1.5.7, §2.2.2.2.4",
        Some(
            "both readings agree when NewUpdates is empty; the Truncated/non-leaf rule is applied (section 10 #11)",
        ),
        Check::Implemented,
    ),
    rule(
        "C-29",
        Level::Should,
        "The software loop ends (driver pass or idle) once a response has `Truncated=false` and no non-leaf NewUpdates; an extra identical call is a warning",
        "§2.2.2.2.4",
        Some("the Truncated/non-leaf termination rule is applied (section 10 #11)"),
        Check::Implemented,
    ),
    rule(
        "C-30",
        Level::Should,
        "After the software loop at most one SyncUpdates with `SkipSoftwareSync=true` is sent in the session (drivers after software, never interleaved)",
        "§3.1.5.7",
        Some("an extra driver pass after DriverSyncNotNeeded=true is not flagged (section 10 #20)"),
        Check::Implemented,
    ),
    rule(
        "C-31",
        Level::Must,
        "`FilterCategoryIds` and `NeedTwoGroupOutOfScopeUpdates` are absent unless `ver_c >= 1.7` and `ver_s >= 3.2`",
        "§2.2.2.2.4",
        None,
        Check::Implemented,
    ),
    rule(
        "C-32",
        Level::Must,
        "A non-empty `FilterCategoryIds` is preceded in the session by StartCategoryScan, and its IDs are a subset of the returned `preferredCategoryIds`",
        "§2.2.2.2.4, §3.1.5.6",
        None,
        Check::Implemented,
    ),
    rule(
        "C-33",
        Level::Must,
        "StartCategoryScan is not sent when `ver_s < 3.2`; it has a `requestedCategories` element",
        "§3.1.5.6",
        None,
        Check::Implemented,
    ),
    rule(
        "C-34",
        Level::Must,
        "GetExtendedUpdateInfo: `infoTypes` present; `locales` present if infoTypes contains `Eula` or `LocalizedProperties`; number of `revisionIDs` not above `MaxExtendedUpdatesPerRequest` (spec says \"smaller than\"; flag equality as ambiguous)",
        "§3.1.5.9",
        Some(
            "`<=` MaxExtendedUpdatesPerRequest accepted, equality flagged as ambiguous (section 10 #16)",
        ),
        Check::Implemented,
    ),
    rule(
        "C-35",
        Level::Must,
        "GetExtendedUpdateInfo2 `updateIDs` are UpdateIdentity elements (GUID + revision number), infoTypes from the enumeration",
        "§2.2.2.2.10",
        Some("union of spec and MU-WSDL infoTypes accepted (section 10 #17)"),
        Check::Implemented,
    ),
    rule(
        "C-36",
        Level::Must,
        "GetFileLocations has `fileDigests`, each 20 bytes",
        "§3.1.5.10",
        None,
        Check::Implemented,
    ),
    rule(
        "C-37",
        Level::Must,
        "After a `FileLocationChanged` fault the client's next action for those files is GetFileLocations (not a download of the stale URL)",
        "§2.2.2.4, §3.1.5.10",
        None,
        Check::Implemented,
    ),
    rule(
        "C-38",
        Level::Must,
        "RefreshCache occurs only after an InvalidCookie or ServerChanged fault, after the following GetConfig, GetAuthorizationCookie and GetCookie; `globalIDs` present",
        "§3.1.5.8, §2.2.2.4",
        None,
        Check::Implemented,
    ),
    rule(
        "C-39",
        Level::Must,
        "Recovery order after a fault (subsequent calls, ignoring asynchronous reports): InvalidCookie/ServerChanged -> GetConfig, GetAuthorizationCookie, GetCookie, RefreshCache; ConfigChanged -> GetConfig, GetAuthorizationCookie, GetCookie; CookieExpired -> GetAuthorizationCookie, GetCookie (GetConfig not needed); RegistrationRequired -> RegisterComputer then SyncUpdates",
        "§2.2.2.4, §3.1.5.2-§3.1.5.5",
        None,
        Check::Implemented,
    ),
    rule(
        "C-40",
        Level::Must,
        "After InvalidCookie or ServerChanged the rejected cookie is not sent again (neither as `cookie` nor as `oldCookie`)",
        "§2.2.2.4 (\"discard the cookie\")",
        None,
        Check::Implemented,
    ),
    rule(
        "C-41",
        Level::Should,
        "After CookieExpired the next GetCookie passes the expired cookie as `oldCookie`",
        "§2.2.2.2.2, §3.1.5.4",
        None,
        Check::Implemented,
    ),
    rule(
        "C-42",
        Level::Must,
        "ReportEventBatch: `cookie`, `clientTime`, `eventBatch` present; each event has NamespaceID=1, SequenceNumber=0, TargetID/Sid equal to the `clientId` of GetAuthorizationCookie, a GUID EventInstanceID unique in the capture, UpdateID present (zero GUID when not update related), ExtendedData/ProcessorArchitecture from the enumeration, PrivateData present (zero-length children or empty)",
        "§2.2.2.3.1",
        Some("native `<PrivateData/>` accepted (section 10 #19)"),
        Check::Implemented,
    ),
    rule(
        "C-43",
        Level::Should,
        "EventID is in the EventID table (3.10); if the server returned AllowedEventIds, EventID is in it",
        "§2.2.2.3.1, §2.2.2.2.1",
        None,
        Check::Implemented,
    ),
    rule(
        "C-44",
        Level::Should,
        "The number of ReplacementStrings equals the number of `%n` placeholders of the event's template (e.g. 147 and 148: one; 182: two)",
        "§2.2.2.3.1",
        None,
        Check::Implemented,
    ),
    rule(
        "C-45",
        Level::Should,
        "MiscData entries have the form `tag=value`",
        "§2.2.2.3.1",
        None,
        Check::Implemented,
    ),
    rule(
        "C-46",
        Level::Should,
        "DeviceID empty for non-driver updates; \"1\" for driver download events",
        "§2.2.2.3.1",
        None,
        Check::Implemented,
    ),
    rule(
        "C-47",
        Level::Should,
        "Content GETs use URLs obtained from FileLocation in this or an earlier session",
        "§3.2.5 (`INF`)",
        None,
        Check::Implemented,
    ),
    rule(
        "C-48",
        Level::Obs,
        "Native WUA specifics (useful to flag a non-Windows client): omits empty ID arrays on the first call, never sends CachedDriverIDs, sends MS-CV, sends AlsoPerformRegularSync and ProductsParameters, downloads with Delivery Optimization 1 MiB ranges",
        "`OBS-N`",
        None,
        Check::Implemented,
    ),
    rule(
        "C-49",
        Level::Should,
        "GetExtendedUpdateInfo does not ask again for a (revision, fragment type, locale) whose fragment this server already returned to this client, unless ChangedUpdates reported that revision, a RefreshCache happened, or the client lost its cache (new ClientID); asking for extended fragments of revisions that are only core-cached is normal (section 5.8)",
        "§3.1.5.9, §3.2.1 (`INF`, `OBS-N`)",
        None,
        Check::Implemented,
    ),
    rule(
        "S-01",
        Level::Must,
        "GetConfig result has `LastChange` and `IsRegistrationRequired`",
        "§2.2.2.2.1",
        None,
        Check::Implemented,
    ),
    rule(
        "S-02",
        Level::Must,
        "`AuthInfo` has exactly one AuthPlugInInfo, `PlugInID=\"SimpleTargeting\"`, a `ServiceUrl` that resolves to the SimpleAuth service",
        "§2.2.2.2.1",
        None,
        Check::Implemented,
    ),
    rule(
        "S-03",
        Level::Should,
        "`AuthPlugInInfo/Parameter` absent (WSUS sends `<Parameter/>`: report OBS, not error)",
        "§2.2.2.2.1",
        Some("WSUS sends `<Parameter/>`: OBS under native, SHOULD under spec (section 10 #8)"),
        Check::Implemented,
    ),
    rule(
        "S-04",
        Level::Must,
        "Properties contain `MaxExtendedUpdatesPerRequest` (positive integer); `IsInventoryRequired`, if present, is `0`; if `ProtocolVersion` is absent or < 3.0, no property other than MaxExtendedUpdatesPerRequest is present",
        "§2.2.2.2.1",
        None,
        Check::Implemented,
    ),
    rule(
        "S-05",
        Level::Should,
        "`ProtocolVersion` = `3.2`, `ClientReportingLevel` = `2`, and the 3.0+ properties present",
        "§2.2.2.2.1",
        None,
        Check::Implemented,
    ),
    rule(
        "S-06",
        Level::Must,
        "GetAuthorizationCookie result present with non-empty CookieData",
        "§2.2.2.1.1, §2.2.3.4",
        None,
        Check::Implemented,
    ),
    rule(
        "S-07",
        Level::Must,
        "GetCookie result present with Expiration and non-empty EncryptedData; Expiration later than the request's `currentTime`",
        "§2.2.2.2.2, §2.2.3.5",
        None,
        Check::Implemented,
    ),
    rule(
        "S-08",
        Level::Must,
        "GetCookie with a `lastChange` different from the current Config.LastChange yields ConfigChanged here or in the next SyncUpdates",
        "§3.1.5.4, §3.1.5.7",
        None,
        Check::Implemented,
    ),
    rule(
        "S-09",
        Level::Must,
        "SyncUpdates/SyncPrinterCatalog success responses contain `Truncated` and a `NewCookie`",
        "§2.2.2.2.4, §3.1.5.7",
        None,
        Check::Implemented,
    ),
    rule(
        "S-10",
        Level::Must,
        "SyncUpdates with `SystemSpec` and `SkipSoftwareSync=false` is answered with InvalidParameters",
        "§3.1.5.7",
        None,
        Check::Implemented,
    ),
    rule(
        "S-11",
        Level::Must,
        "`NewUpdates` IDs ∩ (`Req` cached lists) = ∅",
        "§3.1.5.7",
        None,
        Check::Implemented,
    ),
    rule(
        "S-12",
        Level::Must,
        "`OutOfScopeRevisionIDs` ⊆ `Req` cached lists (software pass: Inst ∪ Other; driver pass: CachedDriverIDs; printer: printerUpdateIDs); `ChangedUpdates` IDs ⊆ cached lists \\ OutOfScope",
        "§3.1.5.7, §3.1.5.12",
        Some("printer pass: cached list is printerUpdateIDs (section 10 #22)"),
        Check::Implemented,
    ),
    rule(
        "S-13",
        Level::Must,
        "Each UpdateInfo has ID, IsLeaf, a non-empty Xml core fragment and (SHOULD, effectively MUST for WUA) a Deployment with ID, Action, IsAssigned, LastChangeTime",
        "§2.2.2.2.4; `OBS-N` (WUA fails with 0x80070057 when Deployment is missing)",
        None,
        Check::Implemented,
    ),
    rule(
        "S-14",
        Level::Must,
        "At most one revision per UpdateID among NewUpdates (parse `UpdateIdentity` in Xml); SHOULD be the highest revision known",
        "§3.1.5.7 note",
        None,
        Check::Implemented,
    ),
    rule(
        "S-15",
        Level::Must,
        "Each NewUpdates core fragment: first element `UpdateIdentity` with UpdateID/RevisionNumber; `Properties` attributes limited to UpdateType, ExplicitlyDeployable, AutoSelectOnWebSites, OSUpgrade, EulaID; no namespace declarations; applicability elements prefixed b./m./d.; no Files/HandlerSpecificData",
        "§3.1.1.1",
        None,
        Check::Implemented,
    ),
    rule(
        "S-16",
        Level::Must,
        "Prerequisite satisfaction: for every NewUpdates revision, each AND-clause of its Prerequisites contains an UpdateID belonging to a revision listed in `Req.InstalledNonLeafUpdateIDs` (requires the ID->UpdateID map learned from earlier core fragments; otherwise \"unverifiable\")",
        "§3.1.5.7",
        None,
        Check::Implemented,
    ),
    rule(
        "S-17",
        Level::Must,
        "Software pass NewUpdates contain no `UpdateType=\"Driver\"`; driver pass NewUpdates contain only drivers",
        "§3.1.5.7",
        Some("categories and detectoids count as software (non-driver) (section 10 #10)"),
        Check::Implemented,
    ),
    rule(
        "S-18",
        Level::Must,
        "IsLeaf consistency: if any revision delivered to this client lists UpdateID U as a prerequisite, every delivered revision of U has IsLeaf=false (latest value)",
        "§3.1.5.7 (IsLeaf)",
        None,
        Check::Implemented,
    ),
    rule(
        "S-19",
        Level::Should,
        "Action `Block` never appears (send PreDeploymentCheck or omit)",
        "§2.2.2.2.4",
        None,
        Check::Implemented,
    ),
    rule(
        "S-20",
        Level::Should,
        "Category and Detectoid revisions, and revisions that are only dependencies, have Action `Evaluate` (Bundle for bundle members)",
        "§3.1.5.7",
        None,
        Check::Implemented,
    ),
    rule(
        "S-21",
        Level::Must,
        "AutoSelect, AutoDownload, SupersedenceBehavior, FlagBitmask are absent when `ver_c < 1.8`, and equal `0` when present",
        "§2.2.2.2.4",
        None,
        Check::Implemented,
    ),
    rule(
        "S-22",
        Level::Should,
        "Driver NewUpdates carry Deployment/HardwareIds when `ver_c >= 1.6`; software updates do not",
        "§2.2.2.2.4, §3.1.5.7",
        None,
        Check::Implemented,
    ),
    rule(
        "S-23",
        Level::Must,
        "`DeployedOutOfScopeRevisionIds` present only if `ver_s >= 3.2`, `ver_c >= 1.7` and `Req.NeedTwoGroupOutOfScopeUpdates=true`; `DriverSyncNotNeeded` present only if `ver_s >= 3.2` and `ver_c >= 1.7`; its value is `true` or `false`",
        "§2.2.2.2.4",
        None,
        Check::Implemented,
    ),
    rule(
        "S-24",
        Level::Should,
        "`Truncated=true` implies NewUpdates non-empty; a response with more NewUpdates than an earlier full page and `Truncated=true` is suspicious (informational)",
        "§3.1.5.7 (`INF`)",
        None,
        Check::Implemented,
    ),
    rule(
        "S-25",
        Level::Should,
        "With a category filter, NewUpdates relate to the requested categories",
        "§2.2.2.2.4",
        None,
        Check::NotDecidable(
            "\"related\" is not defined by §3.1.5.7 step 7, and a filtered sync also delivers revisions outside the requested categories as prerequisites or bundle members of revisions inside them (the deployed closure, reference 7.3 step 1); which revision depends on which is in the server's graph, not in the traffic, so an unrelated update cannot be told from a needed dependency",
        ),
    ),
    rule(
        "S-26",
        Level::Should,
        "Deployment `LastChangeTime` is a date (`yyyy-mm-dd`); Deadline, if any, a dateTime",
        "§2.2.2.2.4",
        Some("LastChangeTime is a date string (section 10 #15)"),
        Check::Implemented,
    ),
    rule(
        "S-27",
        Level::Must,
        "RefreshCache: every result's GlobalID equals one requested identity; RevisionID, IsLeaf, GlobalID, Deployment present; no result for an identity that was not requested",
        "§2.2.2.2.5, §3.1.5.8",
        None,
        Check::Implemented,
    ),
    rule(
        "S-28",
        Level::Must,
        "GetExtendedUpdateInfo: every `Update/ID` and every `OutOfScopeRevisionIDs` entry is one of `Req.revisionIDs`; every Update has Xml; every FileLocation has a 20-byte FileDigest and a Url",
        "§2.2.2.2.6, §3.1.5.9",
        None,
        Check::Implemented,
    ),
    rule(
        "S-29",
        Level::Should,
        "GetExtendedUpdateInfo returns only fragment kinds that were requested (Extended fragments start with `ExtendedProperties`; LocalizedProperties with `LocalizedProperties`) and a LocalizedProperties fragment in a requested locale or English",
        "§3.1.5.9, §2.2.2.2.6",
        None,
        Check::Implemented,
    ),
    rule(
        "S-30",
        Level::Should,
        "Every `Files/File/@Digest` of a returned Extended fragment has a FileLocation (in this or a later GetFileLocations)",
        "§3.1.5.9, `OBS-N`",
        None,
        Check::Implemented,
    ),
    rule(
        "S-31",
        Level::Must,
        "GetExtendedUpdateInfo with too many revisionIDs, missing infoTypes, or missing locales when required is answered with InvalidParameter(s)",
        "§3.1.5.9",
        None,
        Check::Implemented,
    ),
    rule(
        "S-32",
        Level::Must,
        "GetFileLocations returns a NewCookie (SHOULD) and a FileLocation for each requested digest the server knows; each FileDigest equals a requested digest",
        "§2.2.2.2.7, §3.1.5.10",
        None,
        Check::Implemented,
    ),
    rule(
        "S-33",
        Level::Must,
        "GetFileLocations with a digest not 20 bytes long, or without fileDigests, is answered with InvalidParameters",
        "§3.1.5.10",
        None,
        Check::Implemented,
    ),
    rule(
        "S-34",
        Level::Must,
        "StartCategoryScan: every `requestedCategoryIdsInError` entry and every `preferredCategoryIds` entry was requested; preferred IDs obey the product/classification rules of §3.1.5.6",
        "§3.1.5.6",
        None,
        Check::Implemented,
    ),
    rule(
        "S-35",
        Level::Must,
        "ReportEventBatchResult present and boolean",
        "§2.2.2.3.1",
        None,
        Check::Implemented,
    ),
    rule(
        "S-36",
        Level::Must,
        "Cookie-bearing requests with an expired (by server policy) cookie get CookieExpired, a foreign or corrupt cookie InvalidCookie or ServerChanged — check: a fault of another kind for a cookie the analyzer knows to be expired/foreign is a warning",
        "§3.1.5.5-§3.1.5.11",
        None,
        Check::Implemented,
    ),
    rule(
        "S-37",
        Level::Should,
        "A SyncUpdates after a configuration change (new Config.LastChange seen by a later GetConfig) that is answered normally instead of ConfigChanged is flagged",
        "§3.1.5.7",
        None,
        Check::Implemented,
    ),
    rule(
        "S-38",
        Level::Must,
        "Content served at FileLocation URLs has the SHA-1 of its FileDigest and the size of the fragment's `File/@Size`; HEAD and Range GET supported",
        "§2.2.2.5, §2.2.2.2.6, `OBS-N`",
        None,
        Check::Implemented,
    ),
    rule(
        "S-39",
        Level::Obs,
        "WSUS content URLs follow `.../Content/<XX>/<SHA1>.<ext>` and take their host from the request's Host header",
        "PB<56>, `OBS-N`",
        None,
        Check::Implemented,
    ),
];

/// The rule with this id (`C-28`, any case), if the reference has it.
pub fn find(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id.eq_ignore_ascii_case(id))
}

/// The rule with this id; the id must be one of [`RULES`] (checked by the tests).
pub(crate) fn known(id: &'static str) -> &'static Rule {
    static FALLBACK: Rule = rule(
        "?",
        Level::Obs,
        "unknown rule",
        "",
        None,
        Check::NotYet("unknown"),
    );
    find(id).unwrap_or(&FALLBACK)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ids of the rule tables of reference sections 6.1, 6.2 and 7.5 (copied from the spec).
    const REFERENCE_IDS: &str = "T-01,T-02,T-03,T-04,T-05,T-06,T-07,T-08,T-09,T-10,T-11,T-12,T-13,T-14,T-15,T-16,C-01,C-02,C-03,C-04,C-05,C-06,C-07,C-08,C-09,C-10,C-11,C-12,C-13,C-14,C-15,C-16,C-17,C-18,C-19,C-20,C-21,C-22,C-23,C-24,C-25,C-26,C-27,C-28,C-29,C-30,C-31,C-32,C-33,C-34,C-35,C-36,C-37,C-38,C-39,C-40,C-41,C-42,C-43,C-44,C-45,C-46,C-47,C-48,C-49,S-01,S-02,S-03,S-04,S-05,S-06,S-07,S-08,S-09,S-10,S-11,S-12,S-13,S-14,S-15,S-16,S-17,S-18,S-19,S-20,S-21,S-22,S-23,S-24,S-25,S-26,S-27,S-28,S-29,S-30,S-31,S-32,S-33,S-34,S-35,S-36,S-37,S-38,S-39";

    #[test]
    fn catalogue_has_every_reference_rule_once_in_order() {
        let ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        let expected: Vec<&str> = REFERENCE_IDS.split(',').collect();
        assert_eq!(ids, expected);
        assert_eq!(RULES.len(), 104);
    }

    #[test]
    fn unchecked_rules_say_why_and_statements_are_one_line() {
        for r in RULES {
            assert!(
                !r.statement.is_empty() && !r.statement.contains('\n'),
                "{}",
                r.id
            );
            assert!(!r.cite.is_empty(), "{}", r.id);
            assert_eq!(r.check.is_checked(), r.check.reason().is_none(), "{}", r.id);
        }
        assert_eq!(find("c-28").map(|r| r.level), Some(Level::Must));
        assert_eq!(find("C-49").map(|r| r.level), Some(Level::Should));
        assert!(find("C-50").is_none());
        assert_eq!(known("S-11").id, "S-11");
    }
}
