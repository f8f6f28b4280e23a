//! The receive path of a worker: a socket's rx descriptors go through the pipeline
//! ([`Worker::process_batch`]) in place in their UMEM frames, and the frames straight back
//! to the socket's fill ring, which is topped up from the free list when short.

use std::os::fd::RawFd;

use smallvec::SmallVec;

use super::tx::TxPath;
use crate::afxdp::ring::{ConsRing, ProdRing};
use crate::afxdp::socket::XdpDesc;
use crate::afxdp::sys;
use crate::afxdp::umem::{FramePool, UmemArea};
use crate::execute::FrameBuf;
use crate::flow_key::PortNo;
use crate::worker::{Worker, MAX_BATCH};

#[derive(Default, Clone, Copy)]
pub(super) struct RxCounters {
    pub(super) packets: u64,
    pub(super) bytes: u64,
    pub(super) bad_desc: u64,
}

/// The receive half of a socket.
pub(super) struct RxSide {
    pub(super) slot: u16,
    pub(super) port: PortNo,
    pub(super) fd: RawFd,
    pub(super) rx: ConsRing<XdpDesc>,
    pub(super) fill: ProdRing<u64>,
    /// Frames this socket holds (fill ring, rx ring, being processed).
    pub(super) owned: u32,
    /// Frames it should hold: the worker's fill budget shared among its sockets
    /// (`WorkerIo::share_fill`). Above it, received frames go back to the free list
    /// instead of the fill ring, so that a socket added later gets its share.
    pub(super) target: u32,
    pub(super) counters: RxCounters,
}

/// Puts free frames into a socket's fill ring until it holds `target`, keeping
/// `reserve` frames for transmission.
pub(super) fn top_up(r: &mut RxSide, pool: &mut FramePool, target: u32, reserve: usize) {
    if r.owned >= target {
        return;
    }
    let avail = pool.n_free().saturating_sub(reserve) as u32;
    let want = (target - r.owned).min(avail);
    let k = want.min(r.fill.nb_free(want));
    if k == 0 {
        return;
    }
    let idx = r.fill.reserve(k).expect("nb_free said there was room");
    for i in 0..k {
        let f = pool.alloc(r.slot).expect("counted free frames");
        r.fill.write(idx.wrapping_add(i), f);
    }
    r.fill.submit(k);
    r.owned += k;
}

/// Receives and processes up to `batch` frames of one socket. Returns how many; adds
/// those handed to the pipeline to `packets`.
#[inline]
pub(super) fn service_rx<C: Fn() -> u64>(
    r: &mut RxSide,
    tx: &mut TxPath,
    umem: &UmemArea,
    worker: &mut Worker,
    clock: &C,
    batch: u32,
    packets: &mut u64,
) -> u32 {
    let (n, idx) = r.rx.peek(batch);
    if n == 0 {
        if r.fill.needs_wakeup() {
            sys::wake_rx(r.fd);
        }
        return 0;
    }
    let now = clock();
    // The frames go back to the fill ring once the batch is done. There is room: the
    // socket holds at most half a fill ring of frames (DatapathConfig::fill_frames).
    let fidx = r.fill.reserve(n);
    let mut written = 0u32;
    let mut to_pool: u32 = 0;
    let mut addrs: SmallVec<[u64; MAX_BATCH]> = SmallVec::new();
    let mut frames: SmallVec<[FrameBuf<&mut [u8]>; MAX_BATCH]> = SmallVec::new();
    for i in 0..n {
        let d = r.rx.read(idx.wrapping_add(i));
        let Some((frame, off)) = umem.locate(d.addr, d.len) else {
            r.counters.bad_desc += 1;
            // Give the frame back if at least the address is ours.
            if d.addr < umem.len() as u64 {
                let f = d.addr & !(umem.frame_size() as u64 - 1);
                if let Some(fi) = fidx {
                    r.fill.write(fi.wrapping_add(written), f);
                    written += 1;
                }
            }
            continue;
        };
        r.counters.packets += 1;
        r.counters.bytes += d.len as u64;
        // SAFETY: the frame came off this socket's rx ring: it is ours until it goes back
        // to the fill ring below, and it is on no list the tx path allocates from (its
        // owner is this socket's slot), so no other slice of it exists (datapath module
        // doc); the frames of one batch are distinct frames, so their slices are disjoint.
        let chunk = unsafe { umem.frame_mut(frame) };
        if let Ok(f) = FrameBuf::from_parts(chunk, off, d.len as usize) {
            frames.push(f);
        }
        addrs.push(frame);
    }
    *packets += frames.len() as u64;
    // One batch: the worker overlaps the batch's cache misses (Worker::process_batch).
    worker.process_batch(r.port, &mut frames, now, &mut |p, b: &[u8]| tx.send(p, b));
    drop(frames);
    // Frames above the socket's share go to the free list (its share shrank when
    // another socket came).
    let mut surplus = r.owned.saturating_sub(r.target);
    for frame in addrs {
        if surplus > 0 {
            surplus -= 1;
            tx.pool.free(frame);
            to_pool += 1;
            continue;
        }
        match fidx {
            Some(fi) => {
                r.fill.write(fi.wrapping_add(written), frame);
                written += 1;
            }
            None => {
                // Cannot happen with fill_frames <= fill ring / 2; stay correct anyway.
                tx.pool.free(frame);
                to_pool += 1;
            }
        }
    }
    r.rx.release(n);
    if let Some(_fi) = fidx {
        r.fill.submit(written);
        r.fill.cancel(n - written);
        r.owned -= n - written;
    } else {
        r.owned -= to_pool;
    }
    n
}
