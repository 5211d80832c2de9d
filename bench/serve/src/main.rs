//! Benchmark of the WSUS server role: `wutap serve` start-up on a 50,000-update catalog,
//! SyncUpdates/s for N concurrent clients, and server memory over 10,000 client sessions.
//!
//! Build both binaries, then run the benchmark (it finds `wutap` next to itself):
//!
//! ```text
//! cargo build --release && cargo build --release -p bench-serve
//! target/release/bench-serve [--clients 1,16,64] [--duration SECS] [--seed S]
//!                            [--sessions 10000] [--wutap PATH]
//! ```
//!
//! What one run does, on 127.0.0.1 only:
//!
//! 1. **Start-up.** Spawns `wutap serve --listen 127.0.0.1:0 --catalog-size 50000 --seed 1`
//!    (`--catalog-size`, `--seed`) and times spawn → first `listening` line (printed once
//!    the catalog is generated and the port bound); prints the server's VmRSS and VmHWM,
//!    times a first handshake and SyncUpdates (work deferred to the first request would
//!    show there), and stops the server with SIGTERM.
//! 2. **Load server.** Spawns the same command with `--page-size 5000 --admin 127.0.0.1:0`.
//!    The page size only shortens the priming sync below: the measured differential syncs
//!    bring no NewUpdates, so no page size enters them. The admin listener gives the
//!    registered-client count.
//! 3. **Primed cache.** A first sync of the whole catalog costs about 1,300 rounds at page
//!    size 30, each re-sending the whole cache, far too slow per simulated client. One
//!    client runs the first sync once (page size 5000); its cache (installed non-leaf and
//!    other revision IDs) is shared by every simulated client, and its differential
//!    software SyncUpdates is encoded once with `wusp`: only the cookie is spliced in per
//!    call (checked byte for byte against a plain encode).
//! 4. **Load.** For N in `--clients`: N clients, each with its own identity (GetConfig,
//!    GetAuthorizationCookie, GetCookie, RegisterComputer), four devices and a keep-alive
//!    connection, run a first driver pass, which fills the driver cache and moves the sync
//!    mark of the fresh cookie (0) to the server's: a fresh identity's first *software*
//!    sync with a primed cache gets every cached revision back as ChangedUpdates (about
//!    37,000 at 50,000 updates). Then each loops differential software SyncUpdates +
//!    driver pass until `--duration` ends or after `--max-syncs`. Prints SyncUpdates/s,
//!    latency percentiles, the server's CPU time per SyncUpdates, errors by ErrorCode and
//!    HTTP status, and the server's VmRSS before and after and its thread count.
//! 5. **Sessions.** `--sessions` distinct identities, `--session-concurrency` at a time,
//!    each on a new connection: handshake, first driver pass, one differential software
//!    sync. Runs in `--session-batches` batches and reads the server's VmRSS between them
//!    (no request in flight), then prints the growth per client, overall and over the
//!    second half (the only per-client state the server keeps is its registration set; the
//!    first batches also grow the server's blocking thread pool and allocator arenas).
//!
//! Every loop is bounded in count and in time. Not a timed test: it prints figures, it
//! asserts nothing about speed; on a shared machine the figures are indicative.

mod client;
mod http;
mod server;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use wusp::{Envelope, Operation};

use client::{Client, Failure, Template, read_reply, sync_info};
use server::{Memory, Server, mib};

/// Benchmark of `wutap serve`: start-up, SyncUpdates/s for N clients, memory per session.
#[derive(Debug, Parser)]
#[command(name = "bench-serve")]
struct Args {
    /// The wutap binary (default: next to this one; build it with `cargo build --release`).
    #[arg(long, value_name = "PATH")]
    wutap: Option<PathBuf>,
    /// Concurrent client counts, one load run each.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    clients: Vec<usize>,
    /// Seconds of each load run.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    duration: u64,
    /// Seed of the generated catalog (`wutap serve --seed`) and of the client identities.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Catalog size.
    #[arg(long, value_name = "N", default_value_t = 50_000)]
    catalog_size: u64,
    /// Page size of the load server (it only shortens the priming first sync).
    #[arg(long, value_name = "N", default_value_t = 5000)]
    page_size: u32,
    /// Most differential syncs per client and load run.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    max_syncs: u64,
    /// Client identities of the sessions run (0: skip it).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    sessions: u64,
    /// Concurrency of the sessions run.
    #[arg(long, value_name = "N", default_value_t = 64)]
    session_concurrency: usize,
    /// Batches of the sessions run (memory is read between batches).
    #[arg(long, value_name = "N", default_value_t = 10)]
    session_batches: u64,
    /// Time limit of the sessions run, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 900)]
    sessions_timeout: u64,
    /// Most rounds of the priming first sync.
    #[arg(long, value_name = "N", default_value_t = 5000)]
    max_prime_rounds: u32,
}

/// Identity spaces, so no two phases share a client id (load runs also differ by index).
const SPACE_PRIMER: u64 = 0;
const SPACE_LOAD: u64 = 1;
const SPACE_SESSIONS: u64 = 2;

/// Pause between a batch of sessions and the memory reading.
const QUIESCE: Duration = Duration::from_millis(500);

/// Pause after a failed call before the next one (keeps an error loop from spinning).
const ERROR_PAUSE: Duration = Duration::from_millis(20);

fn main() {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("bench-serve: {e}");
            std::process::exit(1);
        }
    }
}

/// The figures the summary repeats.
#[derive(Default)]
struct Summary {
    lines: Vec<String>,
}

fn run(args: &Args) -> Result<(), String> {
    let wutap = server::find_wutap(args.wutap.clone())?;
    let cpus = cpus();
    println!("bench-serve: wutap serve on 127.0.0.1 (figures are indicative on a shared machine)");
    println!("wutap: {}", wutap.display());
    println!("CPUs: {cpus}");
    let mut summary = Summary::default();

    // 1. Start-up, with the issue's command (catalog size and seed as given, 50000 and 1 by
    // default).
    let size = args.catalog_size.to_string();
    let base = vec![
        "--listen".to_string(),
        "127.0.0.1:0".into(),
        "--catalog-size".into(),
        size.clone(),
        "--seed".into(),
        args.seed.to_string(),
    ];
    println!("\n== start-up ==");
    println!("$ wutap serve {}", base.join(" "));
    let s = Server::spawn(&wutap, &base)?;
    let line = format!(
        "startup {} updates: {:.2} s (target < 5 s)",
        args.catalog_size,
        s.startup.as_secs_f64()
    );
    println!("{line}");
    summary.lines.push(line);
    if let Some(m) = s.memory() {
        let line = format!(
            "server memory after start-up: VmRSS {}, VmHWM {}, {} threads",
            mib(m.rss_kib),
            mib(m.hwm_kib),
            m.threads
        );
        println!("{line}");
        summary.lines.push(line);
    }
    first_answers(args, s.addr);
    println!("{}", s.stop());

    // 2. The load server.
    let mut load_args = base.clone();
    load_args.extend([
        "--page-size".into(),
        args.page_size.to_string(),
        "--admin".into(),
        "127.0.0.1:0".into(),
    ]);
    println!("\n== load server ==");
    println!("$ wutap serve {}", load_args.join(" "));
    let mut s = Server::spawn(&wutap, &load_args)?;
    println!(
        "startup {} updates: {:.2} s (second sample); listening on {}",
        args.catalog_size,
        s.startup.as_secs_f64(),
        s.addr
    );
    print_memory("server memory after start-up", s.memory());

    let result = load_phases(args, &mut s, &mut summary);
    let stopped = s.stop();
    println!("\nload server {stopped}");
    result?;

    println!("\n== summary ==");
    for l in &summary.lines {
        println!("{l}");
    }
    Ok(())
}

/// Times the first calls after the `listening` line (work left for the first request, such
/// as the deployed set, shows here and not in the start-up figure).
fn first_answers(args: &Args, addr: SocketAddr) {
    let mut c = Client::new(addr, client::client_id(args.seed, SPACE_PRIMER, 1), 1, 1);
    let t = Instant::now();
    if let Err(f) = c.handshake() {
        println!("first handshake failed: {}", f.key());
        return;
    }
    let handshake = t.elapsed();
    let Some(cookie) = c.cookie.clone() else {
        return;
    };
    let t = Instant::now();
    let body = Envelope::request(Template::software(cookie, &[], &[])).encode();
    let r = client::post(&mut c.conn, Operation::SyncUpdates, &[body.as_bytes()])
        .and_then(|r| read_reply(&r))
        .and_then(sync_info);
    match r {
        Ok(info) => println!(
            "first calls: handshake {:.1} ms, first SyncUpdates (empty cache) {:.1} ms ({} updates)",
            handshake.as_secs_f64() * 1000.0,
            t.elapsed().as_secs_f64() * 1000.0,
            info.new_updates.items().len()
        ),
        Err(f) => println!("first SyncUpdates failed: {}", f.key()),
    }
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn print_memory(what: &str, m: Option<Memory>) {
    match m {
        Some(m) => println!(
            "{what}: VmRSS {}, VmHWM {}, {} threads",
            mib(m.rss_kib),
            mib(m.hwm_kib),
            m.threads
        ),
        None => println!("{what}: (not readable)"),
    }
}

/// Priming, load runs and the sessions run against the load server.
fn load_phases(args: &Args, s: &mut Server, summary: &mut Summary) -> Result<(), String> {
    let primed = prime(args, s.addr)?;
    println!(
        "template check: the spliced request equals a plain wusp encode, byte for byte ({} bytes)",
        primed.check_len
    );
    // The generator's driver device IDs: two drivers per device, size / 12 drivers.
    let devices = (args.catalog_size / 24).max(1);

    println!("\n== load: differential syncs (software SyncUpdates + driver pass) ==");
    println!(
        "each client: own identity and keep-alive connection; {} s per run, at most {} syncs per client",
        args.duration, args.max_syncs
    );
    let mut rows = Vec::new();
    for (k, &n) in args.clients.iter().enumerate() {
        if n == 0 {
            continue;
        }
        let before = s.memory();
        let r = load_run(
            args,
            s.pid,
            s.addr,
            &primed,
            n,
            (k as u64 + 1) << 32,
            devices,
        );
        let after = s.memory();
        if !s.running() {
            return Err(format!(
                "the server died during the {n}-client run; stderr ends with:\n{}",
                s.stderr_tail()
            ));
        }
        println!(
            "  ran {n} clients: {} SyncUpdates, {} non-empty differential answers, {} connections",
            r.calls(),
            r.anomalies,
            r.connects
        );
        rows.push((n, r, before, after));
    }
    println!();
    let header = format!(
        "{:>7} {:>13} {:>8} {:>14} {:>16} {:>14} {:>10} {:>6} {:>24} {:>7}",
        "clients",
        "SyncUpdates/s",
        "syncs/s",
        "all p50/p99",
        "software p50/p99",
        "driver p50/p99",
        "server CPU",
        "errors",
        "server VmRSS before/after",
        "threads"
    );
    println!("{header}");
    for (n, r, before, after) in &rows {
        let line = format!(
            "{:>7} {:>13.1} {:>8.1} {:>14} {:>16} {:>14} {:>10} {:>6} {:>24} {:>7}",
            n,
            r.calls() as f64 / r.elapsed.as_secs_f64(),
            r.software.len() as f64 / r.elapsed.as_secs_f64(),
            pcts(&[&r.software[..], &r.driver[..]].concat()),
            pcts(&r.software),
            pcts(&r.driver),
            r.server_cpu
                .filter(|_| r.calls() > 0)
                .map_or("-".into(), |c| format!(
                    "{:.1} ms",
                    c * 1000.0 / r.calls() as f64
                )),
            r.errors.values().sum::<u64>(),
            format!(
                "{} / {}",
                before.map_or("?".into(), |m| mib(m.rss_kib)),
                after.map_or("?".into(), |m| mib(m.rss_kib))
            ),
            after.map_or("?".into(), |m| m.threads.to_string()),
        );
        println!("{line}");
    }
    for (n, r, _, _) in &rows {
        if !r.errors.is_empty() {
            println!("  errors with {n} clients: {}", errors_text(&r.errors));
        }
    }
    println!(
        "latencies in ms; syncs/s: differential syncs (one software SyncUpdates + one driver pass each);"
    );
    println!(
        "server CPU: the server's user+system CPU time per SyncUpdates; threads: the server's, after the run"
    );
    for (n, r, _, after) in &rows {
        println!(
            "  {n} clients: {} SyncUpdates in {:.1} s, server CPU {} ({}% of {} CPUs), bench CPU {}, server VmHWM {}",
            r.calls(),
            r.elapsed.as_secs_f64(),
            r.server_cpu.map_or("?".into(), |c| format!("{c:.1} s")),
            r.server_cpu.map_or("?".into(), |c| format!(
                "{:.0}",
                c * 100.0 / r.elapsed.as_secs_f64() / cpus() as f64
            )),
            cpus(),
            r.client_cpu.map_or("?".into(), |c| format!("{c:.2} s")),
            after.map_or("?".into(), |m| mib(m.hwm_kib)),
        );
    }
    for (n, r, before, after) in &rows {
        summary.lines.push(format!(
            "load {n:>2} clients: {:.1} SyncUpdates/s (p50 {}, p99 {} ms; software p50 {}, p99 {} ms), server CPU {} per SyncUpdates, {} errors, server VmRSS {} -> {}",
            r.calls() as f64 / r.elapsed.as_secs_f64(),
            ms(pct(&[&r.software[..], &r.driver[..]].concat(), 50.0)),
            ms(pct(&[&r.software[..], &r.driver[..]].concat(), 99.0)),
            ms(pct(&r.software, 50.0)),
            ms(pct(&r.software, 99.0)),
            r.server_cpu
                .filter(|_| r.calls() > 0)
                .map_or("-".into(), |c| format!("{:.1} ms", c * 1000.0 / r.calls() as f64)),
            r.errors.values().sum::<u64>(),
            before.map_or("?".into(), |m| mib(m.rss_kib)),
            after.map_or("?".into(), |m| mib(m.rss_kib)),
        ));
    }

    if args.sessions > 0 {
        sessions_run(args, s, &primed, devices, summary)?;
    }
    Ok(())
}

/// The shared cache of every simulated client.
struct Primed {
    installed: Vec<i32>,
    template: Template,
    check_len: usize,
}

/// One client's first sync of the whole catalog; the shared cache and request template.
fn prime(args: &Args, addr: SocketAddr) -> Result<Primed, String> {
    println!("\n== primed cache ==");
    let t = Instant::now();
    let mut c = Client::new(addr, client::client_id(args.seed, SPACE_PRIMER, 0), 0, 1);
    c.handshake()
        .map_err(|f| format!("priming client handshake: {}", f.key()))?;
    // Revision ID -> IsLeaf; non-leaf revisions all evaluate installed.
    let mut cache: BTreeMap<i32, bool> = BTreeMap::new();
    let (mut rounds, mut wire, mut decoded) = (0u32, 0usize, 0usize);
    let limit = Duration::from_secs(900);
    loop {
        if rounds >= args.max_prime_rounds || t.elapsed() > limit {
            return Err(format!(
                "the first sync did not end within {} rounds and {limit:?}",
                args.max_prime_rounds
            ));
        }
        let (inst, other) = split(&cache);
        let cookie = c.cookie.clone().ok_or("no cookie")?;
        let body = Envelope::request(Template::software(cookie, &inst, &other)).encode();
        let reply = client::post(&mut c.conn, Operation::SyncUpdates, &[body.as_bytes()])
            .map_err(|f| format!("first sync round {rounds}: {}", f.key()))?;
        wire += reply.wire_bytes;
        decoded += reply.body.len();
        let info = read_reply(&reply)
            .and_then(sync_info)
            .map_err(|f| format!("first sync round {rounds}: {}", f.key()))?;
        rounds += 1;
        c.take_cookie(&info);
        for id in info.out_of_scope_revision_ids.items() {
            cache.remove(id);
        }
        for u in info.changed_updates.items() {
            if let (Some(id), Some(leaf)) = (u.id.value(), u.is_leaf.value()) {
                cache.insert(*id, *leaf);
            }
        }
        let mut non_leaf = false;
        for u in info.new_updates.items() {
            if let (Some(id), Some(leaf)) = (u.id.value(), u.is_leaf.value()) {
                cache.insert(*id, *leaf);
                non_leaf |= !leaf;
            }
        }
        if info.truncated.value() != Some(&true) && !non_leaf {
            break;
        }
    }
    let (installed, other) = split(&cache);
    println!(
        "first sync of one client: {rounds} rounds in {:.1} s (page size {}), {} received ({} after Xpress)",
        t.elapsed().as_secs_f64(),
        args.page_size,
        bytes(decoded),
        bytes(wire)
    );
    println!(
        "cache: {} installed non-leaf + {} other = {} revisions (the server refuses more than 400 installed non-leaf)",
        installed.len(),
        other.len(),
        cache.len()
    );
    let template = Template::new(&installed, &other)?;
    let cookie = c.cookie.clone().ok_or("no cookie")?;
    let plain = Envelope::request(Template::software(cookie.clone(), &installed, &other)).encode();
    let spliced = template.assemble(&cookie);
    if spliced != plain.as_bytes() {
        return Err("the spliced differential sync request differs from a plain encode".into());
    }
    println!(
        "differential software SyncUpdates request: {} (the whole cache, re-sent every call)",
        bytes(template.len())
    );
    // The primer's own differential sync: nothing new, changed or out of scope.
    let t = Instant::now();
    let reply = template
        .post(&mut c.conn, &cookie)
        .map_err(|f| format!("differential sync: {}", f.key()))?;
    let info = read_reply(&reply)
        .and_then(sync_info)
        .map_err(|f| format!("differential sync: {}", f.key()))?;
    println!(
        "one differential sync: {:.1} ms, answer {} ({} new, {} changed, {} out of scope, Truncated {})",
        t.elapsed().as_secs_f64() * 1000.0,
        bytes(reply.body.len()),
        info.new_updates.items().len(),
        info.changed_updates.items().len(),
        info.out_of_scope_revision_ids.items().len(),
        info.truncated.value().copied().unwrap_or(false)
    );
    Ok(Primed {
        installed,
        template,
        check_len: plain.len(),
    })
}

fn split(cache: &BTreeMap<i32, bool>) -> (Vec<i32>, Vec<i32>) {
    let inst = cache
        .iter()
        .filter(|(_, l)| !**l)
        .map(|(i, _)| *i)
        .collect();
    let other = cache.iter().filter(|(_, l)| **l).map(|(i, _)| *i).collect();
    (inst, other)
}

/// What the clients of one load run measured.
#[derive(Default)]
struct RunStats {
    /// Latencies of successful software SyncUpdates, microseconds.
    software: Vec<u32>,
    /// Latencies of successful driver passes, microseconds.
    driver: Vec<u32>,
    /// Failed calls by kind.
    errors: BTreeMap<String, u64>,
    /// Differential answers that were not empty (new, changed or out-of-scope revisions).
    anomalies: u64,
    connects: u64,
    elapsed: Duration,
    /// CPU seconds of the server and of this benchmark during the measured window.
    server_cpu: Option<f64>,
    client_cpu: Option<f64>,
}

impl RunStats {
    fn calls(&self) -> usize {
        self.software.len() + self.driver.len()
    }
    fn merge(&mut self, o: RunStats) {
        self.software.extend(o.software);
        self.driver.extend(o.driver);
        for (k, n) in o.errors {
            *self.errors.entry(k).or_default() += n;
        }
        self.anomalies += o.anomalies;
        self.connects += o.connects;
    }
    fn error(&mut self, f: &Failure) {
        *self.errors.entry(f.key()).or_default() += 1;
    }
}

fn micros(d: Duration) -> u32 {
    d.as_micros().min(u128::from(u32::MAX)) as u32
}

fn not_empty(info: &wusp::types::SyncInfo) -> bool {
    !info.new_updates.items().is_empty()
        || !info.changed_updates.items().is_empty()
        || !info.out_of_scope_revision_ids.items().is_empty()
}

/// The differential software sync of client `c`.
fn software_sync(c: &mut Client, primed: &Primed) -> Result<wusp::types::SyncInfo, Failure> {
    let cookie = c
        .cookie
        .clone()
        .ok_or_else(|| Failure::Protocol("no cookie".into()))?;
    let reply = primed.template.post(&mut c.conn, &cookie)?;
    let info = read_reply(&reply).and_then(sync_info)?;
    c.take_cookie(&info);
    Ok(info)
}

/// N clients looping differential syncs for the run's duration.
fn load_run(
    args: &Args,
    pid: u32,
    addr: SocketAddr,
    primed: &Primed,
    n: usize,
    space: u64,
    devices: u64,
) -> RunStats {
    let barrier = Barrier::new(n + 1);
    let duration = Duration::from_secs(args.duration);
    let mut total = RunStats::default();
    let mut elapsed = Duration::ZERO;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let mut st = RunStats::default();
                    let index = space + i as u64;
                    let mut c = Client::new(
                        addr,
                        client::client_id(args.seed, SPACE_LOAD, index),
                        index,
                        devices,
                    );
                    let setup = c
                        .handshake()
                        .and_then(|()| c.driver_pass(&primed.installed).map(|_| ()));
                    barrier.wait();
                    let deadline = Instant::now() + duration;
                    if let Err(f) = setup {
                        st.error(&f);
                        return st;
                    }
                    let mut syncs = 0;
                    while syncs < args.max_syncs && Instant::now() < deadline {
                        syncs += 1;
                        let t = Instant::now();
                        match software_sync(&mut c, primed) {
                            Ok(info) => {
                                st.software.push(micros(t.elapsed()));
                                st.anomalies += u64::from(not_empty(&info));
                            }
                            Err(f) => {
                                st.error(&f);
                                std::thread::sleep(ERROR_PAUSE);
                                if let Err(f) = c.recover(&f) {
                                    st.error(&f);
                                }
                                continue;
                            }
                        }
                        let t = Instant::now();
                        match c.driver_pass(&primed.installed) {
                            Ok(info) => {
                                st.driver.push(micros(t.elapsed()));
                                st.anomalies += u64::from(not_empty(&info));
                            }
                            Err(f) => {
                                st.error(&f);
                                std::thread::sleep(ERROR_PAUSE);
                                if let Err(f) = c.recover(&f) {
                                    st.error(&f);
                                }
                            }
                        }
                    }
                    st.connects = c.conn.connects;
                    st
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let cpu0 = (
            server::cpu_seconds(&pid.to_string()),
            server::cpu_seconds("self"),
        );
        for h in handles {
            match h.join() {
                Ok(st) => total.merge(st),
                Err(_) => *total.errors.entry("client panicked".into()).or_default() += 1,
            }
        }
        elapsed = start.elapsed();
        let cpu1 = (
            server::cpu_seconds(&pid.to_string()),
            server::cpu_seconds("self"),
        );
        total.server_cpu = cpu0.0.zip(cpu1.0).map(|(a, b)| b - a);
        total.client_cpu = cpu0.1.zip(cpu1.1).map(|(a, b)| b - a);
    });
    total.elapsed = elapsed;
    total
}

/// One session: a fresh identity on a new connection, handshake, first driver pass, one
/// differential software sync; returns the latter's latency and answer.
fn session(
    args: &Args,
    addr: SocketAddr,
    primed: &Primed,
    index: u64,
    devices: u64,
    st: &mut RunStats,
) -> Option<(Duration, wusp::types::SyncInfo)> {
    let mut c = Client::new(
        addr,
        client::client_id(args.seed, SPACE_SESSIONS, index),
        index,
        devices,
    );
    let r = c
        .handshake()
        .and_then(|()| c.driver_pass(&primed.installed))
        .and_then(|_| {
            let t = Instant::now();
            let info = software_sync(&mut c, primed)?;
            Ok((t.elapsed(), info))
        });
    st.connects += c.conn.connects;
    match r {
        Ok(x) => Some(x),
        Err(f) => {
            st.error(&f);
            std::thread::sleep(ERROR_PAUSE);
            None
        }
    }
}

/// `--sessions` identities in `--session-batches` batches, the server's memory read
/// between batches (when no request is in flight).
fn sessions_run(
    args: &Args,
    s: &mut Server,
    primed: &Primed,
    devices: u64,
    summary: &mut Summary,
) -> Result<(), String> {
    let total = args.sessions;
    let workers = args.session_concurrency.max(1);
    let batches = args.session_batches.clamp(1, total.max(1));
    println!(
        "\n== sessions: {total} client identities, {workers} at a time, in {batches} batches =="
    );
    println!(
        "each: new connection, GetConfig, GetAuthorizationCookie, GetCookie, RegisterComputer, first driver pass, one differential software sync"
    );
    let registered_before = registered_clients(s.admin);
    let before = s.memory();
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let stats = Mutex::new(RunStats::default());
    let deadline = Instant::now() + Duration::from_secs(args.sessions_timeout);
    let start = Instant::now();
    let cpu0 = server::cpu_seconds(&s.pid.to_string());
    // (sessions done, memory) between batches.
    let mut curve: Vec<(u64, Memory)> = Vec::new();
    if let Some(m) = before {
        curve.push((0, m));
    }
    for b in 1..=batches {
        let end = total * b / batches;
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    let mut st = RunStats::default();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= end || Instant::now() >= deadline {
                            break;
                        }
                        if let Some((lat, info)) =
                            session(args, s.addr, primed, i, devices, &mut st)
                        {
                            st.software.push(micros(lat));
                            st.anomalies += u64::from(not_empty(&info));
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    stats.lock().unwrap_or_else(|e| e.into_inner()).merge(st);
                });
            }
        });
        // Workers that stopped early may have taken indices past the batch's end.
        next.store(end, Ordering::Relaxed);
        std::thread::sleep(QUIESCE);
        if let Some(m) = s.memory() {
            curve.push((done.load(Ordering::Relaxed), m));
        }
        if Instant::now() >= deadline {
            println!("time limit ({} s) reached", args.sessions_timeout);
            break;
        }
    }
    let elapsed = start.elapsed();
    let cpu = cpu0
        .zip(server::cpu_seconds(&s.pid.to_string()))
        .map(|(a, b)| b - a);
    let after = s.memory();
    let completed = done.load(Ordering::Relaxed);
    let registered_after = registered_clients(s.admin);
    let st = stats.into_inner().unwrap_or_else(|e| e.into_inner());
    if !s.running() {
        return Err(format!(
            "the server died during the sessions run; stderr ends with:\n{}",
            s.stderr_tail()
        ));
    }
    println!(
        "{completed} of {total} sessions completed in {:.1} s ({:.1} sessions/s), {} errors, {} anomalies, {} connections",
        elapsed.as_secs_f64(),
        completed as f64 / elapsed.as_secs_f64(),
        st.errors.values().sum::<u64>(),
        st.anomalies,
        st.connects
    );
    if !st.errors.is_empty() {
        println!("  errors: {}", errors_text(&st.errors));
    }
    if let Some(c) = cpu.filter(|_| completed > 0) {
        println!(
            "server CPU: {c:.1} s, {:.1} ms per session (6 calls)",
            c * 1000.0 / completed as f64
        );
    }
    println!(
        "differential software sync of a fresh identity ({workers} sessions in flight): p50 {} ms, p99 {} ms",
        ms(pct(&st.software, 50.0)),
        ms(pct(&st.software, 99.0))
    );
    if let (Some(a), Some(b)) = (registered_before, registered_after) {
        println!(
            "registered clients (admin status): {a} before, {b} after (+{})",
            b.saturating_sub(a)
        );
    }
    println!(
        "server VmRSS between batches ({} ms after the last request):",
        QUIESCE.as_millis()
    );
    for (d, m) in &curve {
        println!(
            "  after {d:>6} sessions: VmRSS {:>10}, {} threads",
            mib(m.rss_kib),
            m.threads
        );
    }
    if let Some(m) = after {
        println!(
            "server VmHWM after the sessions: {} (requests in flight included)",
            mib(m.hwm_kib)
        );
    }
    let per_client = |from: Option<&(u64, Memory)>, to: Option<&(u64, Memory)>| {
        let ((d0, m0), (d1, m1)) = (from?, to?);
        (d1 > d0).then(|| (m1.rss_kib as f64 - m0.rss_kib as f64) * 1024.0 / (d1 - d0) as f64)
    };
    let overall = per_client(curve.first(), curve.last());
    // The second half: the blocking thread pool and the allocator's arenas have grown to
    // their size in the first batches; what still grows there grows with the clients.
    let settled = per_client(curve.get(curve.len() / 2), curve.last());
    let fmt = |x: Option<f64>| x.map_or("-".into(), |b| format!("{b:.0} bytes"));
    let line = format!(
        "sessions: {completed} identities, server VmRSS {} -> {}, growth per client {} overall, {} over the second half",
        before.map_or("?".into(), |m| mib(m.rss_kib)),
        after.map_or("?".into(), |m| mib(m.rss_kib)),
        fmt(overall),
        fmt(settled)
    );
    println!("{line}");
    summary.lines.push(line);
    Ok(())
}

/// `registered_clients` of `GET /admin/status`.
fn registered_clients(admin: Option<SocketAddr>) -> Option<u64> {
    let mut conn = http::Conn::new(admin?);
    let reply = conn.request("GET", "/admin/status", &[], &[]).ok()?;
    let text = String::from_utf8(reply.body).ok()?;
    let at = text.find("\"registered_clients\":")? + "\"registered_clients\":".len();
    let digits: String = text[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The `p`th percentile of latencies in microseconds (nearest rank).
fn pct(v: &[u32], p: f64) -> Option<u32> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_unstable();
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s.get(rank.clamp(1, s.len()) - 1).copied()
}

fn ms(us: Option<u32>) -> String {
    us.map_or("-".into(), |u| format!("{:.1}", f64::from(u) / 1000.0))
}

fn pcts(v: &[u32]) -> String {
    format!("{}/{}", ms(pct(v, 50.0)), ms(pct(v, 99.0)))
}

fn bytes(n: usize) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / f64::from(1u32 << 20))
    } else if n >= 1 << 10 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} bytes")
    }
}

fn errors_text(e: &BTreeMap<String, u64>) -> String {
    let mut s = String::new();
    for (k, n) in e {
        if !s.is_empty() {
            s.push_str(", ");
        }
        let _ = write!(s, "{k} x{n}");
    }
    s
}
