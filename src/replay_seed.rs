//! `wutap replay CAPTURE`: the client seeded from a capture, and `--verify` (the recorded
//! requests sent again, each live response compared with the recorded one).

use std::path::Path;

use anyhow::Context as _;
use captures::CaptureWriter;
use replay::client::transport::Transport;
use replay::client::verify::{Difference, Verifier};
use replay::client::{ClientState, SeedError, SeedOptions};

use crate::Outcome;

/// Reads a capture (damaged lines are reported and skipped).
fn read(path: &Path) -> anyhow::Result<Vec<(u64, captures::Record)>> {
    let (records, problems) = captures::read_all(path)
        .with_context(|| format!("cannot read the capture {}", path.display()))?;
    for p in &problems {
        eprintln!("wutap: replay: warning: {}: {p}", path.display());
    }
    Ok(records)
}

/// The client state rebuilt from a capture; errors say what is missing.
pub(crate) fn seeded_state(path: &Path, client_id: Option<&str>) -> anyhow::Result<ClientState> {
    let records = read(path)?;
    let options = SeedOptions {
        client_id: client_id.map(str::to_string),
    };
    let seeded = ClientState::from_capture(&records, &options)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    for w in &seeded.warnings {
        eprintln!("wutap: replay: warning: {}: {w}", path.display());
    }
    for n in &seeded.notes {
        eprintln!("wutap: replay: note: {n}");
    }
    eprintln!(
        "wutap: replay: client {} seeded from {} exchanges of {} ({} cached revisions)",
        seeded.state.identity.client_id,
        seeded.exchanges,
        path.display(),
        seeded.state.revisions.len()
    );
    Ok(seeded.state)
}

/// The recorded calls of a capture, ready to be sent again.
pub(crate) fn verifier(path: &Path, client_id: Option<&str>) -> anyhow::Result<Verifier> {
    let records = read(path)?;
    let options = SeedOptions {
        client_id: client_id.map(str::to_string),
    };
    let v = Verifier::from_capture(&records, &options).map_err(|e| match e {
        SeedError::NoWuspTraffic { records } => anyhow::anyhow!(
            "{}: nothing to verify: no SOAP call to a WSUS web service among {records} records",
            path.display()
        ),
        SeedError::NoClientId => anyhow::anyhow!(
            "{}: nothing to verify: no GetAuthorizationCookie or ReportEventBatch request \
             names the client",
            path.display()
        ),
        e => anyhow::anyhow!("{}: {e}", path.display()),
    })?;
    for w in &v.warnings {
        eprintln!("wutap: replay: warning: {}: {w}", path.display());
    }
    for n in &v.notes {
        eprintln!("wutap: replay: note: {n}");
    }
    Ok(v)
}

/// Prints the differences and the summary line.
pub(crate) fn report(sent: usize, differences: &[Difference]) {
    for d in differences {
        println!("{d}");
    }
    let exchanges: std::collections::BTreeSet<u64> =
        differences.iter().map(|d| d.exchange).collect();
    println!(
        "verify: {sent} requests replayed, {} differences in {} responses",
        differences.len(),
        exchanges.len()
    );
}

/// `--verify`: the recorded requests sent again in order over `transport`; prints each
/// difference and a summary line (exit 1 when any).
pub(crate) async fn verify(
    mut verifier: Verifier,
    transport: &mut Transport,
    mut capture: Option<&mut CaptureWriter>,
) -> anyhow::Result<Outcome> {
    let host = transport.server().host_header().to_string();
    let mut differences = Vec::new();
    let mut sent = 0;
    while let Some(req) = verifier.next_request(&host) {
        sent += 1;
        match transport
            .post(&req.path, req.headers, req.body.as_bytes())
            .await
        {
            Ok(reply) => {
                differences.extend(verifier.check(reply.status, &reply.body));
                if let Some(w) = capture.as_deref_mut()
                    && let Err(e) = w.write(&captures::Record::Exchange(reply.exchange))
                {
                    tracing::warn!(%e, "cannot write the capture record");
                }
            }
            Err(e) if e.is_refused() && sent == 1 => {
                anyhow::bail!("{e} (is the server running?)")
            }
            Err(e) => differences.push(verifier.check_error(&e.to_string())),
        }
    }
    report(sent, &differences);
    Ok(if differences.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Problems
    })
}
