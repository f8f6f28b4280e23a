#!/usr/bin/env bash
# Builds the Debian package of xvs with cargo-deb: xvsd (/usr/sbin), xvsctl (/usr/bin),
# xvsd.service, /etc/default/xvsd, the man pages and bash/zsh/fish completions
# (generated from the binaries' clap definitions by xtask). Depends on
# openvswitch-common and openvswitch-switch (control/daemon/Cargo.toml says why).
#
#   scripts/package.sh [--profile PROFILE]
#
# PROFILE is release by default; the CI test packages the dev build it already has
# (scripts/test-package.sh), which cargo-deb allows with a warning. The .deb's path is
# the last line printed. Installs the Debian packages the build needs and cargo-deb
# (pinned, from crates.io) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
while (($#)); do
  case "$1" in
    --profile) profile="$2"; shift 2 ;;
    *) echo "usage: scripts/package.sh [--profile PROFILE]" >&2; exit 2 ;;
  esac
done

source scripts/install-deps.sh
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"

CARGO_DEB_VERSION=3.8.0
if ! cargo deb --version 2>/dev/null | grep -qw "$CARGO_DEB_VERSION"; then
  echo "installing cargo-deb $CARGO_DEB_VERSION"
  cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked
fi

target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
case "$profile" in
  dev|debug) profile_dir=debug ;;
  *) profile_dir="$profile" ;;
esac
docs="$target_dir/$profile_dir/xvs-docs"

cargo build --locked --profile "$profile" -p xvs-daemon --bins
# Man pages and completions, from the same sources as the binaries just built.
rm -rf "$docs"
cargo run --locked -q -p xtask -- docs "$docs" >/dev/null
gzip -9n "$docs"/man/*.8

out="$target_dir/debian"
mkdir -p "$out"
rm -f "$out"/xvs_*.deb "$out"/xvs-dbgsym_*
# Debug symbols (the release profile keeps some, for profiling) go to a separate
# xvs-dbgsym .ddeb, as Debian ships them.
cargo deb --locked --no-build --dbgsym --profile "$profile" -p xvs-daemon -o "$out" >&2
deb=$(ls "$out"/xvs_*.deb)
echo "$deb"
