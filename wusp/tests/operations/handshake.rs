//! The handshake: GetConfig, GetConfig2, GetAuthorizationCookie, GetCookie, RegisterComputer
//! (reference 2.1–2.5, section 8 #1–#9).

use time::macros::datetime;
use wusp::messages::*;
use wusp::types::*;
use wusp::values::*;
use wusp::{Envelope, Field, Operation};

use crate::support::*;

// ---------------------------------------------------------------------------------------
// Documents
// ---------------------------------------------------------------------------------------

/// Section 8 #1.
pub(crate) fn get_config_spec_request() -> String {
    spec_example(
        r#"    <GetConfig xmlns="http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService">
      <protocolVersion>1.0</protocolVersion>
    </GetConfig>"#,
    )
}

/// Native Windows 11 25H2 (scan/000001).
pub(crate) fn get_config_native_request() -> String {
    native_request(&format!(
        r#"<GetConfig xmlns="{CWS}"><protocolVersion>2.90</protocolVersion></GetConfig>"#
    ))
}

/// Section 8 #2.
pub(crate) fn get_config_spec_response() -> String {
    spec_example(
        r#"    <GetConfigResponse xmlns="http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService">
      <GetConfigResult>
        <LastChange>2007-01-31T04:16:35.24Z</LastChange>
        <IsRegistrationRequired>true</IsRegistrationRequired>
        <AuthInfo soapenc:arrayType="AuthPlugInInfo[1]">
          <AuthPlugInInfo>
            <PlugInID>SimpleTargeting</PlugInID>
            <ServiceUrl>SimpleAuthWebService/SimpleAuth.asmx</ServiceUrl>
            <Parameter />
          </AuthPlugInInfo>
        </AuthInfo>
        <Properties soapenc:arrayType="ConfigurationProperty[5]">
          <ConfigurationProperty>
            <Name>MaxExtendedUpdatesPerRequest</Name>
            <Value>50</Value>
          </ConfigurationProperty>
          <ConfigurationProperty>
            <Name>PackageServerShare</Name>
            <Value>\\WSUSSRV\UpdateServicesPackages</Value>
          </ConfigurationProperty>
          <ConfigurationProperty>
            <Name>ProtocolVersion</Name>
            <Value>3.0</Value>
          </ConfigurationProperty>
          <ConfigurationProperty>
            <Name>IsInventoryRequired</Name>
            <Value>0</Value>
          </ConfigurationProperty>
          <ConfigurationProperty>
            <Name>ClientReportingLevel</Name>
            <Value>2</Value>
          </ConfigurationProperty>
        </Properties>
      </GetConfigResult>
    </GetConfigResponse>"#,
    )
}

/// WS2025 (reference 2.2): five properties in that order, no AllowedEventIds, `<Parameter />`.
pub(crate) fn get_config_ws2025_response() -> String {
    native_response(&format!(
        r#"<GetConfigResponse xmlns="{CWS}"><GetConfigResult><LastChange>2026-10-04T13:17:07.59Z</LastChange><IsRegistrationRequired>true</IsRegistrationRequired><AuthInfo><AuthPlugInInfo><PlugInID>SimpleTargeting</PlugInID><ServiceUrl>SimpleAuthWebService/SimpleAuth.asmx</ServiceUrl><Parameter /></AuthPlugInInfo></AuthInfo><Properties><ConfigurationProperty><Name>MaxExtendedUpdatesPerRequest</Name><Value>50</Value></ConfigurationProperty><ConfigurationProperty><Name>PackageServerShare</Name><Value>\\WSUS01\UpdateServicesPackages</Value></ConfigurationProperty><ConfigurationProperty><Name>ProtocolVersion</Name><Value>3.2</Value></ConfigurationProperty><ConfigurationProperty><Name>IsInventoryRequired</Name><Value>0</Value></ConfigurationProperty><ConfigurationProperty><Name>ClientReportingLevel</Name><Value>2</Value></ConfigurationProperty></Properties></GetConfigResult></GetConfigResponse>"#
    ))
}

/// MU-WSDL GetConfig2 (reference 2.3).
pub(crate) fn get_config2_request() -> String {
    native_request(&format!(
        r#"<GetConfig2 xmlns="{CWS}"><clientConfiguration><ProcessorArchitecture>Amd64Compatible</ProcessorArchitecture><AlwaysOnAlwaysConnected>false</AlwaysOnAlwaysConnected><ClientVersion><MajorVersion>1507</MajorVersion><MinorVersion>2601</MinorVersion><BuildNumber>30012</BuildNumber><ServicePackMajorNumber>0</ServicePackMajorNumber><ServicePackMinorNumber>0</ServicePackMinorNumber></ClientVersion><OSVersion><MajorVersion>10</MajorVersion><MinorVersion>0</MinorVersion><BuildNumber>26200</BuildNumber><ServicePackMajorNumber>0</ServicePackMajorNumber><ServicePackMinorNumber>0</ServicePackMinorNumber></OSVersion><ProtocolVersion>2.90</ProtocolVersion></clientConfiguration></GetConfig2>"#
    ))
}

/// GetConfig2 response: a `Config` under `GetConfig2Result`, with AllowedEventIds.
pub(crate) fn get_config2_response() -> String {
    native_response(&format!(
        r#"<GetConfig2Response xmlns="{CWS}"><GetConfig2Result><LastChange>2026-10-04T13:17:07.59Z</LastChange><IsRegistrationRequired>false</IsRegistrationRequired><AuthInfo><AuthPlugInInfo><PlugInID>SimpleTargeting</PlugInID><ServiceUrl>SimpleAuthWebService/SimpleAuth.asmx</ServiceUrl><Parameter /></AuthPlugInInfo></AuthInfo><AllowedEventIds><int>147</int><int>148</int><int>156</int><int>161</int><int>162</int><int>181</int><int>182</int><int>183</int></AllowedEventIds><Properties><ConfigurationProperty><Name>MaxExtendedUpdatesPerRequest</Name><Value>50</Value></ConfigurationProperty><ConfigurationProperty><Name>ProtocolVersion</Name><Value>3.2</Value></ConfigurationProperty></Properties></GetConfig2Result></GetConfig2Response>"#
    ))
}

/// Section 8 #3: targetGroupName present and empty.
pub(crate) fn get_authorization_cookie_spec_request() -> String {
    spec_example(&format!(
        r#"    <GetAuthorizationCookie xmlns="{SA}">
      <clientId>{SPEC_CLIENT_ID}</clientId>
      <targetGroupName />
      <dnsName>client01.corp.contoso.com</dnsName>
    </GetAuthorizationCookie>"#
    ))
}

/// Native (scan/000002): no targetGroupName.
pub(crate) fn get_authorization_cookie_native_request() -> String {
    native_request(&format!(
        r#"<GetAuthorizationCookie xmlns="{SA}"><clientId>{NATIVE_CLIENT_ID}</clientId><dnsName>WIN11-CLIENT01.corp.contoso.com</dnsName></GetAuthorizationCookie>"#
    ))
}

/// Section 8 #4 in the WS2025 SimpleAuth form (declaration, `soap:`).
pub(crate) fn get_authorization_cookie_response() -> String {
    declared(&format!(
        r#"<GetAuthorizationCookieResponse xmlns="{SA}"><GetAuthorizationCookieResult><PlugInId>SimpleTargeting</PlugInId><CookieData>{AUTH_COOKIE_DATA}</CookieData></GetAuthorizationCookieResult></GetAuthorizationCookieResponse>"#
    ))
}

/// Section 8 #5: one AuthorizationCookie, oldCookie with `EncryptedData xsi:nil="1"`.
pub(crate) fn get_cookie_spec_request() -> String {
    spec_example(&format!(
        r#"    <GetCookie xmlns="{CWS}">
      <authCookies soapenc:arrayType="AuthorizationCookie[1]">
        <AuthorizationCookie>
          <PlugInId>SimpleTargeting</PlugInId>
          <CookieData>{AUTH_COOKIE_DATA}</CookieData>
        </AuthorizationCookie>
      </authCookies>
      <oldCookie>
        <Expiration>2006-05-16T18:54:28.85Z</Expiration>
        <EncryptedData xsi:nil="1" />
      </oldCookie>
      <lastChange>2006-05-16T18:54:28.85Z</lastChange>
      <currentTime>2006-05-17T16:16:38Z</currentTime>
      <protocolVersion>1.8</protocolVersion>
    </GetCookie>"#
    ))
}

/// Native first GetCookie (scan/000003): oldCookie with Expiration only, equal to currentTime.
pub(crate) fn get_cookie_native_request() -> String {
    native_request(&format!(
        r#"<GetCookie xmlns="{CWS}"><authCookies><AuthorizationCookie><PlugInId>SimpleTargeting</PlugInId><CookieData>{AUTH_COOKIE_DATA}</CookieData></AuthorizationCookie></authCookies><oldCookie><Expiration>2026-10-04T16:03:35.9967236Z</Expiration></oldCookie><lastChange>2026-10-04T13:17:07.59Z</lastChange><currentTime>2026-10-04T16:03:35.9967236Z</currentTime><protocolVersion>2.90</protocolVersion></GetCookie>"#
    ))
}

/// Section 8 #6.
pub(crate) fn get_cookie_spec_response() -> String {
    spec_example(&format!(
        r#"    <GetCookieResponse xmlns="{CWS}">
      <GetCookieResult>
        <Expiration>2006-05-26T16:58:01.8749472Z</Expiration>
        <EncryptedData>{SPEC_COOKIE_DATA}</EncryptedData>
      </GetCookieResult>
    </GetCookieResponse>"#
    ))
}

/// WS2025: a cookie expiring one hour after the call.
pub(crate) fn get_cookie_ws2025_response() -> String {
    native_response(&format!(
        r#"<GetCookieResponse xmlns="{CWS}"><GetCookieResult><Expiration>2026-10-04T17:03:35.9967236Z</Expiration><EncryptedData>{COOKIE_DATA_1}</EncryptedData></GetCookieResult></GetCookieResponse>"#
    ))
}

/// Section 8 #9 with the example's ComputerInfo values (BiosReleaseDate without `Z`).
pub(crate) fn register_computer_spec_request() -> String {
    spec_example(&format!(
        r#"    <RegisterComputer xmlns="{CWS}">
      <cookie>
        <Expiration>2006-05-26T16:58:01.8749472Z</Expiration>
        <EncryptedData>{SPEC_COOKIE_DATA}</EncryptedData>
      </cookie>
      <computerInfo>
        <DnsName>client01.corp.contoso.com</DnsName>
        <OSMajorVersion>10</OSMajorVersion>
        <OSMinorVersion>0</OSMinorVersion>
        <OSBuildNumber>3790</OSBuildNumber>
        <OSServicePackMajorNumber>1</OSServicePackMajorNumber>
        <OSServicePackMinorNumber>0</OSServicePackMinorNumber>
        <OSLocale>en-US</OSLocale>
        <ComputerManufacturer>Microsoft Corporation</ComputerManufacturer>
        <ComputerModel>Virtual Machine</ComputerModel>
        <BiosVersion>VRTUAL - 3000919</BiosVersion>
        <BiosName>BIOS Date: 03/09/09 10:43:17  Ver: 08.00.02</BiosName>
        <BiosReleaseDate>2009-03-09T00:00:00</BiosReleaseDate>
        <ProcessorArchitecture>x86</ProcessorArchitecture>
        <SuiteMask>272</SuiteMask>
        <OldProductType>3</OldProductType>
        <NewProductType>0</NewProductType>
        <SystemMetrics>0</SystemMetrics>
        <ClientVersionMajorNumber>7</ClientVersionMajorNumber>
        <ClientVersionMinorNumber>0</ClientVersionMinorNumber>
        <ClientVersionBuildNumber>6000</ClientVersionBuildNumber>
        <ClientVersionQfeNumber>317</ClientVersionQfeNumber>
        <OSDescription>Windows Server 2003 R2</OSDescription>
        <OEM>Microsoft Corporation</OEM>
        <DeviceType>Server</DeviceType>
        <FirmwareVersion>VRTUAL - 3000919</FirmwareVersion>
      </computerInfo>
    </RegisterComputer>"#
    ))
}

/// Native Windows 11 (scan/000004): MobileOperator "Not Present".
pub(crate) fn register_computer_native_request() -> String {
    native_request(&format!(
        r#"<RegisterComputer xmlns="{CWS}"><cookie><Expiration>2026-10-04T17:03:35.9967236Z</Expiration><EncryptedData>{COOKIE_DATA_1}</EncryptedData></cookie><computerInfo><DnsName>WIN11-CLIENT01.corp.contoso.com</DnsName><OSMajorVersion>10</OSMajorVersion><OSMinorVersion>0</OSMinorVersion><OSBuildNumber>26200</OSBuildNumber><OSServicePackMajorNumber>0</OSServicePackMajorNumber><OSServicePackMinorNumber>0</OSServicePackMinorNumber><OSLocale>en-US</OSLocale><ComputerManufacturer>LENOVO</ComputerManufacturer><ComputerModel>21HMCTO1WW</ComputerModel><BiosVersion>N3XET58W (1.33 )</BiosVersion><BiosName>N3XET58W (1.33 )</BiosName><BiosReleaseDate>2025-06-12T00:00:00Z</BiosReleaseDate><ProcessorArchitecture>AMD64</ProcessorArchitecture><SuiteMask>256</SuiteMask><OldProductType>1</OldProductType><NewProductType>48</NewProductType><SystemMetrics>0</SystemMetrics><ClientVersionMajorNumber>1507</ClientVersionMajorNumber><ClientVersionMinorNumber>2601</ClientVersionMinorNumber><ClientVersionBuildNumber>30012</ClientVersionBuildNumber><ClientVersionQfeNumber>0</ClientVersionQfeNumber><OSDescription>Windows 11 Pro</OSDescription><OEM>LENOVO</OEM><DeviceType>Notebook</DeviceType><FirmwareVersion>1.33</FirmwareVersion><MobileOperator>Not Present</MobileOperator></computerInfo></RegisterComputer>"#
    ))
}

/// The empty RegisterComputer response written with start and end tags.
pub(crate) fn register_computer_response() -> String {
    native_response(&format!(
        r#"<RegisterComputerResponse xmlns="{CWS}"></RegisterComputerResponse>"#
    ))
}

/// The empty RegisterComputer response as .NET writes an empty element (`<… />`).
pub(crate) fn register_computer_self_closing_response() -> String {
    native_response(&format!(r#"<RegisterComputerResponse xmlns="{CWS}" />"#))
}

pub(crate) fn documents() -> Vec<(&'static str, String)> {
    vec![
        ("GetConfig spec request", get_config_spec_request()),
        ("GetConfig native request", get_config_native_request()),
        ("GetConfig spec response", get_config_spec_response()),
        ("GetConfig WS2025 response", get_config_ws2025_response()),
        ("GetConfig2 request", get_config2_request()),
        ("GetConfig2 response", get_config2_response()),
        (
            "GetAuthorizationCookie spec request",
            get_authorization_cookie_spec_request(),
        ),
        (
            "GetAuthorizationCookie native request",
            get_authorization_cookie_native_request(),
        ),
        (
            "GetAuthorizationCookie response",
            get_authorization_cookie_response(),
        ),
        ("GetCookie spec request", get_cookie_spec_request()),
        ("GetCookie native request", get_cookie_native_request()),
        ("GetCookie spec response", get_cookie_spec_response()),
        ("GetCookie WS2025 response", get_cookie_ws2025_response()),
        (
            "RegisterComputer spec request",
            register_computer_spec_request(),
        ),
        (
            "RegisterComputer native request",
            register_computer_native_request(),
        ),
        ("RegisterComputer response", register_computer_response()),
    ]
}

// ---------------------------------------------------------------------------------------
// GetConfig
// ---------------------------------------------------------------------------------------

#[test]
fn get_config_request_from_outline() {
    let env = decode(&get_config_spec_request());
    assert_eq!(env.operation(), Some(Operation::GetConfig));
    assert!(!env.has_header);
    assert_eq!(request!(env, GetConfig).protocol_version, s("1.0"));

    let env = decode(&get_config_native_request());
    assert_eq!(request!(env, GetConfig).protocol_version, s("2.90"));
}

#[test]
fn get_config_request_round_trips() {
    decode_exact(&get_config_spec_request());
    decode_exact(&get_config_native_request());

    let msg = GetConfig {
        protocol_version: s("1.8"),
        ..Default::default()
    };
    let (back, xml) = rebuild(&Envelope::request(msg.clone()));
    assert_eq!(request!(back, GetConfig), &msg);
    // A built request is written in the native form, like the native WUA.
    assert_eq!(
        xml,
        format!(
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><GetConfig xmlns="{CWS}"><protocolVersion>1.8</protocolVersion></GetConfig></s:Body></s:Envelope>"#
        )
    );
}

#[test]
fn get_config_response_from_spec_example() {
    let env = decode(&get_config_spec_response());
    assert_eq!(env.operation(), Some(Operation::GetConfig));
    let config = response!(env, GetConfig).result.value().unwrap();
    assert_eq!(config.last_change, dt("2007-01-31T04:16:35.24Z"));
    assert_eq!(
        config.last_change.value().unwrap().instant(),
        Some(datetime!(2007-01-31 04:16:35.24 UTC))
    );
    assert_eq!(config.is_registration_required, Field::Value(true));

    let auth = config.auth_info.items();
    assert_eq!(auth.len(), 1);
    assert_eq!(auth[0].plug_in_id, s("SimpleTargeting"));
    assert_eq!(
        auth[0].service_url,
        s("SimpleAuthWebService/SimpleAuth.asmx")
    );
    assert_eq!(
        auth[0].parameter,
        Field::Empty,
        "<Parameter /> is empty, not absent"
    );
    assert!(config.allowed_event_ids.is_absent());

    let names: Vec<&str> = config
        .properties
        .items()
        .iter()
        .map(|p| text(&p.name))
        .collect();
    assert_eq!(
        names,
        [
            "MaxExtendedUpdatesPerRequest",
            "PackageServerShare",
            "ProtocolVersion",
            "IsInventoryRequired",
            "ClientReportingLevel"
        ]
    );
    assert_eq!(config.max_extended_updates_per_request(), Some(50));
    assert_eq!(
        config.property("PackageServerShare"),
        Some(r"\\WSUSSRV\UpdateServicesPackages")
    );
    assert_eq!(config.protocol_version(), (3, 0));
    assert_eq!(config.property("IsInventoryRequired"), Some("0"));
    assert_eq!(config.property("ClientReportingLevel"), Some("2"));
    assert_eq!(config.property("NoSuchProperty"), None);
}

#[test]
fn get_config_response_ws2025_shape() {
    let env = decode(&get_config_ws2025_response());
    let config = response!(env, GetConfig).result.value().unwrap();
    assert_eq!(
        config.last_change.value().unwrap().instant(),
        Some(datetime!(2026-10-04 13:17:07.59 UTC))
    );
    assert_eq!(config.is_registration_required, Field::Value(true));
    assert_eq!(config.auth_info.items()[0].parameter, Field::Empty);
    assert!(
        config.allowed_event_ids.is_absent(),
        "WSUS 2025 omits AllowedEventIds"
    );
    assert_eq!(config.properties.items().len(), 5);
    assert_eq!(config.protocol_version(), (3, 2));
    assert_eq!(config.max_extended_updates_per_request(), Some(50));
    assert_eq!(
        config.property("PackageServerShare"),
        Some(r"\\WSUS01\UpdateServicesPackages")
    );
}

fn built_config() -> Config {
    Config {
        last_change: dt("2026-10-04T13:17:07.59Z"),
        is_registration_required: Field::Value(true),
        auth_info: Field::Value(vec![AuthPlugInInfo {
            plug_in_id: s("SimpleTargeting"),
            service_url: s("SimpleAuthWebService/SimpleAuth.asmx"),
            parameter: Field::Empty,
            ..Default::default()
        }]),
        allowed_event_ids: Field::Absent,
        properties: Field::Value(
            [
                ("MaxExtendedUpdatesPerRequest", "50"),
                ("PackageServerShare", r"\\WSUS01\UpdateServicesPackages"),
                ("ProtocolVersion", "3.2"),
                ("IsInventoryRequired", "0"),
                ("ClientReportingLevel", "2"),
            ]
            .iter()
            .map(|(n, v)| ConfigurationProperty {
                name: s(n),
                value: s(v),
                ..Default::default()
            })
            .collect(),
        ),
        ..Default::default()
    }
}

#[test]
fn get_config_response_round_trips() {
    decode_exact(&get_config_spec_response());
    decode_exact(&get_config_ws2025_response());

    let msg = GetConfigResponse {
        result: Field::Value(built_config()),
        ..Default::default()
    };
    let env = Envelope::response(msg.clone());
    let (back, xml) = rebuild(&env);
    assert_eq!(response!(back, GetConfig), &msg);
    // The Client service answers in the WS2025 form: exactly the native fixture.
    assert_eq!(xml, get_config_ws2025_response());
}

// ---------------------------------------------------------------------------------------
// GetConfig2
// ---------------------------------------------------------------------------------------

#[test]
fn get_config2_request_from_outline() {
    let env = decode(&get_config2_request());
    assert_eq!(env.operation(), Some(Operation::GetConfig2));
    let cc = request!(env, GetConfig2)
        .client_configuration
        .value()
        .unwrap();
    assert_eq!(
        cc.processor_architecture,
        Field::Value(ProcessorArchitecture::Amd64Compatible)
    );
    assert_eq!(cc.always_on_always_connected, Field::Value(false));
    let cv = cc.client_version.value().unwrap();
    assert_eq!(
        (
            cv.major_version.value(),
            cv.minor_version.value(),
            cv.build_number.value()
        ),
        (Some(&1507), Some(&2601), Some(&30012))
    );
    assert_eq!(cv.service_pack_major_number, Field::Value(0i16));
    let os = cc.os_version.value().unwrap();
    assert_eq!(os.major_version, Field::Value(10));
    assert_eq!(os.minor_version, Field::Value(0));
    assert_eq!(os.build_number, Field::Value(26200));
    assert_eq!(os.service_pack_minor_number, Field::Value(0i16));
    assert_eq!(cc.protocol_version, s("2.90"));
}

#[test]
fn get_config2_request_round_trips() {
    decode_exact(&get_config2_request());
    let version = |major, minor, build| OsVersionInfo {
        major_version: Field::Value(major),
        minor_version: Field::Value(minor),
        build_number: Field::Value(build),
        service_pack_major_number: Field::Value(0),
        service_pack_minor_number: Field::Value(0),
        ..Default::default()
    };
    let msg = GetConfig2 {
        client_configuration: Field::Value(ClientConfiguration {
            processor_architecture: Field::Value(ProcessorArchitecture::ArmCompatible),
            always_on_always_connected: Field::Value(true),
            client_version: Field::Value(version(1507, 2601, 30012)),
            os_version: Field::Value(version(10, 0, 26100)),
            protocol_version: s("2.90"),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (back, _) = rebuild(&Envelope::request(msg.clone()));
    assert_eq!(request!(back, GetConfig2), &msg);
}

#[test]
fn get_config2_response_from_outline() {
    let env = decode(&get_config2_response());
    assert_eq!(env.operation(), Some(Operation::GetConfig2));
    let config = response!(env, GetConfig2).result.value().unwrap();
    assert_eq!(config.is_registration_required, Field::Value(false));
    assert_eq!(
        config.allowed_event_ids.items(),
        &[147, 148, 156, 161, 162, 181, 182, 183]
    );
    assert_eq!(config.protocol_version(), (3, 2));
    assert_eq!(config.max_extended_updates_per_request(), Some(50));
    assert_eq!(config.property("PackageServerShare"), None);
}

#[test]
fn get_config2_response_round_trips() {
    decode_exact(&get_config2_response());
    let mut config = built_config();
    config.allowed_event_ids = Field::Value(vec![147, 148, 156]);
    let msg = GetConfig2Response {
        result: Field::Value(config),
        ..Default::default()
    };
    let (back, xml) = rebuild(&Envelope::response(msg.clone()));
    assert_eq!(response!(back, GetConfig2), &msg);
    assert!(xml.contains("<GetConfig2Response xmlns=\"http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService\"><GetConfig2Result><LastChange>"), "{xml}");
}

// ---------------------------------------------------------------------------------------
// GetAuthorizationCookie
// ---------------------------------------------------------------------------------------

#[test]
fn get_authorization_cookie_request_from_spec_example() {
    let env = decode(&get_authorization_cookie_spec_request());
    assert_eq!(env.operation(), Some(Operation::GetAuthorizationCookie));
    let m = request!(env, GetAuthorizationCookie);
    assert_eq!(m.client_id, s(SPEC_CLIENT_ID));
    assert_eq!(
        m.target_group_name,
        Field::Empty,
        "the spec example sends an empty targetGroupName"
    );
    assert_eq!(m.dns_name, s("client01.corp.contoso.com"));
}

#[test]
fn get_authorization_cookie_request_native_omits_target_group() {
    let env = decode(&get_authorization_cookie_native_request());
    let m = request!(env, GetAuthorizationCookie);
    assert_eq!(m.client_id, s(NATIVE_CLIENT_ID));
    assert!(m.target_group_name.is_absent());
    assert_eq!(m.dns_name, s("WIN11-CLIENT01.corp.contoso.com"));
}

#[test]
fn get_authorization_cookie_request_round_trips() {
    decode_exact(&get_authorization_cookie_spec_request());
    decode_exact(&get_authorization_cookie_native_request());
    let msg = GetAuthorizationCookie {
        client_id: s(NATIVE_CLIENT_ID),
        target_group_name: s("Ring 1 - Pilot"),
        dns_name: s("WIN11-CLIENT01.corp.contoso.com"),
        ..Default::default()
    };
    let (back, xml) = rebuild(&Envelope::request(msg.clone()));
    assert_eq!(request!(back, GetAuthorizationCookie), &msg);
    assert!(xml.contains(&format!("<GetAuthorizationCookie xmlns=\"{SA}\">")));
}

#[test]
fn get_authorization_cookie_response_from_outline() {
    let env = decode(&get_authorization_cookie_response());
    assert_eq!(env.operation(), Some(Operation::GetAuthorizationCookie));
    let c = response!(env, GetAuthorizationCookie)
        .result
        .value()
        .unwrap();
    assert_eq!(c.plug_in_id, s("SimpleTargeting"));
    assert_eq!(c.cookie_data, b64(AUTH_COOKIE_DATA));
    assert_eq!(c.cookie_data.value().unwrap().bytes().unwrap().len(), 48);
}

#[test]
fn get_authorization_cookie_response_round_trips() {
    decode_exact(&get_authorization_cookie_response());
    let msg = GetAuthorizationCookieResponse {
        result: Field::Value(AuthorizationCookie {
            plug_in_id: s("SimpleTargeting"),
            cookie_data: Field::Value(Base64::encode(&[0x5a; 496])),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (back, xml) = rebuild(&Envelope::response(msg.clone()));
    assert_eq!(response!(back, GetAuthorizationCookie), &msg);
    // SimpleAuth answers carry the XML declaration and the soap: prefix.
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope "),
        "{xml}"
    );
    // Built from the fixture's values, it is the fixture.
    let c = response!(back, GetAuthorizationCookie);
    let mut same = c.clone();
    same.result.value_mut().unwrap().cookie_data = b64(AUTH_COOKIE_DATA);
    assert_eq!(
        Envelope::response(same).encode(),
        get_authorization_cookie_response()
    );
}

// ---------------------------------------------------------------------------------------
// GetCookie
// ---------------------------------------------------------------------------------------

#[test]
fn get_cookie_request_from_spec_example() {
    let env = decode(&get_cookie_spec_request());
    assert_eq!(env.operation(), Some(Operation::GetCookie));
    let m = request!(env, GetCookie);
    let auth = m.auth_cookies.items();
    assert_eq!(auth.len(), 1);
    assert_eq!(auth[0].plug_in_id, s("SimpleTargeting"));
    assert_eq!(auth[0].cookie_data, b64(AUTH_COOKIE_DATA));
    let old = m.old_cookie.value().unwrap();
    assert_eq!(old.expiration, dt("2006-05-16T18:54:28.85Z"));
    assert_eq!(
        old.encrypted_data,
        Field::Nil,
        "EncryptedData xsi:nil=\"1\" is nil"
    );
    assert_eq!(m.last_change, dt("2006-05-16T18:54:28.85Z"));
    assert_eq!(
        m.current_time.value().unwrap().instant(),
        Some(datetime!(2006-05-17 16:16:38 UTC))
    );
    assert_eq!(m.protocol_version, s("1.8"));
}

#[test]
fn get_cookie_request_native_first_call_has_expiration_only() {
    let env = decode(&get_cookie_native_request());
    let m = request!(env, GetCookie);
    let old = m.old_cookie.value().unwrap();
    assert!(
        old.encrypted_data.is_absent(),
        "native oldCookie has no EncryptedData at all"
    );
    assert_eq!(old.expiration, m.current_time);
    assert_eq!(
        m.current_time.value().unwrap().instant(),
        Some(datetime!(2026-10-04 16:03:35.9967236 UTC))
    );
    assert_eq!(m.protocol_version, s("2.90"));
}

#[test]
fn get_cookie_request_round_trips() {
    decode_exact(&get_cookie_spec_request());
    decode_exact(&get_cookie_native_request());
    let msg = GetCookie {
        auth_cookies: Field::Value(vec![AuthorizationCookie {
            plug_in_id: s("SimpleTargeting"),
            cookie_data: b64(AUTH_COOKIE_DATA),
            ..Default::default()
        }]),
        old_cookie: Field::Value(Cookie {
            expiration: dt("2026-10-04T16:03:35.9967236Z"),
            encrypted_data: Field::Nil,
            ..Default::default()
        }),
        last_change: dt("2026-10-04T13:17:07.59Z"),
        current_time: dt("2026-10-04T16:03:35.9967236Z"),
        protocol_version: s("2.90"),
        ..Default::default()
    };
    let (back, xml) = rebuild(&Envelope::request(msg.clone()));
    assert_eq!(request!(back, GetCookie), &msg);
    assert!(
        xml.contains("<EncryptedData xsi:nil=\"true\" /></oldCookie>"),
        "{xml}"
    );
}

#[test]
fn get_cookie_response_from_spec_example() {
    let env = decode(&get_cookie_spec_response());
    let c = response!(env, GetCookie).result.value().unwrap();
    assert_eq!(c.expiration, dt("2006-05-26T16:58:01.8749472Z"));
    assert_eq!(
        c.expiration.value().unwrap().instant(),
        Some(datetime!(2006-05-26 16:58:01.8749472 UTC))
    );
    assert_eq!(c.encrypted_data, b64(SPEC_COOKIE_DATA));
    assert_eq!(c.encrypted_data.value().unwrap().bytes().unwrap().len(), 40);
}

#[test]
fn get_cookie_response_ws2025_expires_one_hour_after_the_call() {
    let req = decode(&get_cookie_native_request());
    let resp = decode(&get_cookie_ws2025_response());
    let now = request!(req, GetCookie).current_time.value().unwrap();
    let c = response!(resp, GetCookie).result.value().unwrap();
    let expiry = c.expiration.value().unwrap();
    assert_eq!(
        expiry.instant().unwrap() - now.instant().unwrap(),
        time::Duration::hours(1)
    );
    assert_eq!(c.encrypted_data.value().unwrap().bytes().unwrap().len(), 64);
}

#[test]
fn get_cookie_response_round_trips() {
    decode_exact(&get_cookie_spec_response());
    decode_exact(&get_cookie_ws2025_response());
    let msg = GetCookieResponse {
        result: Field::Value(cookie("2026-10-04T17:03:35.9967236Z", COOKIE_DATA_1)),
        ..Default::default()
    };
    let (back, xml) = rebuild(&Envelope::response(msg.clone()));
    assert_eq!(response!(back, GetCookie), &msg);
    assert_eq!(xml, get_cookie_ws2025_response());
}

// ---------------------------------------------------------------------------------------
// RegisterComputer
// ---------------------------------------------------------------------------------------

#[test]
fn register_computer_request_from_spec_example() {
    let env = decode(&register_computer_spec_request());
    assert_eq!(env.operation(), Some(Operation::RegisterComputer));
    let m = request!(env, RegisterComputer);
    assert_eq!(
        m.cookie.value().unwrap().encrypted_data,
        b64(SPEC_COOKIE_DATA)
    );
    let ci = m.computer_info.value().unwrap();
    assert_eq!(ci.dns_name, s("client01.corp.contoso.com"));
    assert_eq!(ci.os_major_version, Field::Value(10));
    assert_eq!(ci.os_minor_version, Field::Value(0));
    assert_eq!(ci.os_build_number, Field::Value(3790));
    assert_eq!(ci.os_service_pack_major_number, Field::Value(1i16));
    assert_eq!(ci.os_service_pack_minor_number, Field::Value(0i16));
    assert_eq!(ci.os_locale, s("en-US"));
    assert_eq!(ci.computer_manufacturer, s("Microsoft Corporation"));
    assert_eq!(ci.computer_model, s("Virtual Machine"));
    assert_eq!(ci.bios_version, s("VRTUAL - 3000919"));
    assert_eq!(
        ci.bios_name,
        s("BIOS Date: 03/09/09 10:43:17  Ver: 08.00.02"),
        "inner whitespace is kept"
    );
    // The spec example writes this dateTime without a zone; it reads as UTC.
    assert_eq!(ci.bios_release_date, dt("2009-03-09T00:00:00"));
    assert_eq!(
        ci.bios_release_date.value().unwrap().instant(),
        Some(datetime!(2009-03-09 00:00 UTC))
    );
    assert_eq!(ci.processor_architecture, s("x86"));
    assert_eq!(ci.suite_mask, Field::Value(272i16));
    assert_eq!(ci.old_product_type, Field::Value(3u8));
    assert_eq!(ci.new_product_type, Field::Value(0));
    assert_eq!(ci.system_metrics, Field::Value(0));
    assert_eq!(
        (
            ci.client_version_major_number.value(),
            ci.client_version_minor_number.value(),
            ci.client_version_build_number.value(),
            ci.client_version_qfe_number.value()
        ),
        (Some(&7i16), Some(&0i16), Some(&6000i16), Some(&317i16))
    );
    assert_eq!(ci.os_description, s("Windows Server 2003 R2"));
    assert_eq!(ci.oem, s("Microsoft Corporation"));
    assert_eq!(ci.device_type, s("Server"));
    assert_eq!(ci.firmware_version, s("VRTUAL - 3000919"));
    assert!(ci.mobile_operator.is_absent());
}

#[test]
fn register_computer_request_native_win11_values() {
    let env = decode(&register_computer_native_request());
    let ci = request!(env, RegisterComputer)
        .computer_info
        .value()
        .unwrap();
    assert_eq!(ci.os_build_number, Field::Value(26200));
    assert_eq!(ci.processor_architecture, s("AMD64"));
    assert_eq!(ci.new_product_type, Field::Value(48));
    assert_eq!(
        ci.bios_version,
        s("N3XET58W (1.33 )"),
        "trailing blank kept"
    );
    assert_eq!(ci.client_version_major_number, Field::Value(1507i16));
    assert_eq!(ci.client_version_build_number, Field::Value(30012i16));
    assert_eq!(ci.mobile_operator, s("Not Present"));
}

#[test]
fn register_computer_request_round_trips() {
    decode_exact(&register_computer_spec_request());
    decode_exact(&register_computer_native_request());
    let msg = RegisterComputer {
        cookie: Field::Value(cookie("2026-10-04T17:03:35.9967236Z", COOKIE_DATA_1)),
        computer_info: Field::Value(ComputerInfo {
            dns_name: s("WIN11-CLIENT01.corp.contoso.com"),
            os_major_version: Field::Value(10),
            os_minor_version: Field::Value(0),
            os_build_number: Field::Value(26200),
            os_service_pack_major_number: Field::Value(0),
            os_service_pack_minor_number: Field::Value(0),
            os_locale: s("en-US"),
            computer_manufacturer: s("LENOVO"),
            computer_model: s("21HMCTO1WW"),
            bios_release_date: dt("2025-06-12T00:00:00Z"),
            processor_architecture: s("AMD64"),
            suite_mask: Field::Value(256),
            old_product_type: Field::Value(1),
            new_product_type: Field::Value(48),
            system_metrics: Field::Value(0),
            client_version_major_number: Field::Value(1507),
            client_version_minor_number: Field::Value(2601),
            client_version_build_number: Field::Value(30012),
            client_version_qfe_number: Field::Value(0),
            os_description: s("Windows 11 Pro"),
            mobile_operator: s("Not Present"),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (back, _) = rebuild(&Envelope::request(msg.clone()));
    assert_eq!(request!(back, RegisterComputer), &msg);
}

#[test]
fn register_computer_response_is_empty() {
    for doc in [
        register_computer_response(),
        register_computer_self_closing_response(),
    ] {
        let env = decode(&doc);
        assert_eq!(env.operation(), Some(Operation::RegisterComputer));
        assert_eq!(
            response!(env, RegisterComputer),
            &RegisterComputerResponse::default()
        );
    }
}

#[test]
fn register_computer_response_round_trips() {
    decode_exact(&register_computer_response());
    let (back, xml) = rebuild(&Envelope::response(RegisterComputerResponse::default()));
    assert_eq!(
        response!(back, RegisterComputer),
        &RegisterComputerResponse::default()
    );
    // Built in code, an empty message is self-closing, as .NET writes it.
    assert_eq!(xml, register_computer_self_closing_response());
}

#[test]
fn register_computer_response_self_closing_round_trips_byte_for_byte() {
    decode_exact(&register_computer_self_closing_response());
}
