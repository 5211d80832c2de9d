//! Tests that go through real files: writer, reader, compression, HAR.

mod files;
mod format_doc;
mod garbage;
mod har_import;
mod har_round_trip;
mod strategies;

use std::path::Path;

use crate::{CaptureWriter, Record, WriterOptions, read_all};

/// Writes `records` to a new capture at `path` (header line first) and finishes it.
pub(crate) fn write_capture(path: &Path, records: &[Record]) {
    let mut w = CaptureWriter::create_or_append_with(path, WriterOptions::default()).unwrap();
    for r in records {
        w.write(r).unwrap();
    }
    w.finish().unwrap();
}

/// Reads `path`, asserting no problems; returns the records without the header line.
pub(crate) fn read_clean(path: &Path) -> Vec<Record> {
    let (records, problems) = read_all(path).unwrap();
    assert!(problems.is_empty(), "unexpected problems: {problems:#?}");
    records
        .into_iter()
        .map(|(_, r)| r)
        .filter(|r| !matches!(r, Record::Header(_)))
        .collect()
}
