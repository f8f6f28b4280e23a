#!/usr/bin/env bash
# Runs every xvs test: formatting and lints first, then unit, property and golden tests of
# the pure core and the real-kernel tests (as root: namespaces, veth pairs, XDP, AF_XDP),
# then a bounded run of the fuzz targets (scripts/fuzz.sh).
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
# From PyPI, for the tests that drive xvsd with the Neutron agent's own libraries:
# ovsdbapp (its OVSDB library) and neutron itself (its native os-ken bridge classes;
# brings os-ken 4.2 and about 130 packages, 345 MB, under a minute). Installed once;
# a venv from before neutron was added gets it on the next run.
PY_PACKAGES=(ovsdbapp==3.0.0 neutron==29.0.0)
if ! target/pyvenv/bin/python - "${PY_PACKAGES[@]}" 2>/dev/null <<'PY'
import sys
from importlib.metadata import version
sys.exit(any(version(n) != v for n, v in (p.split("==") for p in sys.argv[1:])))
PY
then
  mkdir -p target
  [ -x target/pyvenv/bin/python ] || python3 -m venv target/pyvenv
  target/pyvenv/bin/pip install -q "${PY_PACKAGES[@]}"
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

cargo build --workspace --all-targets --locked
cargo test --workspace --locked
# Coverage-guided fuzzing of every parser of untrusted input, bounded (about a minute
# of fuzzing after its build): fails on any crash. See fuzz/ and README.md.
scripts/fuzz.sh
echo "== all tests passed =="
