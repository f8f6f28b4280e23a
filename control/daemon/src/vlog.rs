//! xvsd's logging, as OVS's vlog presents it: modules, three destinations (console:
//! stderr; syslog; file: `--log-file`), a level per module and destination, changed at
//! run time by `ovs-appctl vlog/set` and shown by `vlog/list`, and the log file
//! reopened by `vlog/reopen` (after logrotate moved it).
//!
//! Underneath it is `tracing`: a module is a target prefix (`connmgr` is
//! `xvs_daemon::connmgr`), a destination a `fmt` layer with its own [`DestFilter`],
//! which reads the levels held here; a change rebuilds tracing's interest cache, so
//! the next event already goes by it. OVS's levels map onto tracing's: `OFF`, `EMER`
//! and `ERR` (both `error`: tracing has nothing above it), `WARN`, `INFO`, `DBG`
//! (`debug`). A level set is shown as it was set.
//!
//! The sans-I/O part (module table, levels, OVS's `vlog/set` syntax) is [`Levels`];
//! [`Vlog`] adds the log file and the subscriber.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Level, Metadata};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, Filter, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::logging::{JournalWriter, LogTarget};

/// OVS's destinations, in `vlog/list`'s order.
pub const DESTINATIONS: [&str; 3] = ["console", "syslog", "file"];
pub const CONSOLE: usize = 0;
pub const SYSLOG: usize = 1;
pub const FILE: usize = 2;

/// xvsd's modules: the name `vlog/set` and `vlog/list` use, and the tracing target
/// prefix it stands for (the most specific prefix of an event's target decides). Named
/// after OVS's module for the same job where there is one (`bridge` is OVS's
/// bridge.c, xvs's reconcile; `dpif_netdev` the datapath's worker threads; `netdev_afxdp`
/// its sockets and ports).
pub const MODULES: &[(&str, &str)] = &[
    ("bridge", "xvs_daemon::reconcile"),
    ("connmgr", "xvs_daemon::connmgr"),
    ("control", "xvs_daemon::server"),
    ("daemon", "xvs_daemon"),
    ("dataplane", "xvs_dataplane"),
    ("dpif_netdev", "xvs_dataplane::afxdp::datapath"),
    ("netdev", "xvs_daemon::ports"),
    ("netdev_afxdp", "xvs_dataplane::afxdp"),
    ("netdev_linux", "xvs_daemon::links"),
    ("netdevs", "xvs_daemon::netdevs"),
    ("netlink", "xvs_daemon::netlink"),
    ("ovsdb_idl", "xvs_daemon::ovsdb"),
    ("pidfile", "xvs_daemon::pidfile"),
    ("tunnel", "xvs_daemon::underlay"),
    ("afxdp_backend", "xvs_daemon::afxdp_backend"),
    ("unixctl", "xvs_daemon::unixctl"),
    ("vlog", "xvs_daemon::vlog"),
    ("xdp", "xvs_ebpf"),
    ("xvsd", "xvsd"),
];

/// OVS's log levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum OvsLevel {
    Off,
    Emer,
    Err,
    Warn,
    Info,
    Dbg,
}

impl OvsLevel {
    const ALL: [OvsLevel; 6] = [
        OvsLevel::Off,
        OvsLevel::Emer,
        OvsLevel::Err,
        OvsLevel::Warn,
        OvsLevel::Info,
        OvsLevel::Dbg,
    ];

    pub fn name(self) -> &'static str {
        match self {
            OvsLevel::Off => "OFF",
            OvsLevel::Emer => "EMER",
            OvsLevel::Err => "ERR",
            OvsLevel::Warn => "WARN",
            OvsLevel::Info => "INFO",
            OvsLevel::Dbg => "DBG",
        }
    }

    /// OVS's spelling, any case.
    pub fn parse(s: &str) -> Option<OvsLevel> {
        Self::ALL
            .into_iter()
            .find(|l| l.name().eq_ignore_ascii_case(s))
    }

    pub fn filter(self) -> LevelFilter {
        match self {
            OvsLevel::Off => LevelFilter::OFF,
            OvsLevel::Emer | OvsLevel::Err => LevelFilter::ERROR,
            OvsLevel::Warn => LevelFilter::WARN,
            OvsLevel::Info => LevelFilter::INFO,
            OvsLevel::Dbg => LevelFilter::DEBUG,
        }
    }

    /// The OVS level a tracing level filter shows as (`trace` as `DBG`).
    pub fn from_filter(f: LevelFilter) -> OvsLevel {
        match f {
            LevelFilter::OFF => OvsLevel::Off,
            LevelFilter::ERROR => OvsLevel::Err,
            LevelFilter::WARN => OvsLevel::Warn,
            LevelFilter::INFO => OvsLevel::Info,
            _ => OvsLevel::Dbg,
        }
    }
}

/// The most verbose level `targets` lets through for `target`.
fn effective(targets: &Targets, target: &str) -> LevelFilter {
    for l in [
        Level::TRACE,
        Level::DEBUG,
        Level::INFO,
        Level::WARN,
        Level::ERROR,
    ] {
        if targets.would_enable(target, &l) {
            return LevelFilter::from_level(l);
        }
    }
    LevelFilter::OFF
}

/// Per destination: the filter given at the start (`--log`), each module's level, and
/// the filter events go by.
#[derive(Clone, Debug)]
pub struct Levels {
    base: [Targets; 3],
    /// Per module (as [`MODULES`]), per destination.
    modules: Vec<[OvsLevel; 3]>,
    /// A module set since the start: the start's finer directives under it no longer
    /// apply there.
    set: Vec<[bool; 3]>,
    /// Targets in no module.
    default: [OvsLevel; 3],
    compiled: [Targets; 3],
}

impl Levels {
    /// From each destination's starting filter (tracing's `target=level,...` syntax, a
    /// bare level for everything).
    pub fn new(base: [Targets; 3]) -> Self {
        let modules = MODULES
            .iter()
            .map(|(_, t)| std::array::from_fn(|d| OvsLevel::from_filter(effective(&base[d], t))))
            .collect();
        let default = std::array::from_fn(|d| {
            OvsLevel::from_filter(base[d].default_level().unwrap_or(LevelFilter::OFF))
        });
        let mut l = Levels {
            base,
            modules,
            set: vec![[false; 3]; MODULES.len()],
            default,
            compiled: std::array::from_fn(|_| Targets::new()),
        };
        l.compile();
        l
    }

    fn compile(&mut self) {
        for d in 0..3 {
            let mut t = Targets::new().with_default(self.default[d].filter());
            // The start's directives that no module has replaced: finer ones (a module's
            // sub-target), and those of targets in no module.
            for (target, level) in self.base[d].iter() {
                let owner = MODULES
                    .iter()
                    .enumerate()
                    .filter(|(_, (_, p))| covers(p, target))
                    .max_by_key(|(_, (_, p))| p.len());
                let keep = match owner {
                    Some((i, (_, p))) => *p != target && !self.set[i][d],
                    None => true,
                };
                if keep {
                    t = t.with_target(target.to_string(), level);
                }
            }
            for (i, (_, prefix)) in MODULES.iter().enumerate() {
                t = t.with_target(prefix.to_string(), self.modules[i][d].filter());
            }
            self.compiled[d] = t;
        }
    }

    /// Whether destination `dest` takes this event.
    pub fn enabled(&self, dest: usize, target: &str, level: &Level) -> bool {
        self.compiled[dest].would_enable(target, level)
    }

    /// The most verbose level `dest` takes anywhere.
    pub fn max_level(&self, dest: usize) -> LevelFilter {
        let mut m = self.default[dest].filter();
        for lv in &self.modules {
            m = m.max(lv[dest].filter());
        }
        for (_, l) in self.base[dest].iter() {
            m = m.max(l);
        }
        m
    }

    /// `module` (or every module and what no module covers, for `None`) at `level` on
    /// `dest` (or every destination).
    pub fn set(&mut self, module: Option<usize>, dest: Option<usize>, level: OvsLevel) {
        let dests: Vec<usize> = dest.map_or(vec![0, 1, 2], |d| vec![d]);
        for d in dests {
            match module {
                Some(i) => {
                    self.modules[i][d] = level;
                    self.set[i][d] = true;
                }
                None => {
                    self.default[d] = level;
                    for i in 0..MODULES.len() {
                        self.modules[i][d] = level;
                        self.set[i][d] = true;
                    }
                    // Every start directive goes: everything is at `level` now.
                    self.base[d] = Targets::new();
                }
            }
        }
        self.compile();
    }

    /// OVS's `vlog/set` word list (one argument): words separated by spaces, commas or
    /// colons, each a module, a destination, a level or `ANY`, at most one of each;
    /// no level means `DBG`. `PATTERN:...` and `FACILITY:...` are OVS's and not xvs's.
    pub fn set_from_string(&mut self, spec: &str) -> Result<(), String> {
        let mut words = spec
            .split([' ', ',', ':', '\t'])
            .filter(|w| !w.is_empty())
            .peekable();
        if let Some(first) = words.peek() {
            if first.eq_ignore_ascii_case("PATTERN") || first.eq_ignore_ascii_case("FACILITY") {
                return Err(format!(
                    "xvsd does not support vlog/set {}",
                    first.to_ascii_uppercase()
                ));
            }
        }
        let (mut module, mut dest, mut level) = (None, None, None);
        for w in words {
            if w.eq_ignore_ascii_case("ANY") {
                continue;
            } else if let Some(d) = DESTINATIONS.iter().position(|d| d.eq_ignore_ascii_case(w)) {
                if dest.is_some() {
                    return Err("cannot specify multiple destinations".into());
                }
                dest = Some(d);
            } else if let Some(l) = OvsLevel::parse(w) {
                if level.is_some() {
                    return Err("cannot specify multiple levels".into());
                }
                level = Some(l);
            } else if let Some(m) = MODULES.iter().position(|(n, _)| n.eq_ignore_ascii_case(w)) {
                if module.is_some() {
                    return Err("cannot specify multiple modules".into());
                }
                module = Some(m);
            } else {
                return Err(format!("no destination, level, or module \"{w}\""));
            }
        }
        self.set(module, dest, level.unwrap_or(OvsLevel::Dbg));
        Ok(())
    }

    /// `vlog/list`: as OVS prints it, modules sorted by name.
    pub fn list(&self) -> String {
        let mut s = String::from(
            "                 console    syslog    file\n                 -------    ------    ------\n",
        );
        let mut lines: Vec<String> = MODULES
            .iter()
            .enumerate()
            .map(|(i, (name, _))| {
                let l = &self.modules[i];
                format!(
                    "{name:<16}  {:>4}       {:>4}       {:>4}\n",
                    l[0].name(),
                    l[1].name(),
                    l[2].name()
                )
            })
            .collect();
        lines.sort();
        for l in lines {
            s.push_str(&l);
        }
        s
    }
}

/// Whether `prefix` is `target` or a module path above it.
fn covers(prefix: &str, target: &str) -> bool {
    target == prefix || (target.starts_with(prefix) && target[prefix.len()..].starts_with("::"))
}

/// The log file: its path, and the file open now (appended to).
struct LogFile {
    path: PathBuf,
    file: Option<File>,
}

fn open_log(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// The logging state shared by the subscriber's layers and `vlog/*`.
pub struct Vlog {
    levels: RwLock<Levels>,
    file: Option<Mutex<LogFile>>,
}

impl Vlog {
    /// Levels only, no subscriber (tests).
    pub fn new(levels: Levels, log_file: Option<PathBuf>) -> Arc<Vlog> {
        let file = log_file.map(|path| {
            let file = match open_log(&path) {
                Ok(f) => Some(f),
                Err(e) => {
                    eprintln!("xvsd: failed to open log file {}: {e}", path.display());
                    None
                }
            };
            Mutex::new(LogFile { path, file })
        });
        Arc::new(Vlog {
            levels: RwLock::new(levels),
            file,
        })
    }

    /// Sets up logging for the process: console (stderr) at `console`, the file (if
    /// any) at `console` too, syslog off; returns the handle `vlog/*` use. `console` is
    /// a level or tracing's `target=level,...` list.
    pub fn init(
        console: &str,
        log_file: Option<PathBuf>,
        target: LogTarget,
    ) -> Result<Arc<Vlog>, String> {
        let base: Targets = console
            .parse()
            .map_err(|e| format!("--log \"{console}\": {e}"))?;
        let file_base = if log_file.is_some() {
            base.clone()
        } else {
            Targets::new()
        };
        // `--log-target syslog`: the --log levels are syslog's, the console's are off.
        let target = target.resolve();
        let (console_base, syslog_base) = match target {
            LogTarget::Syslog => (Targets::new(), base),
            _ => (base, Targets::new()),
        };
        // syslog(3) as xvsd, facility daemon, whenever the syslog destination is used.
        // SAFETY: the identifier is 'static, as openlog(3) keeps the pointer.
        unsafe { libc::openlog(c"xvsd".as_ptr(), libc::LOG_PID, libc::LOG_DAEMON) };
        let levels = Levels::new([console_base, syslog_base, file_base]);
        let vlog = Vlog::new(levels, log_file);
        let console_filter = DestFilter {
            vlog: vlog.clone(),
            dest: CONSOLE,
        };
        // Under systemd, the journal's form of the console (see [`crate::logging`]).
        let console_layer = match target {
            LogTarget::Journald => tracing_subscriber::fmt::layer()
                .with_writer(JournalWriter)
                .with_ansi(false)
                .without_time()
                .with_filter(console_filter)
                .boxed(),
            _ => tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_filter(console_filter)
                .boxed(),
        };
        let file_layer = tracing_subscriber::fmt::layer()
            .with_writer(FileWriter(vlog.clone()))
            .with_ansi(false)
            .with_filter(DestFilter {
                vlog: vlog.clone(),
                dest: FILE,
            });
        let syslog_layer = tracing_subscriber::fmt::layer()
            .with_writer(SyslogWriter)
            .with_ansi(false)
            .without_time()
            .with_level(false)
            .with_filter(DestFilter {
                vlog: vlog.clone(),
                dest: SYSLOG,
            });
        tracing_subscriber::registry()
            .with(console_layer)
            .with(file_layer)
            .with(syslog_layer)
            .try_init()
            .map_err(|e| format!("logging: {e}"))?;
        Ok(vlog)
    }

    fn levels(&self) -> std::sync::RwLockReadGuard<'_, Levels> {
        self.levels.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn enabled(&self, dest: usize, meta: &Metadata<'_>) -> bool {
        self.levels().enabled(dest, meta.target(), meta.level())
    }

    /// `vlog/list`.
    pub fn list(&self) -> String {
        self.levels().list()
    }

    /// `vlog/set SPEC...`: each argument in turn (none: everything at `DBG`); the first
    /// bad one stops, the ones before it applied (as OVS).
    pub fn set(&self, specs: &[String]) -> Result<(), String> {
        let r = {
            let mut l = self.levels.write().unwrap_or_else(|e| e.into_inner());
            if specs.is_empty() {
                l.set(None, None, OvsLevel::Dbg);
                Ok(())
            } else {
                specs.iter().try_for_each(|s| l.set_from_string(s))
            }
        };
        // The callsites' cached interest and the global maximum level follow.
        tracing::callsite::rebuild_interest_cache();
        r
    }

    /// Whether xvsd logs to a file.
    pub fn has_file(&self) -> bool {
        self.file.is_some()
    }

    /// `vlog/reopen`: the log file opened again by its name (after logrotate moved
    /// it). OVS's error without a log file.
    pub fn reopen(&self) -> Result<(), String> {
        let Some(f) = &self.file else {
            return Err("Logging to file not configured".into());
        };
        let mut f = f.lock().unwrap_or_else(|e| e.into_inner());
        match open_log(&f.path) {
            Ok(file) => {
                f.file = Some(file);
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }
    }

    fn write_file(&self, buf: &[u8]) {
        if let Some(f) = &self.file {
            let mut f = f.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(file) = f.file.as_mut() {
                let _ = file.write_all(buf);
            }
        }
    }
}

/// A destination's filter: the levels [`Vlog`] holds now.
pub struct DestFilter {
    vlog: Arc<Vlog>,
    dest: usize,
}

impl<S> Filter<S> for DestFilter {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        self.vlog.enabled(self.dest, meta)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        // Exact for the levels held now; `vlog/set` rebuilds every callsite's interest.
        if self.vlog.enabled(self.dest, meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.vlog.levels().max_level(self.dest))
    }
}

/// Writes events to the log file, whichever file is open now.
struct FileWriter(Arc<Vlog>);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for FileWriter {
    type Writer = FileEvent<'a>;
    fn make_writer(&'a self) -> Self::Writer {
        FileEvent(&self.0)
    }
}

struct FileEvent<'a>(&'a Vlog);

impl Write for FileEvent<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write_file(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends each event to syslog(3), at the priority of its level (facility daemon).
struct SyslogWriter;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for SyslogWriter {
    type Writer = SyslogEvent;
    fn make_writer(&'a self) -> Self::Writer {
        SyslogEvent {
            prio: libc::LOG_INFO,
            buf: Vec::new(),
        }
    }
    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        let prio = match *meta.level() {
            Level::ERROR => libc::LOG_ERR,
            Level::WARN => libc::LOG_WARNING,
            Level::INFO => libc::LOG_INFO,
            _ => libc::LOG_DEBUG,
        };
        SyslogEvent {
            prio,
            buf: Vec::new(),
        }
    }
}

struct SyslogEvent {
    prio: libc::c_int,
    buf: Vec<u8>,
}

impl Write for SyslogEvent {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for SyslogEvent {
    fn drop(&mut self) {
        let text: Vec<u8> = self
            .buf
            .iter()
            .copied()
            .filter(|&b| b != 0 && b != b'\n')
            .collect();
        if text.is_empty() {
            return;
        }
        if let Ok(msg) = std::ffi::CString::new(text) {
            // SAFETY: both strings are NUL-terminated; "%s" takes exactly one argument.
            unsafe {
                libc::syslog(
                    libc::LOG_DAEMON | self.prio,
                    c"xvsd: %s".as_ptr(),
                    msg.as_ptr(),
                )
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels(console: &str) -> Levels {
        Levels::new([console.parse().unwrap(), Targets::new(), Targets::new()])
    }

    fn module(name: &str) -> &'static str {
        MODULES.iter().find(|(n, _)| *n == name).unwrap().1
    }

    #[test]
    fn ovs_spec_syntax_and_errors() {
        let mut l = levels("info");
        assert!(l.enabled(CONSOLE, "xvs_daemon::connmgr::conn", &Level::INFO));
        assert!(!l.enabled(CONSOLE, "xvs_daemon::connmgr::conn", &Level::DEBUG));
        assert!(!l.enabled(FILE, "xvs_daemon::connmgr", &Level::ERROR));
        l.set_from_string("connmgr:console:dbg").unwrap();
        assert!(l.enabled(CONSOLE, "xvs_daemon::connmgr::conn", &Level::DEBUG));
        assert!(!l.enabled(CONSOLE, "xvs_daemon::ovsdb", &Level::DEBUG));
        assert!(!l.enabled(FILE, "xvs_daemon::connmgr", &Level::DEBUG));
        // Any order, any case, ANY ignored; no level is DBG; no destination is all.
        l.set_from_string("FILE ANY OvsDb_Idl").unwrap();
        assert!(l.enabled(FILE, module("ovsdb_idl"), &Level::DEBUG));
        l.set_from_string("warn").unwrap();
        assert!(!l.enabled(CONSOLE, "xvs_daemon::connmgr", &Level::INFO));
        assert!(l.enabled(SYSLOG, "anything::else", &Level::WARN));
        for (spec, err) in [
            ("foo", "no destination, level, or module \"foo\""),
            ("warn:info", "cannot specify multiple levels"),
            ("console:file", "cannot specify multiple destinations"),
            ("bridge:connmgr", "cannot specify multiple modules"),
        ] {
            assert_eq!(l.set_from_string(spec).unwrap_err(), err);
        }
        l.set_from_string("off").unwrap();
        assert_eq!(l.max_level(CONSOLE), LevelFilter::OFF);
    }

    #[test]
    fn list_as_ovs() {
        let mut l = levels("info,xvs_daemon::connmgr=debug");
        l.set_from_string("unixctl:syslog:emer").unwrap();
        let s = l.list();
        let mut it = s.lines();
        assert_eq!(
            it.next().unwrap(),
            "                 console    syslog    file"
        );
        assert_eq!(
            it.next().unwrap(),
            "                 -------    ------    ------"
        );
        let rest: Vec<&str> = it.collect();
        assert_eq!(rest.len(), MODULES.len());
        assert!(rest.windows(2).all(|w| w[0] < w[1]), "sorted");
        assert!(rest.contains(&"connmgr            DBG        OFF        OFF"));
        assert!(rest.contains(&"unixctl           INFO       EMER        OFF"));
    }

    #[test]
    fn finer_start_directives_last_until_their_module_is_set() {
        let mut l = levels("warn,xvs_daemon::connmgr::conn=trace");
        assert!(l.enabled(CONSOLE, "xvs_daemon::connmgr::conn", &Level::TRACE));
        assert!(!l.enabled(CONSOLE, "xvs_daemon::connmgr::listener", &Level::INFO));
        l.set_from_string("connmgr:info").unwrap();
        assert!(!l.enabled(CONSOLE, "xvs_daemon::connmgr::conn", &Level::DEBUG));
        assert!(l.enabled(CONSOLE, "xvs_daemon::connmgr::listener", &Level::INFO));
    }
}
