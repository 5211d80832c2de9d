//! wutap's certificate authority: one CA per user, leaves minted on demand.
//!
//! The CA lives in a directory (`wutap-ca.pem`, `wutap-ca.key`, the key mode 0600, the
//! directory 0700), created on first use by [`CertificateAuthority::load_or_create`]. The user
//! installs `wutap-ca.pem` once in the client's trust store (`wutap ca export`); `wutap serve`
//! and the proxy then present leaves issued by it.
//!
//! Leaves are shaped for Windows SChannel, which the Windows Update Agent uses: each leaf has
//! its own key, the serverAuth extended key usage, an authority key identifier equal to the
//! CA's subject key identifier, **no** subject key identifier, a DNS or IP subject alternative
//! name per host as the host requires, and a notBefore backdated by a day so that a client
//! whose clock runs late still accepts it.

use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

/// File name of the CA certificate (PEM) in the CA directory.
pub const CERT_FILE: &str = "wutap-ca.pem";
/// File name of the CA private key (PKCS#8 PEM, mode 0600) in the CA directory.
pub const KEY_FILE: &str = "wutap-ca.key";

/// How long a new CA certificate is valid.
const CA_VALIDITY: Duration = Duration::days(3650);
/// How long a leaf is valid (leaves are minted per run; SChannel enforces no 398-day cap).
const LEAF_VALIDITY: Duration = Duration::days(365);
/// How far notBefore is moved into the past, for clients whose clock runs late.
const BACKDATE: Duration = Duration::days(1);

/// An error of the certificate authority.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read, written or created.
    #[error("{path}: {source}")]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The CA directory holds only one of the certificate and the key.
    #[error("{dir}: the CA directory holds {present} but not {missing}")]
    Incomplete {
        /// The CA directory.
        dir: PathBuf,
        /// The file that exists.
        present: &'static str,
        /// The file that is missing.
        missing: &'static str,
    },
    /// A PEM file holds no certificate or no usable private key.
    #[error("{path}: {what}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        what: String,
    },
    /// Certificate generation or parsing failed.
    #[error("certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// A host name is neither an IP address nor a valid DNS name.
    #[error("{0:?} is not a valid DNS name or IP address")]
    InvalidName(String),
    /// rustls refused the certificate or key.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// The operating system's random generator failed.
    #[error("random generator: {0}")]
    Random(String),
}

/// A `Result` with the CA [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The per-user default CA directory: `$XDG_DATA_HOME/wutap/ca`, else
/// `~/.local/share/wutap/ca`; `None` when neither variable is set.
pub fn default_dir() -> Option<PathBuf> {
    let nonempty = |v: std::ffi::OsString| (!v.is_empty()).then(|| PathBuf::from(v));
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").and_then(nonempty) {
        return Some(d.join("wutap").join("ca"));
    }
    std::env::var_os("HOME")
        .and_then(nonempty)
        .map(|h| h.join(".local").join("share").join("wutap").join("ca"))
}

/// wutap's certificate authority: a CA certificate and its key, able to issue leaves.
pub struct CertificateAuthority {
    cert_der: CertificateDer<'static>,
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key stays out of debug output.
        f.debug_struct("CertificateAuthority")
            .field("cert_der_len", &self.cert_der.len())
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// Loads the CA from `dir`, or creates a new one there (directory 0700, key 0600) when the
    /// directory holds neither file.
    pub fn load_or_create(dir: &Path) -> Result<Self> {
        let cert_path = dir.join(CERT_FILE);
        let key_path = dir.join(KEY_FILE);
        match (exists(&cert_path)?, exists(&key_path)?) {
            (true, true) => Self::load(dir),
            (false, false) => Self::create(dir),
            (true, false) => Err(Error::Incomplete {
                dir: dir.to_path_buf(),
                present: CERT_FILE,
                missing: KEY_FILE,
            }),
            (false, true) => Err(Error::Incomplete {
                dir: dir.to_path_buf(),
                present: KEY_FILE,
                missing: CERT_FILE,
            }),
        }
    }

    /// Loads an existing CA from `dir` (`wutap-ca.pem` and `wutap-ca.key`).
    pub fn load(dir: &Path) -> Result<Self> {
        let cert_path = dir.join(CERT_FILE);
        let key_path = dir.join(KEY_FILE);
        let cert_pem = read_text(&cert_path)?;
        let key_pem = read_text(&key_path)?;
        let cert_der =
            CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|e| Error::Pem {
                path: cert_path.clone(),
                what: format!("no certificate: {e}"),
            })?;
        let key = KeyPair::from_pem(&key_pem).map_err(|e| Error::Pem {
            path: key_path.clone(),
            what: format!("no usable private key: {e}"),
        })?;
        warn_if_key_readable_by_others(&key_path);
        Self::from_parts(cert_der, key)
    }

    /// Creates a new CA in `dir` (created with mode 0700 if missing). Fails if a CA file is
    /// already there.
    pub fn create(dir: &Path) -> Result<Self> {
        create_private_dir(dir)?;
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        let serial = random_serial()?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "wutap");
        // A distinct name per CA, so that two wutap CAs in one trust store can be told apart.
        dn.push(
            DnType::CommonName,
            format!("wutap CA {}", hex_prefix(&serial.to_bytes(), 4)),
        );
        params.distinguished_name = dn;
        params.serial_number = Some(serial);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - BACKDATE;
        params.not_after = now + CA_VALIDITY;
        let cert = params.self_signed(&key)?;

        // Key first, then certificate: a reader that finds the certificate finds the key.
        write_new_file(&dir.join(KEY_FILE), key.serialize_pem().as_bytes(), 0o600)?;
        write_new_file(&dir.join(CERT_FILE), cert.pem().as_bytes(), 0o644)?;
        tracing::info!(dir = %dir.display(), "created a new wutap CA");
        Self::from_parts(cert.der().clone(), key)
    }

    fn from_parts(cert_der: CertificateDer<'static>, key: KeyPair) -> Result<Self> {
        // Parsing the certificate takes its subject and subject key identifier as they are,
        // so a leaf's authority key identifier equals the CA's SKI byte for byte.
        let issuer = Issuer::from_ca_cert_der(&cert_der, key)?;
        let cert_pem = pem_encode("CERTIFICATE", &cert_der);
        Ok(CertificateAuthority {
            cert_der,
            cert_pem,
            issuer,
        })
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER.
    pub fn der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// Mints a leaf for `names` (DNS names or IP addresses; the first is also the common
    /// name) with a fresh key. Returns the chain (leaf, then the CA) and the leaf's key.
    pub fn issue_leaf(
        &self,
        names: &[&str],
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        if let Some(first) = names.first() {
            dn.push(DnType::CommonName, *first);
        }
        params.distinguished_name = dn;
        params.subject_alt_names = names
            .iter()
            .map(|n| san_for(n))
            .collect::<Result<Vec<_>>>()?;
        params.serial_number = Some(random_serial()?);
        // NoCa: no basicConstraints and, in rcgen, no subject key identifier (SChannel).
        params.is_ca = IsCa::NoCa;
        // ECDSA keys sign (RFC 5480 allows no keyEncipherment for them).
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - BACKDATE;
        params.not_after = now + LEAF_VALIDITY;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok((vec![cert.der().clone(), self.cert_der.clone()], key_der))
    }

    /// A rustls server configuration presenting a leaf for `names` (ALPN `http/1.1`).
    pub fn server_config(&self, names: &[&str]) -> Result<Arc<ServerConfig>> {
        let (chain, key) = self.issue_leaf(names)?;
        server_config(chain, key)
    }
}

/// A rustls server configuration (aws-lc-rs provider, TLS 1.2 and 1.3, ALPN `http/1.1`)
/// presenting `chain` (leaf first) with `key`.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Reads a certificate chain (PEM, leaf first) and its private key (PEM: PKCS#8, PKCS#1
/// or SEC1), as given by `wutap serve --cert FILE --key FILE`.
pub fn load_pem_pair(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let cert_pem = fs::read(cert).map_err(|source| Error::Io {
        path: cert.to_path_buf(),
        source,
    })?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Pem {
            path: cert.to_path_buf(),
            what: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(Error::Pem {
            path: cert.to_path_buf(),
            what: "no CERTIFICATE block".into(),
        });
    }
    let key_pem = fs::read(key).map_err(|source| Error::Io {
        path: key.to_path_buf(),
        source,
    })?;
    let key_der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| Error::Pem {
        path: key.to_path_buf(),
        what: format!("no private key: {e}"),
    })?;
    Ok((chain, key_der))
}

/// The subject alternative name for one host: an IP SAN for an address, a DNS SAN otherwise.
fn san_for(name: &str) -> Result<SanType> {
    let bare = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    // rustls' DNS name syntax check (Ia5String alone would take spaces).
    if rustls_pki_types::DnsName::try_from(name).is_err() {
        return Err(Error::InvalidName(name.to_string()));
    }
    name.to_string()
        .try_into()
        .map(SanType::DnsName)
        .map_err(|_| Error::InvalidName(name.to_string()))
}

/// 16 random bytes, top bit cleared (a positive INTEGER of fixed length).
fn random_serial() -> Result<SerialNumber> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| Error::Random(e.to_string()))?;
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01 << 6;
    Ok(SerialNumber::from_slice(&bytes))
}

fn hex_prefix(bytes: &[u8], n: usize) -> String {
    bytes.iter().take(n).map(|b| format!("{b:02x}")).collect()
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn exists(path: &Path) -> Result<bool> {
    path.try_exists().map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn read_text(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })
}

/// Writes a file that must not exist yet, with `mode` on Unix (set at creation: a private key
/// is never readable by others, not even for a moment).
fn write_new_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let io_err = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(io_err)?;
    file.write_all(bytes).map_err(io_err)?;
    file.sync_all().map_err(io_err)
}

fn warn_if_key_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %path.display(),
                mode = format_args!("{:o}", meta.permissions().mode() & 0o777),
                "the CA key is readable by other users"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests;
