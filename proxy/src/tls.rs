//! TLS on both legs: forged leaves for the client side (cached per host), a verifying
//! connector for the upstream side, and the facts a capture records about each.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use captures::TlsInfo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::PemObject;

use crate::Error;
use crate::ca::CertificateAuthority;

/// Most hosts whose leaves are kept; the cache starts over beyond it.
const LEAF_CACHE_LIMIT: usize = 4096;

/// Forged leaves per host name, minted from wutap's CA on first use.
pub(crate) struct LeafCache {
    ca: Arc<CertificateAuthority>,
    key_log: Arc<dyn rustls::KeyLog>,
    leaves: Mutex<HashMap<String, Arc<ServerConfig>>>,
}

impl LeafCache {
    /// A cache issuing from `ca`; session keys go to `key_log`.
    pub(crate) fn new(ca: Arc<CertificateAuthority>, key_log: Arc<dyn rustls::KeyLog>) -> Self {
        Self {
            ca,
            key_log,
            leaves: Mutex::new(HashMap::new()),
        }
    }

    /// The server configuration for `host` (the name the client used), minting a leaf for
    /// `host` and `extra` names (the upstream certificate's) on first use.
    pub(crate) fn config_for(
        &self,
        host: &str,
        extra: &[String],
    ) -> Result<Arc<ServerConfig>, Error> {
        let key = host.to_ascii_lowercase();
        if let Ok(leaves) = self.leaves.lock()
            && let Some(c) = leaves.get(&key)
        {
            return Ok(c.clone());
        }
        let mut names: Vec<&str> = vec![host];
        for n in extra {
            if !names.iter().any(|m| m.eq_ignore_ascii_case(n)) {
                names.push(n);
            }
        }
        // A name rcgen or rustls refuses (e.g. a wildcard) must not cost the leaf.
        let (chain, key_der) = match self.ca.issue_leaf(&names) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!(host, error = %e, "leaf with the upstream names refused; minting for the host alone");
                self.ca.issue_leaf(&[host])?
            }
        };
        let config = crate::ca::server_config(chain, key_der)?;
        let mut config = Arc::unwrap_or_clone(config);
        config.key_log = self.key_log.clone();
        let config = Arc::new(config);
        if let Ok(mut leaves) = self.leaves.lock() {
            if leaves.len() >= LEAF_CACHE_LIMIT {
                leaves.clear();
            }
            leaves.insert(key, config.clone());
        }
        Ok(config)
    }
}

/// The key log of both legs: `SSLKEYLOGFILE` when set (rustls' format, for Wireshark).
///
/// The file holds session secrets, so it is created with mode 0600 before rustls opens it,
/// and an existing one loses its group and other permission bits.
pub(crate) fn key_log() -> Arc<dyn rustls::KeyLog> {
    if let Some(path) = std::env::var_os("SSLKEYLOGFILE").filter(|p| !p.is_empty()) {
        let path = std::path::PathBuf::from(path);
        let mut options = std::fs::OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        match options.open(&path) {
            Ok(file) => {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt as _;
                    if let Ok(meta) = file.metadata() {
                        let mode = meta.permissions().mode();
                        if mode & 0o077 != 0 {
                            let tightened = std::fs::Permissions::from_mode(mode & !0o077);
                            if let Err(e) = file.set_permissions(tightened) {
                                tracing::warn!(path = %path.display(), error = %e, "SSLKEYLOGFILE is readable by others");
                            }
                        }
                    }
                }
                drop(file);
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "SSLKEYLOGFILE cannot be opened")
            }
        }
        tracing::info!(path = %path.display(), "TLS keys of both legs go to SSLKEYLOGFILE");
    }
    Arc::new(rustls::KeyLogFile::new())
}

/// The rustls client configuration for upstream connections.
///
/// Verifies against the system roots plus `extra_ca` (a PEM file), or not at all when
/// `insecure` is set.
pub(crate) fn upstream_config(
    extra_ca: Option<&Path>,
    insecure: bool,
    key_log: Arc<dyn rustls::KeyLog>,
) -> Result<Arc<ClientConfig>, Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?;
    let mut config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for e in &native.errors {
            tracing::debug!(error = %e, "system root certificates: skipped");
        }
        let (added, ignored) = roots.add_parsable_certificates(native.certs);
        tracing::debug!(added, ignored, "system root certificates loaded");
        if let Some(path) = extra_ca {
            let pem = std::fs::read(path).map_err(|source| Error::Io {
                path: path.to_path_buf(),
                source,
            })?;
            let certs = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
            if certs.is_empty() {
                return Err(Error::Config(format!(
                    "{}: no CERTIFICATE block",
                    path.display()
                )));
            }
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.key_log = key_log;
    Ok(Arc::new(config))
}

/// Accepts any upstream certificate (`--insecure-upstream`), still checking signatures.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The TLS facts of a connection, for a capture record.
pub(crate) fn info<D>(conn: &rustls::ConnectionCommon<D>, sni: Option<&str>) -> TlsInfo {
    TlsInfo {
        sni: sni.map(str::to_owned),
        version: conn.protocol_version().map(|v| match v {
            rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
            rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
            other => format!("{other:?}"),
        }),
        alpn: conn
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
        cipher: conn
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite())),
    }
}

/// The DNS and IP subject alternative names of a certificate (empty if it does not parse).
pub(crate) fn san_names(cert: &CertificateDer<'_>) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert) else {
        return Vec::new();
    };
    let Ok(Some(san)) = parsed.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(d) => Some((*d).to_owned()),
            GeneralName::IPAddress(ip) => match ip.len() {
                4 => <[u8; 4]>::try_from(*ip)
                    .ok()
                    .map(|a| std::net::IpAddr::from(a).to_string()),
                16 => <[u8; 16]>::try_from(*ip)
                    .ok()
                    .map(|a| std::net::IpAddr::from(a).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// The server name to verify an upstream host against (IP literals without SNI).
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, Error> {
    ServerName::try_from(host.to_owned())
        .map_err(|_| Error::Config(format!("{host:?} is not a valid server name")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> (tempfile::TempDir, LeafCache) {
        let dir = tempfile::tempdir().unwrap();
        let ca = Arc::new(CertificateAuthority::load_or_create(&dir.path().join("ca")).unwrap());
        (dir, LeafCache::new(ca, Arc::new(rustls::KeyLogFile::new())))
    }

    #[test]
    fn leaves_are_cached_per_host_and_carry_upstream_names() {
        let (_dir, cache) = cache();
        let a = cache
            .config_for(
                "wsus.example",
                &[
                    "wsus.example".into(),
                    "alt.example".into(),
                    "10.0.0.5".into(),
                ],
            )
            .unwrap();
        let again = cache.config_for("WSUS.example", &[]).unwrap();
        assert!(Arc::ptr_eq(&a, &again), "one leaf per host");
        // A wildcard upstream name does not cost the leaf.
        let w = cache.config_for("other.example", &["*.example".into()]);
        assert!(w.is_ok());
        let (chain, _) = cache
            .ca
            .issue_leaf(&["wsus.example", "alt.example", "10.0.0.5"])
            .unwrap();
        let names = san_names(&chain[0]);
        assert_eq!(names, vec!["wsus.example", "alt.example", "10.0.0.5"]);
    }

    #[test]
    fn upstream_config_reads_extra_ca_and_refuses_garbage() {
        let (dir, cache) = cache();
        let pem = dir.path().join("ca").join(crate::ca::CERT_FILE);
        let log: Arc<dyn rustls::KeyLog> = Arc::new(rustls::KeyLogFile::new());
        assert!(upstream_config(Some(&pem), false, log.clone()).is_ok());
        let bad = dir.path().join("bad.pem");
        std::fs::write(&bad, "nothing here").unwrap();
        let e = upstream_config(Some(&bad), false, log.clone())
            .err()
            .unwrap();
        assert!(e.to_string().contains("bad.pem"), "{e}");
        assert!(upstream_config(None, true, log).is_ok());
        drop(cache);
    }
}
