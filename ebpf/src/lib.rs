//! The XDP program that steers a port's frames into its AF_XDP sockets, and its loader.
//!
//! The program is C (`xdp/xvs_xdp.bpf.c`), compiled by clang from `build.rs` and
//! embedded here. An [`XdpSet`] (one per datapath) loads it once, at its first port, and
//! attaches that same program to every port ([`XdpSet::attach`] gives the port's
//! [`XdpProgram`]; the port's XSKMAP range, mode, local addresses and counters are keyed
//! by its ifindex in the shared maps), with aya, through a
//! **bpf_link**: the attachment lives exactly as long as the link's file descriptor, so
//! a crashed or SIGKILLed daemon leaves nothing attached (a netlink attach, which libxdp
//! and `ip link set xdp` use, would stay). aya falls back to a netlink attach when
//! `bpf_link_create` fails with EINVAL (old kernels); [`XdpSet::attach`] checks that
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
mod link;
mod test_run;
pub mod tier;

use std::ffi::CString;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};

use aya::maps::{HashMap, MapData, MapError, PerCpuArray, PerCpuValues, XskMap};
use aya::programs::links::FdLink;
use aya::programs::links::LinkError;
use aya::programs::{ProgramError, Xdp};
pub use link::XdpAttachment;

/// The compiled XDP object (aligned as aya's parser wants it).
pub(crate) static XDP_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xvs_xdp.bpf.o"));

pub(crate) const PROGRAM_NAME: &str = "xvs_xdp";
/// Rx queues of a port attached alone ([`XdpProgram::attach`]).
pub const MAX_QUEUES: u32 = 512;
/// Entries of the shared XSKMAP (XVS_XSK_SLOTS in C): every port's rx queues together.
pub const XSK_SLOTS: u32 = 4096;
/// Ports of one set (XVS_MAX_PORTS in C).
pub const MAX_PORTS: u32 = 1024;
/// Entries of the `local_ips` map, every port's together (XVS_MAX_LOCAL_IPS in C).
pub const MAX_LOCAL_IPS: usize = 4096;

const MODE_ALL: u32 = 0;
const MODE_UNDERLAY: u32 = 1;
const CNT_TO_XSK: u32 = 0;
const CNT_TO_KERNEL: u32 = 1;
const N_COUNTERS: u32 = 2;

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
    #[error(
        "{ifname}: no room for its {queues} rx queues in the shared XSKMAP \
         ({max} slots for every port's queues together)"
    )]
    XskSlotsFull {
        ifname: String,
        queues: u32,
        max: u32,
    },
    #[error("reading the calling thread's network namespace: {0}")]
    Netns(#[source] std::io::Error),
    #[error("the XDP program is attached to {max} ports already, its limit")]
    TooManyPorts { max: u32 },
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

/// A set's program in one network namespace (ifindexes are per namespace): loaded at
/// the namespace's first port, with its maps and the slots the ports hold; gone with the
/// last.
struct SetState {
    netns: NetnsId,
    loaded: Option<Loaded>,
    /// `xsks` slots in use (one per rx queue of a port, a contiguous range per port).
    xsk_used: Vec<bool>,
    /// Port slots (keys of the counters) in use.
    port_used: Vec<bool>,
    ports: usize,
}

/// The program loaded once, with the maps shared by its ports.
struct Loaded {
    xsk_ports: HashMap<MapData, u32, [u32; 4]>,
    xsks: XskMap<MapData>,
    local_ips: HashMap<MapData, [u32; 2], u8>,
    counters: PerCpuArray<MapData, u64>,
    prog_id: u32,
    /// The XDP tier's maps, at full size, when the set was made with the tier.
    tier: Option<tier::TierMaps>,
    /// Tells this load from an earlier one in the same namespace (the tier's entries
    /// went with the earlier one).
    load_id: u64,
    /// Holds the program (each link holds its own reference to it too).
    ebpf: aya::Ebpf,
}

/// One XDP program for several netdevs: loaded at the first [`XdpSet::attach`], attached
/// (the same bpf_prog) to every port, unloaded when the last port's [`XdpProgram`] is
/// dropped. Per port, `xsk_ports` (ifindex → xsk range, queues, mode, counter slot),
/// `xsks` (slot `xsk_base + rx queue`), `local_ips` (ifindex, address) and `counters`
/// (per port slot). Ifindexes are per network namespace: a set has one program per
/// namespace it has ports in (a port's namespace is the calling thread's at
/// [`XdpSet::attach`]). Cloning gives another handle on the same set.
#[derive(Clone)]
pub struct XdpSet {
    state: Arc<Mutex<Vec<SetState>>>,
    /// Load the XDP tier's maps at full size, and turn the tier on.
    with_tier: bool,
}

/// A network namespace: the device and inode of its `/proc/.../ns/net`.
pub type NetnsId = (u64, u64);

/// Loads of any set, numbered (see `Loaded::load_id`).
static LOADS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The calling thread's network namespace.
pub fn current_netns() -> Result<NetnsId, EbpfError> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata("/proc/thread-self/ns/net").map_err(EbpfError::Netns)?;
    Ok((m.dev(), m.ino()))
}

impl Default for XdpSet {
    fn default() -> Self {
        XdpSet::new()
    }
}

impl std::fmt::Debug for XdpSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpSet")
            .field("program_ids", &self.program_ids())
            .finish_non_exhaustive()
    }
}

fn lock(state: &Mutex<Vec<SetState>>) -> std::sync::MutexGuard<'_, Vec<SetState>> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// The first free run of `n` slots in `used`, marked used.
fn alloc_range(used: &mut [bool], n: usize) -> Option<usize> {
    let mut run = 0;
    for i in 0..used.len() {
        run = if used[i] { 0 } else { run + 1 };
        if run == n {
            let base = i + 1 - n;
            used[base..=i].iter_mut().for_each(|u| *u = true);
            return Some(base);
        }
    }
    None
}

fn is_enoent(e: &MapError) -> bool {
    match e {
        MapError::SyscallError(e) => e.io_error.raw_os_error() == Some(libc::ENOENT),
        MapError::KeyNotFound => true,
        _ => false,
    }
}

impl XdpSet {
    /// An empty set: nothing is loaded until the first port.
    pub fn new() -> XdpSet {
        XdpSet {
            state: Arc::new(Mutex::new(Vec::new())),
            with_tier: false,
        }
    }

    /// An empty set whose program runs the XDP tier (`xdp/xvs_tier.h`): its maps are
    /// loaded at full size and the tier is enabled, with no entry (every frame is
    /// steered as without it until entries are added through [`XdpSet::tier`]).
    pub fn with_tier() -> XdpSet {
        XdpSet {
            state: Arc::new(Mutex::new(Vec::new())),
            with_tier: true,
        }
    }

    /// Whether the set runs the XDP tier.
    pub fn has_tier(&self) -> bool {
        self.with_tier
    }

    /// Runs `f` on the tier's maps of the program loaded in namespace `netns`, with the
    /// load's id (a new id means the earlier load's entries are gone); None when no
    /// program is loaded there or the set has no tier.
    pub fn tier<R>(
        &self,
        netns: NetnsId,
        f: impl FnOnce(&mut tier::TierMaps, u64) -> R,
    ) -> Option<R> {
        let mut all = lock(&self.state);
        let loaded = all
            .iter_mut()
            .find(|st| st.netns == netns)
            .and_then(|st| st.loaded.as_mut())?;
        let id = loaded.load_id;
        loaded.tier.as_mut().map(|t| f(t, id))
    }

    /// The kernel's ids of the loaded programs: one per network namespace the set has
    /// ports in (none while no port is attached).
    pub fn program_ids(&self) -> Vec<u32> {
        lock(&self.state)
            .iter()
            .filter_map(|st| st.loaded.as_ref().map(|l| l.prog_id))
            .collect()
    }

    /// Ports attached now.
    pub fn ports(&self) -> usize {
        lock(&self.state).iter().map(|st| st.ports).sum()
    }

    /// Attaches the set's program (loading it at the first port) to `ifname` (in the
    /// calling thread's network namespace) through a bpf_link, with `n_queues` xsk slots
    /// (rx queues `0..n_queues`) for it; mode all, no socket. `XdpMode::Auto` tries native
    /// mode first and falls back to generic mode with a warning.
    pub fn attach(
        &self,
        ifname: &str,
        mode: XdpMode,
        n_queues: u32,
    ) -> Result<XdpProgram, EbpfError> {
        let ifindex = ifindex(ifname).ok_or_else(|| EbpfError::UnknownInterface(ifname.into()))?;
        let netns = current_netns()?;
        let mut all = lock(&self.state);
        let at = match all.iter().position(|st| st.netns == netns) {
            Some(at) => at,
            None => {
                all.push(SetState {
                    netns,
                    loaded: None,
                    xsk_used: vec![false; XSK_SLOTS as usize],
                    port_used: vec![false; MAX_PORTS as usize],
                    ports: 0,
                });
                all.len() - 1
            }
        };
        let st = &mut all[at];
        if st.loaded.is_none() {
            match load_shared(self.with_tier) {
                Ok(l) => st.loaded = Some(l),
                Err(e) => {
                    all.swap_remove(at);
                    return Err(e);
                }
            }
        }
        let result = (|| {
            let n = n_queues.max(1) as usize;
            let xsk_base = alloc_range(&mut st.xsk_used, n).ok_or(EbpfError::XskSlotsFull {
                ifname: ifname.into(),
                queues: n_queues,
                max: XSK_SLOTS,
            })?;
            let Some(port_slot) = alloc_range(&mut st.port_used, 1) else {
                st.xsk_used[xsk_base..xsk_base + n].fill(false);
                return Err(EbpfError::TooManyPorts { max: MAX_PORTS });
            };
            let loaded = st.loaded.as_mut().expect("loaded above");
            let port = PortSlots {
                ifindex,
                xsk_base: xsk_base as u32,
                n_queues: n as u32,
                port_slot: port_slot as u32,
            };
            let attached = (|| {
                // A fresh port's counters start at zero, as a fresh program's did.
                let cpus = aya::util::nr_cpus().map_err(|(_, e)| EbpfError::Map {
                    map: "counters",
                    source: MapError::IoError(e),
                })?;
                for c in [CNT_TO_XSK, CNT_TO_KERNEL] {
                    let zeros = PerCpuValues::try_from(vec![0u64; cpus])
                        .map_err(|e| map_err("counters")(MapError::IoError(e)))?;
                    loaded
                        .counters
                        .set(port.port_slot * N_COUNTERS + c, zeros, 0)
                        .map_err(map_err("counters"))?;
                }
                port.write(loaded, MODE_ALL)?;
                let prog = xdp_program(&mut loaded.ebpf, PROGRAM_NAME)?;
                attach_link(prog, ifname, ifindex, mode)
            })();
            match attached {
                Ok((link, attached)) => Ok((link, attached, port)),
                Err(e) => {
                    port.clear(loaded);
                    st.xsk_used[xsk_base..xsk_base + n].fill(false);
                    st.port_used[port_slot] = false;
                    Err(e)
                }
            }
        })();
        match result {
            Ok((link, attached, slots)) => {
                st.ports += 1;
                tracing::info!(
                    "{ifname} (ifindex {ifindex}): XDP attached in {attached:?} mode \
                     (program {}, xsk slots {}..{})",
                    st.loaded.as_ref().map_or(0, |l| l.prog_id),
                    slots.xsk_base,
                    slots.xsk_base + slots.n_queues
                );
                Ok(XdpProgram {
                    netns,
                    ifname: ifname.into(),
                    mode: attached,
                    port_mode: MODE_ALL,
                    slots,
                    link: Some(link),
                    set: self.clone(),
                })
            }
            Err(e) => {
                if st.ports == 0 {
                    all.swap_remove(at);
                }
                Err(e)
            }
        }
    }
}

/// Loads the object once for a set.
fn load_shared(with_tier: bool) -> Result<Loaded, EbpfError> {
    let mut loader = aya::EbpfLoader::new();
    loader.btf(kernel_btf());
    if !with_tier {
        // Without the tier its per-CPU counters (1 MiB per CPU) and its flows' hash
        // buckets (1 MiB) would be allocated for nothing.
        loader
            .map_max_entries("tier_counters", 1)
            .map_max_entries("tier_flows", 1);
    }
    let mut ebpf = loader.load(XDP_OBJECT).map_err(EbpfError::Load)?;
    let prog = load_xdp(&mut ebpf, PROGRAM_NAME)?;
    let prog_id = program_id(prog)?;
    let xsk_ports =
        HashMap::try_from(take_map(&mut ebpf, "xsk_ports")?).map_err(map_err("xsk_ports"))?;
    let xsks = XskMap::try_from(take_map(&mut ebpf, "xsks")?).map_err(map_err("xsks"))?;
    let local_ips =
        HashMap::try_from(take_map(&mut ebpf, "local_ips")?).map_err(map_err("local_ips"))?;
    let counters =
        PerCpuArray::try_from(take_map(&mut ebpf, "counters")?).map_err(map_err("counters"))?;
    let tier = if with_tier {
        let mut t = tier::TierMaps::take(&mut ebpf)?;
        t.set_config(tier::TierConfig {
            enabled: true,
            trace: false,
            n_masks: 0,
        })?;
        Some(t)
    } else {
        None
    };
    tracing::info!(
        "XDP program loaded (id {prog_id}{})",
        if with_tier { ", XDP tier on" } else { "" }
    );
    Ok(Loaded {
        tier,
        load_id: LOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        xsk_ports,
        xsks,
        local_ips,
        counters,
        prog_id,
        ebpf,
    })
}

/// A port's place in the shared maps.
#[derive(Debug, Clone, Copy)]
struct PortSlots {
    ifindex: u32,
    xsk_base: u32,
    n_queues: u32,
    port_slot: u32,
}

impl PortSlots {
    fn write(&self, loaded: &mut Loaded, mode: u32) -> Result<(), EbpfError> {
        loaded
            .xsk_ports
            .insert(
                self.ifindex,
                [self.xsk_base, self.n_queues, mode, self.port_slot],
                0,
            )
            .map_err(map_err("xsk_ports"))
    }

    /// Takes the port out of the maps (best effort: nothing left to steer to).
    fn clear(&self, loaded: &mut Loaded) {
        // Only our entry: another port may have the ifindex now (a netdev gone and its
        // index reused).
        if let Ok(v) = loaded.xsk_ports.get(&self.ifindex, 0) {
            if v[0] == self.xsk_base && v[3] == self.port_slot {
                let _ = loaded.xsk_ports.remove(&self.ifindex);
            }
        }
        for q in 0..self.n_queues {
            let _ = xsk_clear(&mut loaded.xsks, XSK_SLOTS, self.xsk_base + q);
        }
        let mine: Vec<[u32; 2]> = loaded
            .local_ips
            .keys()
            .filter_map(Result::ok)
            .filter(|k| k[0] == self.ifindex)
            .collect();
        for k in mine {
            let _ = loaded.local_ips.remove(&k);
        }
        if let Some(t) = loaded.tier.as_mut() {
            // Its frames are no longer ours; the tier must not take them either.
            let _ = t.remove_port(self.ifindex);
        }
    }
}

/// The XDP program of a set, attached to one netdev: the port's handle on the shared
/// maps. Detaches on drop (and frees its slots; the last port unloads the program).
pub struct XdpProgram {
    netns: NetnsId,
    ifname: String,
    mode: XdpMode,
    port_mode: u32,
    slots: PortSlots,
    /// The attachment; dropped first.
    link: Option<XdpAttachment>,
    set: XdpSet,
}

impl std::fmt::Debug for XdpProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpProgram")
            .field("ifname", &self.ifname)
            .field("ifindex", &self.slots.ifindex)
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
    /// A set of its own with this one port (rx queues `0..MAX_QUEUES`): for a netdev
    /// used alone (the benchmarks). The datapath attaches its ports through one
    /// [`XdpSet`].
    pub fn attach(ifname: &str, mode: XdpMode) -> Result<XdpProgram, EbpfError> {
        XdpSet::new().attach(ifname, mode, MAX_QUEUES)
    }

    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    pub fn netns(&self) -> NetnsId {
        self.netns
    }

    /// The netdev's interface index.
    pub fn ifindex(&self) -> u32 {
        self.slots.ifindex
    }

    /// Native or Generic: the mode the program is attached in.
    pub fn attached_mode(&self) -> XdpMode {
        self.mode
    }

    /// The kernel's id of this port's bpf_link.
    pub fn link_id(&self) -> Option<u32> {
        self.link.as_ref().and_then(XdpAttachment::link_id)
    }

    /// The kernel's id of the (shared) program.
    pub fn program_id(&self) -> u32 {
        lock(&self.set.state)
            .iter()
            .find(|st| st.netns == self.netns)
            .and_then(|st| st.loaded.as_ref())
            .map_or(0, |l| l.prog_id)
    }

    /// Rx queues `0..n` can have a socket.
    pub fn queues(&self) -> u32 {
        self.slots.n_queues
    }

    fn with<R>(
        &self,
        f: impl FnOnce(&mut Loaded, &PortSlots) -> Result<R, EbpfError>,
    ) -> Result<R, EbpfError> {
        let mut all = lock(&self.set.state);
        let loaded = all
            .iter_mut()
            .find(|st| st.netns == self.netns)
            .and_then(|st| st.loaded.as_mut())
            .expect("a port keeps its set's program loaded");
        f(loaded, &self.slots)
    }

    /// Sends frames of rx queue `queue` to the AF_XDP socket `fd`.
    pub fn set_xsk(&mut self, queue: u32, fd: impl AsRawFd) -> Result<(), EbpfError> {
        self.with(|l, p| {
            if queue >= p.n_queues {
                return Err(EbpfError::QueueOutOfRange {
                    queue,
                    max: p.n_queues,
                });
            }
            xsk_set(&mut l.xsks, XSK_SLOTS, p.xsk_base + queue, fd)
        })
    }

    /// Stops redirecting queue `queue` (its frames go to the kernel). Clearing a queue
    /// that has no socket is not an error.
    pub fn clear_xsk(&mut self, queue: u32) -> Result<(), EbpfError> {
        self.with(|l, p| {
            if queue >= p.n_queues {
                return Err(EbpfError::QueueOutOfRange {
                    queue,
                    max: p.n_queues,
                });
            }
            xsk_clear(&mut l.xsks, XSK_SLOTS, p.xsk_base + queue)
        })
    }

    /// Every frame to the sockets.
    pub fn set_mode_all(&mut self) -> Result<(), EbpfError> {
        self.with(|l, p| p.write(l, MODE_ALL))?;
        self.port_mode = MODE_ALL;
        Ok(())
    }

    /// Only GRE and VXLAN (UDP 4789) for this port's local addresses to the sockets; the
    /// rest to the kernel.
    pub fn set_mode_underlay(&mut self) -> Result<(), EbpfError> {
        self.with(|l, p| p.write(l, MODE_UNDERLAY))?;
        self.port_mode = MODE_UNDERLAY;
        Ok(())
    }

    /// Adds a local tunnel endpoint address of this port (for underlay mode).
    pub fn add_local_ip(&mut self, ip: Ipv4Addr) -> Result<(), EbpfError> {
        self.with(|l, p| {
            l.local_ips
                .insert([p.ifindex, u32::from_ne_bytes(ip.octets())], 1, 0)
                .map_err(map_err("local_ips"))
        })
    }

    /// Removes a local address; removing an absent one is not an error.
    pub fn remove_local_ip(&mut self, ip: Ipv4Addr) -> Result<(), EbpfError> {
        self.with(|l, p| {
            match l
                .local_ips
                .remove(&[p.ifindex, u32::from_ne_bytes(ip.octets())])
            {
                Ok(()) => Ok(()),
                Err(e) if is_enoent(&e) => Ok(()),
                Err(e) => Err(map_err("local_ips")(e)),
            }
        })
    }

    /// This port's local addresses now in the map.
    pub fn local_ips(&self) -> Vec<Ipv4Addr> {
        self.with(|l, p| {
            Ok(l.local_ips
                .keys()
                .filter_map(Result::ok)
                .filter(|k| k[0] == p.ifindex)
                .map(|k| Ipv4Addr::from(k[1].to_ne_bytes()))
                .collect())
        })
        .unwrap_or_default()
    }

    /// The program's decisions on this port's frames since it was attached, summed over
    /// CPUs.
    pub fn counters(&self) -> Result<XdpCounters, EbpfError> {
        self.with(|l, p| {
            let sum = |c: u32| -> Result<u64, EbpfError> {
                let v = l
                    .counters
                    .get(&(p.port_slot * N_COUNTERS + c), 0)
                    .map_err(map_err("counters"))?;
                Ok(v.iter().sum())
            };
            Ok(XdpCounters {
                to_xsk: sum(CNT_TO_XSK)?,
                to_kernel: sum(CNT_TO_KERNEL)?,
            })
        })
    }
}

/// Attaches a loaded XDP program to `ifindex` through a bpf_link and returns the link
/// and the mode it got. `XdpMode::Auto` tries native mode first and falls back to
/// generic mode with a warning.
///
/// aya quietly falls back to netlink when bpf_link_create says EINVAL; such an
/// attachment would survive us, so it is refused (and detached again).
pub(crate) fn attach_link(
    prog: &mut Xdp,
    ifname: &str,
    ifindex: u32,
    mode: XdpMode,
) -> Result<(XdpAttachment, XdpMode), EbpfError> {
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
    let link = prog
        .take_link(link_id)
        .map_err(|source| EbpfError::Program {
            what: "taking the XDP link",
            source,
        })?;
    // aya says which kind of attachment it made only through the link's Debug form:
    // `FdLink::try_from` would drop a netlink one without detaching it, while dropping
    // the `XdpLink` itself detaches it. (Counting the kernel's links for the program
    // instead opened every link in the system for a moment, which delayed other
    // processes' and threads' detaches: a test saw an XDP program still attached
    // right after its datapath stopped.)
    if format!("{link:?}").contains("NlLink") {
        drop(link);
        return Err(EbpfError::NotABpfLink {
            ifname: ifname.into(),
        });
    }
    let link = FdLink::try_from(link).map_err(EbpfError::Link)?;
    Ok((XdpAttachment::new(link), attached))
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

/// The kernel's id of a loaded program (what `ip link` shows as `prog/xdp id`).
fn program_id(prog: &Xdp) -> Result<u32, EbpfError> {
    Ok(prog
        .info()
        .map_err(|source| EbpfError::Program {
            what: "reading the program's info",
            source,
        })?
        .id())
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
        let mut all = lock(&self.set.state);
        if let Some(at) = all.iter().position(|st| st.netns == self.netns) {
            let st = &mut all[at];
            if let Some(loaded) = st.loaded.as_mut() {
                self.slots.clear(loaded);
            }
            let (b, n) = (self.slots.xsk_base as usize, self.slots.n_queues as usize);
            st.xsk_used[b..b + n].fill(false);
            st.port_used[self.slots.port_slot as usize] = false;
            st.ports -= 1;
            if st.ports == 0 {
                // The namespace's last port: the program and its maps go.
                all.swap_remove(at);
            }
        }
        tracing::info!(
            "{} (ifindex {}): XDP detached",
            self.ifname,
            self.slots.ifindex
        );
    }
}

#[cfg(test)]
mod tests {
    use super::alloc_range;

    #[test]
    fn ranges_are_first_fit_contiguous_and_refused_when_full() {
        let mut used = vec![false; 8];
        assert_eq!(alloc_range(&mut used, 3), Some(0));
        assert_eq!(alloc_range(&mut used, 2), Some(3));
        used[0..3].fill(false); // the first port goes
        assert_eq!(
            alloc_range(&mut used, 4),
            None,
            "no run of 4 free: 0..3, 5..8"
        );
        assert_eq!(alloc_range(&mut used, 3), Some(0));
        assert_eq!(alloc_range(&mut used, 3), Some(5));
        assert_eq!(alloc_range(&mut used, 1), None);
    }
}
