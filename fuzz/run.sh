#!/usr/bin/env bash
# Runs every cargo-fuzz target (or the ones named) for a bounded time and
# fails on any crash, panic, timeout or out-of-memory.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]      (default: 60, all)
#
# Environment:
#   FUZZ_SANITIZER  address (default) or none: none runs about 2.5x faster;
#                   the daemon's own code has no unsafe, so address mostly
#                   guards dependencies' unsafe code.
#   FUZZ_RUNS       also stop a target after this many executions.
#   FUZZ_MAX_LEN    longest input to try (libFuzzer's default: 4096).
#
# Works on the stable toolchain: cargo-fuzz passes nightly-only flags
# (-Zsanitizer=..., sanitizer-coverage passes), which stable rustc accepts
# with RUSTC_BOOTSTRAP=1. libFuzzer itself is compiled from C++ by
# libfuzzer-sys's build script, with the system C++ compiler.
#
# Seeds and regression inputs live in fuzz/corpus/TARGET (read only here);
# what the fuzzer finds goes to fuzz/work/TARGET (ignored by git), so it
# grows across local runs. A crashing input is saved under
# fuzz/artifacts/TARGET/; reproduce it with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -O -a TARGET fuzz/artifacts/TARGET/crash-...
# and, once fixed, copy it into fuzz/corpus/TARGET as a regression case.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
shift || true
case $secs in
  '' | *[!0-9]*) echo "usage: fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]" >&2; exit 2 ;;
esac
sanitizer=${FUZZ_SANITIZER:-address}
runs=${FUZZ_RUNS:-}
max_len=${FUZZ_MAX_LEN:-}

export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install --locked cargo-fuzz --version 0.13.2
fi

# Release build with debug assertions and overflow checks on.
flags=(-O -a --sanitizer "$sanitizer")

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

start=$SECONDS
cargo fuzz build "${flags[@]}"
echo "fuzz: built ${#targets[@]} targets (sanitizer $sanitizer) in $((SECONDS - start)) s"

for t in "${targets[@]}"; do
  work=fuzz/work/$t
  log=fuzz/work/$t.log
  mkdir -p "$work" "fuzz/artifacts/$t"
  opts=(
    -max_total_time="$secs"
    -print_final_stats=1
    # Leak checks run after most inputs here (logger and store threads
    # keep allocations alive) and cost 90% of the time; leaks are not a
    # safety issue in this code.
    -detect_leaks=0
    # A hang fails the run. Every input here takes milliseconds, but a
    # shared machine can stall a process for tens of seconds.
    -timeout=120
    -rss_limit_mb=4096
  )
  [ -f "fuzz/dicts/$t.dict" ] && opts+=(-dict="fuzz/dicts/$t.dict")
  [ -n "$runs" ] && opts+=(-runs="$runs")
  [ -n "$max_len" ] && opts+=(-max_len="$max_len")
  echo "fuzz: $t for up to $secs s${runs:+ or $runs runs} (log: $log)"
  if ! cargo fuzz run "${flags[@]}" "$t" "$work" "fuzz/corpus/$t" -- "${opts[@]}" >"$log" 2>&1; then
    tail -n 80 "$log"
    echo "fuzz: $t FAILED; the input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
  grep -E '^(Done|stat::)' "$log" | sed "s/^/fuzz: $t: /"
done
echo "fuzz: all targets passed"
