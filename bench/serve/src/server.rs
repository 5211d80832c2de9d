//! The server under test: `wutap serve` as a child process, its start-up time (spawn to the
//! first `listening` line), its memory from `/proc/<pid>/status`, and its stop by SIGTERM.

use std::collections::VecDeque;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the server may take to print its `listening` lines.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the server may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// Lines of the server's stderr kept for error reports.
const STDERR_TAIL: usize = 20;

/// Memory of a process, in KiB, as `/proc/<pid>/status` gives it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Memory {
    /// Resident set now (VmRSS).
    pub(crate) rss_kib: u64,
    /// Peak resident set (VmHWM).
    pub(crate) hwm_kib: u64,
    /// Threads of the process.
    pub(crate) threads: u64,
}

impl Memory {
    /// Reads the memory of process `pid`.
    pub(crate) fn of(pid: u32) -> Option<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| -> Option<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        };
        Some(Memory {
            rss_kib: field("VmRSS:")?,
            hwm_kib: field("VmHWM:")?,
            threads: field("Threads:")?,
        })
    }
}

/// CPU time (user + system) of process `pid` so far, in seconds; `"self"` for this one.
pub(crate) fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / clock_ticks() as f64)
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 on Linux).
fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

/// KiB as MiB with one decimal.
pub(crate) fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// A running `wutap serve`.
pub(crate) struct Server {
    child: Child,
    /// Process id.
    pub(crate) pid: u32,
    /// The plain HTTP listener.
    pub(crate) addr: SocketAddr,
    /// The admin listener, when asked for.
    pub(crate) admin: Option<SocketAddr>,
    /// Spawn to the first `listening` line.
    pub(crate) startup: Duration,
    stderr: Arc<Mutex<VecDeque<String>>>,
}

/// The `wutap` binary: `--wutap PATH`, else next to this benchmark's binary.
pub(crate) fn find_wutap(flag: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(p) = flag {
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("--wutap {}: no such file", p.display()))
        };
    }
    let me = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let beside = me.with_file_name("wutap");
    if beside.is_file() {
        Ok(beside)
    } else {
        Err(format!(
            "no wutap binary at {} (run `cargo build --release` first, or give --wutap PATH)",
            beside.display()
        ))
    }
}

/// The `listening` line's address, e.g. `listening http://127.0.0.1:41234`.
fn listening_addr(line: &str, prefix: &str) -> Option<SocketAddr> {
    line.strip_prefix(prefix)?.trim().parse().ok()
}

impl Server {
    /// Spawns `wutap serve ARGS` and waits for its `listening` lines (the admin one too when
    /// `--admin` is among the arguments).
    pub(crate) fn spawn(wutap: &Path, args: &[String]) -> Result<Server, String> {
        let wants_admin = args.iter().any(|a| a == "--admin");
        let started = Instant::now();
        let mut child = Command::new(wutap)
            .arg("serve")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", wutap.display()))?;
        let pid = child.id();
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(err) = child.stderr.take() {
            let tail = Arc::clone(&stderr);
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
                    if t.len() == STDERR_TAIL {
                        t.pop_front();
                    }
                    t.push_back(line);
                }
            });
        }
        let (tx, rx) = mpsc::channel::<(Instant, String)>();
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if tx.send((Instant::now(), line)).is_err() {
                        break;
                    }
                }
            });
        }
        let mut server = Server {
            child,
            pid,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin: None,
            startup: Duration::ZERO,
            stderr,
        };
        let mut first = None;
        let mut plain = None;
        while plain.is_none() || (wants_admin && server.admin.is_none()) {
            let left = STARTUP_TIMEOUT.saturating_sub(started.elapsed());
            let (at, line) = match rx.recv_timeout(left) {
                Ok(x) => x,
                Err(_) => {
                    let why = match server.child.try_wait() {
                        Ok(Some(status)) => format!("wutap serve exited ({status})"),
                        _ => format!("no listening line within {STARTUP_TIMEOUT:?}"),
                    };
                    let tail = server.stderr_tail();
                    server.kill();
                    return Err(format!("{why}; its stderr ends with:\n{tail}"));
                }
            };
            if line.starts_with("listening") && first.is_none() {
                first = Some(at);
            }
            if let Some(a) = listening_addr(&line, "listening admin http://") {
                server.admin = Some(a);
            } else if let Some(a) = listening_addr(&line, "listening http://") {
                plain = Some(a);
            }
        }
        server.startup = first.map_or(started.elapsed(), |t| t - started);
        if let Some(a) = plain {
            server.addr = a;
        }
        Ok(server)
    }

    /// The server's memory now.
    pub(crate) fn memory(&self) -> Option<Memory> {
        Memory::of(self.pid)
    }

    /// The last lines the server wrote on stderr.
    pub(crate) fn stderr_tail(&self) -> String {
        let t = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        if t.is_empty() {
            return "  (nothing)".into();
        }
        t.iter().map(|l| format!("  {l}\n")).collect()
    }

    /// True while the process runs.
    pub(crate) fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops the server with SIGTERM (the `kill` command), killing it if it has not exited
    /// within [`STOP_TIMEOUT`]; returns what happened.
    pub(crate) fn stop(mut self) -> String {
        let t = Instant::now();
        let term = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if term.is_ok_and(|s| s.success()) {
            while t.elapsed() < STOP_TIMEOUT {
                if let Ok(Some(status)) = self.child.try_wait() {
                    return format!(
                        "stopped by SIGTERM in {:.2} s ({status})",
                        t.elapsed().as_secs_f64()
                    );
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.kill();
        format!(
            "did not stop on SIGTERM within {STOP_TIMEOUT:?}: killed; stderr ends with:\n{}",
            self.stderr_tail()
        )
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}
