//! `wutap tui` and `wutap proxy --tui` driven in tmux: the real binary in a real terminal,
//! keys sent with send-keys, the screen read with capture-pane.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::replay_cmd::serve;
use crate::util::*;

/// A tmux server of our own (its own socket), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `cmd` in a detached 120x32 session; None (with a message) without tmux.
    fn start(cmd: &str) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            eprintln!("SKIPPED: tmux is not installed (.ci/run installs it)");
            return None;
        }
        let socket = format!("wutap-test-{}-{}", std::process::id(), rand_suffix());
        let t = Tmux { socket };
        let ok = t
            .tmux(&["new-session", "-d", "-s", "t", "-x", "120", "-y", "32", cmd])
            .status
            .success();
        assert!(ok, "tmux new-session failed for {cmd}");
        Some(t)
    }

    fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("run tmux")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", "t"]).stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", "-t", "t", k]);
            std::thread::sleep(Duration::from_millis(60));
        }
    }

    /// Waits (at most 30 s) until the screen shows `text`; returns the screen.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "\n--- expected on screen: {text}\n--- got\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn alive(&self) -> bool {
        self.tmux(&["has-session", "-t", "t"]).status.success()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}

fn bin() -> String {
    env!("CARGO_BIN_EXE_wutap").to_string()
}

/// A committed sample capture (captures/samples/, from `wutap demo`).
fn sample(name: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures/samples")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn tui_in_tmux_sessions_diff_detail_help_export_quit() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = format!(
        "{} tui {} {} --export-dir {}",
        bin(),
        sample("first-sync.jsonl"),
        sample("differential-sync.jsonl"),
        dir.path().display()
    );
    let Some(t) = Tmux::start(&cmd) else { return };
    let s = t.wait_for("first sync OK: 13 pages, 254 new updates");
    assert!(s.contains("differential"), "{s}");
    t.keys(&["Enter"]);
    let s = t.wait_for("Sequence diff s1 (first sync)");
    assert!(s.contains("SyncUpdates (driver)"), "{s}");
    // The fifth row: the first SyncUpdates page.
    t.keys(&["j", "j", "j", "j", "Enter"]);
    let s = t.wait_for("Exchange first-sync.jsonl#5 SyncUpdates");
    assert!(s.contains("<SyncUpdates"), "{s}");
    t.keys(&["x"]);
    t.wait_for("exported first-sync.jsonl#5");
    assert!(dir.path().join("first-sync.jsonl-5.response.xml").exists());
    t.keys(&["?"]);
    t.wait_for("any key closes this help");
    t.keys(&["Escape", "q", "q"]);
    t.wait_for("Session ");
    t.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while t.alive() {
        assert!(Instant::now() < deadline, "q did not quit:\n{}", t.screen());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn proxy_tui_shows_a_live_sync_and_its_fault_recovery() {
    let server = serve(&["--inject", "CookieExpired@SyncUpdates#2"]);
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("live.jsonl");
    let cmd = format!(
        "{} proxy --tui --reverse http://{} --listen 127.0.0.1:0 --capture {} 2>/dev/null",
        bin(),
        server.http,
        capture.display()
    );
    let Some(t) = Tmux::start(&cmd) else { return };
    let s = t.wait_for("listening http://127.0.0.1:");
    let port: String = s
        .split("listening http://127.0.0.1:")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let out = run(&[
        "replay",
        "--fresh",
        "--server",
        &format!("http://127.0.0.1:{port}"),
    ]);
    assert_code(&out, 0);
    // Records appear as the proxy writes them; the analysis follows.
    let s = t.wait_for("first sync");
    assert!(s.contains("following"), "{s}");
    t.keys(&["Enter"]);
    let s = t.wait_for("SyncUpdates — fault CookieExpired");
    assert!(
        s.contains("GetAuthorizationCookie — after CookieExpired"),
        "{s}"
    );
    assert!(!s.contains("missing:"), "{s}");
    t.keys(&["q", "q"]);
    let deadline = Instant::now() + Duration::from_secs(15);
    while t.alive() {
        assert!(Instant::now() < deadline, "q did not quit:\n{}", t.screen());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(std::fs::metadata(&capture).unwrap().len() > 0);
}
