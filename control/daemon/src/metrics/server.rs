//! The metrics endpoint's sockets: one thread, one `poll(2)` loop, at most
//! [`MetricsConfig::max_connections`] connections, each closed at its deadline
//! whatever it is doing, so a slow or half-open client holds one slot for a while and
//! nothing else. Connections over the limit are closed as soon as they are accepted.
//! A scrape's figures are gathered on this thread (through the control thread, as
//! every reader's): nothing here runs on a worker.

use std::collections::HashMap;
use std::io::{self, ErrorKind, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::http::{self, Route, CONTENT_TYPE, MAX_HEAD};
use crate::pollserver::{next_connection, poll_timeout, Flush, Outgoing, PollSet};

#[derive(Clone, Copy, Debug)]
pub struct MetricsConfig {
    pub max_connections: usize,
    /// From accept to the last byte of the response.
    pub deadline: Duration,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            max_connections: 4,
            deadline: Duration::from_secs(5),
        }
    }
}

/// What the endpoint has done (for the log and tests).
#[derive(Debug, Default)]
pub struct MetricsCounters {
    pub served: AtomicU64,
    /// Connections closed at accept: too many open.
    pub refused: AtomicU64,
    /// Connections closed at their deadline.
    pub timed_out: AtomicU64,
}

/// Builds one scrape's text.
pub type Source = Box<dyn Fn() -> String + Send>;

pub struct MetricsServer {
    thread: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    pub counters: Arc<MetricsCounters>,
    pub local_addr: SocketAddr,
}

/// Binds the endpoint's socket (the caller checked the address).
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let l = TcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

impl MetricsServer {
    pub fn spawn(listener: TcpListener, source: Source, cfg: MetricsConfig) -> io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(MetricsCounters::default());
        let local_addr = listener.local_addr()?;
        let (stop2, counters2) = (stop.clone(), counters.clone());
        let thread = std::thread::Builder::new()
            .name("xvs-metrics".into())
            .spawn(move || run(listener, &*source, cfg, &stop2, &counters2))?;
        Ok(MetricsServer {
            thread: Some(thread),
            stop,
            counters,
            local_addr,
        })
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Conn {
    stream: TcpStream,
    deadline: Instant,
    head: Vec<u8>,
    /// The response, once the request is in.
    out: Option<Outgoing>,
}

fn run(
    listener: TcpListener,
    source: &(dyn Fn() -> String + Send),
    cfg: MetricsConfig,
    stop: &AtomicBool,
    counters: &MetricsCounters,
) {
    let mut conns: HashMap<u64, Conn> = HashMap::new();
    let mut next_id = 0u64;
    let mut set = PollSet::default();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        conns.retain(|_, c| {
            let live = c.deadline > now;
            if !live {
                counters.timed_out.fetch_add(1, Ordering::Relaxed);
            }
            live
        });
        set.start(&[(listener.as_raw_fd(), libc::POLLIN)]);
        for (&id, c) in &conns {
            let events = if c.out.is_some() {
                libc::POLLOUT
            } else {
                libc::POLLIN
            };
            set.push_client(id, c.stream.as_raw_fd(), events);
        }
        let next = conns.values().map(|c| c.deadline).min();
        if !matches!(set.poll(poll_timeout(now, next)), Ok(n) if n > 0) {
            continue;
        }
        if set.own_revents(0) & libc::POLLIN != 0 {
            accept_all(&listener, &mut conns, &mut next_id, cfg, counters);
        }
        for (id, _) in set.client_events() {
            let Some(c) = conns.get_mut(&id) else {
                continue;
            };
            let done = if c.out.is_some() {
                write_some(c)
            } else {
                read_some(c, source, counters)
            };
            if done {
                conns.remove(&id);
            }
        }
    }
}

fn accept_all(
    listener: &TcpListener,
    conns: &mut HashMap<u64, Conn>,
    next_id: &mut u64,
    cfg: MetricsConfig,
    counters: &MetricsCounters,
) {
    // None waiting, or a transient accept error (EMFILE, ECONNABORTED): next time.
    while let Ok(Some(stream)) = next_connection(|| listener.accept().map(|(s, _)| s)) {
        if conns.len() >= cfg.max_connections || stream.set_nonblocking(true).is_err() {
            counters.refused.fetch_add(1, Ordering::Relaxed);
            continue; // dropped: closed
        }
        *next_id += 1;
        conns.insert(
            *next_id,
            Conn {
                stream,
                deadline: Instant::now() + cfg.deadline,
                head: Vec::new(),
                out: None,
            },
        );
    }
}

/// Reads what is there; once the head is in, the response is made and written as far
/// as it goes. `true`: the connection is done.
fn read_some(
    c: &mut Conn,
    source: &(dyn Fn() -> String + Send),
    counters: &MetricsCounters,
) -> bool {
    let mut buf = [0u8; 2048];
    loop {
        match c.stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => {
                c.head.extend_from_slice(&buf[..n]);
                if c.head.len() >= MAX_HEAD || c.head.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
    let out = match http::parse_request(&c.head) {
        Ok(None) => return false,
        Err(e) => http::error_response(&e),
        Ok(Some(req)) => match http::route(&req) {
            Route::Metrics { head } => {
                counters.served.fetch_add(1, Ordering::Relaxed);
                http::response(200, CONTENT_TYPE, &source(), head)
            }
            Route::NotFound => http::response(
                404,
                "text/plain; charset=utf-8",
                "not found: GET /metrics\n",
                false,
            ),
            Route::MethodNotAllowed => http::response(
                405,
                "text/plain; charset=utf-8",
                "GET or HEAD only\n",
                false,
            ),
        },
    };
    c.out = Some(Outgoing::new(out, Instant::now()));
    write_some(c)
}

/// Writes what the socket takes. `true`: all of it went (or the peer went).
fn write_some(c: &mut Conn) -> bool {
    let Some(out) = &mut c.out else {
        return false;
    };
    match out.write_to(&c.stream) {
        Flush::Done => {
            let _ = c.stream.shutdown(std::net::Shutdown::Write);
            true
        }
        Flush::Blocked => false,
        // The peer went.
        Flush::Stalled | Flush::Failed => true,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::Shutdown;

    use super::*;

    fn serving(cfg: MetricsConfig) -> MetricsServer {
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        MetricsServer::spawn(listener, Box::new(|| "xvs_up 1\n".to_string()), cfg).unwrap()
    }

    /// Everything the server sends until it closes (or the test's own 5 s run out).
    fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        got
    }

    #[test]
    fn a_scrape_gets_the_whole_response_then_the_connection_closes() {
        let server = serving(MetricsConfig::default());
        let mut s = TcpStream::connect(server.local_addr).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let want = http::response(200, CONTENT_TYPE, "xvs_up 1\n", false);
        assert_eq!(read_to_close(&mut s), want);
        assert_eq!(server.counters.served.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn connections_over_the_limit_are_closed_and_a_silent_one_at_its_deadline() {
        let server = serving(MetricsConfig {
            max_connections: 1,
            deadline: Duration::from_millis(300),
        });
        // Accepted in the order they come: the first is taken, the second is over.
        let mut first = TcpStream::connect(server.local_addr).unwrap();
        let mut second = TcpStream::connect(server.local_addr).unwrap();
        assert_eq!(read_to_close(&mut second), b"");
        assert_eq!(server.counters.refused.load(Ordering::Relaxed), 1);
        let started = Instant::now();
        assert_eq!(read_to_close(&mut first), b"");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(server.counters.timed_out.load(Ordering::Relaxed), 1);
        let _ = first.shutdown(Shutdown::Both);
    }
}
