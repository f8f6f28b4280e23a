//! Where `--log`'s levels go (`--log-target`), for [`crate::vlog`], which does the rest:
//!
//! - `stderr`: the console, `tracing`'s text with timestamps (and colours on a terminal).
//! - `journald`: the console's lines without timestamps (the journal adds its own), each
//!   prefixed with its syslog priority, `<3>` for errors ... `<7>` for debug, as
//!   `sd-daemon(3)` describes: systemd connects a service's stderr to the journal and
//!   reads the prefix as the entry's priority, so `journalctl -u xvsd -p warning`
//!   works. The whole line, with its fields (`bridge=br-int port=tap1 ...`), is the
//!   entry's message, so what changed is in what `journalctl` shows.
//! - `syslog`: vlog's syslog destination (`syslog(3)`, facility `daemon`, identifier
//!   `xvsd`) instead of the console.
//! - `auto` (the default): `journald` when stderr is the journal (`$JOURNAL_STREAM`
//!   names stderr's device and inode, as systemd sets it for `StandardError=journal`),
//!   else `stderr`.

use std::io::{self, Write};

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// `--log-target`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogTarget {
    /// The journal when stderr is connected to it (under systemd), else stderr.
    Auto,
    /// Text with timestamps on stderr.
    Stderr,
    /// Lines with sd-daemon(3) priority prefixes on stderr, for systemd's journal.
    Journald,
    /// syslog(3), facility daemon.
    Syslog,
}

impl LogTarget {
    /// `auto` made `journald` or `stderr`.
    pub fn resolve(self) -> LogTarget {
        match self {
            LogTarget::Auto if stderr_is_journal() => LogTarget::Journald,
            LogTarget::Auto => LogTarget::Stderr,
            t => t,
        }
    }
}

/// Whether stderr is the journal's stream: `$JOURNAL_STREAM` is `DEVICE:INODE` of it.
pub fn stderr_is_journal() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(fd) = io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    match std::fs::File::from(fd).metadata() {
        Ok(m) => journal_stream_is(&value.to_string_lossy(), m.dev(), m.ino()),
        Err(_) => false,
    }
}

/// `$JOURNAL_STREAM`'s `DEVICE:INODE` (decimal) against a file's.
fn journal_stream_is(value: &str, dev: u64, ino: u64) -> bool {
    let mut parts = value.trim().split(':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(d), Some(i), None) => d.parse() == Ok(dev) && i.parse() == Ok(ino),
        _ => false,
    }
}

/// The syslog priority of a level (`LOG_ERR` ... `LOG_DEBUG`).
fn priority(level: Level) -> libc::c_int {
    match level {
        Level::ERROR => libc::LOG_ERR,
        Level::WARN => libc::LOG_WARNING,
        Level::INFO => libc::LOG_INFO,
        _ => libc::LOG_DEBUG,
    }
}

/// The console's writer for the journal: each event's lines with its priority prefix.
#[derive(Clone, Copy, Debug)]
pub struct JournalWriter;

/// One event's text, written when dropped (the formatter writes an event, then drops
/// its writer), in one write so that lines of two threads do not mix.
pub struct Line {
    level: Level,
    buf: Vec<u8>,
}

impl<'a> MakeWriter<'a> for JournalWriter {
    type Writer = Line;
    fn make_writer(&'a self) -> Line {
        Line {
            level: Level::INFO,
            buf: Vec::new(),
        }
    }
    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Line {
        Line {
            level: *meta.level(),
            buf: Vec::new(),
        }
    }
}

impl Write for Line {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let out = journal_lines(priority(self.level), &self.buf);
        let _ = io::stderr().lock().write_all(&out);
    }
}

/// Every line of `text` prefixed with `<prio>` (journald gives each line of a stream
/// its own entry, and reads the prefix of each).
fn journal_lines(prio: libc::c_int, text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 8);
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        out.extend_from_slice(format!("<{prio}>").as_bytes());
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_stream_names_a_file() {
        assert!(journal_stream_is("8:12345", 8, 12345));
        assert!(journal_stream_is("8:12345\n", 8, 12345));
        assert!(!journal_stream_is("8:12346", 8, 12345));
        assert!(!journal_stream_is("8", 8, 12345));
        assert!(!journal_stream_is("8:12345:1", 8, 12345));
        assert!(!journal_stream_is("", 8, 12345));
    }

    #[test]
    fn journal_lines_carry_priorities() {
        assert_eq!(
            journal_lines(
                priority(Level::INFO),
                b" INFO xvs: bridge added bridge=br0\n"
            ),
            b"<6> INFO xvs: bridge added bridge=br0\n"
        );
        assert_eq!(
            journal_lines(priority(Level::WARN), b"one\ntwo\n"),
            b"<4>one\n<4>two\n"
        );
        assert_eq!(priority(Level::ERROR), 3);
        assert_eq!(priority(Level::DEBUG), 7);
        assert_eq!(priority(Level::TRACE), 7);
    }
}
