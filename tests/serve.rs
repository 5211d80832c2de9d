//! `wutap ca …` and `wutap serve` through the real binary.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::util::*;

fn ca_dir_arg(dir: &std::path::Path) -> String {
    dir.to_str().expect("UTF-8 temp path").to_owned()
}

#[test]
fn ca_init_creates_private_files_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    let out = run(&["ca", "init", "--ca-dir", &ca_dir_arg(&dir)]);
    assert_code(&out, 0);
    let first = stdout(&out);
    assert!(first.starts_with("created "), "{first}");
    assert!(first.contains("wutap-ca.pem"), "{first}");
    let thumb = first
        .lines()
        .nth(1)
        .unwrap()
        .strip_prefix("thumbprint ")
        .unwrap()
        .to_owned();
    assert_eq!(thumb.len(), 40);
    assert!(
        thumb
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_lowercase())
    );

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.join("wutap-ca.key")), 0o600);
        assert_eq!(mode(&dir), 0o700);
    }
    let pem = std::fs::read_to_string(dir.join("wutap-ca.pem")).unwrap();
    let key = std::fs::read_to_string(dir.join("wutap-ca.key")).unwrap();

    let out = run(&["ca", "init", "--ca-dir", &ca_dir_arg(&dir)]);
    assert_code(&out, 0);
    let again = stdout(&out);
    assert!(again.starts_with("exists "), "{again}");
    assert!(again.ends_with(&format!("thumbprint {thumb}\n")), "{again}");
    assert_eq!(
        std::fs::read_to_string(dir.join("wutap-ca.pem")).unwrap(),
        pem
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("wutap-ca.key")).unwrap(),
        key
    );
}

#[test]
fn ca_export_writes_pem_or_der() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ca_dir_arg(&tmp.path().join("ca"));
    assert_code(&run(&["ca", "init", "--ca-dir", &dir]), 0);
    let pem_on_disk = std::fs::read_to_string(tmp.path().join("ca").join("wutap-ca.pem")).unwrap();

    let out = run(&["ca", "export", "--ca-dir", &dir]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), pem_on_disk);

    let pem_file = tmp.path().join("ca.pem");
    let out = run(&[
        "ca",
        "export",
        "--ca-dir",
        &dir,
        "--out",
        pem_file.to_str().unwrap(),
    ]);
    assert_code(&out, 0);
    assert!(stdout(&out).is_empty());
    assert_eq!(std::fs::read_to_string(&pem_file).unwrap(), pem_on_disk);

    let der_file = tmp.path().join("ca.der");
    let out = run(&[
        "ca",
        "export",
        "--ca-dir",
        &dir,
        "--der",
        "--out",
        der_file.to_str().unwrap(),
    ]);
    assert_code(&out, 0);
    let der = std::fs::read(&der_file).unwrap();
    assert_eq!(der[0], 0x30, "a DER SEQUENCE");
    let b64: String = pem_on_disk
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert_eq!(b64, base64_encode(&der), "the DER is the PEM's content");
}

#[test]
fn ca_export_creates_a_ca_when_there_is_none() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("fresh");
    let out = run(&["ca", "export", "--ca-dir", &ca_dir_arg(&dir)]);
    assert_code(&out, 0);
    assert!(stdout(&out).starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(
        stderr(&out).contains("created a new CA"),
        "{}",
        stderr(&out)
    );
    assert!(dir.join("wutap-ca.key").exists());
}

#[test]
fn ca_errors_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("wutap-ca.pem"), "not a certificate").unwrap();
    let out = run(&["ca", "init", "--ca-dir", &ca_dir_arg(tmp.path())]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("wutap-ca.key"), "{}", stderr(&out));
    assert_code(&run(&["ca", "frobnicate"]), 2);
    assert_code(&run(&["ca", "export", "--der", "--bogus"]), 2);
}

#[test]
fn serve_usage_errors_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let cert = tmp.path().join("c.pem");
    let cert = cert.to_str().unwrap();
    for args in [
        &["serve", "--listen", "nowhere"][..],
        &["serve", "--listen", "127.0.0.1:99999"],
        &["serve", "--https-listen", "wsus.test:8531"],
        &["serve", "--page-size", "0"],
        &["serve", "--page-size", "many"],
        &["serve", "--catalog-size", "-3"],
        &["serve", "--seed", "x"],
        &["serve", "--cookie-lifetime", "soon"],
        &["serve", "--inject", "close"],
        &["serve", "--inject", "close@SyncUpdates#0"],
        &["serve", "--cert", cert],
        &["serve", "--cert", cert, "--key", cert],
        &["serve", "--key", cert, "--https-listen", "0"],
        &["serve", "--tls-name", "wsus.lab"],
        &["serve", "--catalog", "x.jsonl", "--catalog-size", "10"],
        &["serve", "--admin", "0.0.0.0:0", "--listen", "127.0.0.1:0"],
        &["serve", "--no-such-flag"],
    ] {
        let out = run(args);
        assert_code(&out, 2);
        assert!(!stderr(&out).is_empty(), "{args:?}: a message on stderr");
        assert!(stdout(&out).is_empty(), "{args:?}: nothing on stdout");
        // Refused for itself, not because the server cannot be built yet.
        assert!(
            !stderr(&out).contains("not merged"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A running `wutap serve`, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `wutap serve` end to end: listening lines, a SOAP answer, HTTPS, admin, SIGTERM.
#[test]
fn serve_listens_answers_and_stops_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Server(
        wutap()
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--https-listen",
                "127.0.0.1:0",
                "--admin",
                "127.0.0.1:0",
                "--catalog-size",
                "20",
                "--seed",
                "1",
                "--ca-dir",
                tmp.path().join("ca").to_str().unwrap(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let mut next = || lines.next().expect("a listening line").unwrap();
    let http = next();
    let https = next();
    let admin = next();
    assert!(http.starts_with("listening http://127.0.0.1:"), "{http}");
    assert!(https.starts_with("listening https://127.0.0.1:"), "{https}");
    assert!(
        admin.starts_with("listening admin http://127.0.0.1:"),
        "{admin}"
    );

    let addr = http.rsplit_once("//").unwrap().1;
    let body = soap_request(wusp::Operation::GetConfig);
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "POST /ClientWebService/client.asmx HTTP/1.1\r\nHost: {addr}\r\nSOAPAction: \"{}\"\r\nContent-Type: text/xml; charset=utf-8\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        wusp::Operation::GetConfig.soap_action(),
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 "), "{answer}");
    assert!(answer.contains("Microsoft-IIS/10.0"), "{answer}");

    assert_eq!(sigterm(&mut child.0), Some(0), "SIGTERM is a clean stop");
}

/// SIGTERM right after the listening line is a clean stop: the handlers are installed
/// before the line is printed (a race once killed the process with the default action).
#[test]
fn serve_sigterm_right_after_the_listening_line_is_a_clean_stop() {
    for _ in 0..3 {
        let mut child = Server(
            wutap()
                .args(["serve", "--listen", "127.0.0.1:0", "--catalog-size", "10"])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
        let line = lines.next().expect("a listening line").unwrap();
        assert!(line.starts_with("listening http://"), "{line}");
        assert_eq!(sigterm(&mut child.0), Some(0), "SIGTERM is a clean stop");
    }
}

/// Sends SIGTERM and waits: the exit code.
fn sigterm(child: &mut Child) -> Option<i32> {
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    child.wait().expect("wait for wutap").code()
}
