#!/usr/bin/env python3
"""Proxy benchmark: the same oha load, in one run, against
   direct (nginx on 127.0.0.1 over TLS), `wutap proxy` recording, `wutap proxy` not recording,
   and `mitmdump -w` recording; the client goes through CONNECT with each proxy's CA trusted.

Prints req/s, p50/p99 and the proxy's peak RSS per target, the ratios wutap/direct and
wutap/mitmdump, the issue's targets, and a 1 GiB download through the recording proxy.

Needs: a release build (`cargo build --release`), oha (`cargo install oha --locked`),
mitmdump (`pip install mitmproxy`), nginx and openssl (Debian packages). Loopback only.
This is a benchmark script, not a test: run it by hand on an otherwise idle machine.

    python3 bench/proxy/run.py [--duration 10] [--runs 1] [--wutap target/release/wutap]
                               [--skip-mitm]

With --runs N every cell is measured N times (interleaved: the whole matrix once, then
again) and the table shows the run with the most req/s, with the spread (lowest-highest
req/s) beside it; the machine's load average is printed before and after.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOAP_ACTION = '"http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService/GetConfig"'


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def need(tool, hint):
    if shutil.which(tool) is None:
        sys.exit(f"bench/proxy: {tool} not found ({hint})")


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def wait_port(port, proc, what, timeout=30.0):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            sys.exit(f"bench/proxy: {what} exited early (status {proc.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"bench/proxy: {what} did not listen on {port} within {timeout} s")


def peak_rss_mb(pid):
    """VmHWM of a live process, in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def cpu_seconds(pid):
    """User plus system CPU time of a live process, in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def stop_all(procs):
    """SIGTERM to every process still running, SIGKILL to those not gone within 10 s."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()


def make_origin(tmp):
    """nginx on 127.0.0.1 over TLS with its own CA; POST answers a static file (405 trick)."""
    d = tmp / "origin"
    d.mkdir()
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", d / "ca.key", "-out", d / "ca.pem", "-days", "2",
         "-subj", "/CN=bench origin CA",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"])
    run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", d / "leaf.key", "-out", d / "leaf.csr", "-subj", "/CN=localhost"])
    (d / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                               "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
    run(["openssl", "x509", "-req", "-in", d / "leaf.csr", "-CA", d / "ca.pem", "-CAkey",
         d / "ca.key", "-CAcreateserial", "-out", d / "leaf.pem", "-days", "2",
         "-extfile", d / "ext.cnf"])
    www = d / "www"
    www.mkdir()
    # Bodies of the sizes in the issue: a GetConfig-sized answer and a SyncUpdates page.
    filler = b"<UpdateInfo><ID>1</ID><Deployment/><Xml>" + b"x" * 200 + b"</Xml></UpdateInfo>"
    for name, size in (("small.xml", 2200), ("large.xml", 204 * 1024)):
        body = (filler * (size // len(filler) + 1))[:size]
        (www / name).write_bytes(body)
    with open(www / "1g.bin", "wb") as f:
        f.truncate(1 << 30)
    port = free_port()
    (d / "nginx.conf").write_text(f"""
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
daemon off;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 10000000;
  sendfile on;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {d}/leaf.pem;
    ssl_certificate_key {d}/leaf.key;
    root {www};
    location / {{ error_page 405 =200 $uri; }}
  }}
}}
""")
    proc = subprocess.Popen(["nginx", "-c", d / "nginx.conf", "-p", d],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc, "nginx")
    return proc, port, d / "ca.pem"


def start_wutap(wutap, tmp, origin_ca, record, name):
    ca_dir = tmp / f"ca-{name}"
    run([wutap, "ca", "init", "--ca-dir", ca_dir])
    ca_pem = tmp / f"{name}-ca.pem"
    run([wutap, "ca", "export", "--ca-dir", ca_dir, "--out", ca_pem])
    cmd = [wutap, "proxy", "--listen", "127.0.0.1:0", "--ca-dir", ca_dir,
           "--upstream-ca", origin_ca]
    capture = None
    if record:
        capture = tmp / f"{name}.jsonl"
        cmd += ["--capture", capture]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    m = re.match(r"listening http://127\.0\.0\.1:(\d+)", line or "")
    if not m:
        proc.kill()
        sys.exit(f"bench/proxy: wutap proxy did not print a listening line (got {line!r})")
    return proc, int(m.group(1)), ca_pem, capture


def start_mitm(tmp, origin_ca):
    conf = tmp / "mitm"
    conf.mkdir()
    port = free_port()
    proc = subprocess.Popen(
        ["mitmdump", "-q", "--listen-host", "127.0.0.1", "--listen-port", str(port),
         "-w", tmp / "mitm.flows", "--set", f"confdir={conf}",
         "--set", f"ssl_verify_upstream_trusted_ca={origin_ca}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc, "mitmdump", timeout=60)
    ca = conf / "mitmproxy-ca-cert.pem"
    for _ in range(100):
        if ca.exists():
            break
        time.sleep(0.1)
    return proc, port, ca


def oha(url, cacert, proxy, conc, duration, keepalive, body):
    cmd = ["oha", "-z", f"{duration}s", "-c", str(conc), "-m", "POST", "-D", str(body),
           "-H", "Content-Type: text/xml; charset=utf-8", "-H", f"SOAPAction: {SOAP_ACTION}",
           "--no-tui", "--output-format", "json", "--cacert", str(cacert)]
    if proxy:
        cmd += ["-x", f"http://127.0.0.1:{proxy}"]
    if not keepalive:
        cmd += ["--disable-keepalive"]
    out = run(cmd + [url]).stdout
    d = json.loads(out)
    codes = d.get("statusCodeDistribution") or {}
    ok = codes.get("200", 0)
    if ok == 0:
        sys.exit(f"bench/proxy: no 200 answers from {url} (status codes {codes}, "
                 f"errors {d.get('errorDistribution')})")
    errors = {k: v for k, v in (d.get("errorDistribution") or {}).items()
              if k != "aborted due to deadline"}
    lat = d["latencyPercentiles"]
    return {
        "rps": ok / d["summary"]["total"],
        "p50": (lat.get("p50") or float("nan")) * 1000,
        "p99": (lat.get("p99") or float("nan")) * 1000,
        "errors": sum(errors.values()),
        "error_kinds": errors,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=10, help="seconds per run (default 10)")
    ap.add_argument("--wutap", default=str(ROOT / "target/release/wutap"))
    ap.add_argument("--runs", type=int, default=1,
                    help="measure every cell N times, keep the best, show the spread")
    ap.add_argument("--skip-mitm", action="store_true", help="leave mitmdump out")
    ap.add_argument("--only", metavar="SCENARIO",
                    help="measure only this scenario (e.g. '2.2 KB c=16'); no download, no targets")
    args = ap.parse_args()
    need("oha", "cargo install oha --locked")
    need("nginx", "apt-get install nginx-light")
    need("openssl", "apt-get install openssl")
    if not args.skip_mitm:
        need("mitmdump", "pip install mitmproxy")
    if not Path(args.wutap).exists():
        sys.exit(f"bench/proxy: {args.wutap} not found (cargo build --release)")

    tmp = Path(tempfile.mkdtemp(prefix="wutap-bench-proxy-"))
    tmp.chmod(0o755)  # nginx workers (another user when run as root) read the files
    procs = []
    try:
        nginx, oport, origin_ca = make_origin(tmp)
        procs.append(nginx)
        body = tmp / "request.xml"
        envelope = ('<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap='
                    '"http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><GetConfig xmlns='
                    '"http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService">'
                    '<protocolVersion>2.90</protocolVersion><pad>')
        tail = "</pad></GetConfig></soap:Body></soap:Envelope>"
        body.write_text(envelope + "p" * (2048 - len(envelope) - len(tail)) + tail)

        targets = [("direct", None)]
        rec = start_wutap(args.wutap, tmp, origin_ca, True, "wutap-rec")
        procs.append(rec[0])
        norec = start_wutap(args.wutap, tmp, origin_ca, False, "wutap")
        procs.append(norec[0])
        targets += [("wutap recording", rec), ("wutap not recording", norec)]
        if not args.skip_mitm:
            mitm = start_mitm(tmp, origin_ca)
            procs.append(mitm[0])
            targets.append(("mitmdump -w", mitm))

        scenarios = [
            ("2.2 KB c=1", "small.xml", 1, True),
            ("2.2 KB c=16", "small.xml", 16, True),
            ("204 KB c=1", "large.xml", 1, True),
            ("204 KB c=16", "large.xml", 16, True),
            ("2.2 KB c=16 no keep-alive", "small.xml", 16, False),
        ]
        if args.only:
            scenarios = [s for s in scenarios if s[0] == args.only]
            if not scenarios:
                sys.exit(f"bench/proxy: no scenario named {args.only!r}")
        load_before = os.getloadavg()
        runs = {}
        for n in range(max(1, args.runs)):
            for sname, path, conc, ka in scenarios:
                for tname, t in targets:
                    url = f"https://localhost:{oport}/{path}"
                    if t is None:
                        r = oha(url, origin_ca, None, conc, args.duration, ka, body)
                    else:
                        cpu0 = cpu_seconds(t[0].pid)
                        r = oha(url, t[2], t[1], conc, args.duration, ka, body)
                        reqs = r["rps"] * args.duration
                        r["cpu_us"] = (cpu_seconds(t[0].pid) - cpu0) * 1e6 / reqs if reqs else 0
                    runs.setdefault((sname, tname), []).append(r)
                    if t is not None and len(t) > 3 and t[3] is not None and t[3].exists():
                        # Keep the disk from filling up: the proxy appends (O_APPEND), so
                        # cutting the capture between runs is safe.
                        os.truncate(t[3], 0)
                    print(f"  run {n + 1} {sname:28} {tname:20} {r['rps']:9.0f} req/s"
                          f"  p50 {r['p50']:7.2f} ms  p99 {r['p99']:7.2f} ms  errors {r['errors']}"
                          + (f"  proxy CPU {r['cpu_us']:5.1f} us/req" if "cpu_us" in r else ""),
                          file=sys.stderr, flush=True)
        load_after = os.getloadavg()
        results = {k: max(v, key=lambda r: r["rps"]) for k, v in runs.items()}
        spread = {k: (min(r["rps"] for r in v), max(r["rps"] for r in v)) for k, v in runs.items()}

        rss = {tname: (peak_rss_mb(t[0].pid) if t else float("nan")) for tname, t in targets}

        print(f"\nproxy benchmark: oha POST of a 2 KB SOAP body over TLS through CONNECT, "
              f"{args.duration} s per run, best of {max(1, args.runs)}, origin nginx on "
              f"127.0.0.1, {os.cpu_count()} cores")
        print("load average (1, 5, 15 min): before %.2f %.2f %.2f, after %.2f %.2f %.2f\n"
              % (*load_before, *load_after))
        header = (f"{'scenario':28} {'target':20} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
                  f"{'errors':>6}  {'spread req/s':>15}")
        print(header)
        print("-" * len(header))
        for sname, *_ in scenarios:
            for tname, _ in targets:
                r = results[(sname, tname)]
                lo, hi = spread[(sname, tname)]
                print(f"{sname:28} {tname:20} {r['rps']:9.0f} {r['p50']:8.2f} {r['p99']:8.2f} "
                      f"{r['errors']:6}  {lo:7.0f}-{hi:<7.0f}")
        print()
        for tname, _ in targets[1:]:
            print(f"peak RSS {tname:20} {rss[tname]:7.1f} MB")

        print("\nratios (req/s)")
        for sname, *_ in scenarios:
            nd = results[(sname, "direct")]["rps"]
            print(f"  {sname:28} wutap not recording / direct "
                  f"{results[(sname, 'wutap not recording')]['rps'] / nd:5.2f}")
            d = results[(sname, "direct")]["rps"]
            w = results[(sname, "wutap recording")]["rps"]
            line = f"  {sname:28} wutap recording / direct {w / d:5.2f}"
            if not args.skip_mitm:
                m = results[(sname, "mitmdump -w")]["rps"]
                line += f"   wutap recording / mitmdump {w / m if m else float('inf'):6.1f}"
            print(line)

        if args.only:
            return
        # 1 GiB content download through the recording proxy, in a fresh process.
        big = start_wutap(args.wutap, tmp, origin_ca, True, "wutap-download")
        procs.append(big[0])
        t0 = time.time()
        out = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{size_download}",
                   "-x", f"http://127.0.0.1:{big[1]}", "--cacert", big[2],
                   f"https://localhost:{oport}/1g.bin"]).stdout
        took = time.time() - t0
        dl_rss = peak_rss_mb(big[0].pid)
        print(f"\n1 GiB download through wutap proxy (recording): {int(out) / took / 1e6:.0f} MB/s, "
              f"peak RSS {dl_rss:.1f} MB")

        print("\ntargets (issue 5):")
        small16 = results[("2.2 KB c=16", "wutap recording")]
        checks = [
            ("recording 2.2 KB c=16 >= 0.7x direct",
             small16["rps"] / results[("2.2 KB c=16", "direct")]["rps"] >= 0.7),
            ("recording 204 KB c=16 >= 0.9x direct",
             results[("204 KB c=16", "wutap recording")]["rps"]
             / results[("204 KB c=16", "direct")]["rps"] >= 0.9),
            ("recording 2.2 KB p99 <= 2 ms (c=1)",
             results[("2.2 KB c=1", "wutap recording")]["p99"] <= 2.0),
            ("recording 2.2 KB p99 <= 2 ms (c=16)", small16["p99"] <= 2.0),
            ("peak RSS <= 30 MB", rss["wutap recording"] <= 30.0),
            ("1 GiB download peak RSS <= 64 MB", dl_rss <= 64.0),
        ]
        if not args.skip_mitm:
            checks.insert(1, ("recording 2.2 KB c=16 >= 30x mitmdump",
                              small16["rps"] >= 30 * results[("2.2 KB c=16", "mitmdump -w")]["rps"]))
        for what, ok in checks:
            print(f"  {'PASS' if ok else 'MISS'}  {what}")
    finally:
        stop_all(procs)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
