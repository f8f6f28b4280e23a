#!/bin/sh
# Private ovsdb-server + ovs-vswitchd --enable-dummy in a temporary directory,
# with the recording proxy in front of br0.mgmt (test-vector capture tool).
#
#   . ovs-env.sh start      # sets DIR (switch rundir) and PROXY (ovs-ofctl rundir)
#   OVS_RUNDIR=$PROXY ovs-ofctl dump-flows br0   # recorded into $DIR/record.log
#   . ovs-env.sh stop
#
# Nothing system-wide is touched: every socket, pid and log file is in $DIR.
HERE=$(cd "$(dirname "$0")" 2>/dev/null && pwd || echo .)
case "$1" in
start)
    DIR=$(mktemp -d /tmp/ofcap.XXXXXX)
    PROXY=$DIR/proxy
    mkdir -p "$PROXY"
    ovsdb-tool create "$DIR/conf.db" /usr/share/openvswitch/vswitch.ovsschema
    ovsdb-server --remote=punix:"$DIR/db.sock" --pidfile="$DIR/ovsdb.pid" \
        --unixctl="$DIR/ovsdb.ctl" --detach --log-file="$DIR/ovsdb.log" "$DIR/conf.db"
    OVS_RUNDIR=$DIR ovs-vswitchd --enable-dummy unix:"$DIR/db.sock" \
        --pidfile="$DIR/vs.pid" --unixctl="$DIR/vs.ctl" --detach --log-file="$DIR/vs.log"
    ovs-vsctl --db=unix:"$DIR/db.sock" --no-wait init
    ovs-vsctl --db=unix:"$DIR/db.sock" add-br br0 -- set bridge br0 datapath_type=netdev \
        protocols=OpenFlow10,OpenFlow13,OpenFlow14 other_config:datapath-id=0000000000000001
    python3 "$HERE/ofrecord.py" "$PROXY/br0.mgmt" "$DIR/br0.mgmt" "$DIR/record.log" &
    echo $! > "$DIR/proxy.pid"
    export DIR PROXY
    ;;
stop)
    for p in proxy vs ovsdb; do
        [ -f "$DIR/$p.pid" ] && kill "$(cat "$DIR/$p.pid")"
    done
    ;;
esac
