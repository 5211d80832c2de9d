//! Faults (reference section 4, section 8 #7, #8, #20): both shapes of 4.1, every ErrorCode
//! of table 4.2 with its recovery, table 4.3.

use wusp::fault::{FaultDetail, Recovery, possible_faults};
use wusp::values::Guid;
use wusp::{Body, Envelope, ErrorCode, Fault, Field, Operation};

use crate::support::*;

pub(crate) const FAULT_ID: &str = "9e1f6b3a-7c2d-4e5f-a0b1-c2d3e4f5a6b7";

/// The .NET stack trace of the spec example's faultstring (CRLF line ends inside the text
/// would be normalised by any XML parser, so the spec example uses LF like the rest).
const STACK: &str = "System.Web.Services.Protocols.SoapException: Fault occurred
   at Microsoft.UpdateServices.Internal.ClientImplementation.GetCookie(AuthorizationCookie[] authCookies, Cookie oldCookie, DateTime lastChange, DateTime currentTime, String clientProtocolVersion)
   at Microsoft.UpdateServices.Internal.Client.GetCookie(AuthorizationCookie[] authCookies, Cookie oldCookie, DateTime lastChange, DateTime currentTime, String protocolVersion)";

fn spec_fault(code: &str, actor: &str, method: &str) -> String {
    spec_example(&format!(
        r#"    <soap:Fault>
      <faultcode>soap:Client</faultcode>
      <faultstring>{STACK}</faultstring>
      <faultactor>{actor}</faultactor>
      <detail>
        <ErrorCode>{code}</ErrorCode>
        <Message />
        <ID>{FAULT_ID}</ID>
        <Method>"{method}"</Method>
      </detail>
    </soap:Fault>"#
    ))
}

/// Section 8 #7: GetCookie fault ConfigChanged, spec shape.
pub(crate) fn get_cookie_config_changed_fault() -> String {
    spec_fault(
        "ConfigChanged",
        "http://wsus01:8530/ClientWebService/client.asmx",
        "http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService/GetCookie",
    )
}

/// Section 8 #8: GetCookie fault InvalidCookie, same shape.
pub(crate) fn get_cookie_invalid_cookie_fault() -> String {
    spec_fault(
        "InvalidCookie",
        "http://wsus01:8530/ClientWebService/client.asmx",
        "http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService/GetCookie",
    )
}

/// Section 8 #20: ReportEventBatch fault ConfigChanged.
pub(crate) fn report_event_batch_config_changed_fault() -> String {
    spec_fault(
        "ConfigChanged",
        "http://wsus01:8530/ReportingWebService/ReportingWebService.asmx",
        "http://www.microsoft.com/SoftwareDistribution/ReportEventBatch",
    )
}

/// WS2025 (reference 4.1): `s:Client`, `Fault occurred`, no faultactor, Message naming the
/// parameter.
pub(crate) fn ws2025_fault(code: &str, message: &str, op: Operation) -> String {
    let message = if message.is_empty() {
        "<Message />".to_string()
    } else {
        format!("<Message>{message}</Message>")
    };
    native_response(&format!(
        r#"<s:Fault><faultcode>s:Client</faultcode><faultstring>Fault occurred</faultstring><detail><ErrorCode>{code}</ErrorCode>{message}<ID>{FAULT_ID}</ID><Method>"{}"</Method></detail></s:Fault>"#,
        op.soap_action()
    ))
}

pub(crate) fn sync_updates_invalid_parameters_fault() -> String {
    ws2025_fault(
        "InvalidParameters",
        "parameters.InstalledNonLeafUpdateIDs",
        Operation::SyncUpdates,
    )
}

pub(crate) fn documents() -> Vec<(&'static str, String)> {
    vec![
        (
            "GetCookie ConfigChanged spec fault",
            get_cookie_config_changed_fault(),
        ),
        (
            "GetCookie InvalidCookie spec fault",
            get_cookie_invalid_cookie_fault(),
        ),
        (
            "ReportEventBatch ConfigChanged spec fault",
            report_event_batch_config_changed_fault(),
        ),
        (
            "SyncUpdates InvalidParameters WS2025 fault",
            sync_updates_invalid_parameters_fault(),
        ),
    ]
}

fn fault(env: &Envelope) -> &Fault {
    match &env.body {
        Body::Fault(f) => f,
        other => panic!("expected a fault, got {other:?}"),
    }
}

fn fault_mut(env: &mut Envelope) -> &mut Fault {
    match &mut env.body {
        Body::Fault(f) => f,
        other => panic!("expected a fault, got {other:?}"),
    }
}

/// One row of table 4.2, in the terms of [`Recovery`].
struct Row {
    code: ErrorCode,
    steps: &'static [Operation],
    discard_cookie: bool,
    old_cookie_in_get_cookie: bool,
    retry: bool,
    later: bool,
    level: &'static str,
}

/// Table 4.2. "Discard the cookie" for InvalidCookie/ServerChanged; CookieExpired renews
/// with the expired cookie as `oldCookie` (section 9); InvalidParameters means "fix the
/// request, do not resend unchanged"; the two rows without a stated action carry the
/// reference's `INF` inference.
fn table_4_2() -> Vec<Row> {
    use Operation::*;
    let row = |code, steps, discard_cookie, old_cookie_in_get_cookie, retry, later, level| Row {
        code,
        steps,
        discard_cookie,
        old_cookie_in_get_cookie,
        retry,
        later,
        level,
    };
    vec![
        row(
            ErrorCode::InvalidCookie,
            &[GetConfig, GetAuthorizationCookie, GetCookie, RefreshCache],
            true,
            false,
            true,
            false,
            "MUST",
        ),
        row(
            ErrorCode::ConfigChanged,
            &[GetConfig, GetAuthorizationCookie, GetCookie],
            false,
            false,
            true,
            false,
            "MUST",
        ),
        row(
            ErrorCode::RegistrationRequired,
            &[RegisterComputer],
            false,
            false,
            true,
            false,
            "SHOULD",
        ),
        row(
            ErrorCode::ServerChanged,
            &[GetConfig, GetAuthorizationCookie, GetCookie, RefreshCache],
            true,
            false,
            true,
            false,
            "MUST",
        ),
        row(
            ErrorCode::InternalServerError,
            &[],
            false,
            false,
            true,
            true,
            "SHOULD",
        ),
        row(
            ErrorCode::CookieExpired,
            &[GetAuthorizationCookie, GetCookie],
            false,
            true,
            true,
            false,
            "MUST",
        ),
        row(
            ErrorCode::InvalidParameters,
            &[],
            false,
            false,
            false,
            false,
            "-",
        ),
        row(
            ErrorCode::InvalidAuthorizationCookie,
            &[GetAuthorizationCookie, GetCookie],
            false,
            false,
            true,
            false,
            "INF",
        ),
        row(
            ErrorCode::RegistrationNotRequired,
            &[],
            false,
            false,
            false,
            false,
            "INF",
        ),
        row(
            ErrorCode::ServerBusy,
            &[],
            false,
            false,
            true,
            true,
            "SHOULD",
        ),
        row(
            ErrorCode::FileLocationChanged,
            &[GetFileLocations],
            false,
            false,
            false,
            false,
            "SHOULD",
        ),
    ]
}

#[test]
fn every_error_code_of_table_4_2_has_its_recovery() {
    let table = table_4_2();
    assert_eq!(
        table.iter().map(|r| r.code.clone()).collect::<Vec<_>>(),
        ErrorCode::WUSP,
        "the crate's table lists the same codes in the same order"
    );
    for row in &table {
        let expected = Recovery {
            steps: row.steps,
            discard_cookie: row.discard_cookie,
            old_cookie_in_get_cookie: row.old_cookie_in_get_cookie,
            retry: row.retry,
            later: row.later,
            level: row.level,
        };
        assert_eq!(row.code.recovery(), expected, "{}", row.code);
        assert!(row.code.is_wusp());
        assert!(row.code.is_known());
        assert_eq!(row.code.canonical(), row.code);
    }
}

#[test]
fn variant_spellings_recover_like_the_table_code() {
    assert_eq!(
        ErrorCode::InvalidParameter.canonical(),
        ErrorCode::InvalidParameters
    );
    assert_eq!(
        ErrorCode::InvalidParameter.recovery(),
        ErrorCode::InvalidParameters.recovery()
    );
    assert!(ErrorCode::InvalidParameter.is_wusp());
    assert_eq!(
        ErrorCode::FileLocationsChanged.canonical(),
        ErrorCode::FileLocationChanged
    );
    assert_eq!(
        ErrorCode::FileLocationsChanged.recovery(),
        ErrorCode::FileLocationChanged.recovery()
    );
    assert!(ErrorCode::FileLocationsChanged.is_wusp());
}

#[test]
fn codes_outside_table_4_2_are_not_wusp() {
    for code in [
        ErrorCode::IncompatibleProtocolVersion,
        ErrorCode::FileDigestsMissing,
        ErrorCode::TooManyIds,
        ErrorCode::Other("SomethingNew".into()),
    ] {
        assert!(!code.is_wusp(), "{code}");
        let r = code.recovery();
        assert!(
            r.steps.is_empty() && !r.retry && !r.discard_cookie,
            "{code}"
        );
    }
    assert_eq!(
        "SomethingNew".parse::<ErrorCode>().unwrap(),
        ErrorCode::Other("SomethingNew".into())
    );
}

#[test]
fn possible_faults_follow_table_4_3() {
    use ErrorCode::*;
    assert_eq!(possible_faults(Operation::GetConfig), &[InvalidParameters]);
    assert_eq!(
        possible_faults(Operation::GetAuthorizationCookie),
        &[InvalidParameters, InternalServerError]
    );
    let get_cookie = possible_faults(Operation::GetCookie);
    for c in [
        InvalidAuthorizationCookie,
        InvalidCookie,
        ServerChanged,
        ConfigChanged,
        InvalidParameters,
    ] {
        assert!(get_cookie.contains(&c), "GetCookie {c}");
    }
    assert!(possible_faults(Operation::RegisterComputer).contains(&RegistrationNotRequired));
    assert_eq!(
        possible_faults(Operation::StartCategoryScan),
        &[InvalidParameters]
    );
    for op in [Operation::SyncUpdates, Operation::SyncPrinterCatalog] {
        for c in [
            InvalidCookie,
            ServerChanged,
            CookieExpired,
            InvalidParameters,
            ConfigChanged,
            RegistrationRequired,
        ] {
            assert!(possible_faults(op).contains(&c), "{op} {c}");
        }
    }
    for op in [
        Operation::RefreshCache,
        Operation::GetExtendedUpdateInfo,
        Operation::GetFileLocations,
    ] {
        assert_eq!(
            possible_faults(op),
            &[
                InvalidCookie,
                ServerChanged,
                CookieExpired,
                InvalidParameters
            ],
            "{op}"
        );
    }
    assert!(possible_faults(Operation::ReportEventBatch).contains(&ConfigChanged));
}

#[test]
fn every_error_code_decodes_from_a_ws2025_fault_and_round_trips() {
    let all = [
        "InvalidCookie",
        "ConfigChanged",
        "RegistrationRequired",
        "ServerChanged",
        "InternalServerError",
        "CookieExpired",
        "InvalidParameters",
        "InvalidParameter",
        "InvalidAuthorizationCookie",
        "RegistrationNotRequired",
        "ServerBusy",
        "FileLocationChanged",
        "FileLocationsChanged",
    ];
    for code in all {
        let doc = ws2025_fault(code, "", Operation::SyncUpdates);
        let env = decode_exact(&doc);
        assert_eq!(env.operation(), None);
        let f = fault(&env);
        let decoded = f.error_code().unwrap();
        assert_eq!(decoded.as_str(), code);
        assert!(decoded.is_known() && decoded.is_wusp(), "{code}");
        assert_eq!(f.detail.value().unwrap().message, Field::Empty);
    }
}

#[test]
fn spec_fault_get_cookie_config_changed_values() {
    let env = decode(&get_cookie_config_changed_fault());
    let f = fault(&env);
    assert_eq!(f.faultcode, s("soap:Client"));
    let stack = text(&f.faultstring);
    assert!(stack.starts_with("System.Web.Services.Protocols.SoapException: Fault occurred\n   at Microsoft.UpdateServices.Internal.ClientImplementation.GetCookie("));
    assert_eq!(stack, STACK);
    assert_eq!(
        f.faultactor,
        s("http://wsus01:8530/ClientWebService/client.asmx")
    );
    let d = f.detail.value().unwrap();
    assert_eq!(d.error_code, Field::Value(ErrorCode::ConfigChanged));
    assert_eq!(d.message, Field::Empty);
    assert_eq!(d.id, guid(FAULT_ID));
    assert_eq!(
        d.method,
        s("\"http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService/GetCookie\"")
    );
    assert_eq!(
        Operation::from_soap_action(text(&d.method)),
        Some(Operation::GetCookie),
        "Method holds the quoted SOAPAction"
    );
    assert_eq!(f.error_code().unwrap().recovery().level, "MUST");
}

#[test]
fn spec_fault_get_cookie_invalid_cookie_values() {
    let env = decode(&get_cookie_invalid_cookie_fault());
    let f = fault(&env);
    assert_eq!(f.error_code(), Some(&ErrorCode::InvalidCookie));
    assert!(f.error_code().unwrap().recovery().discard_cookie);
    assert_eq!(f.faultcode, s("soap:Client"));
    assert!(f.faultactor.is_present());
}

#[test]
fn spec_fault_report_event_batch_config_changed_values() {
    let env = decode(&report_event_batch_config_changed_fault());
    let f = fault(&env);
    assert_eq!(f.error_code(), Some(&ErrorCode::ConfigChanged));
    assert_eq!(
        f.faultactor,
        s("http://wsus01:8530/ReportingWebService/ReportingWebService.asmx")
    );
    let method = text(&f.detail.value().unwrap().method);
    assert_eq!(
        method,
        "\"http://www.microsoft.com/SoftwareDistribution/ReportEventBatch\""
    );
    assert_eq!(
        Operation::from_soap_action(method),
        Some(Operation::ReportEventBatch)
    );
}

#[test]
fn ws2025_fault_values() {
    let env = decode(&sync_updates_invalid_parameters_fault());
    let f = fault(&env);
    assert_eq!(f.faultcode, s("s:Client"));
    assert_eq!(f.faultstring, s("Fault occurred"));
    assert!(f.faultactor.is_absent());
    let d = f.detail.value().unwrap();
    assert_eq!(d.error_code, Field::Value(ErrorCode::InvalidParameters));
    assert_eq!(d.message, s("parameters.InstalledNonLeafUpdateIDs"));
    assert_eq!(d.id, guid(FAULT_ID));
    assert_eq!(
        Operation::from_soap_action(text(&d.method)),
        Some(Operation::SyncUpdates)
    );
    assert!(!f.error_code().unwrap().recovery().retry, "fix the request");
}

#[test]
fn faults_round_trip() {
    for (_, doc) in documents() {
        decode_exact(&doc);
    }
    // WS2025 shape built in code: it is the WS2025 fixture.
    let f = Fault::wsus(
        ErrorCode::InvalidParameters,
        "parameters.InstalledNonLeafUpdateIDs",
        Guid(FAULT_ID.into()),
        Some(Operation::SyncUpdates),
    );
    let (back, xml) = rebuild(&Envelope::fault(f.clone()));
    assert_eq!(fault(&back), &f);
    assert_eq!(xml, sync_updates_invalid_parameters_fault());

    // Spec shape built in code: faultactor and a multi-line stack trace.
    let f = Fault {
        faultcode: s("soap:Client"),
        faultstring: s(STACK),
        faultactor: s("http://wsus01:8530/ClientWebService/client.asmx"),
        detail: Field::Value(FaultDetail {
            error_code: Field::Value(ErrorCode::CookieExpired),
            message: Field::Empty,
            id: guid(FAULT_ID),
            method: s(
                "\"http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService/RegisterComputer\"",
            ),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (back, xml) = rebuild(&Envelope::fault(f.clone()));
    assert_eq!(fault(&back), &f);
    assert!(xml.contains("<s:Fault><faultcode>soap:Client</faultcode><faultstring>System.Web.Services.Protocols.SoapException"), "{xml}");
    assert!(xml.contains("<faultactor>http://wsus01:8530/ClientWebService/client.asmx</faultactor><detail><ErrorCode>CookieExpired</ErrorCode><Message />"), "{xml}");
}

#[test]
fn fault_with_crlf_stack_trace_built_in_code_round_trips() {
    let f = Fault {
        faultcode: s("soap:Server"),
        faultstring: s(&STACK.replace('\n', "\r\n")),
        ..Default::default()
    };
    rebuild(&Envelope::fault(f));
}

#[test]
fn editing_the_error_code_of_a_decoded_fault_changes_only_that_element() {
    let doc = sync_updates_invalid_parameters_fault();
    let mut env = decode(&doc);
    fault_mut(&mut env).detail.value_mut().unwrap().error_code =
        Field::Value(ErrorCode::CookieExpired);
    let expected = doc.replace(
        "<ErrorCode>InvalidParameters</ErrorCode>",
        "<ErrorCode>CookieExpired</ErrorCode>",
    );
    assert_eq!(env.encode(), expected);
}

#[test]
fn editing_the_faultstring_of_a_decoded_fault_changes_only_that_element() {
    let doc = sync_updates_invalid_parameters_fault();
    let mut env = decode(&doc);
    fault_mut(&mut env).faultstring = s("Server was unable to process request.");
    let expected = doc.replace(
        "<faultstring>Fault occurred</faultstring>",
        "<faultstring>Server was unable to process request.</faultstring>",
    );
    assert_eq!(env.encode(), expected);
}
