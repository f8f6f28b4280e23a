//! A real ovs-vswitchd (OVS 3.1 from Debian) with dummy datapaths
//! (`--enable-dummy=override`: every netdev is a dummy, so no kernel module and no
//! real interfaces are needed), following its own private ovsdb-server: the reference
//! the tests compare xvs with, same input, same output.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::ovsdb::Ovsdb;

pub struct RealOvs {
    pub db: Ovsdb,
    child: Child,
}

impl RealOvs {
    /// Starts it in `dir` (its OVS_RUNDIR: management sockets there).
    pub fn start(dir: &Path) -> RealOvs {
        Self::start_in(None, dir)
    }

    /// Starts it in network namespace `netns` (where its controllers are reached).
    pub fn start_in(netns: Option<&str>, dir: &Path) -> RealOvs {
        let db = Ovsdb::start(dir);
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "ovs-vswitchd"]);
                c
            }
            None => Command::new("ovs-vswitchd"),
        };
        let child = cmd
            .env("OVS_RUNDIR", dir)
            .arg("--enable-dummy=override")
            .arg(db.remote())
            .arg(format!("--unixctl={}", dir.join("vswitchd.ctl").display()))
            .arg(format!("--log-file={}", dir.join("vswitchd.log").display()))
            .arg("--no-chdir")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ovs-vswitchd");
        RealOvs { db, child }
    }
}

impl Drop for RealOvs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.db.dir);
    }
}
