#!/usr/bin/env bash
# Runs every xvs test: formatting and lints first, then unit, property and golden tests of
# the pure core and the real-kernel tests (as root: namespaces, veth pairs, XDP, AF_XDP),
# then the Debian package's (scripts/test-package.sh) and a bounded run of the fuzz
# targets (scripts/fuzz.sh).
# Installs the Debian packages it needs first. Run as root on a fresh Debian 12 machine.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"

for tool in rustfmt cargo-clippy; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "error: $tool not found (rustup component add ${tool#cargo-})" >&2
    exit 1
  }
done
# From PyPI, for the tests that drive xvsd with the Neutron agent's own code.
source scripts/pyvenv.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

cargo build --workspace --all-targets --locked
cargo test --workspace --locked
# The Debian package: built, installed with dpkg, started as its unit starts it
# (READY=1, SIGTERM), removed.
scripts/test-package.sh
# Coverage-guided fuzzing of every parser of untrusted input, bounded (about a minute
# of fuzzing after its build): fails on any crash. See fuzz/ and README.md.
scripts/fuzz.sh
echo "== all tests passed =="
