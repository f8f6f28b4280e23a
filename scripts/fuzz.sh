#!/usr/bin/env bash
# Runs every coverage-guided fuzz target of fuzz/ (cargo-fuzz, libFuzzer, AddressSanitizer)
# for a bounded time, one after the other, and fails if any of them finds a crash.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# SECONDS_PER_TARGET defaults to 7 (the 9 targets then take about a minute, plus the
# build). Each target starts from its seed corpus in fuzz/corpus/TARGET (what the
# fuzzer adds goes to a temporary directory, or to $FUZZ_WORK/corpus/TARGET when
# FUZZ_WORK is set, never into the repository), with a fixed seed so that a run is
# repeatable as far as a time bound allows; logs are in that directory too. A
# crashing input is written to fuzz/artifacts/TARGET/; reproduce it with
#   cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-...
# Installs what it needs on a fresh machine: the nightly toolchain (rustup) and
# cargo-fuzz (crates.io); without nightly, stable with RUSTC_BOOTSTRAP=1. Honours
# CARGO_TARGET_DIR and CARGO_BUILD_JOBS.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"

SECONDS_PER_TARGET=${1:-7}
shift || true
case "$SECONDS_PER_TARGET" in
  ''|*[!0-9]*) echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]" >&2; exit 2 ;;
esac

# cargo-fuzz needs nightly's -Z flags (sanitizers, coverage instrumentation). Where
# the nightly toolchain cannot be had (no network to the toolchain servers), stable
# with RUSTC_BOOTSTRAP=1 accepts the same flags: its standard library ships the
# sanitizer runtimes.
TOOLCHAIN=nightly
if ! rustup toolchain list | grep -q '^nightly'; then
  if ! rustup toolchain install nightly --profile minimal; then
    echo "fuzz: no nightly toolchain; using stable with RUSTC_BOOTSTRAP=1" >&2
    TOOLCHAIN=stable
    export RUSTC_BOOTSTRAP=1
  fi
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
# libFuzzer itself is C++, built by libfuzzer-sys.
if ! command -v c++ >/dev/null 2>&1 && command -v clang++ >/dev/null 2>&1; then
  export CXX=clang++
fi

TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  mapfile -t TARGETS < <(cargo "+$TOOLCHAIN" fuzz list)
fi

# One build for every target (release, debug assertions on: the project's own
# debug_asserts are oracles too).
cargo "+$TOOLCHAIN" fuzz build --debug-assertions

# A fresh copy of the seeds each run, so that a run depends only on the repository;
# FUZZ_WORK=DIR keeps what the fuzzers find in DIR from one run to the next instead.
if [ -n "${FUZZ_WORK:-}" ]; then
  WORK=$FUZZ_WORK
else
  WORK=$(mktemp -d /tmp/xvs-fuzz.XXXXXX)
  trap 'rm -rf "$WORK/corpus"' EXIT
fi
mkdir -p "$WORK"
failed=()
report=()
for t in "${TARGETS[@]}"; do
  corpus="$WORK/corpus/$t"
  mkdir -p "$corpus" "fuzz/artifacts/$t"
  log="$WORK/$t.log"
  echo "== fuzz $t for ${SECONDS_PER_TARGET}s =="
  status=0
  cargo "+$TOOLCHAIN" fuzz run --debug-assertions "$t" "$corpus" "fuzz/corpus/$t" -- \
    -max_total_time="$SECONDS_PER_TARGET" -seed=1 -timeout=20 -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
  if [ "$status" -ne 0 ]; then
    tail -n 60 "$log"
    failed+=("$t")
    report+=("$(printf '%-18s FAILED (status %s, log %s)' "$t" "$status" "$log")")
  else
    report+=("$(printf '%-18s %10s executions  %s' "$t" "${execs:-?}" "$cov")")
  fi
done

echo "== fuzz summary (${SECONDS_PER_TARGET}s per target) =="
printf '%s\n' "${report[@]}"
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: crashes in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo "== fuzz: no crash =="
