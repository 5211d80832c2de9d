//! A typed request and response for every web method of reference section 2.
//!
//! Requests are named after the web method (`SyncUpdates`), responses append `Response`.
//! Responses that wrap a `…Result` element expose it as `result`.

use crate::ops::Operation;
use crate::types::*;
use crate::values::{Base64, DateTime, Guid, XmlUpdateFragmentType};
use crate::xml::wusp_struct;

wusp_struct! {
    /// GetAuthorizationCookie request (SimpleAuth, reference 2.1).
    pub struct GetAuthorizationCookie {
        /// ClientIdString (WUA: its SusClientId GUID).
        client_id: String = "clientId",
        /// Target group the client claims.
        target_group_name: String = "targetGroupName",
        /// DNS name.
        dns_name: String = "dnsName",
    }
}

wusp_struct! {
    /// GetAuthorizationCookie response.
    pub struct GetAuthorizationCookieResponse {
        /// The authorization cookie.
        result: AuthorizationCookie = "GetAuthorizationCookieResult",
    }
}

wusp_struct! {
    /// GetConfig request (reference 2.2).
    pub struct GetConfig {
        /// "x.y".
        protocol_version: String = "protocolVersion",
    }
}

wusp_struct! {
    /// GetConfig response.
    pub struct GetConfigResponse {
        /// The configuration.
        result: Config = "GetConfigResult",
    }
}

wusp_struct! {
    /// GetConfig2 request (MU-WSDL, reference 2.3).
    pub struct GetConfig2 {
        /// Client description.
        client_configuration: ClientConfiguration = "clientConfiguration",
    }
}

wusp_struct! {
    /// GetConfig2 response.
    pub struct GetConfig2Response {
        /// The configuration.
        result: Config = "GetConfig2Result",
    }
}

wusp_struct! {
    /// GetCookie request (reference 2.4).
    pub struct GetCookie {
        /// Exactly one authorization cookie.
        auth_cookies: Vec<AuthorizationCookie> = "authCookies" / "AuthorizationCookie",
        /// A cookie previously issued (typically the expired one).
        old_cookie: Cookie = "oldCookie",
        /// Config.LastChange of the client's latest GetConfig.
        last_change: DateTime = "lastChange" required,
        /// Client clock.
        current_time: DateTime = "currentTime" required,
        /// "x.y".
        protocol_version: String = "protocolVersion",
    }
}

wusp_struct! {
    /// GetCookie response.
    pub struct GetCookieResponse {
        /// The new cookie.
        result: Cookie = "GetCookieResult",
    }
}

wusp_struct! {
    /// RegisterComputer request (reference 2.5).
    pub struct RegisterComputer {
        /// Cookie.
        cookie: Cookie = "cookie",
        /// Computer description.
        computer_info: ComputerInfo = "computerInfo",
    }
}

wusp_struct! {
    /// RegisterComputer response (empty).
    pub struct RegisterComputerResponse {}
}

wusp_struct! {
    /// StartCategoryScan request (reference 2.6); it has no cookie.
    pub struct StartCategoryScan {
        /// The categories (a DNF of AND-groups).
        requested_categories: Vec<CategoryRelationship> = "requestedCategories" / "CategoryRelationship",
    }
}

wusp_struct! {
    /// StartCategoryScan response (two direct lists, no Result wrapper).
    pub struct StartCategoryScanResponse {
        /// Categories to pass as FilterCategoryIds.
        preferred_category_ids: Vec<Guid> = "preferredCategoryIds" / "guid",
        /// Categories the server does not recognise.
        requested_category_ids_in_error: Vec<Guid> = "requestedCategoryIdsInError" / "guid",
    }
}

wusp_struct! {
    /// SyncUpdates request (reference 2.7), software or driver pass.
    pub struct SyncUpdates {
        /// Cookie.
        cookie: Cookie = "cookie",
        /// Parameters.
        parameters: SyncUpdateParameters = "parameters",
    }
}

wusp_struct! {
    /// SyncUpdates response.
    pub struct SyncUpdatesResponse {
        /// The sync result.
        result: SyncInfo = "SyncUpdatesResult",
    }
}

wusp_struct! {
    /// SyncPrinterCatalog request (reference 2.8).
    pub struct SyncPrinterCatalog {
        /// Cookie.
        cookie: Cookie = "cookie",
        /// Installed non-leaf revisions (lower-case i on the wire).
        installed_non_leaf_update_ids: Vec<i32> = "installedNonLeafUpdateIDs" / "int",
        /// Cached printer driver revisions.
        printer_update_ids: Vec<i32> = "printerUpdateIDs" / "int",
        /// MU-WSDL.
        device_attributes: String = "deviceAttributes",
    }
}

wusp_struct! {
    /// SyncPrinterCatalog response.
    pub struct SyncPrinterCatalogResponse {
        /// The sync result.
        result: SyncInfo = "SyncPrinterCatalogResult",
    }
}

wusp_struct! {
    /// RefreshCache request (reference 2.9).
    pub struct RefreshCache {
        /// Cookie.
        cookie: Cookie = "cookie",
        /// Identities to re-map.
        global_ids: Vec<UpdateIdentity> = "globalIDs" / "UpdateIdentity",
        /// MU-WSDL.
        device_attributes: String = "deviceAttributes",
    }
}

wusp_struct! {
    /// RefreshCache response.
    pub struct RefreshCacheResponse {
        /// One result per identity deployed to the client.
        result: Vec<RefreshCacheResult> = "RefreshCacheResult" / "RefreshCacheResult",
    }
}

wusp_struct! {
    /// GetExtendedUpdateInfo request (reference 2.10; union of spec, MU-WSDL and native order).
    pub struct GetExtendedUpdateInfo {
        /// Cookie.
        cookie: Cookie = "cookie",
        /// At most MaxExtendedUpdatesPerRequest revision IDs.
        revision_ids: Vec<i32> = "revisionIDs" / "int",
        /// Fragment types.
        info_types: Vec<XmlUpdateFragmentType> = "infoTypes" / "XmlUpdateFragmentType",
        /// Locales (needed for Eula and LocalizedProperties).
        locales: Vec<String> = "locales" / "string",
        /// MU-WSDL / native.
        device_attributes: String = "deviceAttributes",
        /// ISO-3166 region.
        geo_id: String = "GeoId",
        /// Caller attributes.
        caller_attributes: String = "callerAttributes",
    }
}

wusp_struct! {
    /// GetExtendedUpdateInfo response.
    pub struct GetExtendedUpdateInfoResponse {
        /// Fragments, locations, out-of-scope IDs.
        result: ExtendedUpdateInfo = "GetExtendedUpdateInfoResult",
    }
}

wusp_struct! {
    /// GetExtendedUpdateInfo2 request (reference 2.11).
    pub struct GetExtendedUpdateInfo2 {
        /// Cookie.
        cookie: Cookie = "cookie",
        /// Identities (not revision IDs).
        update_ids: Vec<UpdateIdentity> = "updateIDs" / "UpdateIdentity",
        /// Fragment types.
        info_types: Vec<XmlUpdateFragmentType> = "infoTypes" / "XmlUpdateFragmentType",
        /// Locales.
        locales: Vec<String> = "locales" / "string",
        /// MU-WSDL.
        device_attributes: String = "deviceAttributes",
        /// Win11 22H2+.
        caller_attributes: String = "callerAttributes",
    }
}

wusp_struct! {
    /// GetExtendedUpdateInfo2 response.
    pub struct GetExtendedUpdateInfo2Response {
        /// The result.
        result: ExtendedUpdateInfo2 = "GetExtendedUpdateInfo2Result",
    }
}

wusp_struct! {
    /// GetFileLocations request (reference 2.12).
    pub struct GetFileLocations {
        /// Cookie.
        cookie: Cookie = "cookie",
        /// SHA-1 digests (20 bytes each).
        file_digests: Vec<Base64> = "fileDigests" / "base64Binary",
    }
}

wusp_struct! {
    /// GetFileLocations response.
    pub struct GetFileLocationsResponse {
        /// Locations and a new cookie.
        result: GetFileLocationsResults = "GetFileLocationsResult",
    }
}

wusp_struct! {
    /// GetTimestamps request (MU-WSDL, reference 2.13).
    pub struct GetTimestamps {
        /// Timestamps.
        timestamps: Vec<DateTime> = "timestamps" / "dateTime",
    }
}

wusp_struct! {
    /// GetTimestamps response.
    pub struct GetTimestampsResponse {
        /// Opaque values.
        result: Vec<Base64> = "GetTimestampsResult" / "base64Binary",
    }
}

wusp_struct! {
    /// ReportEventBatch request (Reporting, reference 2.14).
    pub struct ReportEventBatch {
        /// The Client-service cookie.
        cookie: Cookie = "cookie",
        /// Client time (UTC).
        client_time: DateTime = "clientTime" required,
        /// Events.
        event_batch: Vec<ReportingEvent> = "eventBatch" / "ReportingEvent",
    }
}

wusp_struct! {
    /// ReportEventBatch response.
    pub struct ReportEventBatchResponse {
        /// True when received.
        result: bool = "ReportEventBatchResult" required,
    }
}

wusp_struct! {
    /// ReportEventBatch2 request (WSDL only).
    pub struct ReportEventBatch2 {
        /// Computer ID.
        computer_id: String = "computerId",
        /// Client time.
        client_time: DateTime = "clientTime",
        /// Events.
        event_batch: Vec<ReportingEvent> = "eventBatch" / "ReportingEvent",
    }
}

wusp_struct! {
    /// ReportEventBatch2 response.
    pub struct ReportEventBatch2Response {
        /// True when received.
        result: bool = "ReportEventBatch2Result",
    }
}

wusp_struct! {
    /// GetRequiredInventoryType request (WSDL only).
    pub struct GetRequiredInventoryType {
        /// Cookie.
        cookie: Cookie = "cookie",
        /// Rules ID.
        rules_id: Guid = "rulesId",
        /// Rules version.
        rules_version: String = "rulesVersion",
    }
}

wusp_struct! {
    /// GetRequiredInventoryType response.
    pub struct GetRequiredInventoryTypeResponse {
        /// Inventory type.
        result: i32 = "GetRequiredInventoryTypeResult",
    }
}

wusp_struct! {
    /// ReportInventory request (WSDL only).
    pub struct ReportInventory {
        /// Cookie.
        cookie: Cookie = "cookie",
        /// Client time.
        client_time: DateTime = "clientTime",
        /// Inventory.
        inventory: Inventory = "inventory",
    }
}

wusp_struct! {
    /// ReportInventory response.
    pub struct ReportInventoryResponse {
        /// True when received.
        result: bool = "ReportInventoryResult",
    }
}

macro_rules! message_enums {
    ($($op:ident => $req:ident, $resp:ident;)*) => {
        /// A request of any web method.
        #[derive(Clone, Debug, PartialEq)]
        #[non_exhaustive]
        pub enum Request {
            $(
                #[doc = concat!("`", stringify!($op), "` request.")]
                $op($req),
            )*
        }

        /// A successful response of any web method.
        #[derive(Clone, Debug, PartialEq)]
        #[non_exhaustive]
        pub enum Response {
            $(
                #[doc = concat!("`", stringify!($op), "` response.")]
                $op($resp),
            )*
        }

        impl Request {
            /// The web method.
            pub fn operation(&self) -> Operation {
                match self { $(Request::$op(_) => Operation::$op,)* }
            }
            pub(crate) fn decode<'a>(
                op: Operation,
                d: &mut crate::xml::Decoder<'a>,
                start: &crate::xml::Start<'a>,
            ) -> crate::Result<Request> {
                Ok(match op {
                    $(Operation::$op => Request::$op(decode_root::<$req>(d, start)?),)*
                })
            }
            pub(crate) fn encode(&self, e: &mut crate::xml::Encoder) {
                match self {
                    $(Request::$op(m) => encode_root(m, e, Operation::$op.name()),)*
                }
            }
            /// Where the message was decoded from.
            pub fn source(&self) -> &crate::xml::Source {
                match self { $(Request::$op(m) => &m.source,)* }
            }
        }

        impl Response {
            /// The web method.
            pub fn operation(&self) -> Operation {
                match self { $(Response::$op(_) => Operation::$op,)* }
            }
            pub(crate) fn decode<'a>(
                op: Operation,
                d: &mut crate::xml::Decoder<'a>,
                start: &crate::xml::Start<'a>,
            ) -> crate::Result<Response> {
                Ok(match op {
                    $(Operation::$op => Response::$op(decode_root::<$resp>(d, start)?),)*
                })
            }
            pub(crate) fn encode(&self, e: &mut crate::xml::Encoder) {
                match self {
                    $(Response::$op(m) => encode_root(m, e, &Operation::$op.response_name()),)*
                }
            }
            /// Where the message was decoded from.
            pub fn source(&self) -> &crate::xml::Source {
                match self { $(Response::$op(m) => &m.source,)* }
            }
        }

        $(
            impl From<$req> for Request {
                fn from(m: $req) -> Self { Request::$op(m) }
            }
            impl From<$resp> for Response {
                fn from(m: $resp) -> Self { Response::$op(m) }
            }
        )*
    };
}

message_enums! {
    GetAuthorizationCookie => GetAuthorizationCookie, GetAuthorizationCookieResponse;
    GetConfig => GetConfig, GetConfigResponse;
    GetConfig2 => GetConfig2, GetConfig2Response;
    GetCookie => GetCookie, GetCookieResponse;
    RegisterComputer => RegisterComputer, RegisterComputerResponse;
    StartCategoryScan => StartCategoryScan, StartCategoryScanResponse;
    SyncUpdates => SyncUpdates, SyncUpdatesResponse;
    SyncPrinterCatalog => SyncPrinterCatalog, SyncPrinterCatalogResponse;
    RefreshCache => RefreshCache, RefreshCacheResponse;
    GetExtendedUpdateInfo => GetExtendedUpdateInfo, GetExtendedUpdateInfoResponse;
    GetExtendedUpdateInfo2 => GetExtendedUpdateInfo2, GetExtendedUpdateInfo2Response;
    GetFileLocations => GetFileLocations, GetFileLocationsResponse;
    GetTimestamps => GetTimestamps, GetTimestampsResponse;
    ReportEventBatch => ReportEventBatch, ReportEventBatchResponse;
    ReportEventBatch2 => ReportEventBatch2, ReportEventBatch2Response;
    GetRequiredInventoryType => GetRequiredInventoryType, GetRequiredInventoryTypeResponse;
    ReportInventory => ReportInventory, ReportInventoryResponse;
}

/// Decodes a message root element; an empty or nil root (`<RegisterComputerResponse/>`)
/// is the default value, and keeps its bytes.
fn decode_root<'a, S: crate::xml::Struct>(
    d: &mut crate::xml::Decoder<'a>,
    start: &crate::xml::Start<'a>,
) -> crate::Result<S> {
    crate::xml::decode_root_struct::<S>(d, start)
}

/// Writes a message root; an empty message built in code is self-closing, as .NET writes
/// `<RegisterComputerResponse xmlns="…" />`.
fn encode_root<S: crate::xml::Struct>(m: &S, e: &mut crate::xml::Encoder, name: &str) {
    let empty = !S::FIELDS.iter().any(|f| (f.present)(m));
    if empty && !m.source().is_decoded() {
        e.empty_element(name);
    } else {
        crate::xml::encode_struct(m, e, name);
    }
}
