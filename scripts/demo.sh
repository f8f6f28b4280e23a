#!/usr/bin/env bash
# The main job, until the daemon exists: builds xvs and shows what the Folsom
# network node's flows do to a few packets, with ofproto/trace-style output.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
cargo run --quiet --locked --release -p xvs-control --example seed_demo
