//! The pidfile, with OVS's semantics (lib/daemon-unix.c): the daemon's pid and a
//! newline, in a file the daemon keeps open with a POSIX write lock on it for as long as
//! it runs. `ovs-appctl -t ovs-vswitchd` reads `$OVS_RUNDIR/ovs-vswitchd.pid`, checks
//! that the process holding the lock is the one the file names (a file nobody locks is
//! stale), and connects to `$OVS_RUNDIR/ovs-vswitchd.PID.ctl`.
//!
//! Made as OVS makes it: written to `FILE.tmp`, locked, then renamed over `FILE`, so a
//! reader never sees a half-written file; refused if a live process holds `FILE`'s lock
//! (another daemon runs). Removed when the daemon stops.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// A pidfile this process made and holds.
#[derive(Debug)]
pub struct Pidfile {
    path: PathBuf,
    /// Open for as long as the pidfile exists: closing it drops the lock.
    _file: File,
}

fn lock(file: &File, cmd: libc::c_int) -> std::io::Result<libc::flock> {
    // SAFETY: flock is plain data; all zero is a valid value.
    let mut lck: libc::flock = unsafe { std::mem::zeroed() };
    lck.l_type = libc::F_WRLCK as libc::c_short;
    lck.l_whence = libc::SEEK_SET as libc::c_short;
    lck.l_start = 0;
    lck.l_len = 0;
    // SAFETY: a valid descriptor and a valid flock for the call.
    let r = unsafe { libc::fcntl(file.as_raw_fd(), cmd, &mut lck) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(lck)
}

/// The pid of the live process that holds `path` as its pidfile, if one does.
pub fn running_pid(path: &Path) -> Option<u32> {
    let mut file = OpenOptions::new().read(true).write(true).open(path).ok()?;
    let lck = lock(&file, libc::F_GETLK).ok()?;
    if lck.l_type == libc::F_UNLCK as libc::c_short {
        return None;
    }
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    let pid: u32 = text.trim().parse().ok()?;
    (pid == lck.l_pid as u32).then_some(pid)
}

impl Pidfile {
    /// Writes this process's pid to `path` and holds it. Fails if another live process
    /// holds it.
    pub fn create(path: &Path) -> Result<Pidfile, String> {
        let err = |what: &str, e: std::io::Error| format!("{}: {what} ({e})", path.display());
        if let Some(pid) = running_pid(path) {
            return Err(format!("{}: already running as pid {pid}", path.display()));
        }
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() && !dir.exists() {
                std::fs::create_dir_all(dir).map_err(|e| err("create directory failed", e))?;
            }
        }
        let tmp = {
            let mut t = path.as_os_str().to_owned();
            t.push(format!(".tmp{}", std::process::id()));
            PathBuf::from(t)
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(|e| err("create failed", e))?;
        if let Err(e) = lock(&file, libc::F_SETLK) {
            let _ = std::fs::remove_file(&tmp);
            return Err(err("fcntl(F_SETLK) failed", e));
        }
        let written = writeln!(file, "{}", std::process::id()).and_then(|_| file.flush());
        if let Err(e) = written.and_then(|_| std::fs::rename(&tmp, path)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(err("write failed", e));
        }
        Ok(Pidfile {
            path: path.to_path_buf(),
            _file: file,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the file (the lock goes with the descriptor, when `self` is dropped).
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for Pidfile {
    fn drop(&mut self) {
        self.remove();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_held_and_removed() {
        let dir = std::env::temp_dir().join(format!("xvs-pidfile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("ovs-vswitchd.pid");
        // A stale file nobody holds is no obstacle.
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&path, "999999\n").unwrap();
        assert_eq!(running_pid(&path), None);
        let p = Pidfile::create(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", std::process::id())
        );
        // Our own lock is not seen through F_GETLK by ourselves (POSIX locks are per
        // process), so a second daemon is what the other-process check is for; the
        // file is whole and named.
        assert_eq!(p.path(), path);
        drop(p);
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
