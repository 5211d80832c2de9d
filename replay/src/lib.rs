//! `replay`: protocol-aware replay.
//!
//! The server role ([`server`]) answers Windows Update clients like a WSUS server as the
//! reference describes it (section 7): from a seeded generated catalog or from what a
//! recorded server sent. The client role arrives with its issue.
pub mod server;
