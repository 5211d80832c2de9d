//! The recorder: capture records go through a channel to one writer thread, off the
//! forwarding path (JSON encoding, base64 and the file write happen there).
//!
//! Memory is bounded by bytes, not by records: each queued record holds permits of a
//! semaphore worth its size in KiB (bodies plus a little for heads), [`BUDGET_KIB`] in all,
//! and gives them back once written. When the disk is slower than the traffic, the budget
//! runs out and the exchanges that complete next wait for room before their connection
//! goes on to its next request: forwarding slows down to the disk's pace and memory stays
//! bounded (a record larger than the whole budget waits for the queue to empty and then
//! goes alone).
//!
//! A write error (a full disk) stops recording once, loudly (one `error` event), and
//! forwarding goes on: connection tasks see [`Recorder::active`] turn false and stop
//! collecting bodies.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use captures::{CaptureWriter, Record};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::Error;

/// KiB of records that may wait for the writer; a slow disk slows the proxy instead of
/// eating memory.
const BUDGET_KIB: u32 = 2 * 1024;

/// Records written with one write call at most (what the queue held when the writer woke).
const BATCH: usize = 256;

/// After a batch that used little of the budget the writer waits this long before looking
/// at the queue again, so that under load it wakes and writes once per few dozen records
/// instead of once per record (each wake-up is a futex call on a connection's thread and
/// a thread switch). Records reach the file at most this much later.
const GATHER: std::time::Duration = std::time::Duration::from_millis(1);

/// A batch holding fewer KiB than this leaves room to gather (see [`GATHER`]).
const GATHER_BELOW_KIB: u32 = BUDGET_KIB / 8;

/// A batch stops taking records once it holds this many KiB: the writer encodes a batch
/// into one buffer, which would otherwise grow to the whole budget (peak RSS).
const BATCH_KIB: u32 = 256;

/// A record on its way to the writer, with the budget it holds until written.
type Queued = (Record, OwnedSemaphorePermit);

/// The sending side, cloned into every connection task.
#[derive(Clone, Debug)]
pub(crate) struct Recorder {
    tx: Option<mpsc::UnboundedSender<Queued>>,
    budget: Arc<Semaphore>,
    active: Arc<AtomicBool>,
}

/// The writer thread, joined at shutdown so that queued records reach the file.
#[derive(Debug)]
pub(crate) struct WriterThread(Option<JoinHandle<()>>);

impl Recorder {
    /// A recorder that records nothing.
    pub(crate) fn disabled() -> Self {
        Self {
            tx: None,
            budget: Arc::new(Semaphore::new(0)),
            active: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Opens (or appends to) the capture at `path` and starts the writer thread.
    pub(crate) fn open(path: &Path) -> Result<(Self, WriterThread), Error> {
        let mut writer = CaptureWriter::create_or_append(path)?;
        let (tx, mut rx) = mpsc::unbounded_channel::<Queued>();
        let active = Arc::new(AtomicBool::new(true));
        let flag = active.clone();
        let thread = std::thread::Builder::new()
            .name("wutap-recorder".into())
            .spawn(move || {
                // One wake-up and one write call for whatever is queued: the permits are
                // dropped with their records, after the write: room for more. A light
                // batch is followed by a short pause to let the next one gather.
                let mut records = Vec::with_capacity(BATCH);
                let mut permits = Vec::with_capacity(BATCH);
                while let Some((record, permit)) = rx.blocking_recv() {
                    let mut held = permit.num_permits();
                    records.push(record);
                    permits.push(permit);
                    while records.len() < BATCH
                        && held < BATCH_KIB as usize
                        && let Ok((record, permit)) = rx.try_recv()
                    {
                        held += permit.num_permits();
                        records.push(record);
                        permits.push(permit);
                    }
                    if flag.load(Ordering::Relaxed) {
                        match writer.write_batch(&records) {
                            Ok(()) => records.iter().for_each(log_record),
                            Err(e) => {
                                flag.store(false, Ordering::Relaxed);
                                tracing::error!("{e}: recording stopped, forwarding goes on");
                            }
                        }
                    }
                    records.clear();
                    permits.clear();
                    if held < GATHER_BELOW_KIB as usize {
                        std::thread::sleep(GATHER);
                    }
                }
                if flag.load(Ordering::Relaxed)
                    && let Err(e) = writer.finish()
                {
                    tracing::error!("{e}");
                }
            })
            .map_err(|e| Error::Config(format!("cannot start the recorder thread: {e}")))?;
        Ok((
            Self {
                tx: Some(tx),
                budget: Arc::new(Semaphore::new(BUDGET_KIB as usize)),
                active,
            },
            WriterThread(Some(thread)),
        ))
    }

    /// True while records are wanted (a capture is open and no write has failed).
    pub(crate) fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// Queues a record, first waiting for its share of the budget when the writer lags.
    pub(crate) async fn record(&self, record: Record) {
        if let Some(tx) = &self.tx
            && self.active()
        {
            let cost = cost_kib(&record);
            // The semaphore is never closed: an error cannot happen, and dropping the
            // record then is the safe answer.
            if let Ok(permit) = self.budget.clone().acquire_many_owned(cost).await {
                let _ = tx.send((record, permit));
            }
        }
    }
}

/// What a record holds in memory, in KiB permits: its bodies plus 1 KiB for the rest,
/// at most the whole budget.
fn cost_kib(record: &Record) -> u32 {
    let bodies = match record {
        Record::Exchange(e) => kept(&e.request.body) + kept(&e.response.body),
        Record::Error(e) => {
            e.request.as_ref().map_or(0, |r| kept(&r.body))
                + e.response.as_ref().map_or(0, |r| kept(&r.body))
        }
        Record::Connection(_) | Record::Header(_) => 0,
    };
    let kib = bodies.div_ceil(1024).saturating_add(1);
    u32::try_from(kib).unwrap_or(u32::MAX).min(BUDGET_KIB)
}

/// Bytes a body keeps in memory (an omitted body keeps only its digests).
fn kept(body: &captures::Body) -> u64 {
    body.bytes().map_or(0, |b| b.len() as u64)
}

impl WriterThread {
    /// Waits for the writer to drain its queue (all senders must be gone).
    pub(crate) fn join(mut self) {
        if let Some(t) = self.0.take() {
            let _ = t.join();
        }
    }
}

/// A debug line per record, naming the WUSP operation; no header or body content (cookies).
fn log_record(record: &Record) {
    match record {
        Record::Exchange(e) => tracing::debug!(
            id = e.id,
            conn = e.conn,
            method = %e.request.method,
            path = e.path(),
            operation = captures::wire::classify(e).label(),
            status = e.response.status,
            "exchange recorded"
        ),
        Record::Error(e) => {
            tracing::debug!(id = e.id, conn = e.conn, phase = ?e.phase, "error recorded")
        }
        Record::Connection(c) => {
            tracing::debug!(conn = c.conn, mode = ?c.mode, "connection recorded")
        }
        Record::Header(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use captures::{ConnectionMode, ConnectionRecord, Timestamp};
    use std::time::Duration;

    fn conn(n: u64) -> Record {
        Record::Connection(ConnectionRecord {
            conn: n,
            client: None,
            server: None,
            tls: None,
            upstream_tls: None,
            opened: Timestamp::now(),
            closed: None,
            mode: ConnectionMode::Plain,
            bytes_up: 1,
            bytes_down: 2,
        })
    }

    #[tokio::test]
    async fn records_reach_the_file_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        let (rec, thread) = Recorder::open(&path).unwrap();
        for n in 1..=3 {
            rec.record(conn(n)).await;
        }
        assert!(rec.active());
        drop(rec);
        thread.join();
        let (records, problems) = captures::read_all(&path).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        let conns: Vec<_> = records.iter().filter_map(|(_, r)| r.conn()).collect();
        assert_eq!(conns, vec![1, 2, 3]);
        assert!(!Recorder::disabled().active());
    }

    #[test]
    fn records_cost_their_bodies_in_kib_within_the_budget() {
        assert_eq!(cost_kib(&conn(1)), 1);
        let exchange = |n: usize| {
            Record::Exchange(captures::Exchange {
                id: 1,
                conn: 1,
                client: None,
                server: None,
                scheme: "https".into(),
                tls: None,
                upstream_tls: None,
                time: captures::Timing::starting(Timestamp::now()),
                request: captures::Request::default(),
                response: captures::Response {
                    body: captures::Body::Binary(vec![0xff; n]),
                    ..Default::default()
                },
            })
        };
        assert_eq!(cost_kib(&exchange(204 * 1024)), 205);
        assert_eq!(cost_kib(&exchange(1025)), 3);
        assert_eq!(cost_kib(&exchange(64 << 20)), BUDGET_KIB);
    }

    #[tokio::test]
    async fn a_lagging_writer_holds_back_senders_once_the_budget_is_spent() {
        let (tx, mut rx) = mpsc::unbounded_channel::<Queued>();
        let rec = Recorder {
            tx: Some(tx),
            budget: Arc::new(Semaphore::new(BUDGET_KIB as usize)),
            active: Arc::new(AtomicBool::new(true)),
        };
        // Budget minus one KiB is spent by queued connection records nobody writes.
        for n in 0..u64::from(BUDGET_KIB - 1) {
            rec.record(conn(n)).await;
        }
        rec.record(conn(0)).await;
        assert_eq!(rec.budget.available_permits(), 0);
        let blocked = tokio::time::timeout(Duration::from_millis(50), rec.record(conn(1))).await;
        assert!(blocked.is_err(), "a record went in beyond the budget");
        // The writer takes one: room for one more.
        drop(rx.recv().await);
        tokio::time::timeout(Duration::from_secs(5), rec.record(conn(2)))
            .await
            .unwrap();
        assert_eq!(rec.budget.available_permits(), 0);
    }
}
