//! SOAP faults and the WUSP ErrorCodes with the recovery each requires (reference section 4).

use crate::ops::Operation;
use crate::values::{Guid, wusp_enum};
use crate::xml::wusp_struct;

wusp_enum! {
    /// `ErrorCode` of a fault's detail (reference 4.2), including the variant spellings of section 10 #4.
    pub enum ErrorCode {
        /// The cookie cannot be decrypted or validated.
        InvalidCookie = "InvalidCookie",
        /// Server configuration changed since the client's last GetConfig.
        ConfigChanged = "ConfigChanged",
        /// The client must register.
        RegistrationRequired = "RegistrationRequired",
        /// Server identity or state changed.
        ServerChanged = "ServerChanged",
        /// Server-side failure.
        InternalServerError = "InternalServerError",
        /// The cookie is valid but expired.
        CookieExpired = "CookieExpired",
        /// A parameter is bad; Message names it.
        InvalidParameters = "InvalidParameters",
        /// Singular spelling of §3.1.5.9.
        InvalidParameter = "InvalidParameter",
        /// The AuthorizationCookie given to GetCookie is invalid.
        InvalidAuthorizationCookie = "InvalidAuthorizationCookie",
        /// RegisterComputer although GetConfig said it is not needed.
        RegistrationNotRequired = "RegistrationNotRequired",
        /// The server is overloaded.
        ServerBusy = "ServerBusy",
        /// Cached file locations are stale.
        FileLocationChanged = "FileLocationChanged",
        /// Plural spelling of §3.1.5.10.
        FileLocationsChanged = "FileLocationsChanged",
        /// MS-WSUSSS only.
        IncompatibleProtocolVersion = "IncompatibleProtocolVersion",
        /// MS-WSUSSS only.
        FileDigestsMissing = "FileDigestsMissing",
        /// MS-WSUSSS only.
        TooManyIds = "TooManyIds",
    }
}

/// What a client has to do after a fault (reference 4.2, rule C-39).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// Calls to make, in order, before retrying the failed operation.
    pub steps: &'static [Operation],
    /// The cookie must be discarded (never sent again, rule C-40).
    pub discard_cookie: bool,
    /// The expired cookie goes into the next GetCookie's `oldCookie` (rule C-41).
    pub old_cookie_in_get_cookie: bool,
    /// Retry the failed operation afterwards (false: fix the request instead).
    pub retry: bool,
    /// Retry later rather than at once (server busy or failing).
    pub later: bool,
    /// Level of the requirement in the reference.
    pub level: &'static str,
}

impl ErrorCode {
    /// The codes of the WUSP table, in the reference's spelling (no variants, no WSUSSS codes).
    pub const WUSP: &'static [ErrorCode] = &[
        ErrorCode::InvalidCookie,
        ErrorCode::ConfigChanged,
        ErrorCode::RegistrationRequired,
        ErrorCode::ServerChanged,
        ErrorCode::InternalServerError,
        ErrorCode::CookieExpired,
        ErrorCode::InvalidParameters,
        ErrorCode::InvalidAuthorizationCookie,
        ErrorCode::RegistrationNotRequired,
        ErrorCode::ServerBusy,
        ErrorCode::FileLocationChanged,
    ];

    /// The table spelling: `InvalidParameter` → `InvalidParameters`, `FileLocationsChanged` → `FileLocationChanged`.
    pub fn canonical(&self) -> ErrorCode {
        match self {
            ErrorCode::InvalidParameter => ErrorCode::InvalidParameters,
            ErrorCode::FileLocationsChanged => ErrorCode::FileLocationChanged,
            other => other.clone(),
        }
    }

    /// True for codes of the WUSP table 4.2 (either spelling); rule T-06.
    pub fn is_wusp(&self) -> bool {
        ErrorCode::WUSP.contains(&self.canonical())
    }

    /// The recovery the reference requires after this fault.
    pub fn recovery(&self) -> Recovery {
        use Operation::*;
        let r = |steps, discard, old, retry, later, level| Recovery {
            steps,
            discard_cookie: discard,
            old_cookie_in_get_cookie: old,
            retry,
            later,
            level,
        };
        match self.canonical() {
            ErrorCode::InvalidCookie | ErrorCode::ServerChanged => r(
                &[GetConfig, GetAuthorizationCookie, GetCookie, RefreshCache],
                true,
                false,
                true,
                false,
                "MUST",
            ),
            ErrorCode::ConfigChanged => r(
                &[GetConfig, GetAuthorizationCookie, GetCookie],
                false,
                false,
                true,
                false,
                "MUST",
            ),
            ErrorCode::CookieExpired => r(
                &[GetAuthorizationCookie, GetCookie],
                false,
                true,
                true,
                false,
                "MUST",
            ),
            ErrorCode::RegistrationRequired => {
                r(&[RegisterComputer], false, false, true, false, "SHOULD")
            }
            ErrorCode::FileLocationChanged => {
                r(&[GetFileLocations], false, false, false, false, "SHOULD")
            }
            ErrorCode::InternalServerError | ErrorCode::ServerBusy => {
                r(&[], false, false, true, true, "SHOULD")
            }
            ErrorCode::InvalidAuthorizationCookie => r(
                &[GetAuthorizationCookie, GetCookie],
                false,
                false,
                true,
                false,
                "INF",
            ),
            ErrorCode::RegistrationNotRequired => r(&[], false, false, false, false, "INF"),
            _ => r(&[], false, false, false, false, "-"),
        }
    }
}

/// The ErrorCodes an operation can raise (reference 4.3), besides the general ones.
pub fn possible_faults(op: Operation) -> &'static [ErrorCode] {
    use ErrorCode::*;
    match op {
        Operation::GetConfig | Operation::GetConfig2 => &[InvalidParameters],
        Operation::GetAuthorizationCookie => &[InvalidParameters, InternalServerError],
        Operation::GetCookie => &[
            InvalidAuthorizationCookie,
            InvalidCookie,
            ServerChanged,
            ConfigChanged,
            InvalidParameters,
        ],
        Operation::RegisterComputer => &[
            InvalidCookie,
            ServerChanged,
            CookieExpired,
            InvalidParameters,
            RegistrationNotRequired,
        ],
        Operation::StartCategoryScan => &[InvalidParameters],
        Operation::SyncUpdates | Operation::SyncPrinterCatalog => &[
            InvalidCookie,
            ServerChanged,
            CookieExpired,
            InvalidParameters,
            ConfigChanged,
            RegistrationRequired,
        ],
        Operation::RefreshCache
        | Operation::GetExtendedUpdateInfo
        | Operation::GetExtendedUpdateInfo2
        | Operation::GetFileLocations => &[
            InvalidCookie,
            ServerChanged,
            CookieExpired,
            InvalidParameters,
        ],
        Operation::ReportEventBatch
        | Operation::ReportEventBatch2
        | Operation::GetRequiredInventoryType
        | Operation::ReportInventory => &[
            InvalidCookie,
            ServerChanged,
            CookieExpired,
            InvalidParameters,
            ConfigChanged,
        ],
        Operation::GetTimestamps => &[InvalidParameters],
    }
}

wusp_struct! {
    /// The `detail` of a WUSP fault; its children are unqualified.
    pub struct FaultDetail [any_ns] {
        /// The code.
        error_code: ErrorCode = "ErrorCode",
        /// Free text; for InvalidParameters it names the parameter.
        message: String = "Message",
        /// Server-generated instance ID.
        id: Guid = "ID",
        /// The quoted SOAPAction.
        method: String = "Method",
    }
}

wusp_struct! {
    /// A SOAP 1.1 `Fault` (reference 4.1); its children are unqualified.
    pub struct Fault [any_ns] {
        /// `s:Client` or `s:Server`.
        faultcode: String = "faultcode",
        /// Text (WSUS: "Fault occurred" or a stack trace).
        faultstring: String = "faultstring",
        /// Service URL (optional).
        faultactor: String = "faultactor",
        /// WUSP detail.
        detail: FaultDetail = "detail",
        /// SOAP 1.2 (FE3 variant): `Code`, kept as written.
        code: crate::types::RawElement = "Code",
        /// SOAP 1.2: `Reason`, kept as written.
        reason: crate::types::RawElement = "Reason",
        /// SOAP 1.2: `Node`.
        node: String = "Node",
        /// SOAP 1.2: `Role`.
        role: String = "Role",
        /// SOAP 1.2: `Detail` (same children as the SOAP 1.1 detail).
        detail12: FaultDetail = "Detail",
    }
}

impl Fault {
    /// A fault as WS2025 sends it: `s:Client`, "Fault occurred", a detail with ErrorCode,
    /// Message, a fresh ID and the quoted SOAPAction of `op`.
    pub fn wsus(code: ErrorCode, message: &str, id: Guid, op: Option<Operation>) -> Fault {
        Fault {
            faultcode: "s:Client".to_string().into(),
            faultstring: "Fault occurred".to_string().into(),
            faultactor: crate::Field::Absent,
            detail: FaultDetail {
                error_code: code.into(),
                message: if message.is_empty() {
                    crate::Field::Empty
                } else {
                    message.to_string().into()
                },
                id: id.into(),
                method: match op {
                    Some(op) => format!("\"{}\"", op.soap_action()).into(),
                    None => crate::Field::Absent,
                },
                source: Default::default(),
            }
            .into(),
            ..Default::default()
        }
    }

    /// The ErrorCode, if the detail (SOAP 1.1 `detail` or SOAP 1.2 `Detail`) has one.
    pub fn error_code(&self) -> Option<&ErrorCode> {
        self.detail
            .value()
            .or(self.detail12.value())?
            .error_code
            .value()
    }
}
