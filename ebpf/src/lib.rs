//! The XDP program that steers a port's frames into its AF_XDP sockets, and its loader.
//!
//! The program is C (`xdp/xvs_xdp.bpf.c`), compiled by clang from `build.rs` and
//! embedded here. [`XdpProgram::attach`] loads one instance per netdev (so every port has
//! its own XSKMAP, mode and local-address set) with aya and attaches it through a
//! **bpf_link**: the attachment lives exactly as long as the link's file descriptor, so
//! a crashed or SIGKILLed daemon leaves nothing attached (a netlink attach, which libxdp
//! and `ip link set xdp` use, would stay). aya falls back to a netlink attach when
//! `bpf_link_create` fails with EINVAL (old kernels); [`XdpProgram::attach`] checks that
//! the kernel really holds a bpf_link for the program and refuses otherwise.
//!
//! Modes (per interface):
//! - [`XdpProgram::set_mode_all`] (the default): every frame goes to the AF_XDP socket of
//!   its rx queue (when one is registered; otherwise the kernel keeps it).
//! - [`XdpProgram::set_mode_underlay`]: only tunnel packets addressed to one of the
//!   addresses given with [`XdpProgram::add_local_ip`] go to the socket: IPv4 GRE, and
//!   unfragmented IPv4 UDP to port 4789 (VXLAN); everything else (ARP, SSH, ICMP for the
//!   host, other UDP...) goes to the kernel stack.
//!
//! The packet-rate harness's own programs (generator, sink check, redirect baseline) are
//! in module `bench`, behind the `bench` feature: without it build.rs does not compile
//! them and nothing embeds them, so the daemon carries only the steering program.

#[cfg(feature = "bench")]
pub mod bench;
pub mod tier;

use std::ffi::CString;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;

use aya::maps::{Array, HashMap, MapData, MapError, PerCpuArray, XskMap};
use aya::programs::links::FdLink;
use aya::programs::links::LinkError;
use aya::programs::{loaded_links, ProgramError, Xdp};

/// The compiled XDP object (aligned as aya's parser wants it).
pub(crate) static XDP_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xvs_xdp.bpf.o"));

pub(crate) const PROGRAM_NAME: &str = "xvs_xdp";
/// Entries of the XSKMAP: rx queues 0..MAX_QUEUES can have a socket (XVS_MAX_QUEUES in C).
pub const MAX_QUEUES: u32 = 512;
/// Entries of the `local_ips` map (XVS_MAX_LOCAL_IPS in C).
pub const MAX_LOCAL_IPS: usize = 64;

const MODE_ALL: u32 = 0;
const MODE_UNDERLAY: u32 = 1;
const CNT_TO_XSK: u32 = 0;
const CNT_TO_KERNEL: u32 = 1;

/// How the program is attached to the netdev.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum XdpMode {
    /// Native first; generic (SKB) mode when the driver refuses, with a warning.
    Auto,
    /// Native (driver) mode: the program runs in the driver's NAPI poll.
    Native,
    /// Generic (SKB) mode: the program runs after an skb was built. Works everywhere,
    /// slower, and AF_XDP sockets are then copy mode only.
    Generic,
}

impl XdpMode {
    fn aya(self) -> aya::programs::XdpMode {
        match self {
            XdpMode::Auto => aya::programs::XdpMode::Default,
            XdpMode::Native => aya::programs::XdpMode::Driver,
            XdpMode::Generic => aya::programs::XdpMode::Skb,
        }
    }
}

/// What the steering program decided, summed over CPUs since it was loaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XdpCounters {
    /// Frames redirected to an AF_XDP socket.
    pub to_xsk: u64,
    /// Frames passed to the kernel stack (not for us, or no socket on that queue).
    pub to_kernel: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum EbpfError {
    #[error("no network interface named {0:?}")]
    UnknownInterface(String),
    #[error("loading the XDP object: {0}")]
    Load(#[source] aya::EbpfError),
    #[error("the XDP object has no {what} named {name:?}")]
    Missing {
        what: &'static str,
        name: &'static str,
    },
    #[error("{what}: {source}")]
    Program {
        what: &'static str,
        #[source]
        source: ProgramError,
    },
    #[error("attaching XDP to {ifname} in {mode:?} mode: {source}")]
    Attach {
        ifname: String,
        mode: XdpMode,
        #[source]
        source: ProgramError,
    },
    #[error(
        "XDP on {ifname} was attached through netlink, not a bpf_link (kernel too old?): \
         refused, as it would outlive the process"
    )]
    NotABpfLink { ifname: String },
    #[error("listing bpf links: {0}")]
    Link(#[source] LinkError),
    #[error("map {map}: {source}")]
    Map {
        map: &'static str,
        #[source]
        source: MapError,
    },
    #[error("rx queue {queue} is beyond the XSKMAP's {max} entries")]
    QueueOutOfRange { queue: u32, max: u32 },
    #[cfg(feature = "bench")]
    #[error("BPF_PROG_RUN, {what}: {source}")]
    TestRun {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[cfg(feature = "bench")]
    #[error("harness frame template: {0}")]
    Template(String),
}

pub(crate) fn map_err(map: &'static str) -> impl FnOnce(MapError) -> EbpfError {
    move |source| EbpfError::Map { map, source }
}

/// One instance of the XDP program, attached to one netdev. Detaches on drop.
pub struct XdpProgram {
    ifname: String,
    ifindex: u32,
    mode: XdpMode,
    /// The attachment: closing this fd detaches the program. Dropped first.
    link: Option<FdLink>,
    xsks: XskMap<MapData>,
    config: Array<MapData, u32>,
    local_ips: HashMap<MapData, u32, u8>,
    counters: PerCpuArray<MapData, u64>,
    /// Holds the program fd (the link holds its own reference to the program).
    _ebpf: aya::Ebpf,
}

impl std::fmt::Debug for XdpProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpProgram")
            .field("ifname", &self.ifname)
            .field("ifindex", &self.ifindex)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// The interface index of `ifname` in the calling thread's network namespace.
pub fn ifindex(ifname: &str) -> Option<u32> {
    let c = CString::new(ifname).ok()?;
    // SAFETY: c is a valid NUL-terminated string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

/// The kernel's BTF (for CO-RE relocations), parsed once per process: parsing
/// /sys/kernel/btf/vmlinux is most of a port attach's time otherwise (`Ebpf::load` does
/// it on every call: about 80 ms in a release build, 300 ms in a debug one).
pub(crate) fn kernel_btf() -> Option<&'static aya::Btf> {
    static BTF: std::sync::OnceLock<Option<aya::Btf>> = std::sync::OnceLock::new();
    BTF.get_or_init(|| aya::Btf::from_sys_fs().ok()).as_ref()
}

impl XdpProgram {
    /// Loads a fresh instance of the program and attaches it to `ifname` (in the calling
    /// thread's network namespace) through a bpf_link. `XdpMode::Auto` tries native mode
    /// first and falls back to generic mode with a warning.
    pub fn attach(ifname: &str, mode: XdpMode) -> Result<XdpProgram, EbpfError> {
        let ifindex = ifindex(ifname).ok_or_else(|| EbpfError::UnknownInterface(ifname.into()))?;
        let mut ebpf = aya::EbpfLoader::new()
            .btf(kernel_btf())
            // The XDP tier (tier.rs) is not used by the daemon yet: at full size its
            // per-CPU counters (1 MiB per CPU) and its flows' hash buckets (1 MiB)
            // would be allocated for each port's instance.
            .map_max_entries("tier_counters", 1)
            .map_max_entries("tier_flows", 1)
            .load(XDP_OBJECT)
            .map_err(EbpfError::Load)?;
        let prog = load_xdp(&mut ebpf, PROGRAM_NAME)?;

        let (link, attached) = attach_link(prog, ifname, ifindex, mode)?;

        let xsks = XskMap::try_from(take_map(&mut ebpf, "xsks")?).map_err(map_err("xsks"))?;
        let config = Array::try_from(take_map(&mut ebpf, "config")?).map_err(map_err("config"))?;
        let local_ips =
            HashMap::try_from(take_map(&mut ebpf, "local_ips")?).map_err(map_err("local_ips"))?;
        let counters =
            PerCpuArray::try_from(take_map(&mut ebpf, "counters")?).map_err(map_err("counters"))?;
        tracing::info!("{ifname} (ifindex {ifindex}): XDP attached in {attached:?} mode");
        Ok(XdpProgram {
            ifname: ifname.into(),
            ifindex,
            mode: attached,
            link: Some(link),
            xsks,
            config,
            local_ips,
            counters,
            _ebpf: ebpf,
        })
    }

    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Native or Generic: the mode the program is attached in.
    pub fn attached_mode(&self) -> XdpMode {
        self.mode
    }

    /// Sends frames of rx queue `queue` to the AF_XDP socket `fd`.
    pub fn set_xsk(&mut self, queue: u32, fd: impl AsRawFd) -> Result<(), EbpfError> {
        xsk_set(&mut self.xsks, MAX_QUEUES, queue, fd)
    }

    /// Stops redirecting queue `queue` (its frames go to the kernel). Clearing a queue
    /// that has no socket is not an error.
    pub fn clear_xsk(&mut self, queue: u32) -> Result<(), EbpfError> {
        xsk_clear(&mut self.xsks, MAX_QUEUES, queue)
    }

    /// Every frame to the sockets.
    pub fn set_mode_all(&mut self) -> Result<(), EbpfError> {
        self.config.set(0, MODE_ALL, 0).map_err(map_err("config"))
    }

    /// Only GRE and VXLAN (UDP 4789) for our local addresses to the sockets; the rest to
    /// the kernel.
    pub fn set_mode_underlay(&mut self) -> Result<(), EbpfError> {
        self.config
            .set(0, MODE_UNDERLAY, 0)
            .map_err(map_err("config"))
    }

    /// Adds a local tunnel endpoint address (for underlay mode).
    pub fn add_local_ip(&mut self, ip: Ipv4Addr) -> Result<(), EbpfError> {
        self.local_ips
            .insert(u32::from_ne_bytes(ip.octets()), 1, 0)
            .map_err(map_err("local_ips"))
    }

    /// Removes a local address; removing an absent one is not an error.
    pub fn remove_local_ip(&mut self, ip: Ipv4Addr) -> Result<(), EbpfError> {
        match self.local_ips.remove(&u32::from_ne_bytes(ip.octets())) {
            Ok(()) => Ok(()),
            Err(MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::ENOENT) => {
                Ok(())
            }
            Err(MapError::KeyNotFound) => Ok(()),
            Err(e) => Err(map_err("local_ips")(e)),
        }
    }

    /// The local addresses now in the map.
    pub fn local_ips(&self) -> Vec<Ipv4Addr> {
        self.local_ips
            .keys()
            .filter_map(Result::ok)
            .map(|k| Ipv4Addr::from(k.to_ne_bytes()))
            .collect()
    }

    /// The program's decisions so far, summed over CPUs.
    pub fn counters(&self) -> Result<XdpCounters, EbpfError> {
        let sum = |slot: u32| -> Result<u64, EbpfError> {
            let v = self.counters.get(&slot, 0).map_err(map_err("counters"))?;
            Ok(v.iter().sum())
        };
        Ok(XdpCounters {
            to_xsk: sum(CNT_TO_XSK)?,
            to_kernel: sum(CNT_TO_KERNEL)?,
        })
    }
}

/// Attaches a loaded XDP program to `ifindex` through a bpf_link and returns the link
/// and the mode it got. `XdpMode::Auto` tries native mode first and falls back to
/// generic mode with a warning.
///
/// aya quietly falls back to netlink when bpf_link_create says EINVAL; such an
/// attachment would survive us, so this checks that the kernel holds a link for the
/// program and refuses (detaching again) otherwise.
pub(crate) fn attach_link(
    prog: &mut Xdp,
    ifname: &str,
    ifindex: u32,
    mode: XdpMode,
) -> Result<(FdLink, XdpMode), EbpfError> {
    let try_attach = |prog: &mut Xdp, m: XdpMode| {
        prog.attach_to_if_index(ifindex, m.aya())
            .map_err(|source| EbpfError::Attach {
                ifname: ifname.into(),
                mode: m,
                source,
            })
    };
    let (link_id, attached) = match mode {
        XdpMode::Auto => match try_attach(prog, XdpMode::Native) {
            Ok(id) => (id, XdpMode::Native),
            Err(e) => {
                tracing::warn!(
                    "{ifname}: native XDP refused ({e}); falling back to generic (SKB) mode"
                );
                (try_attach(prog, XdpMode::Generic)?, XdpMode::Generic)
            }
        },
        m => (try_attach(prog, m)?, m),
    };
    let prog_id = prog
        .info()
        .map_err(|source| EbpfError::Program {
            what: "reading the program's info",
            source,
        })?
        .id();
    let mut is_link = false;
    for info in loaded_links() {
        let info = match info {
            Ok(info) => info,
            // Another process's link went away between the listing and the look-up: not
            // ours (we hold ours open), so not a reason to fail.
            Err(LinkError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::ENOENT) => {
                continue
            }
            Err(e) => return Err(EbpfError::Link(e)),
        };
        if info.program_id() == prog_id {
            is_link = true;
            break;
        }
    }
    if !is_link {
        // Detach through the same (netlink) path it was attached with.
        let _ = prog.detach(link_id);
        return Err(EbpfError::NotABpfLink {
            ifname: ifname.into(),
        });
    }
    let link = prog
        .take_link(link_id)
        .map_err(|source| EbpfError::Program {
            what: "taking the XDP link",
            source,
        })?;
    let link = FdLink::try_from(link).map_err(EbpfError::Link)?;
    Ok((link, attached))
}

/// The XDP program `name` of a loaded object.
pub(crate) fn xdp_program<'a>(
    ebpf: &'a mut aya::Ebpf,
    name: &'static str,
) -> Result<&'a mut Xdp, EbpfError> {
    ebpf.program_mut(name)
        .ok_or(EbpfError::Missing {
            what: "program",
            name,
        })?
        .try_into()
        .map_err(|source| EbpfError::Program {
            what: "not an XDP program",
            source,
        })
}

/// Loads (verifies) the XDP program `name` of an object.
pub(crate) fn load_xdp<'a>(
    ebpf: &'a mut aya::Ebpf,
    name: &'static str,
) -> Result<&'a mut Xdp, EbpfError> {
    let prog = xdp_program(ebpf, name)?;
    prog.load().map_err(|source| EbpfError::Program {
        what: "loading an XDP program (verifier)",
        source,
    })?;
    Ok(prog)
}

/// A devmap update's error as this module's.
#[cfg(feature = "bench")]
pub(crate) fn devmap_err(map: &'static str) -> impl Fn(aya::maps::xdp::XdpMapError) -> EbpfError {
    move |e| match e {
        aya::maps::xdp::XdpMapError::MapError(source) => EbpfError::Map { map, source },
        other => EbpfError::Map {
            map,
            source: MapError::IoError(std::io::Error::other(other.to_string())),
        },
    }
}

/// Registers socket `fd` for rx queue `queue` in an XSKMAP of `max` entries.
pub(crate) fn xsk_set(
    xsks: &mut XskMap<MapData>,
    max: u32,
    queue: u32,
    fd: impl AsRawFd,
) -> Result<(), EbpfError> {
    if queue >= max {
        return Err(EbpfError::QueueOutOfRange { queue, max });
    }
    xsks.set(queue, fd, 0).map_err(map_err("xsks"))
}

/// Removes queue `queue`'s socket from an XSKMAP of `max` entries; none is not an error.
pub(crate) fn xsk_clear(xsks: &mut XskMap<MapData>, max: u32, queue: u32) -> Result<(), EbpfError> {
    if queue >= max {
        return Err(EbpfError::QueueOutOfRange { queue, max });
    }
    match xsks.unset(queue) {
        Ok(()) => Ok(()),
        Err(MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        Err(e) => Err(map_err("xsks")(e)),
    }
}

pub(crate) fn take_map(
    ebpf: &mut aya::Ebpf,
    name: &'static str,
) -> Result<aya::maps::Map, EbpfError> {
    ebpf.take_map(name)
        .ok_or(EbpfError::Missing { what: "map", name })
}

impl Drop for XdpProgram {
    fn drop(&mut self) {
        // Closing the link fd detaches the program from the netdev.
        drop(self.link.take());
        tracing::info!("{} (ifindex {}): XDP detached", self.ifname, self.ifindex);
    }
}
