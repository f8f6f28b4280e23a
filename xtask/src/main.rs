//! `cargo run -p xtask -- docs DIR`: the man pages (`DIR/man/xvsd.8`, `xvsctl.8`, one
//! `xvsctl-COMMAND.8` per command) and the bash, zsh and fish completions
//! (`DIR/completions/{bash/xvsctl, zsh/_xvsctl, fish/xvsctl.fish}`, and xvsd's) of
//! the binaries, generated from their own clap definitions: the binaries' sources are
//! compiled in here as modules, so a new flag is documented without another edit.
//! `scripts/package.sh` runs it; nothing it writes is committed.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::Man;

#[allow(dead_code)]
#[path = "../../control/daemon/src/bin/xvsd.rs"]
mod xvsd;

#[allow(dead_code)]
#[path = "../../control/daemon/src/bin/xvsctl.rs"]
mod xvsctl;

/// The section the pages go in: system administration, as ovs-vswitchd(8) and
/// ovs-vsctl(8).
const SECTION: &str = "8";
const MANUAL: &str = "xvs Manual";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [cmd, dir] if cmd == "docs" => match docs(Path::new(dir)) {
            Ok(files) => {
                for f in files {
                    println!("{}", f.display());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("xtask: {e}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("usage: xtask docs DIR   (man pages and shell completions into DIR)");
            ExitCode::from(2)
        }
    }
}

/// Writes every page and completion under `dir`; returns the files written.
fn docs(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let man = dir.join("man");
    fs::create_dir_all(&man)?;
    let xvsd = xvsd::Args::command();
    let mut xvsctl = xvsctl::Cli::command();
    // Built, each command knows itself as `xvsctl add-port` (its synopsis) and
    // `xvsctl-add-port` (its page).
    xvsctl.build();
    written.push(page(&man, &xvsd, Some(XVSD_DESCRIPTION), XVSD_EXTRA)?);
    written.push(page(&man, &xvsctl, None, XVSCTL_EXTRA)?);
    for sub in xvsctl
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        // A one-shot tool: clap takes a version as &'static str (without its
        // `string` feature, which would rebuild clap for the whole workspace).
        let version: &'static str = xvsctl.get_version().unwrap_or_default().to_string().leak();
        let sub = sub.clone().version(version);
        written.push(page(&man, &sub, None, XVSCTL_COMMAND_EXTRA)?);
    }
    for (shell, subdir) in [
        (Shell::Bash, "bash"),
        (Shell::Zsh, "zsh"),
        (Shell::Fish, "fish"),
    ] {
        let out = dir.join("completions").join(subdir);
        fs::create_dir_all(&out)?;
        for cmd in [&xvsd, &xvsctl] {
            let mut cmd = cmd.clone();
            let name = cmd.get_name().to_string();
            let path = out.join(completion_file(shell, &name));
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, &name, &mut buf);
            fs::write(&path, buf)?;
            written.push(path);
        }
    }
    Ok(written)
}

/// Where each shell's completion for `name` is found on Debian (bash-completion loads
/// `completions/NAME`, zsh `_NAME`, fish `NAME.fish`).
fn completion_file(shell: Shell, name: &str) -> String {
    match shell {
        Shell::Zsh => format!("_{name}"),
        Shell::Fish => format!("{name}.fish"),
        _ => name.to_string(),
    }
}

/// One page: clap's sections (`description`, roff, in place of clap's), then `extra`
/// (roff) before the version.
fn page(
    dir: &Path,
    cmd: &clap::Command,
    description: Option<&str>,
    extra: &str,
) -> io::Result<PathBuf> {
    let man = Man::new(cmd.clone())
        .section(SECTION)
        .manual(MANUAL)
        .source(format!(
            "xvs {}",
            cmd.get_version().unwrap_or(env!("CARGO_PKG_VERSION"))
        ));
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    match description {
        Some(d) => out.write_all(d.as_bytes())?,
        None => man.render_description_section(&mut out)?,
    }
    man.render_options_section(&mut out)?;
    if cmd.get_subcommands().next().is_some() {
        man.render_subcommands_section(&mut out)?;
    }
    if let Some(after) = cmd.get_after_long_help().or(cmd.get_after_help()) {
        out.write_all(notes(&after.to_string()).as_bytes())?;
    }
    out.write_all(extra.as_bytes())?;
    man.render_version_section(&mut out)?;
    let path = dir.join(man.get_filename());
    fs::write(&path, out)?;
    Ok(path)
}

/// The text clap prints after the help, as a NOTES section: a paragraph, or kept as
/// laid out when it has lines of its own (tables of options, examples).
fn notes(text: &str) -> String {
    let escape = |line: &str| {
        let line = line.replace('\\', "\\e").replace('-', "\\-");
        if line.starts_with(['.', '\'']) {
            format!("\\&{line}")
        } else {
            line
        }
    };
    let lines: Vec<String> = text.lines().map(escape).collect();
    if lines.len() > 1 {
        format!(".SH NOTES\n.nf\n{}\n.fi\n", lines.join("\n"))
    } else {
        format!(".SH NOTES\n{}\n", lines.join(""))
    }
}

const XVSD_DESCRIPTION: &str = r#".SH DESCRIPTION
xvsd runs in ovs\-vswitchd's place: it is a client of the real ovsdb\-server (it takes
the database lock \fBovs_vswitchd\fR), makes every bridge, port, interface and
controller of the database real, and writes back what ovs\-vswitchd writes back, so
\fBovs\-vsctl\fR(8), \fBovs\-ofctl\fR(8) and the Neutron Open vSwitch agent work
unmodified. Packets move through AF_XDP sockets polled by pinned worker threads.
The control socket (see \fB\-\-socket\fR) serves \fBxvsctl\fR(8).
.PP
Every configuration change (bridge, port, interface, controller, fail mode, flow table
limits, a flow table replaced) is logged at level info with what changed.
"#;

const XVSD_EXTRA: &str = r#".SH ENVIRONMENT
.TP
\fBOVS_RUNDIR\fR
Where the default database socket (\fIdb.sock\fR) and the bridges' OpenFlow
management sockets (\fIBRIDGE.mgmt\fR) are; \fI/var/run/openvswitch\fR when unset.
.TP
\fBNOTIFY_SOCKET\fR
Set by systemd for \fBType=notify\fR: xvsd sends \fBREADY=1\fR once the database's
bridges and ports are attached, \fBSTATUS=\fR lines, and \fBSTOPPING=1\fR when it
stops (\fBsd_notify\fR(3)).
.TP
\fBJOURNAL_STREAM\fR
Set by systemd when stderr is the journal: with \fB\-\-log\-target auto\fR, log lines
then carry \fBsd\-daemon\fR(3) priority prefixes and no timestamps.
.SH SIGNALS
SIGTERM and SIGINT stop xvsd: OpenFlow connections close, every port is detached
(nothing stays attached after a crash either) and the control socket is removed; the
exit status is 0.
.SH FILES
.TP
\fI/run/xvs/xvsd.sock\fR
The control socket (owner only).
.TP
\fI/var/run/openvswitch/db.sock\fR
The database, as for ovs\-vswitchd.
.TP
\fI/lib/systemd/system/xvsd.service\fR
The systemd unit: \fBType=notify\fR, restarted on failure; it conflicts with
\fIovs\-vswitchd.service\fR and requires \fIovsdb\-server.service\fR. Logs go to the
journal (\fBjournalctl \-u xvsd\fR), which rotates them itself: no logrotate is needed.
.TP
\fI/etc/default/xvsd\fR
\fBXVSD_OPTS\fR, the options the unit starts xvsd with.
.SH SEE ALSO
\fBxvsctl\fR(8), \fBovs\-vsctl\fR(8), \fBovs\-ofctl\fR(8), \fBovsdb\-server\fR(1),
\fBovs\-vswitchd\fR(8), \fBsystemd.service\fR(5), \fBsd_notify\fR(3)
"#;

const XVSCTL_EXTRA: &str = r#".SH FILES
.TP
\fI/run/xvs/xvsd.sock\fR
xvsd's control socket (\fB\-\-socket\fR).
.SH SEE ALSO
\fBxvsd\fR(8), \fBxvsctl\-COMMAND\fR(8) for each command (\fBxvsctl COMMAND \-\-help\fR
says the same), \fBovs\-vsctl\fR(8), \fBovs\-ofctl\fR(8)
"#;

const XVSCTL_COMMAND_EXTRA: &str = r#".SH SEE ALSO
\fBxvsctl\fR(8), \fBxvsd\fR(8)
"#;
