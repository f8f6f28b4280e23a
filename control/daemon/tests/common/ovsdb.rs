//! A private ovsdb-server per test (the real one, from Debian's openvswitch packages),
//! with OVS's schema, as the demo and the README start it; and the real ovs-vsctl
//! against it. Stopped and removed on drop.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// Fails loudly (never skips) when the OVS tools are missing.
pub fn require_ovs_tools() {
    for tool in ["ovsdb-server", "ovsdb-tool", "ovs-vsctl"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "{tool} is missing: install openvswitch-switch (scripts/install-deps.sh does)"
        );
    }
    assert!(Path::new(SCHEMA).exists(), "{SCHEMA} is missing");
}

pub struct Ovsdb {
    pub dir: PathBuf,
    child: Option<Child>,
}

impl Ovsdb {
    /// A new database in `dir` (which becomes its OVS_RUNDIR), served on `dir/db.sock`.
    pub fn start(dir: &Path) -> Ovsdb {
        require_ovs_tools();
        let db = dir.join("conf.db");
        if !db.exists() {
            let out = Command::new("ovsdb-tool")
                .arg("create")
                .arg(&db)
                .arg(SCHEMA)
                .output()
                .unwrap();
            assert!(out.status.success(), "ovsdb-tool create: {out:?}");
        }
        let mut o = Ovsdb {
            dir: dir.to_path_buf(),
            child: None,
        };
        o.spawn();
        o.vsctl_ok(&["--no-wait", "init"]);
        o
    }

    fn spawn(&mut self) {
        let sock = self.socket();
        let _ = std::fs::remove_file(&sock);
        let child = Command::new("ovsdb-server")
            .arg(self.dir.join("conf.db"))
            .arg(format!("--remote=punix:{}", sock.display()))
            .arg("--remote=db:Open_vSwitch,Open_vSwitch,manager_options")
            .arg(format!(
                "--unixctl={}",
                self.dir.join("ovsdb-server.ctl").display()
            ))
            .arg(format!(
                "--log-file={}",
                self.dir.join("ovsdb-server.log").display()
            ))
            .arg("--no-chdir")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ovsdb-server");
        self.child = Some(child);
        let start = Instant::now();
        while std::os::unix::net::UnixStream::connect(&sock).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "ovsdb-server did not come up"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("db.sock")
    }

    /// What xvsd takes as its DATABASE argument.
    pub fn remote(&self) -> String {
        format!("unix:{}", self.socket().display())
    }

    /// Stops the server (the database file stays) and starts it again.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Runs the unmodified ovs-vsctl (which waits for xvsd to apply its change unless
    /// given --no-wait); at most 10 s.
    pub fn vsctl(&self, args: &[&str]) -> Output {
        Command::new("ovs-vsctl")
            .env("OVS_RUNDIR", &self.dir)
            .arg(format!("--db={}", self.remote()))
            .arg("--timeout=10")
            .args(args)
            .output()
            .unwrap()
    }

    /// ovs-vsctl that must succeed; its standard output, trimmed.
    pub fn vsctl_ok(&self, args: &[&str]) -> String {
        let o = self.vsctl(args);
        assert!(
            o.status.success(),
            "ovs-vsctl {args:?} failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }
}

impl Drop for Ovsdb {
    fn drop(&mut self) {
        self.stop();
    }
}
