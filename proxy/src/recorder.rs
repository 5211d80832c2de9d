//! The recorder: capture records go through a channel to one writer thread, off the
//! forwarding path (JSON encoding, base64 and the file write happen there).
//!
//! A write error (a full disk) stops recording once, loudly (one `error` event), and
//! forwarding goes on: connection tasks see [`Recorder::active`] turn false and stop
//! collecting bodies.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use captures::{CaptureWriter, Record};
use tokio::sync::mpsc;

use crate::Error;

/// Records waiting for the writer; a slow disk slows the proxy instead of eating memory.
const QUEUE: usize = 1024;

/// The sending side, cloned into every connection task.
#[derive(Clone, Debug)]
pub(crate) struct Recorder {
    tx: Option<mpsc::Sender<Record>>,
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
            active: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Opens (or appends to) the capture at `path` and starts the writer thread.
    pub(crate) fn open(path: &Path) -> Result<(Self, WriterThread), Error> {
        let mut writer = CaptureWriter::create_or_append(path)?;
        let (tx, mut rx) = mpsc::channel::<Record>(QUEUE);
        let active = Arc::new(AtomicBool::new(true));
        let flag = active.clone();
        let thread = std::thread::Builder::new()
            .name("wutap-recorder".into())
            .spawn(move || {
                while let Some(record) = rx.blocking_recv() {
                    if !flag.load(Ordering::Relaxed) {
                        continue;
                    }
                    match writer.write(&record) {
                        Ok(()) => log_record(&record),
                        Err(e) => {
                            flag.store(false, Ordering::Relaxed);
                            tracing::error!("{e}: recording stopped, forwarding goes on");
                        }
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
                active,
            },
            WriterThread(Some(thread)),
        ))
    }

    /// True while records are wanted (a capture is open and no write has failed).
    pub(crate) fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// Queues a record (waits when the queue is full).
    pub(crate) async fn record(&self, record: Record) {
        if let Some(tx) = &self.tx
            && self.active()
        {
            let _ = tx.send(record).await;
        }
    }
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
}
