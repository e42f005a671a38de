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
# 4. With ORCH_BEFORE=/path/to/an/earlier/release/orch, that binary runs in the
#    same hyperfine and GNU time runs as the current one, side by side (how
#    docs/benchmarks.md compares a change with the code before it).
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
before=${ORCH_BEFORE:-}
set -- "$orch staging run --repo $work --cmd true --log $work/15-staging-log.md"
if [ -n "$before" ]; then
    set -- "$@" "$before staging run --repo $work --cmd true --log $work/before.md"
fi
hyperfine -N --warmup 20 --runs 300 --style basic --export-json "$work/hyperfine.json" \
    "$@" \
    "sh -c true" \
    "timeout 60 sh -c true"
python3 - "$work/hyperfine.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    name = r["command"].split(" --repo")[0]
    print(f"median {r['median'] * 1000:6.2f} ms  {name}")
PY

echo
echo "## orch staging run: tree kill of 200 processes that ignore SIGTERM (timeout 1 s, grace 0.2 s)"
tree="trap '' TERM; i=0; while [ \$i -lt 200 ]; do sleep 300 & i=\$((i+1)); done; wait"
set -- "$orch staging run --repo $work --cmd \"$tree\" --timeout 1 --grace 0.2 --log $work/tree.md"
if [ -n "$before" ]; then
    set -- "$@" "$before staging run --repo $work --cmd \"$tree\" --timeout 1 --grace 0.2 --log $work/tree-before.md"
fi
hyperfine -N -i --warmup 1 --runs 10 --style basic --export-json "$work/tree.json" "$@"
python3 - "$work/tree.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    name = r["command"].split(" --repo")[0]
    print(f"median {r['median'] * 1000:7.1f} ms (minus 1200 ms of timeout + grace: {r['median'] * 1000 - 1200:6.1f} ms)  {name}")
PY

echo
echo "## orch staging run with 1 GiB of output: peak RSS"
# GNU time's %M is the peak RSS of the largest process it waited for (orch,
# or a descendant orch waited for: supervisor, sh, head); time itself is
# tiny, so unlike a fork from a big interpreter it does not inflate the
# figure (the high-water mark survives exec).
for run in 1 2 3; do
    for program in "$orch" $before; do
        /usr/bin/time -f "%e s wall, peak RSS %M KiB  $program" "$program" staging run --repo "$work" \
            --cmd "head -c 1073741824 /dev/zero" --log "$work/big.md" >/dev/null
    done
done
