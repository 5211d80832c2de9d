//! End-to-end tests: the real `wutap` binary on real files.

mod analyze;
mod capture_cli;
mod replay_cmd;
mod serve;
mod serve_sync;
mod util;
