#!/usr/bin/env bash
# Sourced by test.sh and demo-neutron.sh: makes target/pyvenv, a virtualenv with the
# Neutron agent's own code from PyPI: ovsdbapp (its OVSDB library) and neutron itself
# (the unmodified neutron-openvswitch-agent, its native os-ken bridge classes; brings
# os-ken 4.2 and about 130 packages, 345 MB, under a minute). Installed once; a venv
# missing a package or holding another version gets it on the next run.
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
