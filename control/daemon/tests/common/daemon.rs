//! Runs the real xvsd binary in a temporary directory, following a private
//! ovsdb-server there (as ovs-vswitchd follows the system's), and xvsctl against it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::ovsdb::Ovsdb;

pub struct Xvsd {
    pub dir: PathBuf,
    pub socket: PathBuf,
    /// The database it follows (lives across xvsd restarts).
    pub db: Ovsdb,
    child: Option<Child>,
    extra: Vec<String>,
    /// The network namespace it runs in (`ip netns exec`, which execs in place, so
    /// signals reach xvsd itself).
    netns: Option<String>,
}

impl Xvsd {
    /// A fresh directory for socket and state, unique to this test process and name.
    pub fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xvs-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    pub fn start(dir: &Path, extra: &[&str]) -> Xvsd {
        Self::start_in(None, dir, extra)
    }

    pub fn start_in(netns: Option<&str>, dir: &Path, extra: &[&str]) -> Xvsd {
        let mut d = Xvsd {
            dir: dir.to_path_buf(),
            socket: dir.join("xvsd.sock"),
            db: Ovsdb::start(dir),
            child: None,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            netns: netns.map(str::to_string),
        };
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("xvsd.log"))
            .unwrap();
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_xvsd")]);
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_xvsd")),
        };
        // Its OVS run directory (management sockets) is the test's own.
        let child = cmd
            .env("OVS_RUNDIR", &self.dir)
            .arg("--socket")
            .arg(&self.socket)
            .args(&self.extra)
            .arg(self.db.remote())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start xvsd");
        self.child = Some(child);
        let start = Instant::now();
        while UnixStream::connect(&self.socket).is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("xvsd exited with {status}: {}", self.log());
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "xvsd did not come up: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("xvsd.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// SIGTERM and wait: a clean stop.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let start = Instant::now();
            while c.try_wait().unwrap().is_none() {
                if start.elapsed() > Duration::from_secs(10) {
                    let _ = c.kill();
                    panic!("xvsd did not stop on SIGTERM: {}", self.log());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// SIGKILL: a crash.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// SIGKILL, then started again on the same database: a crash and its restart.
    pub fn crash_and_restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Starts a stopped (or killed) xvsd again on the same database, with the same
    /// options; returns once its control socket answers.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "xvsd is still running");
        self.spawn();
    }

    /// Runs xvsctl with these arguments against this daemon.
    pub fn ctl(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_xvsctl"))
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap()
    }

    /// xvsctl that must succeed; returns its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.ctl(args);
        assert!(
            o.status.success(),
            "xvsctl {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// xvsctl that must fail; returns its standard error.
    pub fn fails(&self, args: &[&str]) -> String {
        let o = self.ctl(args);
        assert!(!o.status.success(), "xvsctl {args:?} should have failed");
        String::from_utf8(o.stderr).unwrap()
    }

    /// Sends raw bytes on a new connection; returns the response lines read until the
    /// daemon closes or `n` lines came.
    pub fn raw(&self, bytes: &[u8], n: usize) -> Vec<String> {
        let mut s = UnixStream::connect(&self.socket).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let _ = s.write_all(bytes);
        // End of input ends the last request too, newline or not.
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut r = BufReader::new(s);
        let mut out = Vec::new();
        for _ in 0..n {
            let mut l = String::new();
            match r.read_line(&mut l) {
                Ok(0) | Err(_) => break,
                Ok(_) => out.push(l),
            }
        }
        out
    }
}

impl Drop for Xvsd {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("xvsd's log:\n{}", self.log());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
