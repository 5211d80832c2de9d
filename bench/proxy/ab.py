#!/usr/bin/env python3
"""Proxy CPU per request of several wutap builds, interleaved: for comparing two builds on a
machine that other work shares, where req/s and one-off CPU figures swing by +-10 %.

Starts one nginx origin (as bench/proxy/run.py does) and, for every build given, one
`wutap proxy` recording and/or one not recording; then runs the same oha load through each
proxy in turn, round after round, and prints per proxy the CPU time it used per request
(from /proc/PID/stat) as min and median over the rounds, with its peak RSS. Loopback only.

    python3 bench/proxy/ab.py --wutap OLD,NEW [--size small.xml|large.xml] [--conc 16]
                              [--duration 5] [--runs 4] [--mode rec,norec]

Keep a copy of the old build (cp target/release/wutap /tmp/wutap-old) before rebuilding.
A benchmark script, not a test.
"""

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as R  # noqa: E402  (bench/proxy/run.py: origin, proxies, oha)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wutap", required=True, help="comma-separated wutap binaries")
    ap.add_argument("--size", default="small.xml", help="small.xml (2.2 KB) or large.xml (204 KB)")
    ap.add_argument("--conc", type=int, default=16)
    ap.add_argument("--duration", type=int, default=5, help="seconds per run")
    ap.add_argument("--runs", type=int, default=4, help="rounds over all proxies")
    ap.add_argument("--mode", default="rec,norec", help="rec (recording), norec, or both")
    args = ap.parse_args()
    R.need("oha", "cargo install oha --locked")
    R.need("nginx", "apt-get install nginx-light")
    tmp = Path(tempfile.mkdtemp(prefix="wutap-bench-ab-"))
    tmp.chmod(0o755)
    procs = []
    try:
        nginx, oport, origin_ca = R.make_origin(tmp)
        procs.append(nginx)
        body = tmp / "request.xml"
        body.write_text("<a>" + "p" * 2041 + "</a>")
        proxies = {}
        for n, binary in enumerate(args.wutap.split(",")):
            for mode in args.mode.split(","):
                t = R.start_wutap(binary, tmp, origin_ca, mode == "rec", f"ab{n}-{mode}")
                procs.append(t[0])
                proxies[f"{n + 1}:{Path(binary).name}:{mode}"] = t
        url = f"https://localhost:{oport}/{args.size}"
        cpu = {}
        for n in range(args.runs):
            for name, t in proxies.items():
                c0 = R.cpu_seconds(t[0].pid)
                r = R.oha(url, t[2], t[1], args.conc, args.duration, True, body)
                us = (R.cpu_seconds(t[0].pid) - c0) * 1e6 / (r["rps"] * args.duration)
                cpu.setdefault(name, []).append(us)
                if t[3] is not None and t[3].exists():
                    os.truncate(t[3], 0)
                print(f"  run {n + 1} {name:32} {r['rps']:8.0f} req/s  CPU {us:6.1f} us/req"
                      f"  load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
        print(f"\n{args.size} c={args.conc}, {args.runs} runs of {args.duration} s, interleaved")
        for name, t in proxies.items():
            v = sorted(cpu[name])
            print(f"{name:32} CPU us/req min {v[0]:7.1f} median {v[len(v) // 2]:7.1f}"
                  f"   peak RSS {R.peak_rss_mb(t[0].pid):5.1f} MB")
    finally:
        R.stop_all(procs)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
