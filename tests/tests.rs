//! End-to-end tests: the real `wutap` binary on real files.

mod capture_cli;
mod replay_cmd;
mod replay_load;
mod replay_net;
mod serve;
mod serve_sync;
mod util;
