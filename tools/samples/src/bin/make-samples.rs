//! `make-samples [DIR]`: writes the sample captures (default `captures/samples`).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let dir = args
        .next()
        .map_or_else(|| PathBuf::from("captures/samples"), PathBuf::from);
    if args.next().is_some() {
        eprintln!("usage: make-samples [DIR]");
        return ExitCode::from(2);
    }
    match wutap_samples::write_samples(&dir) {
        Ok(paths) => {
            for p in paths {
                println!("{}", p.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("make-samples: {e}");
            ExitCode::FAILURE
        }
    }
}
