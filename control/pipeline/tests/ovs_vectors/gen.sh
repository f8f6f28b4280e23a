#!/bin/bash
# Records dump_flows.txt and errors.txt from a real Open vSwitch (Debian's
# openvswitch-switch: ovsdb-tool, ovsdb-server, ovs-vswitchd, ovs-vsctl, ovs-ofctl).
# Everything runs in a private directory with its own database and a dummy datapath
# (ovs-vswitchd --enable-dummy); nothing system-wide is touched, no root needed.
#
#   tests/ovs_vectors/gen.sh            # rewrites dump_flows.txt and errors.txt here
set -eu
here=$(cd "$(dirname "$0")" && pwd)
D=$(mktemp -d /tmp/xvs-ovs-vectors.XXXXXX)
export OVS_RUNDIR=$D OVS_LOGDIR=$D OVS_DBDIR=$D
stop() {
    for p in vs ovsdb; do
        [ -f "$D/$p.pid" ] && kill "$(cat "$D/$p.pid")" 2>/dev/null || true
    done
    sleep 0.5
    rm -rf "$D"
}
trap stop EXIT

ovsdb-tool create "$D/conf.db" /usr/share/openvswitch/vswitch.ovsschema
ovsdb-server --remote=punix:"$D/db.sock" --pidfile="$D/ovsdb.pid" --unixctl="$D/ovsdb.ctl" \
    --detach --log-file="$D/ovsdb.log" "$D/conf.db" 2>/dev/null
ovs-vsctl --db=unix:"$D/db.sock" --no-wait init
ovs-vswitchd --enable-dummy unix:"$D/db.sock" --pidfile="$D/vs.pid" --unixctl="$D/vs.ctl" \
    --detach --log-file="$D/vs.log" 2>/dev/null
vsctl() { ovs-vsctl --db=unix:"$D/db.sock" "$@"; }
vsctl add-br br0 -- set bridge br0 datapath_type=dummy protocols=OpenFlow10,OpenFlow13
n=1
for p in patch-int gre-1 vxlan-1 - tap5 int-br-eth1; do
    [ "$p" != - ] && vsctl add-port br0 "$p" -- set interface "$p" type=dummy ofport_request=$n
    n=$((n + 1))
done

strip() {
    grep -v 'reply' | sed -E 's/^ //; s/duration=[0-9.]+s, //; s/n_packets=[0-9]+, //;
        s/n_bytes=[0-9]+, //; s/idle_age=[0-9]+, //; s/hard_age=[0-9]+, //'
}

# One block per flow: the flow, then both dumps (or what ovs-ofctl said).
vectors() {
    local proto=$1 file=$2 f err d10
    while IFS= read -r f; do
        case "$f" in '' | '#'*) echo "$f"; continue ;; esac
        ovs-ofctl -O OpenFlow13 del-flows br0
        if [ "$proto" = of13 ]; then
            err=$(ovs-ofctl -O OpenFlow13 add-flow br0 "$f" 2>&1 || true)
        else
            err=$(ovs-ofctl add-flow br0 "$f" 2>&1 || true)
        fi
        echo "flow: $f"
        if [ -n "$err" ]; then
            # "...|WARN|explanation" lines, then "ovs-ofctl: message".
            echo "$err" | sed -nE 's/^.*\|WARN\|(.*)$/ovs-warn: \1/p'
            echo "$err" | sed -nE 's/^ovs-ofctl: (.*)$/ovs-error: \1/p'
            echo
            continue
        fi
        d10=$(ovs-ofctl dump-flows br0 2>&1)
        if echo "$d10" | grep -q 'bad instructions'; then
            echo "of10-error: $(echo "$d10" | sed -nE 's/^.*\|WARN\|(invalid instruction.*)$/\1/p')"
        else
            echo "of10: $(echo "$d10" | strip)"
        fi
        echo "of13: $(ovs-ofctl -O OpenFlow13 dump-flows br0 | strip)"
        echo
    done <"$file"
}

{
    sed -n '1,/^$/p' "$here/dump_flows.txt"
    echo "[add of13]"
    vectors of13 "$here/flows_of13.txt"
    echo "[add of10]"
    vectors of10 "$here/flows_of10.txt"
} | cat -s >"$here/dump_flows.txt.new"
{
    sed -n '1,/^$/p' "$here/errors.txt"
    vectors of13 "$here/flows_err.txt"
} | cat -s >"$here/errors.txt.new"
mv "$here/dump_flows.txt.new" "$here/dump_flows.txt"
mv "$here/errors.txt.new" "$here/errors.txt"
