#!/usr/bin/env bash
# Runs every xvs test: unit, property and golden tests of the pure core.
# Installs the Debian packages it needs first. Run as root on a fresh Debian 12 machine.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"

cargo build --workspace --all-targets --locked
cargo test --workspace --locked
echo "== all tests passed =="
