//! ReportEventBatch (reference 2.14, 3.10, section 8 #17–#19).

use time::macros::datetime;
use wusp::messages::*;
use wusp::types::*;
use wusp::values::*;
use wusp::{Envelope, Field, Operation};

use crate::support::*;

/// UpdateID of the spec example's SelfUpdate event.
pub(crate) const SELFUPDATE_ID: &str = "D67661EB-2423-451D-BF5D-13199E37DF28";
pub(crate) const EVENT_INSTANCE_1: &str = "8f3e2d1c-0b9a-4876-a543-210fedcba987";
pub(crate) const EVENT_INSTANCE_2: &str = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f";

fn spec_event(instance: &str, time_at_target: &str) -> String {
    format!(
        r#"        <ReportingEvent>
          <BasicData>
            <TargetID>
              <Sid>{SPEC_CLIENT_ID}</Sid>
            </TargetID>
            <SequenceNumber>0</SequenceNumber>
            <TimeAtTarget>{time_at_target}</TimeAtTarget>
            <EventInstanceID>{instance}</EventInstanceID>
            <NamespaceID>1</NamespaceID>
            <EventID>148</EventID>
            <SourceID>101</SourceID>
            <UpdateID>
              <UpdateID>{SELFUPDATE_ID}</UpdateID>
              <RevisionNumber>0</RevisionNumber>
            </UpdateID>
            <Win32HResult>-2145107943</Win32HResult>
            <AppName>SelfUpdate</AppName>
          </BasicData>
          <ExtendedData>
            <ReplacementStrings soapenc:arrayType="xsd:string[1]">
              <string>0x80244019</string>
            </ReplacementStrings>
            <MiscData soapenc:arrayType="xsd:string[5]">
              <string>Q=1</string>
              <string>G=7.0.5378.45</string>
              <string>J=703</string>
              <string>K=Phoenix ROM BIOS PLUS Version 1.10 A03</string>
              <string>L=2005-07-12T00:00:00</string>
            </MiscData>
            <ComputerBrand>Dell Inc.</ComputerBrand>
            <ComputerModel>OptiPlex GX620</ComputerModel>
            <BiosRevision>A03</BiosRevision>
            <ProcessorArchitecture>X86Compatible</ProcessorArchitecture>
            <OSVersion>
              <Major>5</Major>
              <Minor>1</Minor>
              <Build>2600</Build>
              <Revision>65792</Revision>
              <ServicePackMajor>2</ServicePackMajor>
              <ServicePackMinor>0</ServicePackMinor>
            </OSVersion>
            <OSLocaleID>1033</OSLocaleID>
            <DeviceID />
          </ExtendedData>
          <PrivateData>
            <ComputerDnsName />
            <UserAccountName />
          </PrivateData>
        </ReportingEvent>"#
    )
}

/// Section 8 #17: two events 148 (AGENT_DETECTION_FAILED) with every BasicData,
/// ExtendedData and PrivateData value of the example.
pub(crate) fn report_event_batch_spec_request() -> String {
    spec_example(&format!(
        r#"    <ReportEventBatch xmlns="{RPT}">
      <cookie>
        <Expiration>2006-05-26T16:58:01.8749472Z</Expiration>
        <EncryptedData>{SPEC_COOKIE_DATA}</EncryptedData>
      </cookie>
      <clientTime>2006-05-17T16:17:21.593Z</clientTime>
      <eventBatch soapenc:arrayType="ReportingEvent[2]">
{}
{}
      </eventBatch>
    </ReportEventBatch>"#,
        spec_event(EVENT_INSTANCE_1, "2006-05-17T16:16:39.427Z"),
        spec_event(EVENT_INSTANCE_2, "2006-05-17T16:17:20.98Z"),
    ))
}

/// Native Windows 11 batch (flow/000016): 147 then 156 with a `U=` list, `<PrivateData/>`,
/// no DeviceID, OSVersion.Revision 65792, undocumented MiscData tags.
pub(crate) fn report_event_batch_native_request() -> String {
    let event = |instance: &str, id: i16, hr: i32, repl: &str, misc: &str| {
        format!(
            "<ReportingEvent><BasicData><TargetID><Sid>{NATIVE_CLIENT_ID}</Sid></TargetID><SequenceNumber>0</SequenceNumber><TimeAtTarget>2026-10-04T16:05:12.4410000Z</TimeAtTarget><EventInstanceID>{instance}</EventInstanceID><NamespaceID>1</NamespaceID><EventID>{id}</EventID><SourceID>101</SourceID><UpdateID><UpdateID>00000000-0000-0000-0000-000000000000</UpdateID><RevisionNumber>0</RevisionNumber></UpdateID><Win32HResult>{hr}</Win32HResult></BasicData><ExtendedData><ReplacementStrings>{repl}</ReplacementStrings><MiscData>{misc}</MiscData><ComputerBrand>LENOVO</ComputerBrand><ComputerModel>21HMCTO1WW</ComputerModel><BiosRevision>N3XET58W (1.33 )</BiosRevision><ProcessorArchitecture>Amd64Compatible</ProcessorArchitecture><OSVersion><Major>10</Major><Minor>0</Minor><Build>26200</Build><Revision>65792</Revision><ServicePackMajor>0</ServicePackMajor><ServicePackMinor>0</ServicePackMinor></OSVersion><OSLocaleID>1033</OSLocaleID></ExtendedData><PrivateData/></ReportingEvent>"
        )
    };
    native_request(&format!(
        r#"<ReportEventBatch xmlns="{RPT}"><cookie><Expiration>2026-10-04T17:03:35.9967236Z</Expiration><EncryptedData>{COOKIE_DATA_2}</EncryptedData></cookie><clientTime>2026-10-04T16:05:13.0170000Z</clientTime><eventBatch>{}{}</eventBatch></ReportEventBatch>"#,
        event(
            "3b1e6a52-8f1d-4b5e-9c0a-7d2e4f6a8b0c",
            147,
            0,
            "<string>1</string>",
            "<string>A=6899</string><string>G=1507.2601.30012.0</string><string>J=412</string><string>Q=1</string><string>c=48</string><string>AppName=UpdateOrchestrator</string><string>WUfBOn=0</string>"
        ),
        event(
            "7c9d0e1f-2a3b-4c5d-8e6f-9a0b1c2d3e4f",
            156,
            0,
            "",
            "<string>A=6899</string><string>U=3f8a7c2e-91b4-4d6a-8e5f-2b1c9d0e7a63;9c4e2a71-5d3b-4f08-a6e1-7b2d8c0f1e94</string><string>Q=1</string>"
        ),
    ))
}

/// Section 8 #19 in the WS2025 Reporting form (declaration, `soap:`).
pub(crate) fn report_event_batch_response() -> String {
    declared(&format!(
        r#"<ReportEventBatchResponse xmlns="{RPT}"><ReportEventBatchResult>true</ReportEventBatchResult></ReportEventBatchResponse>"#
    ))
}

pub(crate) fn documents() -> Vec<(&'static str, String)> {
    vec![
        (
            "ReportEventBatch spec request",
            report_event_batch_spec_request(),
        ),
        (
            "ReportEventBatch native request",
            report_event_batch_native_request(),
        ),
        ("ReportEventBatch response", report_event_batch_response()),
    ]
}

#[test]
fn report_event_batch_request_from_spec_example() {
    let env = decode(&report_event_batch_spec_request());
    assert_eq!(env.operation(), Some(Operation::ReportEventBatch));
    let m = request!(env, ReportEventBatch);
    assert_eq!(
        m.cookie.value().unwrap().encrypted_data,
        b64(SPEC_COOKIE_DATA)
    );
    assert_eq!(
        m.client_time.value().unwrap().instant(),
        Some(datetime!(2006-05-17 16:17:21.593 UTC))
    );
    let events = m.event_batch.items();
    assert_eq!(events.len(), 2);

    for (event, (instance, at)) in events.iter().zip([
        (EVENT_INSTANCE_1, "2006-05-17T16:16:39.427Z"),
        (EVENT_INSTANCE_2, "2006-05-17T16:17:20.98Z"),
    ]) {
        let b = event.basic_data.value().unwrap();
        assert_eq!(b.target_id.value().unwrap().sid, s(SPEC_CLIENT_ID));
        assert_eq!(b.sequence_number, Field::Value(0));
        assert_eq!(b.time_at_target, dt(at));
        assert_eq!(b.event_instance_id, guid(instance));
        assert_eq!(b.namespace_id, Field::Value(1));
        assert_eq!(b.event_id, Field::Value(148i16));
        assert_eq!(b.source_id, Field::Value(101i16));
        let u = b.update_id.value().unwrap();
        assert_eq!(u.update_id, guid(SELFUPDATE_ID));
        assert_eq!(u.revision_number, Field::Value(0));
        assert_eq!(b.win32_hresult, Field::Value(-2145107943));
        assert_eq!(*b.win32_hresult.value().unwrap() as u32, 0x8024_4019);
        assert_eq!(b.app_name, s("SelfUpdate"));

        let x = event.extended_data.value().unwrap();
        assert_eq!(x.replacement_strings.items(), &["0x80244019".to_string()]);
        assert_eq!(
            x.misc_data.items(),
            &[
                "Q=1".to_string(),
                "G=7.0.5378.45".into(),
                "J=703".into(),
                "K=Phoenix ROM BIOS PLUS Version 1.10 A03".into(),
                "L=2005-07-12T00:00:00".into()
            ]
        );
        assert_eq!(x.computer_brand, s("Dell Inc."));
        assert_eq!(x.computer_model, s("OptiPlex GX620"));
        assert_eq!(x.bios_revision, s("A03"));
        assert_eq!(
            x.processor_architecture,
            Field::Value(ProcessorArchitecture::X86Compatible)
        );
        let os = x.os_version.value().unwrap();
        assert_eq!(
            [
                &os.major,
                &os.minor,
                &os.build,
                &os.revision,
                &os.service_pack_major,
                &os.service_pack_minor
            ]
            .map(|f| *f.value().unwrap()),
            [5, 1, 2600, 65792, 2, 0]
        );
        assert_eq!(x.os_locale_id, Field::Value(1033));
        assert_eq!(x.device_id, Field::Empty, "DeviceID present and empty");

        let p = event.private_data.value().unwrap();
        assert_eq!(p.computer_dns_name, Field::Empty);
        assert_eq!(p.user_account_name, Field::Empty);
    }
}

#[test]
fn report_event_batch_request_native_values() {
    let env = decode(&report_event_batch_native_request());
    let events = request!(env, ReportEventBatch).event_batch.items();
    assert_eq!(events.len(), 2);
    let ids: Vec<i16> = events
        .iter()
        .map(|e| *e.basic_data.value().unwrap().event_id.value().unwrap())
        .collect();
    assert_eq!(ids, [147, 156]);
    let first = events[0].basic_data.value().unwrap();
    assert!(first.update_id.value().unwrap().update_id.value().unwrap() == &Guid::zero());
    assert!(first.app_name.is_absent());
    let x = events[0].extended_data.value().unwrap();
    assert!(
        x.misc_data
            .items()
            .contains(&"AppName=UpdateOrchestrator".to_string())
    );
    assert_eq!(
        x.processor_architecture,
        Field::Value(ProcessorArchitecture::Amd64Compatible)
    );
    assert!(x.device_id.is_absent(), "native WUA omits DeviceID");
    assert_eq!(x.os_version.value().unwrap().revision, Field::Value(65792));
    assert_eq!(
        events[0].private_data,
        Field::Empty,
        "native <PrivateData/> has no children"
    );
    let status = events[1].extended_data.value().unwrap();
    assert_eq!(status.replacement_strings, Field::Empty);
    let u = status
        .misc_data
        .items()
        .iter()
        .find_map(|m| m.strip_prefix("U="))
        .unwrap();
    assert_eq!(u.split(';').count(), 2);
}

#[test]
fn report_event_batch_request_round_trips() {
    decode_exact(&report_event_batch_spec_request());
    decode_exact(&report_event_batch_native_request());
    let msg = ReportEventBatch {
        cookie: Field::Value(cookie("2026-10-04T17:03:35.9967236Z", COOKIE_DATA_2)),
        client_time: dt("2026-10-04T16:05:13.017Z"),
        event_batch: Field::Value(vec![ReportingEvent {
            basic_data: Field::Value(BasicData {
                target_id: Field::Value(ComputerTargetIdentifier {
                    sid: s(NATIVE_CLIENT_ID),
                    ..Default::default()
                }),
                sequence_number: Field::Value(0),
                time_at_target: dt("2026-10-04T16:05:12.441Z"),
                event_instance_id: guid(EVENT_INSTANCE_1),
                namespace_id: Field::Value(1),
                event_id: Field::Value(148),
                source_id: Field::Value(101),
                update_id: Field::Value(UpdateRevisionIdentifier {
                    update_id: Field::Value(Guid::zero()),
                    revision_number: Field::Value(0),
                    ..Default::default()
                }),
                win32_hresult: Field::Value(-2145123272),
                ..Default::default()
            }),
            extended_data: Field::Value(ExtendedData {
                replacement_strings: Field::Value(vec!["0x80240438".into()]),
                misc_data: Field::Value(vec!["A=6899".into(), "f=3".into()]),
                processor_architecture: Field::Value(ProcessorArchitecture::Amd64Compatible),
                os_version: Field::Value(ReportingOsVersion {
                    major: Field::Value(10),
                    minor: Field::Value(0),
                    build: Field::Value(26200),
                    revision: Field::Value(65792),
                    service_pack_major: Field::Value(0),
                    service_pack_minor: Field::Value(0),
                    ..Default::default()
                }),
                os_locale_id: Field::Value(1033),
                device_id: Field::Empty,
                ..Default::default()
            }),
            private_data: Field::Value(PrivateData {
                computer_dns_name: Field::Empty,
                user_account_name: Field::Empty,
                ..Default::default()
            }),
            ..Default::default()
        }]),
        ..Default::default()
    };
    let (back, xml) = rebuild(&Envelope::request(msg.clone()));
    assert_eq!(request!(back, ReportEventBatch), &msg);
    assert!(xml.contains(&format!("<ReportEventBatch xmlns=\"{RPT}\"><cookie>")));
    assert!(xml.contains("<Win32HResult>-2145123272</Win32HResult>"));
    assert!(xml.contains("<PrivateData><ComputerDnsName /><UserAccountName /></PrivateData>"));
}

#[test]
fn report_event_batch_response_from_outline() {
    let env = decode(&report_event_batch_response());
    assert_eq!(env.operation(), Some(Operation::ReportEventBatch));
    assert_eq!(response!(env, ReportEventBatch).result, Field::Value(true));
}

#[test]
fn report_event_batch_response_round_trips() {
    decode_exact(&report_event_batch_response());
    let msg = ReportEventBatchResponse {
        result: Field::Value(true),
        ..Default::default()
    };
    let (back, xml) = rebuild(&Envelope::response(msg.clone()));
    assert_eq!(response!(back, ReportEventBatch), &msg);
    // Reporting answers carry the XML declaration and soap: (reference 1.4).
    assert_eq!(xml, report_event_batch_response());
}
