//! The CA's files and the shape of its certificates, checked by parsing the DER.

use std::net::IpAddr;

use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer as _, X509Certificate};

use super::*;

fn parse(der: &[u8]) -> X509Certificate<'_> {
    let (rest, cert) = X509Certificate::from_der(der).expect("certificate parses");
    assert!(rest.is_empty(), "trailing bytes after the certificate");
    cert
}

fn ski<'a>(cert: &'a X509Certificate<'_>) -> Option<&'a [u8]> {
    cert.iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0),
            _ => None,
        })
}

fn aki<'a>(cert: &'a X509Certificate<'_>) -> Option<&'a [u8]> {
    cert.iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => a.key_identifier.as_ref().map(|k| k.0),
            _ => None,
        })
}

#[test]
fn creates_files_with_private_modes_and_loads_them_back() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nested").join("ca");
    let ca = CertificateAuthority::load_or_create(&dir).unwrap();
    assert!(dir.join(CERT_FILE).is_file());
    assert!(dir.join(KEY_FILE).is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.join(KEY_FILE)), 0o600, "key mode");
        assert_eq!(mode(&dir), 0o700, "directory mode");
    }
    assert!(ca.pem().starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert_eq!(fs::read_to_string(dir.join(CERT_FILE)).unwrap(), ca.pem());
    let again = CertificateAuthority::load_or_create(&dir).unwrap();
    assert_eq!(again.der(), ca.der(), "the second call loads the same CA");
}

#[test]
fn ca_certificate_is_a_ca_that_signs_certificates() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::create(tmp.path()).unwrap();
    let cert = parse(ca.der());
    let bc = cert.basic_constraints().unwrap().expect("basicConstraints");
    assert!(bc.critical);
    assert!(bc.value.ca);
    let ku = cert.key_usage().unwrap().expect("keyUsage");
    assert!(ku.value.key_cert_sign());
    assert!(ski(&cert).is_some(), "a CA has a subject key identifier");
    let now = OffsetDateTime::now_utc().unix_timestamp();
    assert!(cert.validity().not_before.timestamp() < now);
    assert!(cert.validity().not_after.timestamp() > now + 5 * 365 * 86400);
    assert_eq!(cert.subject(), cert.issuer(), "self-signed");
}

#[test]
fn leaf_is_shaped_for_schannel() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::create(tmp.path()).unwrap();
    let (chain, _key) = ca
        .issue_leaf(&["wsus.test", "127.0.0.1", "::1", "localhost"])
        .unwrap();
    assert_eq!(chain.len(), 2, "leaf then CA");
    assert_eq!(&chain[1], ca.der());
    let ca_cert = parse(ca.der());
    let leaf = parse(&chain[0]);

    assert_eq!(leaf.issuer(), ca_cert.subject());
    assert_eq!(aki(&leaf), ski(&ca_cert), "AKI = the CA's SKI");
    assert!(aki(&leaf).is_some());
    assert_eq!(ski(&leaf), None, "no subject key identifier on the leaf");
    assert!(
        leaf.basic_constraints()
            .unwrap()
            .is_none_or(|b| !b.value.ca)
    );
    assert_ne!(
        leaf.public_key().raw,
        ca_cert.public_key().raw,
        "the leaf has its own key"
    );

    let ku = leaf.key_usage().unwrap().expect("keyUsage");
    assert!(ku.value.digital_signature());
    assert!(!ku.value.key_cert_sign());
    assert!(
        !ku.value.key_encipherment(),
        "not for an ECDSA key (RFC 5480)"
    );
    let eku = leaf.extended_key_usage().unwrap().expect("EKU");
    assert!(eku.value.server_auth);

    let san = leaf.subject_alternative_name().unwrap().expect("SAN");
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    for name in &san.value.general_names {
        match name {
            GeneralName::DNSName(d) => dns.push(d.to_string()),
            GeneralName::IPAddress(b) => ips.push(match b.len() {
                4 => IpAddr::from(<[u8; 4]>::try_from(*b).unwrap()),
                16 => IpAddr::from(<[u8; 16]>::try_from(*b).unwrap()),
                n => panic!("IP SAN of {n} bytes"),
            }),
            other => panic!("unexpected SAN {other:?}"),
        }
    }
    assert_eq!(dns, ["wsus.test", "localhost"]);
    assert_eq!(
        ips,
        [
            "127.0.0.1".parse::<IpAddr>().unwrap(),
            "::1".parse::<IpAddr>().unwrap()
        ]
    );

    let now = OffsetDateTime::now_utc().unix_timestamp();
    assert!(
        leaf.validity().not_before.timestamp() <= now - 12 * 3600,
        "notBefore is backdated"
    );
    assert!(leaf.validity().not_after.timestamp() > now);
}

#[test]
fn a_loaded_ca_issues_leaves_with_its_key_identifier() {
    let tmp = tempfile::tempdir().unwrap();
    let created = CertificateAuthority::create(tmp.path()).unwrap();
    let loaded = CertificateAuthority::load(tmp.path()).unwrap();
    let (chain, _) = loaded.issue_leaf(&["wsus.test"]).unwrap();
    let created_cert = parse(created.der());
    assert_eq!(aki(&parse(&chain[0])), ski(&created_cert));
}

#[test]
fn two_leaves_have_distinct_keys_and_serials() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::create(tmp.path()).unwrap();
    let (a, _) = ca.issue_leaf(&["a.test"]).unwrap();
    let (b, _) = ca.issue_leaf(&["a.test"]).unwrap();
    let (a, b) = (parse(&a[0]), parse(&b[0]));
    assert_ne!(a.public_key().raw, b.public_key().raw);
    assert_ne!(a.raw_serial(), b.raw_serial());
}

#[test]
fn half_a_ca_directory_is_an_error_not_a_new_ca() {
    let tmp = tempfile::tempdir().unwrap();
    CertificateAuthority::create(tmp.path()).unwrap();
    fs::remove_file(tmp.path().join(KEY_FILE)).unwrap();
    let err = CertificateAuthority::load_or_create(tmp.path()).unwrap_err();
    assert!(matches!(err, Error::Incomplete { .. }), "{err}");
    assert!(!tmp.path().join(KEY_FILE).exists());
}

#[test]
fn create_refuses_to_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::create(tmp.path()).unwrap();
    assert!(CertificateAuthority::create(tmp.path()).is_err());
    assert_eq!(
        CertificateAuthority::load(tmp.path()).unwrap().der(),
        ca.der()
    );
}

#[test]
fn invalid_names_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::create(tmp.path()).unwrap();
    for bad in ["", "bad name", "x\u{e9}.test"] {
        assert!(
            matches!(ca.issue_leaf(&[bad]), Err(Error::InvalidName(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn server_config_and_pem_pair_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::create(tmp.path().join("ca").as_path()).unwrap();
    let config = ca.server_config(&["localhost"]).unwrap();
    assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);

    let (chain, key) = ca.issue_leaf(&["localhost"]).unwrap();
    let cert_path = tmp.path().join("leaf.pem");
    let key_path = tmp.path().join("leaf.key");
    let chain_pem: String = chain.iter().map(|c| pem_encode("CERTIFICATE", c)).collect();
    fs::write(&cert_path, chain_pem).unwrap();
    fs::write(&key_path, pem_encode("PRIVATE KEY", key.secret_der())).unwrap();
    let (chain2, key2) = load_pem_pair(&cert_path, &key_path).unwrap();
    assert_eq!(chain2, chain);
    assert_eq!(key2.secret_der(), key.secret_der());
    server_config(chain2, key2).unwrap();

    let err = load_pem_pair(&key_path, &key_path).unwrap_err();
    assert!(matches!(err, Error::Pem { .. }), "{err}");
}

#[test]
fn default_dir_is_per_user() {
    // Only checks the shape; the variables are not changed (tests run in parallel).
    if let Some(d) = default_dir() {
        assert!(d.ends_with("wutap/ca"), "{}", d.display());
    }
}
