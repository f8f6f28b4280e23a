#!/usr/bin/env bash
# The standard packet-rate set: xvs and its peers on veth pairs in one run, 64-byte frames,
# generator on CPU0, switch on CPU1, medians of 3 runs. Results (table, CSV, PNG) go to
# bench/results/. As root. Extra arguments go to xvs-bench (see `xvs-bench --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
    echo "bench.sh needs root (network namespaces, XDP, AF_XDP)" >&2
    exit 1
fi
source scripts/install-deps.sh
# Only the benchmark needs these: the chart's font, and Open vSwitch 3.1 for the ovs-afxdp
# peer (Debian's package; its service is not started: xvs-bench starts its own daemons).
extra=()
for p in fonts-dejavu-core openvswitch-switch; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || extra+=("$p")
done
if ((${#extra[@]})); then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${extra[@]}"
fi
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
cargo build --quiet --locked --release -p xvs-daemon --bins -p xvs-bench
exec ./target/release/xvs-bench \
    --scenarios l2-1,l2-1000,l2-100000,gre-encap-1,gre-encap-1000,gre-decap-1,miss-1000000 \
    --runs 3 --out bench/results "$@"
