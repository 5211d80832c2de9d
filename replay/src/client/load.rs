//! Load mode: N simulated clients, each with its own identity (derived from a seed and its
//! index) and its own cache, run concurrently; each does a first sync, then differential
//! syncs, until its sync count or the deadline. [`run_load`] collects throughput, per-request
//! latencies, faults by ErrorCode and transport errors into a [`LoadReport`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use captures::Record;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use tokio::sync::mpsc;

use super::transport::{RunStats, ServerUrl, Transport, TransportOptions, run_sync_with};
use super::{ClientState, Identity, Step, Summary, Sync, SyncError, SyncOptions};

/// A client identity from 20 bytes: a version-4 GUID from the first 16 (lower case) and
/// the DNS name `wutap-<8 hex>.invalid` from the last 4.
pub fn identity_from_bytes(b: &[u8; 20]) -> Identity {
    let mut g = [0u8; 16];
    g.copy_from_slice(&b[..16]);
    let guid = wusp::values::Guid::v4_from_bytes(g).0;
    let dns = format!("wutap-{}.invalid", hex::encode(&b[16..20]));
    Identity::new(&guid, &dns)
}

/// The identity of client `index` of a load run seeded with `seed` (same inputs, same
/// client).
pub fn load_identity(seed: u64, index: u32) -> Identity {
    let mut h = Sha256::new();
    h.update(b"wutap load client");
    h.update(seed.to_be_bytes());
    h.update(index.to_be_bytes());
    let d = h.finalize();
    let mut b = [0u8; 20];
    b.copy_from_slice(&d[..20]);
    identity_from_bytes(&b)
}

/// How a load run behaves.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Simulated clients.
    pub clients: u32,
    /// Syncs per client (`None`: until the deadline).
    pub syncs: Option<u32>,
    /// No sync starts after this long (`None`: only the sync count bounds the run).
    pub duration: Option<Duration>,
    /// Seed of the identities.
    pub seed: u64,
    /// Resends of one request (the machine's `max_retries`).
    pub max_retries: u32,
    /// Transport settings shared by every client (each has its own connection).
    pub transport: TransportOptions,
}

/// What a load run did.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    /// Clients run.
    pub clients: u32,
    /// Syncs that finished.
    pub syncs_ok: u64,
    /// Syncs that failed (fault without recovery, retries exhausted, server unreachable).
    pub syncs_failed: u64,
    /// HTTP exchanges completed.
    pub requests: u64,
    /// Requests that failed at the transport level (retried or not).
    pub transport_errors: u64,
    /// Bytes written.
    pub bytes_sent: u64,
    /// Bytes read.
    pub bytes_received: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Every request's latency, as a histogram (bounded memory however long the run).
    pub latencies: Latencies,
    /// Faults met, by ErrorCode (recovered ones and those that failed a sync).
    pub faults: BTreeMap<String, u64>,
    /// The first failures, one line each naming the client.
    pub failures: Vec<String>,
    /// New updates received, all clients.
    pub new_updates: u64,
    /// Pages received, all clients.
    pub pages: u64,
    /// ChangedUpdates received, all clients.
    pub changed_updates: u64,
    /// Out-of-scope revisions received, all clients.
    pub out_of_scope: u64,
    /// GetExtendedUpdateInfo calls answered, all clients.
    pub extended_info_calls: u64,
}

/// Request latencies of a run in a histogram of microseconds with three significant digits:
/// a few tens of KB however many requests, quantiles within 0.1 %.
#[derive(Clone, Debug, Default)]
pub struct Latencies(Option<hdrhistogram::Histogram<u64>>);

impl Latencies {
    /// Adds one request's latency.
    pub fn record(&mut self, d: Duration) {
        if self.0.is_none() {
            // Three significant digits is always a valid precision; the histogram grows to
            // the largest value recorded.
            self.0 = hdrhistogram::Histogram::new(3).ok();
        }
        if let Some(h) = self.0.as_mut() {
            let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
            if h.record(us).is_err() {
                // Beyond what the histogram can grow to: counted at its highest value.
                h.saturating_record(us);
            }
        }
    }

    /// Latencies recorded.
    pub fn len(&self) -> u64 {
        self.0.as_ref().map_or(0, |h| h.len())
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The latency at quantile `q` (0..=1); zero when nothing was recorded.
    pub fn quantile(&self, q: f64) -> Duration {
        match &self.0 {
            Some(h) if !h.is_empty() => {
                Duration::from_micros(h.value_at_quantile(q.clamp(0.0, 1.0)))
            }
            _ => Duration::ZERO,
        }
    }
}

/// Failures kept verbatim in the report.
const FAILURES_KEPT: usize = 20;

impl LoadReport {
    /// The latency at quantile `q` (0..=1), within 0.1 %; zero when nothing was measured.
    pub fn latency(&self, q: f64) -> Duration {
        self.latencies.quantile(q)
    }

    /// Finished syncs per second.
    pub fn syncs_per_second(&self) -> f64 {
        per_second(self.syncs_ok, self.elapsed)
    }

    /// Completed requests per second.
    pub fn requests_per_second(&self) -> f64 {
        per_second(self.requests, self.elapsed)
    }

    fn add_run(&mut self, client: u32, end: &Result<Step, String>, s: &Summary, stats: RunStats) {
        self.requests += stats.exchanges;
        self.transport_errors += stats.transport_errors;
        self.bytes_sent += stats.bytes_sent;
        self.bytes_received += stats.bytes_received;
        for l in stats.latencies {
            self.latencies.record(l);
        }
        self.new_updates += u64::from(s.new_updates);
        self.pages += u64::from(s.pages);
        self.changed_updates += u64::from(s.changed_updates);
        self.out_of_scope += u64::from(s.out_of_scope);
        self.extended_info_calls += u64::from(s.extended_info_calls);
        for (code, n) in &s.faults_recovered {
            *self.faults.entry(code.clone()).or_default() += u64::from(*n);
        }
        let failure = match end {
            Ok(Step::Done(_)) => None,
            Ok(Step::Failed(e)) => {
                if let SyncError::Fault { code, .. } = e {
                    *self.faults.entry(code.clone()).or_default() += 1;
                }
                Some(e.to_string())
            }
            Ok(Step::Send(..)) => Some("stopped with a request outstanding".to_string()),
            Err(e) => Some(e.clone()),
        };
        match failure {
            None => self.syncs_ok += 1,
            Some(f) => {
                self.syncs_failed += 1;
                if self.failures.len() < FAILURES_KEPT {
                    self.failures.push(format!("client {client}: {f}"));
                }
            }
        }
    }
}

fn per_second(n: u64, d: Duration) -> f64 {
    if d.is_zero() {
        0.0
    } else {
        n as f64 / d.as_secs_f64()
    }
}

/// Runs the clients concurrently on the current (multi-thread) runtime; each exchange goes
/// (and error record) goes to `capture` when given (one writer owns the file).
pub async fn run_load(
    server: ServerUrl,
    options: LoadOptions,
    capture: Option<mpsc::UnboundedSender<Record>>,
) -> LoadReport {
    let started = Instant::now();
    let deadline = options.duration.map(|d| started + d);
    // One TLS configuration for all clients.
    let mut transport_options = options.transport.clone();
    let mut report = LoadReport {
        clients: options.clients,
        ..LoadReport::default()
    };
    if server.is_https() && transport_options.tls.is_none() {
        match transport_options.tls_config() {
            Ok(c) => transport_options.tls = Some(c),
            Err(e) => {
                report.syncs_failed = u64::from(options.clients);
                report.failures.push(e.to_string());
                return report;
            }
        }
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..options.clients {
        let client = Client {
            index,
            server: server.clone(),
            transport: transport_options.clone(),
            syncs: options.syncs,
            deadline,
            seed: options.seed,
            max_retries: options.max_retries,
            capture: capture.clone(),
            report: tx.clone(),
        };
        tasks.spawn(client.run());
    }
    drop(tx);
    while let Some((index, end, summary, stats)) = rx.recv().await {
        report.add_run(index, &end, &summary, stats);
    }
    while let Some(joined) = tasks.join_next().await {
        if let Err(e) = joined {
            report.syncs_failed += 1;
            report
                .failures
                .push(format!("a client task ended abnormally: {e}"));
        }
    }
    report.elapsed = started.elapsed();
    report
}

/// One finished sync: client index, end, summary, stats.
type SyncRun = (u32, Result<Step, String>, Summary, RunStats);

/// One simulated client.
struct Client {
    index: u32,
    server: ServerUrl,
    transport: TransportOptions,
    syncs: Option<u32>,
    deadline: Option<Instant>,
    seed: u64,
    max_retries: u32,
    capture: Option<mpsc::UnboundedSender<Record>>,
    report: mpsc::UnboundedSender<SyncRun>,
}

impl Client {
    async fn run(self) {
        let mut transport = match Transport::new(self.server.clone(), self.transport.clone()) {
            Ok(t) => t,
            Err(e) => {
                let run = (
                    self.index,
                    Err(e.to_string()),
                    Summary::default(),
                    RunStats::default(),
                );
                let _ = self.report.send(run);
                return;
            }
        };
        let mut state = ClientState::new(load_identity(self.seed, self.index));
        // Bounded by the sync count, or by the deadline (checked before every sync).
        let most = self.syncs.unwrap_or(u32::MAX);
        for _ in 0..most {
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            let mut options = SyncOptions::new(OffsetDateTime::now_utc());
            options.max_retries = self.max_retries;
            let sync = Sync::new(state, options);
            let capture = self.capture.clone();
            let (sync, end, stats) = run_sync_with(sync, &mut transport, |ex| {
                if let Some(c) = &capture {
                    // The writer task may be gone after a write error; the run goes on.
                    let _ = c.send(ex);
                }
            })
            .await;
            let stop = !matches!(end, Ok(Step::Done(_)));
            let end = end.map_err(|e| e.to_string());
            let summary = sync.summary().clone();
            if self.report.send((self.index, end, summary, stats)).is_err() || stop {
                return;
            }
            state = sync.into_state();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn identities_are_distinct_and_repeatable() {
        let a = load_identity(1, 0);
        assert_eq!(a, load_identity(1, 0));
        assert_ne!(a.client_id, load_identity(1, 1).client_id);
        assert_ne!(a.client_id, load_identity(2, 0).client_id);
        assert_eq!(a.client_id.len(), 36);
        assert_eq!(&a.client_id[14..15], "4");
        assert!(a.dns_name.starts_with("wutap-") && a.dns_name.ends_with(".invalid"));
    }

    #[test]
    fn percentiles_are_within_a_thousandth() {
        let mut report = LoadReport::default();
        for ms in (1..=100).rev() {
            report.latencies.record(Duration::from_millis(ms));
        }
        assert_eq!(report.latencies.len(), 100);
        let near = |q: f64, ms: u64| {
            let got = report.latency(q).as_secs_f64();
            let want = ms as f64 / 1000.0;
            assert!(
                (got - want).abs() <= want / 1000.0,
                "q {q}: {got} s, want {want} s"
            );
        };
        near(0.5, 50);
        near(0.99, 99);
        near(1.0, 100);
        assert_eq!(LoadReport::default().latency(0.5), Duration::ZERO);
        assert!(LoadReport::default().latencies.is_empty());
    }
}
