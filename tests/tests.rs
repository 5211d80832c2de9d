//! End-to-end tests: the real `wutap` binary on real files.

mod analyze;
mod capture_cli;
mod demo;
mod proxy;
mod readme;
mod replay_catscan;
mod replay_cmd;
mod replay_load;
mod replay_net;
mod replay_seed;
mod replay_verify;
mod serve;
mod serve_sync;
mod tui;
mod util;
