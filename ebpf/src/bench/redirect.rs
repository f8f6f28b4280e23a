//! The benchmark's in-kernel baseline, [`RedirectProgram`] (`xdp/xvs_redirect.bpf.c`):
//! every frame of one interface redirected, untouched, to another.

use aya::maps::MapData;

#[cfg(doc)]
use crate::XdpProgram;
use crate::{attach_link, devmap_err, ifindex, load_xdp, map_err, take_map, EbpfError, XdpMode};

/// The compiled redirect object (`xdp/xvs_redirect.bpf.c`).
static REDIRECT_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xvs_redirect.bpf.o"));

const REDIRECT_PROGRAM_NAME: &str = "xvs_redirect";

/// The benchmark's in-kernel baseline: an XDP program that redirects every frame arriving
/// on one interface, untouched, to another (entry 0 of its devmap `tx_port`). Attached
/// through a bpf_link like [`XdpProgram`], so it goes away with this value (or the
/// process). Detaches on drop.
///
/// Redirecting into a veth needs NAPI on the target's peer (`ethtool -K PEER gro on`, or
/// an XDP program there); without it the kernel drops the frames.
pub struct RedirectProgram {
    ifname: String,
    ifindex: u32,
    to_ifindex: u32,
    mode: XdpMode,
    /// The attachment: closing this fd detaches the program. Dropped first.
    link: Option<crate::XdpAttachment>,
    _tx_port: aya::maps::DevMap<MapData>,
    _ebpf: aya::Ebpf,
}

impl std::fmt::Debug for RedirectProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedirectProgram")
            .field("ifname", &self.ifname)
            .field("ifindex", &self.ifindex)
            .field("to_ifindex", &self.to_ifindex)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl RedirectProgram {
    /// Loads a fresh instance, points it at `to_ifindex` and attaches it to `ifname` (both
    /// in the calling thread's network namespace) through a bpf_link. `XdpMode::Auto`
    /// tries native mode first and falls back to generic mode with a warning.
    pub fn attach(
        ifname: &str,
        to_ifindex: u32,
        mode: XdpMode,
    ) -> Result<RedirectProgram, EbpfError> {
        let ifindex = ifindex(ifname).ok_or_else(|| EbpfError::UnknownInterface(ifname.into()))?;
        let mut ebpf = aya::Ebpf::load(REDIRECT_OBJECT).map_err(EbpfError::Load)?;
        // The target first: from the moment it is attached, every frame is redirected.
        let mut tx_port = aya::maps::DevMap::try_from(take_map(&mut ebpf, "tx_port")?)
            .map_err(map_err("tx_port"))?;
        tx_port
            .set(0, to_ifindex, None, 0)
            .map_err(devmap_err("tx_port"))?;
        let prog = load_xdp(&mut ebpf, REDIRECT_PROGRAM_NAME)?;
        let (link, attached) = attach_link(prog, ifname, ifindex, mode)?;
        tracing::info!(
            "{ifname} (ifindex {ifindex}): XDP redirect to ifindex {to_ifindex} attached in {attached:?} mode"
        );
        Ok(RedirectProgram {
            ifname: ifname.into(),
            ifindex,
            to_ifindex,
            mode: attached,
            link: Some(link),
            _tx_port: tx_port,
            _ebpf: ebpf,
        })
    }

    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    pub fn to_ifindex(&self) -> u32 {
        self.to_ifindex
    }

    /// Native or Generic: the mode the program is attached in.
    pub fn attached_mode(&self) -> XdpMode {
        self.mode
    }
}

impl Drop for RedirectProgram {
    fn drop(&mut self) {
        drop(self.link.take());
        tracing::info!(
            "{} (ifindex {}): XDP redirect detached",
            self.ifname,
            self.ifindex
        );
    }
}
