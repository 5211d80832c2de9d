//! The command line (clap derive), following `design/cli.md`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// wutap: capture, analyze and replay Windows Server Update Services (MS-WUSP) traffic.
#[derive(Debug, Parser)]
#[command(name = "wutap", version, about, long_about = None)]
pub struct Cli {
    /// Log verbosity on stderr (-v info, -vv debug); RUST_LOG overrides it.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect and convert capture files.
    #[command(subcommand)]
    Capture(CaptureCommand),
    /// Answer Windows Update clients as a WSUS server, from a generated catalog or a capture.
    Serve(Box<ServeArgs>),
    /// wutap's certificate authority (for `serve --https-listen` and the proxy).
    #[command(subcommand)]
    Ca(CaCommand),
    /// Act as a Windows Update client against a server: a first or differential sync.
    Replay(Box<ReplayArgs>),
    /// The TLS-intercepting recording proxy between Windows Update clients and a WSUS.
    Proxy(Box<ProxyArgs>),
    // --- analyzer (issue 6) ---
    /// Judge captures against the reference's rules: sessions, cache use, findings.
    Analyze(AnalyzeArgs),
    /// List every rule with level, statement, citation and whether it is checked.
    Rules(RulesArgs),
    // --- end analyzer ---
    /// Browse captures in a terminal UI: sessions, the sequence diff, exchanges, findings.
    Tui(TuiArgs),
    // --- demo (issue 8) ---
    /// Run everything on loopback: server, recording proxy, a first and a differential sync,
    /// then the analysis of the captures.
    Demo(DemoArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    Completions(CompletionsArgs),
    /// Print the man page (roff) on stdout.
    Man,
    // --- end demo ---
}

/// Arguments of `proxy`.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Listener: the explicit proxy (default 127.0.0.1:8080), or the HTTP side in reverse
    /// mode (default 127.0.0.1:8530 unless only --https-listen is given). A bare PORT means
    /// 127.0.0.1:PORT; beyond loopback needs --allow-host.
    #[arg(long, value_name = "ADDR", value_parser = parse_listen_addr)]
    pub listen: Option<SocketAddr>,
    /// Reverse mode: forward everything to this server, http://HOST:PORT or https://HOST:PORT
    /// (the client's Host header is forwarded unchanged).
    #[arg(long, value_name = "URL")]
    pub reverse: Option<String>,
    /// Reverse mode: an HTTPS listener, with a leaf from wutap's CA for the name the client uses.
    #[arg(long = "https-listen", value_name = "ADDR", value_parser = parse_listen_addr, requires = "reverse")]
    pub https_listen: Option<SocketAddr>,
    /// Record every exchange to this capture (created or appended to, mode 0600).
    #[arg(long, value_name = "FILE")]
    pub capture: Option<PathBuf>,
    /// wutap's CA directory (default: per-user, e.g. ~/.local/share/wutap/ca).
    #[arg(long, value_name = "DIR")]
    pub ca_dir: Option<PathBuf>,
    /// Also trust these CA certificates (PEM) for upstream TLS, besides the system roots.
    #[arg(long, value_name = "FILE")]
    pub upstream_ca: Option<PathBuf>,
    /// Do not verify upstream TLS certificates (only when asked: a lab WSUS).
    #[arg(long)]
    pub insecure_upstream: bool,
    /// Bodies larger than this are recorded as size, SHA-1 and SHA-256 (default 16 MiB).
    #[arg(long, value_name = "BYTES", default_value_t = proxy::DEFAULT_MAX_BODY)]
    pub max_body: u64,
    /// Tunnel CONNECTs to this host unread (recorded as a connection only), repeatable.
    #[arg(long, value_name = "HOST")]
    pub passthrough: Vec<String>,
    /// Upstream host allowed (others get 403), repeatable; required beyond loopback.
    #[arg(long = "allow-host", value_name = "HOST")]
    pub allow_host: Vec<String>,
    /// Live view of the exchanges (comes with the TUI issue).
    #[arg(long)]
    pub tui: bool,
    /// Seconds a client has to send a complete request head (slow clients get 408).
    #[arg(long, value_name = "SECS", hide = true, value_parser = parse_secs)]
    pub header_timeout: Option<f64>,
    /// Seconds the upstream has to answer (then 504), also between body reads.
    #[arg(long, value_name = "SECS", hide = true, value_parser = parse_secs)]
    pub upstream_timeout: Option<f64>,
    /// Seconds to connect to the upstream, TLS included (then 504).
    #[arg(long, value_name = "SECS", hide = true, value_parser = parse_secs)]
    pub connect_timeout: Option<f64>,
    /// Seconds an idle keep-alive client connection is kept.
    #[arg(long, value_name = "SECS", hide = true, value_parser = parse_secs)]
    pub idle_timeout: Option<f64>,
}

/// A positive number of seconds (fractions allowed).
pub fn parse_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v < 1e9 => Ok(v),
        _ => Err(format!("{s:?} is not a positive number of seconds")),
    }
}

/// Arguments of `tui`.
#[derive(Debug, Args)]
pub struct TuiArgs {
    /// Capture files (.jsonl, .jsonl.zst, .jsonl.gz, .har).
    #[arg(required = true, value_name = "CAPTURE")]
    pub captures: Vec<PathBuf>,
    /// Keep reading lines appended to the captures (a `wutap proxy --capture` still
    /// writing them); the analysis is redone as records arrive.
    #[arg(long)]
    pub follow: bool,
    /// Where `x` and `c` write exported exchanges (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub export_dir: Option<PathBuf>,
    /// Benchmarks: draw the first frame headless, print it and the time taken, exit.
    #[arg(long, hide = true)]
    pub first_frame_exit: bool,
}

// --- demo (issue 8): `wutap demo`, `wutap completions`, `wutap man` ---

/// Arguments of `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Go through the proxy's explicit mode (CONNECT) instead of reverse HTTPS.
    #[arg(long)]
    pub explicit: bool,
    /// Where the captures, the demo CA and the client state go (previous captures there are
    /// overwritten).
    #[arg(long, value_name = "DIR", default_value = "wutap-demo")]
    pub dir: PathBuf,
    /// Number of updates in the generated catalog.
    #[arg(long, value_name = "N", default_value_t = 300, hide = true,
          value_parser = clap::value_parser!(u32).range(10..=100_000))]
    pub catalog_size: u32,
}

/// Arguments of `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

// --- end demo ---

// --- analyzer (issue 6): `wutap analyze` and `wutap rules` ---

/// Arguments of `analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Capture files (.jsonl, .jsonl.zst, .jsonl.gz, .har), analyzed together in time order.
    #[arg(required = true, value_name = "CAPTURE")]
    pub captures: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = AnalyzeFormat::Text)]
    pub format: AnalyzeFormat,
    /// Only these rules (comma-separated ids, e.g. C-15,S-11).
    #[arg(long, value_name = "ID,...", value_delimiter = ',')]
    pub rules: Vec<String>,
    /// Only findings at this level or above (should = MUST and SHOULD).
    #[arg(long, value_enum)]
    pub level: Option<RuleLevel>,
    /// Measure against the spec text or against real Windows where they disagree.
    #[arg(long, value_enum, default_value_t = AnalyzeProfile::Native)]
    pub profile: AnalyzeProfile,
}

/// Arguments of `rules`.
#[derive(Debug, Args)]
pub struct RulesArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Report formats of `analyze`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AnalyzeFormat {
    /// Verdict lines, then findings.
    Text,
    /// One JSON document (design/cli.md).
    Json,
    /// JUnit XML for CI.
    Junit,
}

/// Rule levels for `--level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuleLevel {
    /// MUST only.
    Must,
    /// MUST and SHOULD.
    Should,
    /// Everything.
    Obs,
}

/// Profiles for `--profile` (reference section 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AnalyzeProfile {
    /// The normative text of MS-WUSP.
    Spec,
    /// What real Windows and WSUS do.
    Native,
}

// --- end analyzer ---

/// Arguments of `replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Seed the client from this capture (identity, headers, config, cookies, cache) and run
    /// a differential sync; with --verify, send its recorded requests again and compare.
    #[arg(value_name = "CAPTURE")]
    pub capture_seed: Option<PathBuf>,
    /// The server's base URL, e.g. `http://127.0.0.1:8530` or `https://wsus.lab:8531`.
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// Start as a new client (generated client id and DNS name), ignoring a saved state.
    #[arg(long)]
    pub fresh: bool,
    /// Client state file: loaded for a differential sync (unless --fresh), saved after.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Write the run's own capture here (created or appended to).
    #[arg(long, value_name = "FILE")]
    pub capture: Option<PathBuf>,
    /// Send the recorded requests of CAPTURE again (cookies threaded) and report every
    /// response that differs from the recording; exit 1 when any does.
    #[arg(long, requires = "capture_seed", conflicts_with_all = ["fresh", "state"])]
    pub verify: bool,
    /// The client of CAPTURE to use when it holds several (default: the last active one).
    #[arg(long, value_name = "ID", requires = "capture_seed")]
    pub client_id: Option<String>,
    /// Send the traffic through this explicit proxy (`http://host:port`; CONNECT for https).
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,
    /// Trust this CA (PEM) for https, besides the system roots (e.g. `wutap ca export`).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Time allowed for one request (connect, send, complete answer), in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30.0, value_parser = parse_secs)]
    pub timeout: f64,
    /// Resends of one request after ServerBusy, InternalServerError or a transport error.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub max_retries: u32,
    /// After the sync, download the needed content with Range requests and check digests.
    #[arg(long)]
    pub download: bool,
    /// Where --download writes the files (default: a temporary directory removed after).
    #[arg(long, value_name = "DIR", requires = "download")]
    pub download_dir: Option<PathBuf>,
    /// Bytes per Range request of --download (native Delivery Optimization: 1 MiB).
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20, requires = "download",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub range_size: u64,
    /// Load mode: this many simulated clients run concurrently (needs --syncs or --duration).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub clients: Option<u32>,
    /// Load mode: syncs per client (a first sync, then differential ones); default 1.
    #[arg(long, value_name = "N", requires = "clients", value_parser = clap::value_parser!(u32).range(1..))]
    pub syncs: Option<u32>,
    /// Load mode: start no new sync after this many seconds.
    #[arg(long, value_name = "SECS", requires = "clients", value_parser = parse_secs)]
    pub duration: Option<f64>,
    /// Load mode: seed of the client identities (same seed, same clients).
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
    /// Summary format.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
    /// Category-limited scan (reference 5.7): StartCategoryScan with these categories, then
    /// SyncUpdates filtered by the server's preferred ones. Comma-separated AND-groups
    /// (ORed); `+` joins the members of one group, e.g. a product and a classification.
    #[arg(long, value_name = "GUID[+GUID],...", value_delimiter = ',',
          value_parser = parse_category_group, conflicts_with_all = ["verify", "clients"])]
    pub categories: Vec<CategoryGroup>,
    /// Also call SyncPrinterCatalog after the driver pass (what the Add Printer wizard does).
    #[arg(long, conflicts_with_all = ["verify", "clients"])]
    pub printer_catalog: bool,
}

/// One AND-group of `--categories`: category GUIDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryGroup(pub Vec<String>);

/// `GUID[+GUID...]`: the members of one AND-group, each a well-formed GUID.
pub fn parse_category_group(s: &str) -> Result<CategoryGroup, String> {
    let ids: Vec<String> = s.split('+').map(|g| g.trim().to_string()).collect();
    for g in &ids {
        if !wusp::values::Guid(g.clone()).is_well_formed() {
            return Err(format!("{g:?} is not a category GUID"));
        }
    }
    Ok(CategoryGroup(ids))
}

/// Summary formats of `replay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SummaryFormat {
    /// Aligned lines.
    Text,
    /// One JSON document on stdout.
    Json,
}

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Plain HTTP listener (web services and /Content), repeatable; default 127.0.0.1:8530
    /// when neither --listen nor --https-listen is given. A bare PORT means 127.0.0.1:PORT.
    #[arg(long = "listen", value_name = "ADDR", value_parser = parse_listen_addr)]
    pub listen: Vec<SocketAddr>,
    /// HTTPS listener, repeatable, with a leaf from wutap's CA (or --cert/--key).
    #[arg(long = "https-listen", value_name = "ADDR", value_parser = parse_listen_addr)]
    pub https_listen: Vec<SocketAddr>,
    /// Number of updates in the generated catalog.
    #[arg(long, value_name = "N", conflicts_with = "catalog")]
    pub catalog_size: Option<u32>,
    /// Seed of the generated catalog (same seed, same catalog).
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Serve the catalog a recorded server sent, from this capture.
    #[arg(long, value_name = "CAPTURE")]
    pub catalog: Option<PathBuf>,
    /// Most updates per SyncUpdates page.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub page_size: Option<u32>,
    /// Lifetime of the cookies the server issues, in seconds.
    #[arg(long, value_name = "SECS")]
    pub cookie_lifetime: Option<u64>,
    /// Inject a fault into an operation's answer (e.g. `close@SyncUpdates#2`), repeatable.
    #[arg(long = "inject", value_name = "FAULT@OPERATION[#N]", value_parser = parse_inject)]
    pub inject: Vec<String>,
    /// Admin API listener (loopback only): POST /admin/approvals.
    #[arg(long, value_name = "ADDR", value_parser = parse_listen_addr)]
    pub admin: Option<SocketAddr>,
    /// Directory for the server's state (approvals, keys) across runs.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// wutap's CA directory (default: per-user, e.g. ~/.local/share/wutap/ca).
    #[arg(long, value_name = "DIR")]
    pub ca_dir: Option<PathBuf>,
    /// Certificate chain (PEM, leaf first) for the HTTPS listeners instead of a wutap leaf.
    #[arg(long, value_name = "FILE", requires_all = ["key", "https_listen"])]
    pub cert: Option<PathBuf>,
    /// Private key (PEM) of --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Extra host name or address for the wutap leaf (the name clients use for the server),
    /// repeatable; localhost, 127.0.0.1, ::1 and the listen addresses are always in it.
    #[arg(
        long = "tls-name",
        value_name = "NAME",
        requires = "https_listen",
        conflicts_with = "cert"
    )]
    pub tls_names: Vec<String>,
}

/// `wutap ca …`.
#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create the CA if there is none, and print where its certificate is.
    Init(CaDirArg),
    /// Write the CA certificate (PEM, or DER with --der) to a file or stdout.
    Export {
        /// The CA directory.
        #[command(flatten)]
        dir: CaDirArg,
        /// DER instead of PEM (what `certutil -addstore Root` also takes).
        #[arg(long)]
        der: bool,
        /// Write here instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// The `--ca-dir` flag.
#[derive(Debug, Args)]
pub struct CaDirArg {
    /// wutap's CA directory (default: per-user, e.g. ~/.local/share/wutap/ca).
    #[arg(long, value_name = "DIR")]
    pub ca_dir: Option<PathBuf>,
}

/// A listen address: `HOST:PORT` with an IP or `localhost`, or a bare `PORT` on 127.0.0.1.
pub fn parse_listen_addr(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    if let Some(port) = s
        .strip_prefix("localhost:")
        .and_then(|p| p.parse::<u16>().ok())
    {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    Err(format!(
        "{s:?} is not a listen address (IP:PORT, [IPv6]:PORT, localhost:PORT or PORT)"
    ))
}

/// `FAULT@OPERATION[#N]`, checked for shape here; the protocol core knows the names.
pub fn parse_inject(s: &str) -> Result<String, String> {
    let bad = || format!("{s:?} is not FAULT@OPERATION[#N] (e.g. close@SyncUpdates#2)");
    let (fault, rest) = s.split_once('@').ok_or_else(bad)?;
    let (operation, n) = match rest.split_once('#') {
        Some((op, n)) => (op, Some(n)),
        None => (rest, None),
    };
    // Permissive: the fault's own syntax (a delay's duration, say) is the core's business.
    let word = |w: &str| !w.is_empty() && !w.contains(|c: char| c.is_whitespace() || c == '@');
    if !word(fault) || !word(operation) {
        return Err(bad());
    }
    if let Some(n) = n
        && !n.parse::<u32>().is_ok_and(|n| n >= 1)
    {
        return Err(bad());
    }
    Ok(s.to_string())
}

/// `wutap capture …`.
#[derive(Debug, Subcommand)]
pub enum CaptureCommand {
    /// Summarize captures: records, per-operation counts, clients, servers, time span, parse errors.
    Info(InfoArgs),
    /// Export a capture as HAR 1.2 (what HAR cannot carry goes in `_wutap` fields).
    ExportHar {
        /// The capture to read (.jsonl, .jsonl.zst, .jsonl.gz or .har).
        capture: PathBuf,
        /// The HAR file to write (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Import a HAR (devtools, Fiddler, mitmproxy or wutap's own) as a capture.
    ImportHar {
        /// The HAR file.
        har: PathBuf,
        /// The capture to write (must not exist; compression by extension).
        #[arg(long)]
        out: PathBuf,
    },
    /// Replace cookies, client ids, DNS names and addresses with consistent placeholders.
    Redact(RedactArgs),
}

/// Arguments of `capture info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Capture files (.jsonl, .jsonl.zst, .jsonl.gz, .har).
    #[arg(required = true)]
    pub captures: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Arguments of `capture redact`.
#[derive(Debug, Args)]
pub struct RedactArgs {
    /// The capture to redact.
    pub capture: PathBuf,
    /// The redacted capture to write (must not exist).
    #[arg(long)]
    pub out: PathBuf,
    /// File holding the 32-byte redaction key as 64 hex digits: the same key gives the same
    /// placeholders across files. Without it a random key is used for this run only.
    #[arg(long)]
    pub key_file: Option<PathBuf>,
}

/// Output format of reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable text.
    Text,
    /// One JSON document.
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        let ok = |s: &str| parse_listen_addr(s).unwrap().to_string();
        assert_eq!(ok("127.0.0.1:8530"), "127.0.0.1:8530");
        assert_eq!(ok("0.0.0.0:0"), "0.0.0.0:0");
        assert_eq!(ok("[::1]:8531"), "[::1]:8531");
        assert_eq!(ok("8530"), "127.0.0.1:8530");
        assert_eq!(ok("localhost:0"), "127.0.0.1:0");
        for bad in [
            "",
            "host",
            "wsus.test:8530",
            "127.0.0.1",
            "127.0.0.1:99999",
            ":8530",
        ] {
            assert!(parse_listen_addr(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn inject_shapes() {
        for good in ["close@SyncUpdates", "delay=500ms@GetConfig#2", "503@*"] {
            assert_eq!(parse_inject(good).as_deref(), Ok(good));
        }
        for bad in [
            "close",
            "@SyncUpdates",
            "close@",
            "close@SyncUpdates#0",
            "close@Sync Updates",
            "close@X#a",
        ] {
            assert!(parse_inject(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
