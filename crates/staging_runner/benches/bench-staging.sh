#!/bin/sh
# Staging runner figures for docs/benchmarks.md ("Staging runner").
#
#   crates/staging_runner/benches/bench-staging.sh
#
# 1. The in-process benchmark (overhead side by side with sh and GNU timeout,
#    tree kill of 200 processes, 1 GiB of output): benches/staging.rs.
# 2. The same overhead comparison at the command line with hyperfine: the
#    whole `orch staging run` (binary start, supervisor re-exec of orch itself,
#    log write) against plain `sh -c true` and `timeout 60 sh -c true`.
# 3. Peak RSS of the `orch` process while a suite prints 1 GiB (GNU time's
#    %M: the largest of orch, its supervisor, sh and head).
#
# Needs hyperfine (`apt-get install -y hyperfine`), GNU time and python3.
set -eu
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}

cargo bench -p orch-staging-runner --bench staging
cargo build --release -p orch
orch="$target/release/orch"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo
echo "## orch staging run vs sh vs timeout (hyperfine, trivial suite)"
hyperfine -N --warmup 20 --runs 300 --style basic --export-json "$work/hyperfine.json" \
    "$orch staging run --repo $work --cmd true --log $work/15-staging-log.md" \
    "sh -c true" \
    "timeout 60 sh -c true"
python3 - "$work/hyperfine.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    name = r["command"].split(" --repo")[0].rsplit("/", 1)[-1]
    print(f"median {r['median'] * 1000:6.2f} ms  {name}")
PY

echo
echo "## orch staging run with 1 GiB of output: peak RSS"
# GNU time's %M is the peak RSS of the largest process it waited for (orch,
# or a descendant orch waited for: supervisor, sh, head); time itself is
# tiny, so unlike a fork from a big interpreter it does not inflate the
# figure (the high-water mark survives exec).
for run in 1 2 3; do
    /usr/bin/time -f "%e s wall, peak RSS %M KiB" "$orch" staging run --repo "$work" \
        --cmd "head -c 1073741824 /dev/zero" --log "$work/big.md" >/dev/null
done
