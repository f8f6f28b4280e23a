//! The packet-rate harness's programs in the kernel (feature `bench`, which xvs-bench
//! turns on; the daemon builds without it): the traffic generator
//! (`xdp/xvs_bench_gen.bpf.c`), frames circulating on a veth pair that make the offered
//! frames, the sink's check (`xdp/xvs_bench_sink.bpf.c`), attached to the sink's
//! interface, and the in-kernel redirect baseline ([`RedirectProgram`],
//! `xdp/xvs_redirect.bpf.c`).
//!
//! The generator and the sink describe the frames with offsets into one template frame
//! (the layout of the harness's `FlowSet`): where the per-flow destination MAC, GRE key
//! and stamp are. What the programs do with them is documented at the top of each C file.

use std::io;
use std::os::fd::{AsFd, AsRawFd};

use aya::maps::{Array, MapData, PerCpuArray, XskMap};

use crate::test_run::{prog_test_run, TestRunAttr};

use crate::{
    attach_link, devmap_err, ifindex, load_xdp, map_err, take_map, xdp_program, xsk_clear, xsk_set,
    EbpfError, XdpMode,
};

mod redirect;

pub use redirect::RedirectProgram;

static GEN_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xvs_bench_gen.bpf.o"));
static SINK_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xvs_bench_sink.bpf.o"));

/// An absent offset in the programs' configurations (GEN_NONE, SINK_NONE).
const NONE: u32 = u32::MAX;
/// Longest frame either program handles (SINK_MAX_WORDS * 8 in C; the generator's
/// offsets are bounded by 0x7ff).
pub const MAX_FRAME_LEN: usize = 1600;
/// Words the sink compares (SINK_MAX_WORDS in C).
const SINK_MAX_WORDS: usize = MAX_FRAME_LEN / 8;
/// Rx queues the sink can hand frames to userspace on (SINK_MAX_QUEUES in C).
pub const SINK_MAX_QUEUES: u32 = 64;
/// The sink's seen-flows bitmap: entries of `SEEN_WORDS` u64 (SINK_SEEN_* in C).
const SEEN_ENTRIES: u32 = 128;
const SEEN_WORDS: usize = 128;
/// Flow ids the sink's bitmap can record.
pub const SINK_MAX_FLOWS: u32 = SEEN_ENTRIES * SEEN_WORDS as u32 * 64;
const CNT_OK: u32 = 0;
const CNT_TO_USER: u32 = 1;

fn test_run_err(what: &'static str) -> impl FnOnce(io::Error) -> EbpfError {
    move |source| EbpfError::TestRun { what, source }
}

/// Runs `prog_fd` once on `frame` in plain test mode (nothing is sent or redirected):
/// the XDP action it returned.
fn run_once(prog_fd: u32, frame: &[u8]) -> Result<u32, EbpfError> {
    let mut attr = TestRunAttr {
        prog_fd,
        data_size_in: frame.len() as u32,
        data_in: frame.as_ptr() as u64,
        repeat: 1,
        ..TestRunAttr::default()
    };
    // SAFETY: data_in points to `frame`, of the size given; no other buffer is named.
    unsafe { prog_test_run(&mut attr) }.map_err(test_run_err("running the program once"))?;
    Ok(attr.retval)
}

fn prog_fd(ebpf: &aya::Ebpf, name: &'static str) -> Result<u32, EbpfError> {
    let prog = ebpf.program(name).ok_or(EbpfError::Missing {
        what: "program",
        name,
    })?;
    let fd = prog.fd().map_err(|source| EbpfError::Program {
        what: "the program's fd",
        source,
    })?;
    Ok(fd.as_fd().as_raw_fd() as u32)
}

fn check_field(
    frame_len: usize,
    at: Option<u32>,
    len: usize,
    what: &str,
) -> Result<u32, EbpfError> {
    match at {
        None => Ok(NONE),
        Some(at) if at as usize + len <= frame_len => Ok(at),
        Some(at) => Err(EbpfError::Template(format!(
            "{what} at {at}..{} is beyond the {frame_len}-byte frame",
            at as usize + len
        ))),
    }
}

fn check_frame_len(len: usize) -> Result<(), EbpfError> {
    if !(14..=MAX_FRAME_LEN).contains(&len) {
        return Err(EbpfError::Template(format!(
            "a {len}-byte frame: the harness programs take 14..={MAX_FRAME_LEN} bytes"
        )));
    }
    Ok(())
}

/// The generator's frames: `frame` is flow 0's (and the seeds' length); flow `i` differs in the destination MAC
/// (`mac_base + i`, 48 bits big endian, at `mac_at`), the GRE key (`key_base + i` at
/// `key_at`), and the stamp at `stamp_at` (magic, flow, sequence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenTemplate {
    pub frame: Vec<u8>,
    pub flows: u32,
    pub mac_at: Option<u32>,
    pub mac_base: u64,
    pub key_at: Option<u32>,
    pub key_base: u32,
    pub stamp_at: u32,
}

/// `struct gen_config` in C.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct GenConfig {
    flows: u32,
    mac_at: u32,
    key_at: u32,
    stamp_at: u32,
    mac_base: u64,
    key_base: u32,
    len: u32,
    limit: u64,
}
// SAFETY: plain integers, no padding (checked by the C layout it mirrors).
unsafe impl aya::Pod for GenConfig {}

/// `struct gen_state` in C.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct GenState {
    run: u64,
    made: u64,
    foreign: u64,
}
// SAFETY: plain integers.
unsafe impl aya::Pod for GenState {}

/// The in-kernel generator: `xvs_bench_gen` on the `loop` end of a veth pair and
/// `xvs_bench_bounce` on its `bounce` end, both attached through bpf_links (detached on
/// drop). Seed frames sent into `bounce` (any frame of the template's length; the
/// caller sends them) circulate, and each pass makes the next frame of the set and sends
/// it out of `out` as well. See `xdp/xvs_bench_gen.bpf.c`.
pub struct LoopGenerator {
    /// The attachments; dropped first.
    links: Vec<crate::XdpAttachment>,
    state: Array<MapData, GenState>,
    _out: aya::maps::DevMap<MapData>,
    _ebpf: aya::Ebpf,
}

impl std::fmt::Debug for LoopGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopGenerator").finish_non_exhaustive()
    }
}

impl LoopGenerator {
    /// Loads and attaches (native XDP) in the calling thread's network namespace; makes
    /// nothing until [`start`](Self::start). `limit`: frames to make in all.
    pub fn attach(
        loop_if: &str,
        bounce_if: &str,
        out_if: &str,
        t: &GenTemplate,
        limit: u64,
    ) -> Result<LoopGenerator, EbpfError> {
        check_frame_len(t.frame.len())?;
        if t.flows == 0 {
            return Err(EbpfError::Template("no flows".into()));
        }
        let index =
            |name: &str| ifindex(name).ok_or_else(|| EbpfError::UnknownInterface(name.into()));
        let (loop_index, bounce_index, out_index) =
            (index(loop_if)?, index(bounce_if)?, index(out_if)?);
        let config = GenConfig {
            flows: t.flows,
            mac_at: check_field(t.frame.len(), t.mac_at, 6, "the destination MAC")?,
            key_at: check_field(t.frame.len(), t.key_at, 4, "the GRE key")?,
            stamp_at: check_field(t.frame.len(), Some(t.stamp_at), 16, "the stamp")?,
            mac_base: t.mac_base,
            key_base: t.key_base,
            len: t.frame.len() as u32,
            limit,
        };
        let mut ebpf = aya::Ebpf::load(GEN_OBJECT).map_err(EbpfError::Load)?;
        let mut cfg: Array<MapData, GenConfig> =
            Array::try_from(take_map(&mut ebpf, "gen_config")?).map_err(map_err("gen_config"))?;
        cfg.set(0, config, 0).map_err(map_err("gen_config"))?;
        let state =
            Array::try_from(take_map(&mut ebpf, "gen_state")?).map_err(map_err("gen_state"))?;
        let mut out = aya::maps::DevMap::try_from(take_map(&mut ebpf, "gen_out")?)
            .map_err(map_err("gen_out"))?;
        for (slot, target) in [(0, out_index), (1, loop_index)] {
            out.set(slot, target, None, 0)
                .map_err(devmap_err("gen_out"))?;
        }
        let mut links = Vec::with_capacity(2);
        // The bounce end first: frames sent out of `loop` must find it.
        for (name, ifname, index) in [
            ("xvs_bench_bounce", bounce_if, bounce_index),
            ("xvs_bench_gen", loop_if, loop_index),
        ] {
            let prog = load_xdp(&mut ebpf, name)?;
            let (link, _) = attach_link(prog, ifname, index, XdpMode::Native)?;
            links.push(link);
        }
        Ok(LoopGenerator {
            links,
            state,
            _out: out,
            _ebpf: ebpf,
        })
    }

    fn state(&self) -> Result<GenState, EbpfError> {
        self.state.get(&0, 0).map_err(map_err("gen_state"))
    }

    fn set_run(&mut self, run: bool) -> Result<(), EbpfError> {
        // Only `run` is the caller's; the program owns the counters. Writing the whole
        // value back is safe while the loop is stopped (start) and harmless after (stop:
        // the program no longer counts).
        let mut st = self.state()?;
        st.run = u64::from(run);
        self.state.set(0, st, 0).map_err(map_err("gen_state"))
    }

    /// Lets circulating frames make frames (send the seeds after this).
    pub fn start(&mut self) -> Result<(), EbpfError> {
        self.set_run(true)
    }

    /// Frames arriving from now on are dropped: the loop dies out.
    pub fn stop(&mut self) -> Result<(), EbpfError> {
        self.set_run(false)
    }

    /// Frames made so far (each sent toward the switch once).
    pub fn made(&self) -> Result<u64, EbpfError> {
        Ok(self.state()?.made)
    }

    /// Frames of another length that reached the loop (dropped).
    pub fn foreign(&self) -> Result<u64, EbpfError> {
        Ok(self.state()?.foreign)
    }
}

impl Drop for LoopGenerator {
    fn drop(&mut self) {
        // The generator end first, so nothing is made while the bounce end goes.
        while let Some(link) = self.links.pop() {
            drop(link);
        }
    }
}

/// What the sink program accepts: frames of `frame.len()` bytes equal to `frame` where
/// `mask` is non-zero, with a stamp at `stamp_at` whose flow id `f` is below `flows`,
/// destination MAC `mac_base + f` at `mac_at`, GRE key `key_base + f` at `key_at`, and a
/// valid IPv4 header checksum at `csum_at`, when those are given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkExpectation {
    pub frame: Vec<u8>,
    pub mask: Vec<u8>,
    pub flows: u32,
    pub stamp_at: u32,
    pub mac_at: Option<u32>,
    pub mac_base: u64,
    pub key_at: Option<u32>,
    pub key_base: u32,
    pub csum_at: Option<u32>,
}

/// `struct sink_expect` in C.
#[repr(C)]
#[derive(Clone, Copy)]
struct SinkExpect {
    len: u32,
    flows: u32,
    stamp_at: u32,
    mac_at: u32,
    key_at: u32,
    csum_at: u32,
    mac_base: u64,
    key_base: u32,
    words: u32,
    expected: [u64; SINK_MAX_WORDS],
    mask: [u64; SINK_MAX_WORDS],
}
// SAFETY: plain integers, no padding (checked by the C layout it mirrors).
unsafe impl aya::Pod for SinkExpect {}

impl SinkExpectation {
    fn raw(&self) -> Result<SinkExpect, EbpfError> {
        let len = self.frame.len();
        check_frame_len(len)?;
        if len < 8 || self.mask.len() != len {
            return Err(EbpfError::Template(format!(
                "a mask of {} bytes for a {len}-byte frame",
                self.mask.len()
            )));
        }
        if self.flows == 0 || self.flows > SINK_MAX_FLOWS {
            return Err(EbpfError::Template(format!(
                "{} flows: the sink takes 1..={SINK_MAX_FLOWS}",
                self.flows
            )));
        }
        let words = len.div_ceil(8);
        let mut raw = SinkExpect {
            len: len as u32,
            flows: self.flows,
            stamp_at: check_field(len, Some(self.stamp_at), 16, "the stamp")?,
            mac_at: check_field(len, self.mac_at, 6, "the destination MAC")?,
            key_at: check_field(len, self.key_at, 4, "the GRE key")?,
            csum_at: check_field(len, self.csum_at, 20, "the IPv4 header")?,
            mac_base: self.mac_base,
            key_base: self.key_base,
            words: words as u32,
            expected: [0; SINK_MAX_WORDS],
            mask: [0; SINK_MAX_WORDS],
        };
        let mask: Vec<u8> = self
            .mask
            .iter()
            .map(|&m| if m != 0 { 0xff } else { 0 })
            .collect();
        for i in 0..words {
            // As the program reads them: word i at 8 i, the last one ending the frame.
            let at = (8 * i).min(len - 8);
            let word = |b: &[u8]| u64::from_ne_bytes(b[at..at + 8].try_into().unwrap_or([0; 8]));
            raw.expected[i] = word(&self.frame);
            raw.mask[i] = word(&mask);
        }
        Ok(raw)
    }
}

/// The sink program's totals, summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkXdpCounters {
    /// Frames that were exactly as expected (counted and dropped in the kernel).
    pub ok: u64,
    /// Frames handed to userspace (or to the kernel when no socket was there).
    pub to_user: u64,
}

/// One instance of the sink program: attached to an interface, or only loaded (to run
/// it on frames in tests). Detaches on drop.
pub struct SinkProgram {
    ifname: Option<String>,
    mode: Option<XdpMode>,
    /// The attachment; dropped first.
    link: Option<crate::XdpAttachment>,
    prog_fd: u32,
    xsks: XskMap<MapData>,
    counters: PerCpuArray<MapData, u64>,
    seen: Array<MapData, [u64; SEEN_WORDS]>,
    _ebpf: aya::Ebpf,
}

impl std::fmt::Debug for SinkProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkProgram")
            .field("ifname", &self.ifname)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl SinkProgram {
    /// Loads an instance that checks for `exp`, attached nowhere.
    pub fn load(exp: &SinkExpectation) -> Result<SinkProgram, EbpfError> {
        let raw = exp.raw()?;
        let mut ebpf = aya::Ebpf::load(SINK_OBJECT).map_err(EbpfError::Load)?;
        load_xdp(&mut ebpf, "xvs_bench_sink")?;
        let mut expect: Array<MapData, SinkExpect> =
            Array::try_from(take_map(&mut ebpf, "expect")?).map_err(map_err("expect"))?;
        expect.set(0, raw, 0).map_err(map_err("expect"))?;
        let xsks = XskMap::try_from(take_map(&mut ebpf, "xsks")?).map_err(map_err("xsks"))?;
        let counters =
            PerCpuArray::try_from(take_map(&mut ebpf, "counters")?).map_err(map_err("counters"))?;
        let seen = Array::try_from(take_map(&mut ebpf, "seen")?).map_err(map_err("seen"))?;
        Ok(SinkProgram {
            ifname: None,
            mode: None,
            link: None,
            prog_fd: prog_fd(&ebpf, "xvs_bench_sink")?,
            xsks,
            counters,
            seen,
            _ebpf: ebpf,
        })
    }

    /// Loads an instance for `exp` and attaches it to `ifname` (in the calling thread's
    /// network namespace) through a bpf_link.
    pub fn attach(
        ifname: &str,
        mode: XdpMode,
        exp: &SinkExpectation,
    ) -> Result<SinkProgram, EbpfError> {
        let index = ifindex(ifname).ok_or_else(|| EbpfError::UnknownInterface(ifname.into()))?;
        let mut p = SinkProgram::load(exp)?;
        let prog = xdp_program(&mut p._ebpf, "xvs_bench_sink")?;
        let (link, attached) = attach_link(prog, ifname, index, mode)?;
        p.link = Some(link);
        p.ifname = Some(ifname.into());
        p.mode = Some(attached);
        Ok(p)
    }

    /// Native or Generic when attached.
    pub fn attached_mode(&self) -> Option<XdpMode> {
        self.mode
    }

    /// Frames of rx queue `queue` that are not as expected go to socket `fd`.
    pub fn set_xsk(&mut self, queue: u32, fd: impl AsRawFd) -> Result<(), EbpfError> {
        xsk_set(&mut self.xsks, SINK_MAX_QUEUES, queue, fd)
    }

    pub fn clear_xsk(&mut self, queue: u32) -> Result<(), EbpfError> {
        xsk_clear(&mut self.xsks, SINK_MAX_QUEUES, queue)
    }

    pub fn counters(&self) -> Result<SinkXdpCounters, EbpfError> {
        let sum = |slot: u32| -> Result<u64, EbpfError> {
            Ok(self
                .counters
                .get(&slot, 0)
                .map_err(map_err("counters"))?
                .iter()
                .sum())
        };
        Ok(SinkXdpCounters {
            ok: sum(CNT_OK)?,
            to_user: sum(CNT_TO_USER)?,
        })
    }

    /// Which flow ids arrived as expected at least once: bit `f % 64` of word `f / 64`.
    pub fn seen_flows(&self) -> Result<Vec<u64>, EbpfError> {
        let mut bits = Vec::with_capacity(SEEN_ENTRIES as usize * SEEN_WORDS);
        for entry in 0..SEEN_ENTRIES {
            bits.extend(self.seen.get(&entry, 0).map_err(map_err("seen"))?);
        }
        Ok(bits)
    }

    /// Runs the program once on `frame` (plain test mode, nothing is redirected): the
    /// XDP action, XDP_DROP when the frame was as expected. The counters count it.
    pub fn check(&self, frame: &[u8]) -> Result<u32, EbpfError> {
        run_once(self.prog_fd, frame)
    }
}

impl Drop for SinkProgram {
    fn drop(&mut self) {
        drop(self.link.take());
    }
}

/// The XDP action the sink program returns for a frame that was as expected
/// (uapi/linux/bpf.h).
pub const XDP_DROP: u32 = 1;
