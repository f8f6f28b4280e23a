//! Running under systemd: the `sd_notify(3)` protocol, written by hand (a datagram of
//! `KEY=value` lines to the unix socket named by `$NOTIFY_SOCKET`, an abstract one when
//! the name starts with `@`), which is all `Type=notify` needs: `READY=1` once the
//! database's bridges are attached, `STATUS=` lines for `systemctl status`, and
//! `STOPPING=1` at shutdown. Without `$NOTIFY_SOCKET` (not started by systemd) every
//! call does nothing.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// A connection to the service manager's notification socket, if there is one.
#[derive(Debug)]
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
}

impl Notifier {
    /// From `$NOTIFY_SOCKET`, which is then removed from the environment so that the
    /// processes xvsd starts do not notify in its name (`sd_notify(unset_environment)`).
    /// A value that is not a usable address is logged and ignored.
    pub fn from_env() -> Notifier {
        let value = std::env::var_os("NOTIFY_SOCKET");
        // Called at the start, before xvsd has any other thread.
        std::env::remove_var("NOTIFY_SOCKET");
        match value {
            None => Notifier { target: None },
            Some(v) => match Notifier::new(&v.to_string_lossy()) {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(socket = %v.to_string_lossy(), error = %e, "NOTIFY_SOCKET is not usable: systemd will not be told");
                    Notifier { target: None }
                }
            },
        }
    }

    /// Notifies `socket`: a path, or `@name` for an abstract socket.
    pub fn new(socket: &str) -> io::Result<Notifier> {
        let addr = socket_addr(socket)?;
        let sock = UnixDatagram::unbound()?;
        Ok(Notifier {
            target: Some((sock, addr)),
        })
    }

    /// Nothing to notify (not under systemd).
    pub fn none() -> Notifier {
        Notifier { target: None }
    }

    /// Whether there is a service manager to tell.
    pub fn enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Sends `state` (newline-separated `KEY=value` assignments) as one datagram.
    /// A failure is logged at debug level: the switch goes on without systemd.
    pub fn notify(&self, state: &str) {
        if let Some((sock, addr)) = &self.target {
            if let Err(e) = sock.send_to_addr(state.as_bytes(), addr) {
                tracing::debug!(error = %e, "sd_notify failed");
            }
        }
    }

    /// `READY=1` with a status line.
    pub fn ready(&self, status: &str) {
        self.notify(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    /// A status line (`systemctl status` shows it).
    pub fn status(&self, status: &str) {
        self.notify(&format!("STATUS={}", one_line(status)));
    }

    /// `STOPPING=1`: the daemon is shutting down.
    pub fn stopping(&self, status: &str) {
        self.notify(&format!("STOPPING=1\nSTATUS={}", one_line(status)));
    }
}

/// The status sent with `READY=1`: what the database's configuration made.
pub fn ready_status(daemon: &crate::Daemon, database: &str) -> String {
    let bridges = daemon.bridge_ports();
    let ports: usize = bridges.values().map(|p| p.len()).sum();
    format!(
        "ready: {} bridge{} and {} port{} from {database}",
        bridges.len(),
        if bridges.len() == 1 { "" } else { "s" },
        ports,
        if ports == 1 { "" } else { "s" },
    )
}

/// A status is one line: newlines would start other assignments.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// `$NOTIFY_SOCKET` as an address: `@name` is the abstract `\0name`, else a path.
fn socket_addr(socket: &str) -> io::Result<SocketAddr> {
    if let Some(name) = socket.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        SocketAddr::from_abstract_name(name.as_bytes())
    } else if socket.starts_with('/') {
        SocketAddr::from_pathname(socket)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "neither an absolute path nor @abstract",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recv(sock: &UnixDatagram) -> String {
        let mut buf = [0u8; 4096];
        let n = sock.recv(&mut buf).expect("a datagram");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn notifies_a_path_socket() {
        let dir = std::env::temp_dir().join(format!("xvs-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::new(path.to_str().unwrap()).unwrap();
        assert!(n.enabled());
        n.ready("2 bridges\nattached");
        assert_eq!(recv(&listener), "READY=1\nSTATUS=2 bridges attached");
        n.stopping("stopping");
        assert_eq!(recv(&listener), "STOPPING=1\nSTATUS=stopping");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn notifies_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("xvs-notify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&addr).unwrap();
        let n = Notifier::new(&format!("@{name}")).unwrap();
        n.status("waiting for the database");
        assert_eq!(recv(&listener), "STATUS=waiting for the database");
    }

    #[test]
    fn without_a_socket_nothing_happens() {
        let n = Notifier::none();
        assert!(!n.enabled());
        n.ready("ready");
        assert!(Notifier::new("relative/path").is_err());
    }
}
