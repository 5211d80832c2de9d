//! `make-samples DIR`: writes the generated, Windows-shaped sample captures into DIR.
//!
//! The committed `captures/samples/` come from `wutap demo` (`scripts/make-samples.sh`).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), None) = (args.next().map(PathBuf::from), args.next()) else {
        eprintln!("usage: make-samples DIR (captures/samples comes from scripts/make-samples.sh)");
        return ExitCode::from(2);
    };
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
