#!/usr/bin/env bash
# Regenerates the committed sample captures (captures/samples/) from `wutap demo`:
# a first sync and a differential sync recorded by the proxy in reverse-HTTPS mode, then
# redacted (`wutap capture redact`, one key for both files so the client keeps one
# placeholder identity), checked with the analyzer (exit 1 on a MUST violation) and
# size-checked (under 1 MB in all).
#
#   scripts/make-samples.sh            # writes captures/samples/{first,differential}-sync.jsonl
#   scripts/make-samples.sh OUTDIR     # or somewhere else
#
# Environment: WUTAP=path/to/wutap uses that binary instead of building the release one.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-captures/samples}
max_bytes=$((1024 * 1024))

if [[ -z "${WUTAP:-}" ]]; then
    cargo build --release --locked --bin wutap
    WUTAP=target/release/wutap
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$WUTAP" demo --dir "$tmp/demo" > "$tmp/report.txt"

# A fixed redaction key: the same demo traffic gets the same placeholders. (The traffic
# itself differs between runs: times, client id, cookies.)
key="$tmp/redact.key"
printf '%064x\n' 0 | tr '0' 'a' > "$key"
chmod 600 "$key"

mkdir -p "$out"
files=()
for name in first-sync differential-sync; do
    rm -f "$out/$name.jsonl"
    "$WUTAP" capture redact "$tmp/demo/$name.jsonl" --key-file "$key" --out "$out/$name.jsonl"
    chmod 644 "$out/$name.jsonl"   # committed files: the redacted copies hold no secrets
    files+=("$out/$name.jsonl")
done

"$WUTAP" analyze "${files[@]}"

total=$(cat "${files[@]}" | wc -c)
echo "samples: ${files[*]} ($total bytes)"
if (( total > max_bytes )); then
    echo "samples: over $max_bytes bytes in all" >&2
    exit 1
fi
