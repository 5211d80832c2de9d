//! Services, web methods, SOAPActions, namespaces and operation identification
//! (reference 1.1, 1.5, 1.6, 1.6a).

use std::fmt;

use crate::error::{Error, Result};

/// SOAP 1.1 envelope namespace.
pub const NS_SOAP: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// SOAP 1.2 envelope namespace (FE3 variant only, reference 1.9).
pub const NS_SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
/// SOAP encoding namespace (spec examples only).
pub const NS_SOAPENC: &str = "http://schemas.xmlsoap.org/soap/encoding/";
/// Client web service namespace (`cws`).
pub const NS_CLIENT: &str = "http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService";
/// SimpleAuth web service namespace (`sa`).
pub const NS_SIMPLEAUTH: &str =
    "http://www.microsoft.com/SoftwareDistribution/Server/SimpleAuthWebService";
/// Reporting web service namespace (`rpt`).
pub const NS_REPORTING: &str = "http://www.microsoft.com/SoftwareDistribution";

/// One of the three WUSP web services.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// `/ClientWebService/Client.asmx`.
    Client,
    /// `/SimpleAuthWebService/SimpleAuth.asmx`.
    SimpleAuth,
    /// `/ReportingWebService/ReportingWebService.asmx` (or `WebService.asmx`).
    Reporting,
}

impl Service {
    /// The namespace of the service's body elements.
    pub fn namespace(self) -> &'static str {
        match self {
            Service::Client => NS_CLIENT,
            Service::SimpleAuth => NS_SIMPLEAUTH,
            Service::Reporting => NS_REPORTING,
        }
    }
    /// The canonical path (as native WUA writes it).
    pub fn path(self) -> &'static str {
        match self {
            Service::Client => "/ClientWebService/client.asmx",
            Service::SimpleAuth => "/SimpleAuthWebService/SimpleAuth.asmx",
            Service::Reporting => "/ReportingWebService/ReportingWebService.asmx",
        }
    }
    /// The service a request path names (case-insensitive, query ignored); reference 1.1 and 10 #1, #2.
    pub fn from_path(path: &str) -> Option<Service> {
        let p = path.split(['?', '#']).next().unwrap_or("");
        // Absolute-form URLs (explicit proxies) carry scheme and authority.
        let p = match p.find("://") {
            Some(i) => p[i + 3..].find('/').map_or("/", |j| &p[i + 3 + j..]),
            None => p,
        };
        let p = p.trim_end_matches('/').to_ascii_lowercase();
        match p.as_str() {
            "/clientwebservice/client.asmx" | "/clientwebservice/client.asmx/secured" => {
                Some(Service::Client)
            }
            "/simpleauthwebservice/simpleauth.asmx" => Some(Service::SimpleAuth),
            "/reportingwebservice/reportingwebservice.asmx"
            | "/reportingwebservice/webservice.asmx" => Some(Service::Reporting),
            _ => None,
        }
    }
    /// The service whose namespace is `ns`.
    pub fn from_namespace(ns: &str) -> Option<Service> {
        match ns {
            NS_CLIENT => Some(Service::Client),
            NS_SIMPLEAUTH => Some(Service::SimpleAuth),
            NS_REPORTING => Some(Service::Reporting),
            _ => None,
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Service::Client => "Client",
            Service::SimpleAuth => "SimpleAuth",
            Service::Reporting => "Reporting",
        })
    }
}

macro_rules! operations {
    ($($(#[$m:meta])* $op:ident: $svc:ident $(, modeled = $modeled:literal)?;)*) => {
        /// A web method of reference section 2 (and the WSDL-only Reporting methods).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Operation {
            $($(#[$m])* $op,)*
        }
        impl Operation {
            /// Every operation.
            pub const ALL: &'static [Operation] = &[$(Operation::$op),*];
            /// The web-method name (also the request body element's local name).
            pub fn name(self) -> &'static str {
                match self { $(Operation::$op => stringify!($op),)* }
            }
            /// The service it belongs to.
            pub fn service(self) -> Service {
                match self { $(Operation::$op => Service::$svc,)* }
            }
        }
    };
}

operations! {
    /// SimpleAuth GetAuthorizationCookie (2.1).
    GetAuthorizationCookie: SimpleAuth;
    /// GetConfig (2.2).
    GetConfig: Client;
    /// GetConfig2 (2.3, MU-WSDL).
    GetConfig2: Client;
    /// GetCookie (2.4).
    GetCookie: Client;
    /// RegisterComputer (2.5).
    RegisterComputer: Client;
    /// StartCategoryScan (2.6).
    StartCategoryScan: Client;
    /// SyncUpdates (2.7).
    SyncUpdates: Client;
    /// SyncPrinterCatalog (2.8).
    SyncPrinterCatalog: Client;
    /// RefreshCache (2.9).
    RefreshCache: Client;
    /// GetExtendedUpdateInfo (2.10).
    GetExtendedUpdateInfo: Client;
    /// GetExtendedUpdateInfo2 (2.11).
    GetExtendedUpdateInfo2: Client;
    /// GetFileLocations (2.12).
    GetFileLocations: Client;
    /// GetTimestamps (2.13, MU-WSDL).
    GetTimestamps: Client;
    /// Reporting ReportEventBatch (2.14).
    ReportEventBatch: Reporting;
    /// ReportEventBatch2 (WSDL only).
    ReportEventBatch2: Reporting;
    /// GetRequiredInventoryType (WSDL only).
    GetRequiredInventoryType: Reporting;
    /// ReportInventory (WSDL only).
    ReportInventory: Reporting;
}

impl Operation {
    /// The SOAPAction URI (unquoted), reference 1.5.
    pub fn soap_action(self) -> String {
        match self.service() {
            Service::Reporting => format!("{NS_REPORTING}/{}", self.name()),
            s => format!("{}/{}", s.namespace(), self.name()),
        }
    }
    /// The response body element's local name.
    pub fn response_name(self) -> String {
        format!("{}Response", self.name())
    }
    /// The result element's local name, for responses that wrap one.
    pub fn result_name(self) -> Option<String> {
        match self {
            Operation::RegisterComputer | Operation::StartCategoryScan => None,
            op => Some(format!("{}Result", op.name())),
        }
    }
    /// The operation whose request element is `local` in namespace `ns`.
    pub fn from_request_element(ns: &str, local: &str) -> Option<Operation> {
        Operation::ALL
            .iter()
            .copied()
            .find(|op| op.name() == local && op.service().namespace() == ns)
    }
    /// The operation whose response element is `local` in namespace `ns`.
    pub fn from_response_element(ns: &str, local: &str) -> Option<Operation> {
        let name = local.strip_suffix("Response")?;
        Operation::from_request_element(ns, name)
    }
    /// The operation a SOAPAction names (quotes stripped); `.../SyncUpdates` never maps to
    /// SyncPrinterCatalog here: see [`identify`] for that spec-prose variant.
    pub fn from_soap_action(action: &str) -> Option<Operation> {
        let a = unquote(action);
        Operation::ALL
            .iter()
            .copied()
            .find(|op| op.soap_action() == a)
    }
    /// True for operations whose request carries a `cookie` (rule C-14).
    pub fn takes_cookie(self) -> bool {
        matches!(
            self,
            Operation::RegisterComputer
                | Operation::SyncUpdates
                | Operation::SyncPrinterCatalog
                | Operation::RefreshCache
                | Operation::GetExtendedUpdateInfo
                | Operation::GetExtendedUpdateInfo2
                | Operation::GetFileLocations
                | Operation::ReportEventBatch
                | Operation::GetRequiredInventoryType
                | Operation::ReportInventory
        )
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Operation {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Operation::ALL
            .iter()
            .copied()
            .find(|op| op.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::Identify(format!("no web method named {s:?}")))
    }
}

/// Strips surrounding double quotes (SOAPAction is always quoted on the wire).
pub fn unquote(s: &str) -> &str {
    let t = s.trim();
    t.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(t)
}

/// How the three identifications of a request agreed (rule T-03).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identification {
    /// The operation, taken from the body root when present, else SOAPAction, else nothing.
    pub operation: Operation,
    /// Disagreements found, each a sentence naming both sides (empty when all agree).
    pub disagreements: Vec<String>,
    /// The SOAPAction was the spec-prose variant `.../SyncUpdates` for SyncPrinterCatalog (reference 10 #3).
    pub prose_printer_action: bool,
}

/// Identifies the operation of a request from URL path, SOAPAction and body root
/// `(namespace, local name)` (reference 1.6a). Any of the three may be missing; an error
/// only when none names a known operation.
pub fn identify(
    path: Option<&str>,
    soap_action: Option<&str>,
    root: Option<(&str, &str)>,
) -> Result<Identification> {
    let by_path = path.map(|p| (p, Service::from_path(p)));
    let by_action = soap_action.map(|a| (unquote(a), Operation::from_soap_action(a)));
    let by_root = root.map(|(ns, l)| ((ns, l), Operation::from_request_element(ns, l)));
    let mut disagreements = Vec::new();
    let mut prose_printer_action = false;

    let operation = match (&by_root, &by_action) {
        (Some((_, Some(op))), _) => *op,
        (_, Some((_, Some(op)))) => *op,
        _ => {
            let mut why = Vec::new();
            if let Some(((ns, l), None)) = &by_root {
                why.push(format!(
                    "body root <{l}> in namespace {ns:?} is no WUSP request"
                ));
            }
            if let Some((a, None)) = &by_action {
                why.push(format!("SOAPAction {a:?} names no WUSP operation"));
            }
            if why.is_empty() {
                why.push("no body root element and no SOAPAction".to_string());
            }
            return Err(Error::Identify(why.join("; ")));
        }
    };

    if let Some(((ns, l), None)) = &by_root {
        disagreements.push(format!(
            "body root <{l}> in namespace {ns:?} is not a request of {operation} (expected <{}> in {})",
            operation.name(),
            operation.service().namespace()
        ));
    }
    match &by_action {
        Some((a, Some(op))) if *op != operation => {
            if operation == Operation::SyncPrinterCatalog && *op == Operation::SyncUpdates {
                prose_printer_action = true;
            } else {
                disagreements.push(format!(
                    "SOAPAction {a:?} names {op} but the body root is {operation}"
                ));
            }
        }
        Some((a, None)) => disagreements.push(format!(
            "SOAPAction {a:?} names no WUSP operation; the body root is {operation}"
        )),
        None => disagreements.push(format!("no SOAPAction header for {operation}")),
        _ => {}
    }
    match &by_path {
        Some((p, Some(svc))) if *svc != operation.service() => disagreements.push(format!(
            "path {p:?} is the {svc} service but {operation} belongs to the {} service",
            operation.service()
        )),
        Some((p, None)) => disagreements.push(format!(
            "path {p:?} is not a WUSP service path ({operation} belongs at {})",
            operation.service().path()
        )),
        _ => {}
    }
    Ok(Identification {
        operation,
        disagreements,
        prose_printer_action,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soap_actions_match_reference_table() {
        assert_eq!(
            Operation::GetConfig.soap_action(),
            "http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService/GetConfig"
        );
        assert_eq!(
            Operation::GetAuthorizationCookie.soap_action(),
            "http://www.microsoft.com/SoftwareDistribution/Server/SimpleAuthWebService/GetAuthorizationCookie"
        );
        assert_eq!(
            Operation::ReportEventBatch.soap_action(),
            "http://www.microsoft.com/SoftwareDistribution/ReportEventBatch"
        );
        for op in Operation::ALL {
            assert_eq!(
                Operation::from_soap_action(&format!("\"{}\"", op.soap_action())),
                Some(*op)
            );
        }
    }

    #[test]
    fn paths_are_case_insensitive_and_accept_both_reporting_paths() {
        assert_eq!(
            Service::from_path("/ClientWebService/Client.asmx"),
            Some(Service::Client)
        );
        assert_eq!(
            Service::from_path("/clientwebservice/client.asmx"),
            Some(Service::Client)
        );
        assert_eq!(
            Service::from_path("http://wsus:8530/ReportingWebService/WebService.asmx"),
            Some(Service::Reporting)
        );
        assert_eq!(Service::from_path("/Content/49/A3.exe"), None);
    }

    #[test]
    fn identify_agrees_and_names_disagreements() {
        let ok = identify(
            Some("/ClientWebService/client.asmx"),
            Some("\"http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService/SyncUpdates\""),
            Some((NS_CLIENT, "SyncUpdates")),
        )
        .unwrap();
        assert_eq!(ok.operation, Operation::SyncUpdates);
        assert!(ok.disagreements.is_empty());

        let bad = identify(
            Some("/SimpleAuthWebService/SimpleAuth.asmx"),
            Some("\"http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService/GetConfig\""),
            Some((NS_CLIENT, "GetCookie")),
        )
        .unwrap();
        assert_eq!(bad.operation, Operation::GetCookie);
        assert_eq!(bad.disagreements.len(), 2, "{:?}", bad.disagreements);
        assert!(bad.disagreements[0].contains("GetConfig"));
        assert!(bad.disagreements[1].contains("SimpleAuth"));

        let printer = identify(
            None,
            Some(
                "http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService/SyncUpdates",
            ),
            Some((NS_CLIENT, "SyncPrinterCatalog")),
        )
        .unwrap();
        assert!(printer.prose_printer_action);
        assert!(printer.disagreements.is_empty());

        let err = identify(Some("/x"), Some("\"urn:nothing\""), None).unwrap_err();
        assert!(err.to_string().contains("urn:nothing"));
    }
}
