//! Reading the inputs: wutap captures and HAR files, ordered in time, each exchange
//! classified and decoded through `wusp` (Content-Encoding and Xpress included).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use captures::wire::{ExchangeKind, classify, request_xml, response_xml};
use captures::{CaptureReader, Exchange, ReadItem, Record, Timestamp};
use wusp::ops::Identification;
use wusp::soap::{Body, SoapVersion};
use wusp::{Envelope, Fault, Operation};

use crate::Error;

/// A problem met reading an input (a damaged line, a cut file): reported, never fatal.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InputProblem {
    /// The file.
    pub file: String,
    /// The 1-based line (HAR: entry index).
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

/// One input file, placed in time order among the others.
pub(crate) struct Input {
    /// Position of the file in time order (0 = earliest).
    pub(crate) index: usize,
    /// The file name used in exchange ids.
    pub(crate) label: String,
    /// The file.
    path: PathBuf,
}

/// How many records may arrive out of start-time order in one file (records are appended
/// as exchanges complete, so concurrent exchanges interleave a little).
const REORDER_WINDOW: usize = 512;

/// Opens every input to find its first exchange's start time and orders the inputs by it.
pub(crate) fn plan_inputs(paths: &[PathBuf]) -> Result<Vec<Input>, Error> {
    let mut firsts = Vec::new();
    for path in paths {
        let reader = open(path)?;
        let mut first = None;
        for item in reader {
            if let ReadItem::Record { record, .. } = item
                && matches!(record, Record::Exchange(_) | Record::Error(_))
            {
                first = Some(record.start());
                break;
            }
        }
        firsts.push((first, path.clone()));
    }
    // Stable: files without exchanges, and ties, keep the command-line order.
    firsts.sort_by_key(|(t, _)| *t);
    let mut seen = std::collections::HashMap::<String, usize>::new();
    Ok(firsts
        .into_iter()
        .enumerate()
        .map(|(index, (_, path))| {
            let label = label_of(&path);
            // Two inputs with the same file name get distinct labels.
            let n = seen.entry(label.clone()).or_insert(0);
            *n += 1;
            let label = if *n > 1 {
                format!("{label}({n})")
            } else {
                label
            };
            Input { index, label, path }
        })
        .collect())
}

fn open(path: &Path) -> Result<CaptureReader, Error> {
    CaptureReader::open(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// A record waiting in the reorder window, ordered by start time then arrival.
struct Pending(Timestamp, u64, Box<Record>);

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.0, self.1) == (other.0, other.1)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Reversed: BinaryHeap is a max-heap and we want the earliest first.
        (other.0, other.1).cmp(&(self.0, self.1))
    }
}

/// Streams the exchange and error records of one input in start-time order, with a bounded
/// reorder window; damaged lines become [`InputProblem`]s, handed out as soon as they are met
/// (ahead of the records still in the window), so none is held to the end.
pub(crate) struct Records<'a> {
    input: &'a Input,
    reader: CaptureReader,
    heap: std::collections::BinaryHeap<Pending>,
    seq: u64,
    eof: bool,
}

/// One item of [`Records`].
pub(crate) enum Read {
    /// An exchange or error record, in start-time order.
    Record(Box<Record>),
    /// A damaged line.
    Problem(InputProblem),
}

impl Input {
    /// The file's size in bytes (0 when it cannot be read: opening it reports why).
    pub(crate) fn size(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }

    /// Streams this input's records, adding the bytes read from the file to `read`.
    pub(crate) fn records(&self, read: Arc<AtomicU64>) -> Result<Records<'_>, Error> {
        Ok(Records {
            input: self,
            reader: CaptureReader::open_counting(&self.path, read).map_err(|source| {
                Error::Read {
                    path: self.path.clone(),
                    source,
                }
            })?,
            heap: std::collections::BinaryHeap::new(),
            seq: 0,
            eof: false,
        })
    }
}

/// Decoded exchanges handed from the reading thread to the judging one at a time (one
/// hand-over, and so one wake-up, per batch rather than per exchange).
const BATCH: usize = 16;

impl Input {
    /// Reads and decodes this input's records on a second thread, in time order, handing
    /// each to `each` on this one, with the problems met reading as they are met. Adds the
    /// bytes read from the file to `read`.
    ///
    /// Reading and decoding (JSON, base64, Xpress, SOAP) and judging take about as long, so
    /// on two cores the two threads halve the time; the order and what `each` sees are the
    /// same as one thread reading, decoding and judging in turn.
    pub(crate) fn decode_each(
        &self,
        read: Arc<AtomicU64>,
        each: &mut dyn FnMut(Classified),
    ) -> Result<(), Error> {
        let records = self.records(read)?;
        // One batch waiting in the channel while the next is decoded and the last judged.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Classified>>(1);
        std::thread::scope(|scope| {
            let reader = scope.spawn(move || {
                let mut batch = Vec::with_capacity(BATCH);
                for item in records {
                    match item {
                        Read::Record(record) => batch.extend(classify_record(self, &record)),
                        Read::Problem(p) => batch.push(Classified::Problem(p)),
                    }
                    if batch.len() >= BATCH
                        && tx
                            .send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                            .is_err()
                    {
                        // The judging side stopped: nothing more to decode.
                        return;
                    }
                }
                // A send fails only when the judging side stopped, which needs no more.
                let _ = tx.send(batch);
            });
            for c in rx.into_iter().flatten() {
                each(c);
            }
            reader
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        });
        Ok(())
    }
}

impl Iterator for Records<'_> {
    type Item = Read;
    fn next(&mut self) -> Option<Read> {
        while !self.eof && self.heap.len() < REORDER_WINDOW {
            match self.reader.next() {
                Some(ReadItem::Record { record, .. }) => {
                    if matches!(record, Record::Exchange(_) | Record::Error(_)) {
                        self.seq += 1;
                        self.heap
                            .push(Pending(record.start(), self.seq, Box::new(record)));
                    }
                }
                Some(ReadItem::Problem(p)) => {
                    return Some(Read::Problem(InputProblem {
                        file: self.input.label.clone(),
                        line: p.line,
                        message: p.message,
                    }));
                }
                None => self.eof = true,
            }
        }
        self.heap.pop().map(|p| Read::Record(p.2))
    }
}

fn label_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// The decoded answer of an exchange.
#[derive(Clone, Debug)]
pub(crate) enum Reply {
    /// A successful response.
    Ok(wusp::Response),
    /// A SOAP fault.
    Fault(Fault),
    /// The body could not be decoded (why).
    Undecodable(String),
}

/// The envelope-level facts of a message (rules T-01, T-02, T-04, T-10, T-13).
#[derive(Clone, Debug, Default)]
pub(crate) struct EnvelopeFacts {
    pub(crate) soap12: bool,
    pub(crate) has_header: bool,
    /// The first body element outside the service's namespace (T-04).
    pub(crate) foreign_element: Option<String>,
    /// Elements met out of their schema order, as decoding saw them (T-13).
    pub(crate) out_of_order: Vec<wusp::xml::OutOfOrder>,
    /// Values outside their WSDL type and missing required elements (T-10).
    pub(crate) nonconforming: Vec<wusp::xml::Nonconforming>,
}

/// One WUSP exchange, decoded.
#[derive(Clone, Debug)]
pub(crate) struct Observed {
    /// `file#id`.
    pub(crate) id: String,
    /// Index of the input file in time order.
    pub(crate) file: usize,
    /// When the request started.
    pub(crate) time: Timestamp,
    /// The client's IP address (without port), if recorded.
    pub(crate) client_ip: Option<String>,
    /// The server (address, or Host header).
    pub(crate) server: String,
    /// The web method and how path, SOAPAction and body root agreed.
    pub(crate) ident: Identification,
    /// The decoded request, or why it could not be decoded.
    pub(crate) request: Result<wusp::Request, String>,
    /// Envelope facts of the request.
    pub(crate) request_env: EnvelopeFacts,
    /// The decoded reply.
    pub(crate) reply: Reply,
    /// Envelope facts of the response.
    pub(crate) reply_env: EnvelopeFacts,
    /// HTTP status of the response.
    pub(crate) status: u16,
    /// The request's Accept-Encoding lists xpress.
    pub(crate) accepts_xpress: bool,
    /// The response is Xpress-encoded.
    pub(crate) response_xpress: bool,
    /// The raw SOAPAction header.
    pub(crate) soap_action: Option<String>,
    /// The request's Content-Type.
    pub(crate) content_type: Option<String>,
    /// The request's Host header.
    pub(crate) host: Option<String>,
    /// The request path.
    pub(crate) path: String,
}

impl Observed {
    /// The web method.
    pub(crate) fn op(&self) -> Operation {
        self.ident.operation
    }
}

/// A content download (reference 1.7): what the content rules need of it.
#[derive(Clone, Debug)]
pub(crate) struct ContentGet {
    /// `file#id`.
    pub(crate) id: String,
    /// Index of the input file in time order.
    pub(crate) file: usize,
    /// When the request started.
    pub(crate) time: Timestamp,
    /// The client's IP address.
    pub(crate) client_ip: Option<String>,
    /// The server.
    pub(crate) server: String,
    /// The request path.
    pub(crate) path: String,
    /// GET or HEAD.
    pub(crate) method: String,
    /// The Range header.
    pub(crate) range: Option<String>,
    /// Response status.
    pub(crate) status: u16,
    /// The Content-Range header.
    pub(crate) content_range: Option<String>,
    /// Size of the response body.
    pub(crate) size: u64,
    /// SHA-1 of the response body (recorded, or computed from the kept bytes).
    pub(crate) sha1: [u8; 20],
    /// The recorder marked the body as cut short.
    pub(crate) truncated: bool,
}

/// What one record is for the analyzer.
pub(crate) enum Classified {
    /// A WUSP exchange to judge.
    Wusp(Box<Observed>),
    /// A content download.
    Content(Box<ContentGet>),
    /// Not judged (the exchange id and why).
    Skipped(String, String),
    /// A damaged line of the input (from reading, never from [`classify_record`]).
    Problem(InputProblem),
}

/// Classifies and decodes one record of input `file`.
pub(crate) fn classify_record(input: &Input, record: &Record) -> Option<Classified> {
    match record {
        Record::Exchange(ex) => Some(classify_exchange(input, ex)),
        Record::Error(e) => Some(Classified::Skipped(
            format!("{}#{}", input.label, e.id),
            format!("exchange did not complete ({:?}): {}", e.phase, e.message),
        )),
        Record::Header(_) | Record::Connection(_) => None,
    }
}

fn classify_exchange(input: &Input, ex: &Exchange) -> Classified {
    let id = format!("{}#{}", input.label, ex.id);
    let ident = match classify(ex) {
        ExchangeKind::Soap(ident) => ident,
        ExchangeKind::Content => {
            let digest = ex.response.body.digest();
            return Classified::Content(Box::new(ContentGet {
                id,
                file: input.index,
                time: ex.time.start,
                client_ip: ex.client.as_deref().map(ip_of),
                server: server_of(ex),
                path: ex.request.path().to_string(),
                method: ex.request.method.to_ascii_uppercase(),
                range: ex.request.header("Range").map(str::to_string),
                status: ex.response.status,
                content_range: ex.response.header("Content-Range").map(str::to_string),
                size: digest.size,
                sha1: digest.sha1,
                truncated: ex.response.body_truncated,
            }));
        }
        ExchangeKind::SelfUpdate => {
            return Classified::Skipped(id, "self-update download".into());
        }
        ExchangeKind::UnknownSoap(why) => {
            return Classified::Skipped(id, format!("unknown WUSP operation: {why}"));
        }
        ExchangeKind::Other => {
            return Classified::Skipped(
                id,
                format!(
                    "not WUSP traffic: {} {}",
                    ex.request.method,
                    ex.request.path()
                ),
            );
        }
    };
    let (request, request_env) = decode_request(ex);
    let (reply, reply_env) = decode_reply(ex);
    let server = server_of(ex);
    Classified::Wusp(Box::new(Observed {
        id,
        file: input.index,
        time: ex.time.start,
        client_ip: ex.client.as_deref().map(ip_of),
        server,
        ident,
        request,
        request_env,
        reply,
        reply_env,
        status: ex.response.status,
        accepts_xpress: wusp::http::accepts_xpress(ex.request.header("Accept-Encoding")),
        response_xpress: ex.response.is_xpress(),
        soap_action: ex.request.header("SOAPAction").map(str::to_string),
        content_type: ex.request.header("Content-Type").map(str::to_string),
        host: ex.request.header("Host").map(str::to_string),
        path: ex.request.path().to_string(),
    }))
}

/// The server of an exchange: its address, else its Host header.
fn server_of(ex: &Exchange) -> String {
    ex.server
        .clone()
        .or_else(|| ex.request.header("Host").map(str::to_string))
        .unwrap_or_else(|| "unknown server".into())
}

/// `192.0.2.10:49731` → `192.0.2.10`, `[::1]:5` → `::1`.
fn ip_of(addr: &str) -> String {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest).to_string();
    }
    match addr.rsplit_once(':') {
        Some((ip, _)) if !ip.contains(':') => ip.to_string(),
        _ => addr.to_string(),
    }
}

/// The envelope facts; the T-04 element comes from the one decoding pass (the body root is
/// in its service's namespace, since that is how its operation was recognised).
fn facts(env: &Envelope) -> EnvelopeFacts {
    let wusp = matches!(env.body, Body::Request(_) | Body::Response(_));
    EnvelopeFacts {
        soap12: env.version == SoapVersion::Soap12,
        has_header: env.has_header,
        foreign_element: env
            .foreign_element
            .as_ref()
            .filter(|_| wusp)
            .map(|f| format!("<{}> in namespace {:?}", f.qname, f.namespace)),
        out_of_order: env.out_of_order().to_vec(),
        nonconforming: env.nonconforming().to_vec(),
    }
}

fn cut_note(truncated: bool) -> &'static str {
    if truncated {
        " (the recorder marked the body as cut short)"
    } else {
        ""
    }
}

fn decode_request(ex: &Exchange) -> (Result<wusp::Request, String>, EnvelopeFacts) {
    let cut = cut_note(ex.request.body_truncated);
    let xml = match request_xml(&ex.request) {
        Ok(x) => x,
        Err(e) => return (Err(format!("request body: {e}{cut}")), Default::default()),
    };
    match Envelope::decode_values(&xml) {
        Ok(env) => {
            let f = facts(&env);
            match env.body {
                Body::Request(r) => (Ok(r), f),
                Body::Response(r) => (
                    Err(format!("request body holds a {} response", r.operation())),
                    f,
                ),
                Body::Fault(_) => (Err("request body holds a SOAP fault".into()), f),
                Body::Other { name, .. } => {
                    (Err(format!("request body <{name}> is no WUSP request")), f)
                }
                _ => (Err("request body holds no WUSP request".into()), f),
            }
        }
        Err(e) => (Err(format!("request body: {e}{cut}")), Default::default()),
    }
}

fn decode_reply(ex: &Exchange) -> (Reply, EnvelopeFacts) {
    let cut = cut_note(ex.response.body_truncated);
    let xml = match response_xml(&ex.response) {
        Ok(x) => x,
        Err(e) => {
            return (
                Reply::Undecodable(format!("response body: {e}{cut}")),
                Default::default(),
            );
        }
    };
    if xml.is_empty() {
        return (
            Reply::Undecodable(format!(
                "empty response body (HTTP {}){cut}",
                ex.response.status
            )),
            Default::default(),
        );
    }
    match Envelope::decode_values(&xml) {
        Ok(env) => {
            let f = facts(&env);
            match env.body {
                Body::Response(r) => (Reply::Ok(r), f),
                Body::Fault(fault) => (Reply::Fault(fault), f),
                Body::Request(r) => (
                    Reply::Undecodable(format!("response body holds a {} request", r.operation())),
                    f,
                ),
                Body::Other { name, .. } => (
                    Reply::Undecodable(format!("response body <{name}> is no WUSP response")),
                    f,
                ),
                _ => (
                    Reply::Undecodable("response body holds no WUSP message".into()),
                    f,
                ),
            }
        }
        Err(e) => (
            Reply::Undecodable(format!("response body: {e}{cut}")),
            Default::default(),
        ),
    }
}
