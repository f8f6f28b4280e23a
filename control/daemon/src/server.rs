//! The control socket: a unix stream socket, owner-only, one thread per client (a
//! bounded number), one request per line.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::protocol::{Response, MAX_LINE};
use crate::Daemon;

/// Clients served at once; one more is told the daemon is busy.
pub const MAX_CLIENTS: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("another xvsd is already serving {0}")]
    InUse(PathBuf),
    #[error("control socket {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Fails if a live daemon answers at `path`.
pub fn check_not_running(path: &Path) -> Result<(), ServerError> {
    if UnixStream::connect(path).is_ok() {
        return Err(ServerError::InUse(path.to_path_buf()));
    }
    Ok(())
}

/// Binds the socket at `path`: creates its directory (owner-only when we create it),
/// replaces a stale socket left by a crash, refuses if a live daemon answers there.
pub fn bind(path: &Path) -> Result<UnixListener, ServerError> {
    let io = |source| ServerError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(io)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        }
    }
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(ServerError::InUse(path.to_path_buf()));
        }
        std::fs::remove_file(path).map_err(io)?;
    }
    let listener = UnixListener::bind(path).map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    Ok(listener)
}

/// Serves clients until `stop` is set.
pub fn serve(daemon: Arc<Daemon>, listener: UnixListener, stop: Arc<AtomicBool>) {
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    let clients = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((mut stream, _)) => {
                let _ = stream.set_nonblocking(false);
                if clients.fetch_add(1, Ordering::AcqRel) >= MAX_CLIENTS {
                    clients.fetch_sub(1, Ordering::AcqRel);
                    let msg =
                        format!("too many clients (at most {MAX_CLIENTS} at once): try again");
                    let _ = stream.write_all(Response::err(None, "busy", msg).to_line().as_bytes());
                    continue;
                }
                let (daemon, clients, stop) = (daemon.clone(), clients.clone(), stop.clone());
                let spawned =
                    std::thread::Builder::new()
                        .name("xvs-client".into())
                        .spawn(move || {
                            serve_client(&daemon, stream, &stop);
                            clients.fetch_sub(1, Ordering::AcqRel);
                        });
                if spawned.is_err() {
                    tracing::warn!("could not start a client thread");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn serve_client(daemon: &Daemon, stream: UnixStream, stop: &AtomicBool) {
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    // A client that goes quiet is noticed when the daemon stops.
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut reader = BufReader::with_capacity(1 << 16, stream);
    let mut buf = Vec::new();
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let room = (MAX_LINE + 1).saturating_sub(buf.len()) as u64;
        match (&mut reader).take(room).read_until(b'\n', &mut buf) {
            // End of input: a last request without its newline still counts.
            Ok(0) if buf.is_empty() => return,
            Ok(0) => buf.push(b'\n'),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => return,
        }
        if buf.last() != Some(&b'\n') {
            if buf.len() > MAX_LINE {
                let msg =
                    format!("request line longer than {MAX_LINE} bytes: closing the connection");
                let _ = out.write_all(
                    Response::err(None, "line-too-long", msg)
                        .to_line()
                        .as_bytes(),
                );
                return;
            }
            // Partial line (a read timeout in the middle): keep reading.
            continue;
        }
        let resp = match std::str::from_utf8(&buf) {
            Ok(line) if line.trim().is_empty() => None,
            Ok(line) => Some(daemon.handle_line(line.trim_end())),
            Err(_) => Some(Response::err(None, "bad-request", "request is not UTF-8")),
        };
        buf.clear();
        if let Some(r) = resp {
            if out.write_all(r.to_line().as_bytes()).is_err() {
                return;
            }
        }
    }
}
