//! The socket under an OVSDB session: `unix:PATH` or `tcp:IP:PORT`, as ovs-vswitchd's
//! DATABASE argument, with JSON values written whole and read through the framing.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde_json::Value;

use super::framing::{FramingError, JsonStream};

/// The largest message taken from the server (OVS has no limit). The biggest is the
/// monitor's first reply, every monitored row at once: about 1 KiB per port (its
/// `Port` and `Interface` rows with a Neutron agent's `external_ids`), so 64 MiB is a
/// node of tens of thousands of ports. A message is read whole before it is parsed
/// (once: see [`JsonStream`]), so this is also what the connection can hold.
pub const MAX_MESSAGE: usize = 64 << 20;

/// OVS's default inactivity probe for a database connection (reconnect.c's
/// RECONNECT_DEFAULT_PROBE_INTERVAL).
pub const DEFAULT_PROBE: Duration = Duration::from_secs(5);

/// Where the database is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    Unix(PathBuf),
    Tcp(String),
}

impl FromStr for Remote {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(format!("\"{s}\": unix: needs a socket path"));
            }
            return Ok(Remote::Unix(PathBuf::from(path)));
        }
        if let Some(addr) = s.strip_prefix("tcp:") {
            // tcp:IP:PORT, the IP possibly in brackets (IPv6).
            let ok = addr
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !ok {
                return Err(format!("\"{s}\": tcp: needs IP:PORT"));
            }
            return Ok(Remote::Tcp(addr.to_string()));
        }
        Err(format!("\"{s}\": a database is unix:PATH or tcp:IP:PORT"))
    }
}

impl std::fmt::Display for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Remote::Unix(p) => write!(f, "unix:{}", p.display()),
            Remote::Tcp(a) => write!(f, "tcp:{a}"),
        }
    }
}

impl Remote {
    /// `unix:$OVS_RUNDIR/db.sock`, `OVS_RUNDIR` being `/var/run/openvswitch` unless set,
    /// as for every OVS tool.
    pub fn default_from_env() -> Self {
        Remote::Unix(ovs_rundir().join("db.sock"))
    }

    /// The inactivity probe OVS's jsonrpc session uses on this kind of connection:
    /// [`DEFAULT_PROBE`] over TCP, none over a unix socket (a local server that dies
    /// closes it; OVS's stream classes say unix "does not need probes").
    pub fn default_probe(&self) -> Option<Duration> {
        match self {
            Remote::Unix(_) => None,
            Remote::Tcp(_) => Some(DEFAULT_PROBE),
        }
    }
}

/// OVS's run directory: `$OVS_RUNDIR`, else `/var/run/openvswitch`.
pub fn ovs_rundir() -> PathBuf {
    std::env::var_os("OVS_RUNDIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/run/openvswitch"))
}

enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    fn as_read(&mut self) -> &mut dyn Read {
        match self {
            Stream::Unix(s) => s,
            Stream::Tcp(s) => s,
        }
    }

    fn as_write(&mut self) -> &mut dyn Write {
        match self {
            Stream::Unix(s) => s,
            Stream::Tcp(s) => s,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Framing(#[from] FramingError),
    #[error("the server closed the connection")]
    Closed,
}

pub struct Connection {
    stream: Stream,
    framing: JsonStream,
    /// Bytes received so far (any of them is a sign of life, as in OVS's jsonrpc).
    received: u64,
}

impl Connection {
    /// Connects; reads then wait at most `poll` for data, so the owner stays responsive.
    pub fn open(remote: &Remote, poll: Duration) -> io::Result<Self> {
        let stream = match remote {
            Remote::Unix(p) => {
                let s = UnixStream::connect(p)?;
                s.set_read_timeout(Some(poll))?;
                s.set_write_timeout(Some(Duration::from_secs(10)))?;
                Stream::Unix(s)
            }
            Remote::Tcp(a) => {
                // "IP:PORT", or "[IPv6]:PORT", as std parses them.
                let s = TcpStream::connect(a.as_str())?;
                s.set_read_timeout(Some(poll))?;
                s.set_write_timeout(Some(Duration::from_secs(10)))?;
                s.set_nodelay(true)?;
                Stream::Tcp(s)
            }
        };
        Ok(Connection {
            stream,
            framing: JsonStream::new(MAX_MESSAGE),
            received: 0,
        })
    }

    pub fn send(&mut self, v: &Value) -> Result<(), ConnError> {
        let bytes = serde_json::to_vec(v).expect("a JSON value serializes");
        self.stream.as_write().write_all(&bytes)?;
        Ok(())
    }

    /// Bytes received so far.
    pub fn received_bytes(&self) -> u64 {
        self.received
    }

    /// The next message, or `None` if none came within the poll interval.
    pub fn recv(&mut self) -> Result<Option<Value>, ConnError> {
        if let Some(v) = self.framing.next_value()? {
            return Ok(Some(v));
        }
        let mut buf = [0u8; 64 * 1024];
        match self.stream.as_read().read(&mut buf) {
            Ok(0) => Err(ConnError::Closed),
            Ok(n) => {
                self.received += n as u64;
                self.framing.feed(&buf[..n]);
                Ok(self.framing.next_value()?)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes() {
        assert_eq!(
            "unix:/run/x/db.sock".parse::<Remote>(),
            Ok(Remote::Unix("/run/x/db.sock".into()))
        );
        assert_eq!(
            "tcp:127.0.0.1:6640".parse::<Remote>(),
            Ok(Remote::Tcp("127.0.0.1:6640".into()))
        );
        // As ovs-vswitchd: probes over TCP only.
        assert_eq!(
            "tcp:127.0.0.1:6640"
                .parse::<Remote>()
                .unwrap()
                .default_probe(),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            "unix:/run/x/db.sock"
                .parse::<Remote>()
                .unwrap()
                .default_probe(),
            None
        );
        for bad in [
            "unix:",
            "tcp:127.0.0.1",
            "tcp::6640",
            "ssl:1.2.3.4:6640",
            "db.sock",
        ] {
            assert!(bad.parse::<Remote>().is_err(), "{bad}");
        }
    }
}
