#!/usr/bin/env bash
# The soak with faults (control/daemon/tests/soak.rs): two xvs nodes carry numbered
# frames both ways over GRE while xvsd is killed and restarted, links flap, a VM's veth
# is deleted and made again, ports come and go, flow tables are replaced (and, for a
# while, drop the stream), ovsdb-server restarts and the controller's connections drop,
# for MINUTES minutes (10 by default). Prints the report and writes it to
# target/soak-report.txt (or $XVS_SOAK_REPORT). Release build. Run as root on Debian 12.
#
#   scripts/soak.sh [MINUTES]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"

minutes="${1:-10}"
[[ "$minutes" =~ ^[0-9]+$ ]] && ((minutes > 0)) || {
  echo "usage: scripts/soak.sh [MINUTES]" >&2
  exit 2
}
export XVS_SOAK_SECS=$((minutes * 60))
target="${CARGO_TARGET_DIR:-target}"
[[ "$target" = /* ]] || target="$PWD/$target"
export XVS_SOAK_REPORT="${XVS_SOAK_REPORT:-$target/soak-report.txt}"
mkdir -p "$(dirname "$XVS_SOAK_REPORT")"

cargo test --release --locked -p xvs-daemon --test soak -- --ignored --nocapture --exact soak
