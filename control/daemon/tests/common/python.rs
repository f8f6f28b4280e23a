//! The Python with the Neutron agent's libraries from PyPI (ovsdbapp, neutron, os-ken)
//! that the tests drive xvsd with: `XVS_PYTHON`, else the virtualenv scripts/test.sh
//! makes in target/pyvenv. Without it a test fails and says so.
#![allow(dead_code)]

use std::path::PathBuf;

pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("XVS_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/pyvenv/bin/python");
    assert!(
        venv.exists(),
        "no Python with ovsdbapp and neutron: run scripts/test.sh (it makes target/pyvenv) \
         or set XVS_PYTHON"
    );
    venv
}

/// A script of tests/python/.
pub fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(name)
}
