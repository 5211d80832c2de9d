//! `replay`: protocol-aware replay.
//!
//! The server role ([`server`]) answers Windows Update clients like a WSUS server as the
//! reference describes it (section 7): from a seeded generated catalog or from what a
//! recorded server sent. The client role ([`client`]) is a sans-I/O Windows Update Agent
//! state machine (reference 5.2) that drives a sync against any server.
pub mod client;
pub mod server;
