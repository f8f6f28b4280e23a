#!/usr/bin/env bash
# Installs the Debian packages xvs needs to build and test, if any is missing.
# Run as root on Debian 12. Safe to run again: it installs only what is absent.
set -euo pipefail
cd "$(dirname "$0")/.."

# What each package is for:
#   gcc libc6-dev pkg-config : the C toolchain cargo's build scripts use
#   g++                      : libFuzzer (C++), built for the fuzz targets (fuzz/, scripts/fuzz.sh)
#   iproute2                 : network namespaces and veth pairs for the real-kernel tests
#   clang                    : compiles the XDP program (ebpf/xdp/*.bpf.c, -target bpf) in ebpf/build.rs
#   libbpf-dev               : bpf/bpf_helpers.h and bpf/bpf_endian.h for the XDP program
#   linux-libc-dev           : linux/bpf.h, linux/if_xdp.h and asm/types.h for the XDP program
#   ethtool                  : turns GRO (NAPI) on for test veths (testnet.rs)
#   iputils-ping             : the daemon tests ping between VM namespaces through xvs
#   tcpdump                  : the demo shows a captured GRE packet on the underlay; ovs-tcpdump
#                              runs it (tests/mirror_tcpdump.rs)
#   python3-venv             : a virtualenv for ovsdbapp (the Neutron agent's OVSDB library),
#                              which a test drives xvsd with
#   openvswitch-switch       : the real ovsdb-server (xvsd is its client, in ovs-vswitchd's
#                              place), ovs-vsctl, ovsdb-tool and OVS's schema, for the
#                              tests and the demo; its services are never started here
#                              (see below): xvsd replaces ovs-vswitchd.
#   python3-openvswitch      : OVS's python library, which ovs-tcpdump (in openvswitch-switch,
#                              which depends on it) needs to create its port and Mirror
#   dpkg-dev                 : dpkg-shlibdeps, with which cargo-deb finds the package's
#                              library dependencies (scripts/package.sh)
#   man-db                   : the package test renders the man pages (man -l)
PACKAGES=(gcc g++ libc6-dev pkg-config iproute2 clang libbpf-dev linux-libc-dev ethtool iputils-ping tcpdump python3-venv openvswitch-switch python3-openvswitch dpkg-dev man-db)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: Debian packages missing (${missing[*]}) and not running as root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # No service may start during the install: openvswitch-switch's would start
  # ovs-vswitchd (and load the kernel module). policy-rc.d is how Debian says so.
  policy=/usr/sbin/policy-rc.d
  had_policy=false
  [ -e "$policy" ] && had_policy=true
  if ! $had_policy; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  $had_policy || rm -f "$policy"
fi

if ! command -v cargo >/dev/null 2>&1; then
  # rustup puts cargo here; a non-login root shell may not have it on PATH.
  [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 || { echo "error: cargo not found (install Rust with rustup)" >&2; exit 1; }
