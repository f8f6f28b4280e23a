//! The XDP tier's maps (`xdp/xvs_tier.h`), seen as bytes, and a harness that loads the
//! program without attaching it and runs it on frames with `BPF_PROG_TEST_RUN`.
//!
//! This module knows the maps' names and the sizes of their keys and values; what the
//! bytes mean (a flow key, a mask, an action program) is `xvs_dataplane::xdp_tier`'s,
//! which encodes them (that crate depends on this one, not the other way round).

use std::io;
use std::os::fd::{AsFd, AsRawFd};

use aya::maps::{Array, DevMap, HashMap, MapData, MapError, PerCpuArray, PerCpuValues};

use crate::test_run::{bpf_call, prog_test_run, TestRunAttr, XdpMd};
use crate::{load_xdp, map_err, take_map, EbpfError, PROGRAM_NAME, XDP_OBJECT};

/// Masks the program probes (XVS_TIER_MAX_MASKS).
pub const MAX_MASKS: u32 = 16;
/// Entries of the flow map and of the counters (XVS_TIER_MAX_FLOWS).
pub const MAX_FLOWS: u32 = 65536;
/// Entries of the port map (XVS_TIER_MAX_PORTS).
pub const MAX_PORTS: u32 = 1024;
/// Output slots of the devmap (XVS_TIER_MAX_TX).
pub const MAX_TX: u32 = 1024;

/// `struct tier_key`.
pub const KEY_LEN: usize = 32;
/// `struct tier_flow_key`: mask id, padding, masked key.
pub const FLOW_KEY_LEN: usize = 40;
/// `struct tier_actions`.
pub const ACTIONS_LEN: usize = 112;

pub type KeyBytes = [u8; KEY_LEN];
pub type FlowKeyBytes = [u8; FLOW_KEY_LEN];
pub type ActionsBytes = [u8; ACTIONS_LEN];
/// `struct tier_tunnel_key`.
pub type TunnelKeyBytes = [u8; 16];

/// `struct tier_port.flags`: the tier runs on frames of this port.
pub const PORT_ON: u32 = 1;
/// `struct tier_port.flags`: the port is an underlay (frames are decapsulated first;
/// its local addresses are those of the steering program's `local_ips`).
pub const PORT_UNDERLAY: u32 = 2;

/// What the program did with the last frame on a CPU (`struct tier_trace.kind`), when
/// tracing is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceKind {
    /// Nothing recorded (the tier did not run).
    None,
    /// Left to the AF_XDP path, untouched.
    Punt,
    /// Dropped by an entry.
    Drop,
    /// Redirected through the devmap by an entry.
    Redirect,
}

/// `struct tier_trace`: the last decision on one CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trace {
    pub kind: TraceKind,
    pub entry_id: u64,
    pub out_port: u32,
}

impl Trace {
    fn from_bytes(b: &[u8; 16]) -> Trace {
        let kind = match u32::from_ne_bytes(b[12..16].try_into().unwrap()) {
            1 => TraceKind::Punt,
            2 => TraceKind::Drop,
            3 => TraceKind::Redirect,
            _ => TraceKind::None,
        };
        Trace {
            kind,
            entry_id: u64::from_ne_bytes(b[0..8].try_into().unwrap()),
            out_port: u32::from_ne_bytes(b[8..12].try_into().unwrap()),
        }
    }
}

/// The tier's maps of one loaded program.
pub struct TierMaps {
    config: Array<MapData, [u8; 16]>,
    ports: HashMap<MapData, u32, [u8; 8]>,
    masks: Array<MapData, KeyBytes>,
    tunnels: HashMap<MapData, TunnelKeyBytes, u32>,
    flows: HashMap<MapData, FlowKeyBytes, ActionsBytes>,
    counters: PerCpuArray<MapData, [u8; 16]>,
    /// The counters' descriptor again, for batched reads (aya has none).
    counters_fd: std::os::fd::OwnedFd,
    tx: DevMap<MapData>,
    /// The devmap's descriptor again: aya's `DevMap` cannot delete an element.
    tx_fd: std::os::fd::OwnedFd,
    trace: PerCpuArray<MapData, [u8; 16]>,
    config_now: TierConfig,
}

/// `struct tier_config`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TierConfig {
    /// Off: the program is today's steering program, byte for byte in what it does.
    pub enabled: bool,
    /// Record every decision in `tier_trace` (tests; a map write per frame).
    pub trace: bool,
    /// Masks 0..n_masks are probed, in order.
    pub n_masks: u32,
}

/// A descriptor of our own for map `name` (before aya's typed map takes it).
fn dup_map_fd(ebpf: &aya::Ebpf, name: &'static str) -> Result<std::os::fd::OwnedFd, EbpfError> {
    let data = match ebpf.map(name) {
        Some(aya::maps::Map::PerCpuArray(d)) | Some(aya::maps::Map::DevMap(d)) => d,
        _ => return Err(EbpfError::Missing { what: "map", name }),
    };
    data.fd()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| map_err(name)(MapError::IoError(e)))
}

fn ignore_absent(r: Result<(), MapError>) -> Result<(), MapError> {
    match r {
        Err(MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        Err(MapError::KeyNotFound) => Ok(()),
        r => r,
    }
}

impl TierMaps {
    /// Takes the tier's maps out of a loaded object.
    pub fn take(ebpf: &mut aya::Ebpf) -> Result<TierMaps, EbpfError> {
        Ok(TierMaps {
            config: Array::try_from(take_map(ebpf, "tier_config")?)
                .map_err(map_err("tier_config"))?,
            ports: HashMap::try_from(take_map(ebpf, "tier_ports")?)
                .map_err(map_err("tier_ports"))?,
            masks: Array::try_from(take_map(ebpf, "tier_masks")?).map_err(map_err("tier_masks"))?,
            tunnels: HashMap::try_from(take_map(ebpf, "tier_tunnels")?)
                .map_err(map_err("tier_tunnels"))?,
            flows: HashMap::try_from(take_map(ebpf, "tier_flows")?)
                .map_err(map_err("tier_flows"))?,
            counters_fd: dup_map_fd(ebpf, "tier_counters")?,
            counters: PerCpuArray::try_from(take_map(ebpf, "tier_counters")?)
                .map_err(map_err("tier_counters"))?,
            tx_fd: dup_map_fd(ebpf, "tier_tx")?,
            tx: DevMap::try_from(take_map(ebpf, "tier_tx")?).map_err(map_err("tier_tx"))?,
            trace: PerCpuArray::try_from(take_map(ebpf, "tier_trace")?)
                .map_err(map_err("tier_trace"))?,
            config_now: TierConfig::default(),
        })
    }

    pub fn config(&self) -> TierConfig {
        self.config_now
    }

    pub fn set_config(&mut self, c: TierConfig) -> Result<(), EbpfError> {
        let mut b = [0u8; 16];
        b[0..4].copy_from_slice(&u32::from(c.enabled).to_ne_bytes());
        b[4..8].copy_from_slice(&u32::from(c.trace).to_ne_bytes());
        b[8..12].copy_from_slice(&c.n_masks.min(MAX_MASKS).to_ne_bytes());
        self.config.set(0, b, 0).map_err(map_err("tier_config"))?;
        self.config_now = c;
        Ok(())
    }

    /// Frames received on `ifindex` are datapath port `port_no`'s; `flags` [`PORT_ON`]
    /// lets the tier run on them.
    pub fn set_port(&mut self, ifindex: u32, port_no: u32, flags: u32) -> Result<(), EbpfError> {
        let mut v = [0u8; 8];
        v[0..4].copy_from_slice(&port_no.to_ne_bytes());
        v[4..8].copy_from_slice(&flags.to_ne_bytes());
        self.ports
            .insert(ifindex, v, 0)
            .map_err(map_err("tier_ports"))
    }

    pub fn remove_port(&mut self, ifindex: u32) -> Result<(), EbpfError> {
        ignore_absent(self.ports.remove(&ifindex)).map_err(map_err("tier_ports"))
    }

    /// Packets with these tunnel addresses belong to datapath port `port_no`.
    pub fn insert_tunnel(&mut self, key: &TunnelKeyBytes, port_no: u32) -> Result<(), EbpfError> {
        self.tunnels
            .insert(key, port_no, 0)
            .map_err(map_err("tier_tunnels"))
    }

    pub fn remove_tunnel(&mut self, key: &TunnelKeyBytes) -> Result<(), EbpfError> {
        ignore_absent(self.tunnels.remove(key)).map_err(map_err("tier_tunnels"))
    }

    pub fn set_mask(&mut self, mask_id: u32, mask: &KeyBytes) -> Result<(), EbpfError> {
        self.masks
            .set(mask_id, *mask, 0)
            .map_err(map_err("tier_masks"))
    }

    pub fn insert_flow(
        &mut self,
        key: &FlowKeyBytes,
        actions: &ActionsBytes,
    ) -> Result<(), EbpfError> {
        self.flows
            .insert(key, actions, 0)
            .map_err(map_err("tier_flows"))
    }

    /// Removes a flow; an absent one is not an error.
    pub fn remove_flow(&mut self, key: &FlowKeyBytes) -> Result<(), EbpfError> {
        ignore_absent(self.flows.remove(key)).map_err(map_err("tier_flows"))
    }

    /// Empties the tier: no port, tunnel, mask or flow left, and the tier off (output
    /// slots and counters stay; a slot's counters are cleared when it is given out).
    pub fn clear(&mut self) -> Result<(), EbpfError> {
        self.set_config(TierConfig::default())?;
        let flows: Vec<FlowKeyBytes> = self.flows.keys().filter_map(Result::ok).collect();
        for k in &flows {
            self.remove_flow(k)?;
        }
        let tunnels: Vec<TunnelKeyBytes> = self.tunnels.keys().filter_map(Result::ok).collect();
        for k in &tunnels {
            self.remove_tunnel(k)?;
        }
        let ports: Vec<u32> = self.ports.keys().filter_map(Result::ok).collect();
        for k in ports {
            self.remove_port(k)?;
        }
        for slot in 0..MAX_MASKS {
            self.set_mask(slot, &[0; KEY_LEN])?;
        }
        Ok(())
    }

    /// Sends output slot `slot`'s frames out of `ifindex`.
    pub fn set_tx(&mut self, slot: u32, ifindex: u32) -> Result<(), EbpfError> {
        self.tx
            .set(slot, ifindex, None, 0)
            .map_err(|e| EbpfError::Map {
                map: "tier_tx",
                source: MapError::IoError(io::Error::other(e.to_string())),
            })
    }

    /// Empties output slot `slot` (its entries' frames are punted from then on); an
    /// empty slot is not an error.
    pub fn remove_tx(&mut self, slot: u32) -> Result<(), EbpfError> {
        #[repr(C)]
        struct DeleteAttr {
            map_fd: u32,
            _pad: u32,
            key: u64,
        }
        let mut attr = DeleteAttr {
            map_fd: self.tx_fd.as_raw_fd() as u32,
            _pad: 0,
            key: &slot as *const u32 as u64,
        };
        // SAFETY: BPF_MAP_DELETE_ELEM (3) reads the attr and the 4-byte key it points
        // to, both alive for the call.
        match unsafe { bpf_call(3, &mut attr) } {
            Err(e) if e.raw_os_error() != Some(libc::ENOENT) => {
                Err(map_err("tier_tx")(MapError::IoError(e)))
            }
            _ => Ok(()),
        }
    }

    /// (packets, bytes) of a counter slot, summed over CPUs.
    pub fn counter(&self, slot: u32) -> Result<(u64, u64), EbpfError> {
        let v = self
            .counters
            .get(&slot, 0)
            .map_err(map_err("tier_counters"))?;
        Ok(v.iter().fold((0, 0), |(p, b), c| {
            (
                p + u64::from_ne_bytes(c[0..8].try_into().unwrap()),
                b + u64::from_ne_bytes(c[8..16].try_into().unwrap()),
            )
        }))
    }

    /// (packets, bytes) of counter slots `0..n`, summed over CPUs, in a few
    /// `BPF_MAP_LOOKUP_BATCH` calls rather than one lookup each (a tick credits every
    /// entry: one system call each would take the switch core's time with tens of
    /// thousands of entries).
    pub fn counters_upto(&self, n: u32) -> Result<Vec<(u64, u64)>, EbpfError> {
        #[repr(C)]
        #[derive(Default)]
        struct BatchAttr {
            in_batch: u64,
            out_batch: u64,
            keys: u64,
            values: u64,
            count: u32,
            map_fd: u32,
            elem_flags: u64,
            flags: u64,
        }
        let cpus = aya::util::nr_cpus()
            .map_err(|(_, e)| map_err("tier_counters")(MapError::IoError(e)))?;
        let n = n.min(MAX_FLOWS) as usize;
        let mut out = Vec::with_capacity(n);
        const CHUNK: usize = 4096;
        let mut keys = vec![0u32; CHUNK];
        let mut values = vec![0u8; CHUNK * cpus * 16];
        let mut cursor: u32 = 0;
        let mut first = true;
        while out.len() < n {
            let want = (n - out.len()).min(CHUNK);
            let mut next: u32 = 0;
            let mut attr = BatchAttr {
                in_batch: if first {
                    0
                } else {
                    &cursor as *const u32 as u64
                },
                out_batch: &mut next as *mut u32 as u64,
                keys: keys.as_mut_ptr() as u64,
                values: values.as_mut_ptr() as u64,
                count: want as u32,
                map_fd: self.counters_fd.as_raw_fd() as u32,
                ..Default::default()
            };
            // SAFETY: BPF_MAP_LOOKUP_BATCH (24) writes at most `count` keys (4 bytes) and
            // values (`cpus` x 16 bytes each) into the buffers, which are that large,
            // and one key into `next`; all alive for the call.
            let done = match unsafe { bpf_call(24, &mut attr) } {
                Ok(_) => false,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => true,
                Err(e) => return Err(map_err("tier_counters")(MapError::IoError(e))),
            };
            let got = (attr.count as usize).min(want);
            for i in 0..got {
                let v = &values[i * cpus * 16..(i + 1) * cpus * 16];
                let (mut p, mut b) = (0u64, 0u64);
                for c in v.chunks_exact(16) {
                    p += u64::from_ne_bytes(c[0..8].try_into().expect("8"));
                    b += u64::from_ne_bytes(c[8..16].try_into().expect("8"));
                }
                out.push((p, b));
            }
            if done || got == 0 {
                break;
            }
            cursor = next;
            first = false;
        }
        Ok(out)
    }

    /// Zeroes a counter slot on every CPU.
    pub fn clear_counter(&mut self, slot: u32) -> Result<(), EbpfError> {
        self.counters
            .set(slot, zeroes()?, 0)
            .map_err(map_err("tier_counters"))
    }

    /// The decision recorded since [`TierMaps::clear_trace`], on whichever CPU ran it.
    pub fn last_trace(&self) -> Result<Trace, EbpfError> {
        let v = self.trace.get(&0, 0).map_err(map_err("tier_trace"))?;
        Ok(v.iter()
            .map(Trace::from_bytes)
            .find(|t| t.kind != TraceKind::None)
            .unwrap_or(Trace {
                kind: TraceKind::None,
                entry_id: 0,
                out_port: 0,
            }))
    }

    pub fn clear_trace(&mut self) -> Result<(), EbpfError> {
        self.trace
            .set(0, zeroes()?, 0)
            .map_err(map_err("tier_trace"))
    }
}

fn zeroes() -> Result<PerCpuValues<[u8; 16]>, EbpfError> {
    let n = aya::util::nr_cpus().map_err(|(_, source)| EbpfError::Map {
        map: "per-CPU",
        source: MapError::IoError(source),
    })?;
    PerCpuValues::try_from(vec![[0u8; 16]; n]).map_err(|source| EbpfError::Map {
        map: "per-CPU",
        source: MapError::IoError(source),
    })
}

/// One test run's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRun {
    /// The XDP verdict (XDP_DROP 1, XDP_PASS 2, XDP_REDIRECT 4, ...). In test mode a
    /// redirect is not carried out.
    pub verdict: u32,
    /// The frame as the program left it.
    pub frame: Vec<u8>,
}

pub const XDP_ABORTED: u32 = 0;
pub const XDP_DROP: u32 = 1;
pub const XDP_PASS: u32 = 2;
pub const XDP_REDIRECT: u32 = 4;

/// The production program loaded (verified) but attached nowhere, with its tier maps,
/// for `BPF_PROG_TEST_RUN`.
pub struct TierHarness {
    pub maps: TierMaps,
    /// Instructions the verifier went through to accept the program (its complexity,
    /// against the kernel's limit of 1,000,000), and the program's size after
    /// translation, in bytes; None where the kernel does not say.
    pub verified_instructions: Option<u32>,
    pub translated_bytes: Option<u32>,
    /// The steering program's local tunnel addresses, `[ingress ifindex, address as on
    /// the wire]`, which the tier decapsulates for.
    pub local_ips: HashMap<MapData, [u32; 2], u8>,
    prog_fd: u32,
    _ebpf: aya::Ebpf,
}

impl TierHarness {
    /// Loads the production object: the kernel's verifier accepts or refuses it here.
    pub fn load() -> Result<TierHarness, EbpfError> {
        let mut ebpf = aya::EbpfLoader::new()
            .btf(crate::kernel_btf())
            .load(XDP_OBJECT)
            .map_err(EbpfError::Load)?;
        let prog = load_xdp(&mut ebpf, PROGRAM_NAME)?;
        let info = prog.info().map_err(|source| EbpfError::Program {
            what: "reading the program's info",
            source,
        })?;
        let verified_instructions = info.verified_instruction_count();
        let translated_bytes = info.size_translated();
        let prog_fd = prog
            .fd()
            .map_err(|source| EbpfError::Program {
                what: "the loaded program's fd",
                source,
            })?
            .as_fd()
            .as_raw_fd() as u32;
        let maps = TierMaps::take(&mut ebpf)?;
        let local_ips =
            HashMap::try_from(take_map(&mut ebpf, "local_ips")?).map_err(map_err("local_ips"))?;
        Ok(TierHarness {
            maps,
            verified_instructions,
            translated_bytes,
            local_ips,
            prog_fd,
            _ebpf: ebpf,
        })
    }

    /// Runs the program once on `frame` as received on `ifindex`, queue `queue` (the
    /// device must exist and have that queue: the kernel checks).
    pub fn run(&self, frame: &[u8], ifindex: u32, queue: u32) -> Result<TestRun, io::Error> {
        // Room for what the program may add in front (headroom is the kernel's) and
        // the frame itself.
        let mut out = vec![0u8; frame.len() + 256];
        let ctx = XdpMd {
            data: 0,
            data_end: frame.len() as u32,
            data_meta: 0,
            ingress_ifindex: ifindex,
            rx_queue_index: queue,
            egress_ifindex: 0,
        };
        let mut attr = TestRunAttr {
            prog_fd: self.prog_fd,
            data_size_in: frame.len() as u32,
            data_size_out: out.len() as u32,
            data_in: frame.as_ptr() as u64,
            data_out: out.as_mut_ptr() as u64,
            repeat: 1,
            ctx_size_in: std::mem::size_of::<XdpMd>() as u32,
            ctx_in: &ctx as *const XdpMd as u64,
            ..TestRunAttr::default()
        };
        // SAFETY: its pointers (data_in, data_out, ctx_in) point to `frame`, `out` and
        // `ctx`, of the sizes it gives, which outlive the call.
        unsafe { prog_test_run(&mut attr)? };
        out.truncate(attr.data_size_out as usize);
        Ok(TestRun {
            verdict: attr.retval,
            frame: out,
        })
    }
}
