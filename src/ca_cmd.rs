//! `wutap ca init|export`: wutap's certificate authority, for installing it on clients.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use proxy::ca::{CERT_FILE, CertificateAuthority};
use sha1::Digest as _;

use crate::Outcome;
use crate::cli::CaCommand;
use crate::serve::ca_dir;

/// Runs a `ca` subcommand.
pub fn run(cmd: CaCommand) -> Result<Outcome> {
    match cmd {
        CaCommand::Init(dir) => {
            let dir = ca_dir(dir.ca_dir)?;
            let (ca, created) = load_or_create(&dir)?;
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "{} {}",
                if created { "created" } else { "exists" },
                dir.join(CERT_FILE).display()
            )?;
            // Windows shows this as the certificate's Thumbprint (certmgr, certutil).
            writeln!(out, "thumbprint {}", thumbprint(ca.der()))?;
            out.flush()?;
        }
        CaCommand::Export { dir, der, out } => {
            let dir = ca_dir(dir.ca_dir)?;
            let (ca, created) = load_or_create(&dir)?;
            if created {
                eprintln!("wutap: created a new CA in {}", dir.display());
            }
            let bytes: &[u8] = if der { ca.der() } else { ca.pem().as_bytes() };
            match out {
                Some(path) => std::fs::write(&path, bytes)
                    .with_context(|| format!("cannot write {}", path.display()))?,
                None => {
                    let mut stdout = std::io::stdout().lock();
                    stdout.write_all(bytes)?;
                    stdout.flush()?;
                }
            }
        }
    }
    Ok(Outcome::Clean)
}

/// The CA in `dir`, and whether this call created it.
fn load_or_create(dir: &Path) -> Result<(CertificateAuthority, bool)> {
    let existed = dir.join(CERT_FILE).exists();
    let ca = CertificateAuthority::load_or_create(dir)
        .with_context(|| format!("wutap CA in {}", dir.display()))?;
    Ok((ca, !existed))
}

/// SHA-1 of the DER, upper-case hex, as Windows writes a thumbprint.
fn thumbprint(der: &[u8]) -> String {
    hex::encode_upper(sha1::Sha1::digest(der))
}
