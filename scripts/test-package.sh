#!/usr/bin/env bash
# The Debian package, tested as an administrator would use it, without systemd running
# (as root; scripts/test.sh runs it last):
#   1. scripts/package.sh builds it (from the dev build the tests already made, unless
#      XVS_PACKAGE_PROFILE names another profile);
#   2. dpkg -i installs it for real (its dependencies are checked), and dpkg -L lists
#      the binaries, the unit, the conffile, the man pages and the completions;
#   3. systemd-analyze verify accepts the unit (when systemd-analyze is there), man -l
#      renders every page, and the binaries say their version;
#   4. the unit's ExecStart line, with its EnvironmentFile, runs in a new network
#      namespace against a private ovsdb-server holding bridge br0, with NOTIFY_SOCKET
#      on a datagram socket this script listens on and JOURNAL_STREAM naming its
#      stderr, as systemd would set them: READY=1 must come once br0 is attached,
#      the log must be journald's (<6> priority prefixes) and say what was configured,
#      and SIGTERM must end it cleanly (STOPPING=1, exit status 0);
#   5. dpkg --purge removes it (also when a step fails), leaving nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "error: run as root (dpkg -i, namespaces)" >&2; exit 1; }

if dpkg-query -W -f '${Status}' xvs 2>/dev/null | grep -q "install ok installed"; then
  # The test ends by purging the package: it does not take away one installed by hand.
  echo "skip: the xvs package is installed on this machine (dpkg --purge xvs to test)"
  exit 0
fi

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

profile="${XVS_PACKAGE_PROFILE:-dev}"
deb=$(scripts/package.sh --profile "$profile" | tail -1)
[ -s "$deb" ] || fail "scripts/package.sh made no package"
pass "built $deb"

tmp=$(mktemp -d /tmp/xvs-package-test.XXXXXX)
xvsd_pid="" listener_pid="" ovsdb_pid=""
cleanup() {
  for p in $xvsd_pid $listener_pid $ovsdb_pid; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  dpkg --purge xvs >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# --- 2. install
dpkg -i "$deb" >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; fail "dpkg -i"; }
dpkg -L xvs >"$tmp/files"
for f in /usr/sbin/xvsd /usr/bin/xvsctl /usr/lib/systemd/system/xvsd.service \
  /etc/default/xvsd /usr/share/man/man8/xvsd.8.gz /usr/share/man/man8/xvsctl.8.gz \
  /usr/share/man/man8/xvsctl-add-port.8.gz \
  /usr/share/bash-completion/completions/xvsctl /usr/share/zsh/vendor-completions/_xvsctl \
  /usr/share/fish/vendor_completions.d/xvsctl.fish /usr/share/doc/xvs/copyright; do
  grep -qx "$f" "$tmp/files" || fail "dpkg -L xvs does not list $f"
  [ -e "$f" ] || fail "$f is listed but not installed"
done
grep -qx /etc/default/xvsd /var/lib/dpkg/info/xvs.conffiles || fail "/etc/default/xvsd is not a conffile"
deps=$(dpkg-query -W -f '${Depends}' xvs)
for d in openvswitch-common openvswitch-switch; do
  [[ "$deps" == *"$d"* ]] || fail "the package does not depend on $d ($deps)"
done
pass "dpkg -i; dpkg -L lists binaries, unit, conffile, man pages, completions; depends: $deps"

# --- 3. unit, pages, versions
unit=/usr/lib/systemd/system/xvsd.service
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify "$unit" || fail "systemd-analyze verify $unit"
  pass "systemd-analyze verify accepts the unit"
else
  echo "skip: no systemd-analyze"
fi
for key in 'Type=notify' 'Restart=on-failure' 'Conflicts=ovs-vswitchd.service' \
  'Requires=ovsdb-server.service' 'After=ovsdb-server.service'; do
  grep -q "^$key" "$unit" || fail "the unit has no $key"
done
n=0
while read -r page; do
  out=$(MANWIDTH=80 man -l "$page" 2>"$tmp/man.err") || fail "man -l $page"
  [ ! -s "$tmp/man.err" ] || { cat "$tmp/man.err" >&2; fail "man -l $page warned"; }
  grep -q '^NAME' <<<"$out" || fail "man -l $page: no NAME section"
  n=$((n + 1))
done < <(grep '^/usr/share/man/man8/.*\.8\.gz$' "$tmp/files")
[ "$n" -ge 3 ] || fail "only $n man pages"
MANWIDTH=80 man -l /usr/share/man/man8/xvsd.8.gz | grep -q 'NOTIFY_SOCKET' || fail "xvsd(8) lacks ENVIRONMENT"
pass "man -l renders $n pages"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
[ "$(/usr/sbin/xvsd --version)" = "xvsd $version" ] || fail "xvsd --version: $(/usr/sbin/xvsd --version)"
[ "$(/usr/bin/xvsctl --version)" = "xvsctl $version" ] || fail "xvsctl --version"
pass "xvsd --version, xvsctl --version: $version"

# --- 4. start it as the unit does
run="$tmp/run"
mkdir -p "$run"
schema=/usr/share/openvswitch/vswitch.ovsschema
ovsdb-tool create "$tmp/conf.db" "$schema"
ovsdb-server "$tmp/conf.db" --remote="punix:$run/db.sock" --unixctl="$run/ovsdb.ctl" \
  --pidfile="$run/ovsdb.pid" --log-file="$tmp/ovsdb.log" -vconsole:off --no-chdir 2>>"$tmp/ovsdb.log" &
ovsdb_pid=$!
for _ in $(seq 100); do [ -S "$run/db.sock" ] && break; sleep 0.1; done
vsctl() { ovs-vsctl --db="unix:$run/db.sock" --timeout=10 "$@"; }
vsctl --no-wait init
vsctl --no-wait add-br br0

# The notification socket, as systemd's: every datagram, one per line (newlines as |).
/usr/bin/python3 - "$tmp/notify.sock" "$tmp/notify.log" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(120)
with open(sys.argv[2], "a", buffering=1) as log:
    while True:
        try:
            msg = s.recv(4096).decode()
        except socket.timeout:
            break
        log.write(msg.replace("\n", "|") + "\n")
        if "STOPPING=1" in msg:
            break
PY
listener_pid=$!
for _ in $(seq 100); do [ -S "$tmp/notify.sock" ] && break; sleep 0.1; done

# ExecStart with the EnvironmentFile's variables; the test's own socket and run
# directory on top. As systemd does, an unquoted $VAR is split into words.
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[[ "$exec_start" == "/usr/sbin/xvsd --pidfile "* ]] || fail "unexpected ExecStart=$exec_start"
set -a
# shellcheck disable=SC1091
source /etc/default/xvsd
set +a
XVSD_OPTS="${XVSD_OPTS:-} --socket $tmp/xvsd.sock"
: >"$tmp/xvsd.log"
journal_stream=$(stat -c '%d:%i' "$tmp/xvsd.log")
started=$(date +%s.%N)
# As systemd expands ExecStart: $XVSD_OPTS unquoted, split into words.
eval "set -- $exec_start"
OVS_RUNDIR="$run" NOTIFY_SOCKET="$tmp/notify.sock" JOURNAL_STREAM="$journal_stream" \
  unshare --net -- "$@" 2>>"$tmp/xvsd.log" &
xvsd_pid=$!

for _ in $(seq 300); do
  grep -q '^READY=1' "$tmp/notify.log" && break
  kill -0 "$xvsd_pid" 2>/dev/null || { cat "$tmp/xvsd.log" >&2; fail "xvsd exited before READY=1"; }
  sleep 0.1
done
ready=$(grep '^READY=1' "$tmp/notify.log") || { cat "$tmp/xvsd.log" >&2; fail "no READY=1 within 30 s"; }
# READY=1 says what was attached when it was sent.
[[ "$ready" == *"STATUS=ready: 1 bridge and 1 port from unix:$run/db.sock"* ]] ||
  fail "READY=1 before br0 was attached: $ready"
grep -q '^STATUS=waiting for the database' "$tmp/notify.log" || fail "no STATUS while waiting"
pass "READY=1 after $(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $started }") s: ${ready//|/ }"
# br0 is real: its netdev exists in xvsd's namespace, xvsctl sees it, the database got
# its OpenFlow number.
nsenter --target "$xvsd_pid" --net ip link show br0 >/dev/null || fail "no br0 netdev in xvsd's namespace"
/usr/bin/xvsctl --socket "$tmp/xvsd.sock" --timeout 10 show | grep -q 'Bridge br0' || fail "xvsctl show has no br0"
for _ in $(seq 50); do
  [ "$(vsctl get Interface br0 ofport)" = 65534 ] && break
  sleep 0.1
done
[ "$(vsctl get Interface br0 ofport)" = 65534 ] || fail "Interface br0 ofport is not 65534"
# The unit's --pidfile: ovs-appctl finds xvsd as it finds ovs-vswitchd.
OVS_RUNDIR="$run" ovs-appctl -t ovs-vswitchd vlog/list | grep -q '^bridge ' ||
  fail "ovs-appctl -t ovs-vswitchd does not reach xvsd"
# Changes while running, each logged with what changed: a port, its VLAN, the flow
# table replaced through ovs-ofctl (OVS's flow_mods report, when the connection closes)
# and through xvsctl (counts).
vsctl add-port br0 p0 -- set Interface p0 type=internal -- set Port p0 tag=5
vsctl set Port p0 tag=7
printf '%s\n' 'priority=10,in_port=p0 actions=drop' 'priority=5 actions=NORMAL' >"$tmp/flows"
OVS_RUNDIR="$run" ovs-ofctl replace-flows br0 "$tmp/flows"
printf '%s\n' 'priority=10,in_port=p0 actions=drop' 'priority=7,arp actions=NORMAL' >"$tmp/flows2"
/usr/bin/xvsctl --socket "$tmp/xvsd.sock" --timeout 10 replace-flows br0 "$tmp/flows2"
for _ in $(seq 50); do grep -q 'flow_mods' "$tmp/xvsd.log" && break; sleep 0.1; done
# The journal's form: priority prefixes, no timestamps, what changed.
grep -q '^<6>.*bridge added.*bridge=br0.*fail_mode=standalone' "$tmp/xvsd.log" || { cat "$tmp/xvsd.log" >&2; fail "no '<6> ... bridge added bridge=br0' line"; }
grep -q '^<6>.*port added.*port=p0.*options=.*type=internal.*vlan=access tag=5' "$tmp/xvsd.log" || { cat "$tmp/xvsd.log" >&2; fail "no 'port added' line with options"; }
grep -q '^<6>.*port VLANs changed.*port=p0.*from=access tag=5.*to=access tag=7' "$tmp/xvsd.log" || { cat "$tmp/xvsd.log" >&2; fail "no 'port VLANs changed' line"; }
grep -q '^<6>.*br0<->unix#[0-9]*: 3 flow_mods in the last 0 s (2 adds, 1 deletes)' "$tmp/xvsd.log" || { cat "$tmp/xvsd.log" >&2; fail "no flow_mods report for ovs-ofctl replace-flows"; }
grep -q '^<6>.*flow table replaced (xvsctl replace-flows) bridge=br0 added=1 removed=1 modified=[01] kept=[01]' "$tmp/xvsd.log" || { cat "$tmp/xvsd.log" >&2; fail "no 'flow table replaced' line"; }
if grep -v '^<[0-7]>' "$tmp/xvsd.log" | grep -q .; then
  cat "$tmp/xvsd.log" >&2; fail "log lines without a priority prefix"
fi
pass "log as journald reads it, configuration changes with what changed"

kill -TERM "$xvsd_pid"
rc=0
wait "$xvsd_pid" || rc=$?
xvsd_pid=""
[ "$rc" -eq 0 ] || { cat "$tmp/xvsd.log" >&2; fail "xvsd exited $rc on SIGTERM"; }
wait "$listener_pid" || true
listener_pid=""
grep -q '^STOPPING=1' "$tmp/notify.log" || fail "no STOPPING=1"
[ ! -e "$tmp/xvsd.sock" ] || fail "the control socket is still there"
pass "SIGTERM: STOPPING=1, exit status 0, control socket removed"

# --- 5. remove
dpkg --purge xvs >/dev/null
[ ! -e /usr/sbin/xvsd ] && [ ! -e /etc/default/xvsd ] && [ ! -e "$unit" ] || fail "files left after dpkg --purge"
pass "dpkg --purge removes it"
echo "package test: all passed"
