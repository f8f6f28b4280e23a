//! The transmit path of a worker: each output is copied into a free UMEM frame and queued
//! on the tx ring of the worker's socket on the out port; the tx rings are submitted once
//! per loop iteration and kicked (`sendto`) only when the kernel asks for it
//! (need_wakeup; always so in copy mode, which sends at most 32 frames per kick); completed
//! frames go back to the free list.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::afxdp::ring::{ConsRing, ProdRing};
use crate::afxdp::socket::XdpDesc;
use crate::afxdp::sys::{self, KickError};
use crate::afxdp::umem::FramePool;
use crate::flow_key::PortNo;

/// Frames the kernel's copy-mode transmit sends per `sendto` (TX_BATCH_SIZE).
const COPY_TX_PER_KICK: u32 = 32;

#[derive(Default, Clone, Copy)]
pub(super) struct TxCounters {
    pub(super) packets: u64,
    pub(super) bytes: u64,
    pub(super) ring_full: u64,
    pub(super) no_socket: u64,
    pub(super) no_frame: u64,
    pub(super) too_big: u64,
    /// Outputs dropped because the netdev could not carry them (no carrier).
    pub(super) link_down: u64,
    pub(super) kicks: u64,
    pub(super) kick_errors: u64,
}

/// The transmit half of a socket.
pub(super) struct TxSide {
    pub(super) slot: u16,
    pub(super) port: PortNo,
    pub(super) fd: RawFd,
    pub(super) tx: ProdRing<XdpDesc>,
    pub(super) comp: ConsRing<u64>,
    /// Descriptors written, not yet submitted.
    pub(super) unsubmitted: u32,
    /// Frames submitted and not yet completed.
    pub(super) in_flight: u32,
}

/// A port as the tx path sees it.
pub(super) struct PortTx {
    pub(super) port: PortNo,
    /// Index in `TxPath::txs` of the socket this worker transmits on.
    pub(super) tx: Option<usize>,
    /// A send-only port: frames go through the kernel's transmit path instead.
    pub(super) kernel: Option<KernelTx>,
    /// The netdev has a carrier (IFF_RUNNING), as the datapath last heard. Without one
    /// the kernel would drop the frame; it is dropped here, before the copy, as OVS
    /// does for a tap that is down.
    pub(super) carrier: Arc<AtomicBool>,
    pub(super) counters: TxCounters,
}

/// Frames this worker sends to a send-only port ([`PortMode::SendOnly`](super::PortMode)),
/// copied here and handed to the kernel in one `sendmmsg` per loop iteration: the
/// kernel's packet taps (`tcpdump -i`) see them, which AF_XDP's transmit bypasses. A
/// frame that finds the buffer full, or that the kernel does not take, is dropped and
/// counted (`ring_full`): nothing waits for the kernel, so the other outputs never stall.
pub(super) struct KernelTx {
    /// A packet socket bound to the port's netdev (this worker's copy of the port's).
    fd: OwnedFd,
    buf: Box<[u8]>,
    slot_size: usize,
    lens: [u16; sys::SEND_FRAMES_MAX],
    queued: usize,
}

impl KernelTx {
    pub(super) fn new(fd: OwnedFd, slot_size: usize) -> Self {
        KernelTx {
            fd,
            buf: vec![0; slot_size * sys::SEND_FRAMES_MAX].into_boxed_slice(),
            slot_size,
            lens: [0; sys::SEND_FRAMES_MAX],
            queued: 0,
        }
    }

    #[inline]
    fn queue(&mut self, bytes: &[u8], c: &mut TxCounters) {
        if bytes.len() > self.slot_size || bytes.len() > usize::from(u16::MAX) {
            c.too_big += 1;
            return;
        }
        if self.queued == sys::SEND_FRAMES_MAX {
            c.ring_full += 1;
            return;
        }
        let at = self.queued * self.slot_size;
        self.buf[at..at + bytes.len()].copy_from_slice(bytes);
        self.lens[self.queued] = bytes.len() as u16;
        self.queued += 1;
    }

    /// Hands the queued frames to the kernel: one `sendmmsg`, never waiting.
    fn flush(&mut self, c: &mut TxCounters) {
        if self.queued == 0 {
            return;
        }
        let mut frames: [&[u8]; sys::SEND_FRAMES_MAX] = [&[]; sys::SEND_FRAMES_MAX];
        for (i, f) in frames.iter_mut().enumerate().take(self.queued) {
            let at = i * self.slot_size;
            *f = &self.buf[at..at + usize::from(self.lens[i])];
        }
        let sent = sys::send_frames(self.fd.as_raw_fd(), &frames[..self.queued]);
        c.kicks += 1;
        for len in &self.lens[..sent] {
            c.packets += 1;
            c.bytes += u64::from(*len);
        }
        c.ring_full += (self.queued - sent) as u64;
        self.queued = 0;
    }
}

/// Everything `tx(out_port, bytes)` needs, apart from the rx side.
pub(super) struct TxPath {
    pub(super) base: *mut u8,
    pub(super) frame_size: u32,
    pub(super) umem_len: u64,
    pub(super) pool: FramePool,
    pub(super) txs: Vec<TxSide>,
    pub(super) ports: Vec<PortTx>,
    pub(super) unknown_port: u64,
}

impl TxPath {
    /// Copies `bytes` into a free frame and queues it on this worker's socket of `port`.
    #[inline]
    pub(super) fn send(&mut self, port: PortNo, bytes: &[u8]) {
        // A handful of ports: a scan is cheaper than hashing.
        let Some(p) = self.ports.iter_mut().find(|p| p.port == port) else {
            self.unknown_port += 1;
            return;
        };
        if !p.carrier.load(Ordering::Relaxed) {
            p.counters.link_down += 1;
            return;
        }
        if let Some(k) = p.kernel.as_mut() {
            k.queue(bytes, &mut p.counters);
            return;
        }
        let Some(ti) = p.tx else {
            p.counters.no_socket += 1;
            return;
        };
        if bytes.len() > self.frame_size as usize {
            p.counters.too_big += 1;
            return;
        }
        let t = &mut self.txs[ti];
        let idx = match t.tx.reserve(1) {
            Some(i) => i,
            None => {
                // Full: hand what is there to the kernel and let it drain, once.
                flush_one(t, &mut p.counters);
                match t.tx.reserve(1) {
                    Some(i) => i,
                    None => {
                        p.counters.ring_full += 1;
                        return;
                    }
                }
            }
        };
        let frame = match self.pool.alloc(t.slot) {
            Some(f) => f,
            None => {
                complete_one(t, &mut self.pool, self.frame_size, self.umem_len);
                match self.pool.alloc(t.slot) {
                    Some(f) => f,
                    None => {
                        t.tx.cancel(1);
                        p.counters.no_frame += 1;
                        return;
                    }
                }
            }
        };
        // SAFETY: `frame` came off the free list: no ring and no other slice holds it
        // (datapath module doc), and it is frame_size >= bytes.len() bytes long inside the UMEM.
        // `bytes` may be the rx frame being processed: another frame, so no overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.base.add(frame as usize),
                bytes.len(),
            );
        }
        t.tx.write(
            idx,
            XdpDesc {
                addr: frame,
                len: bytes.len() as u32,
                options: 0,
            },
        );
        t.unsubmitted += 1;
        p.counters.packets += 1;
        p.counters.bytes += bytes.len() as u64;
    }

    /// Takes completed tx frames back. Returns how many.
    pub(super) fn complete(&mut self) -> u32 {
        let mut n = 0;
        for t in &mut self.txs {
            if t.in_flight > 0 {
                n += complete_one(t, &mut self.pool, self.frame_size, self.umem_len);
            }
        }
        n
    }

    /// Submits what was queued and kicks where the kernel asks for it.
    pub(super) fn flush(&mut self) {
        for p in &mut self.ports {
            if let Some(k) = p.kernel.as_mut() {
                k.flush(&mut p.counters);
            }
        }
        for t in &mut self.txs {
            if t.unsubmitted == 0 && t.in_flight == 0 {
                continue;
            }
            let Some(p) = self.ports.iter_mut().find(|p| p.port == t.port) else {
                continue;
            };
            flush_one(t, &mut p.counters);
        }
    }
}

/// Submits the queued descriptors of one socket; kicks while the kernel wants it and
/// descriptors are left (copy mode sends 32 per kick).
#[inline]
fn flush_one(t: &mut TxSide, c: &mut TxCounters) {
    if t.unsubmitted > 0 {
        t.tx.submit(t.unsubmitted);
        t.in_flight += t.unsubmitted;
        t.unsubmitted = 0;
    }
    let mut left = t.tx.outstanding();
    if left == 0 || !t.tx.needs_wakeup() {
        return;
    }
    let mut kicks = left.div_ceil(COPY_TX_PER_KICK) + 1;
    while left > 0 && kicks > 0 {
        kicks -= 1;
        c.kicks += 1;
        let r = sys::kick_tx(t.fd);
        if let Err(KickError::Failed(_)) = r {
            c.kick_errors += 1;
            return;
        }
        // Ok, or Again (more to send, or the device is busy): try again, now or next round.
        let now_left = t.tx.outstanding();
        if now_left == left && r.is_err() {
            return; // no progress: leave it to the next iteration
        }
        left = now_left;
    }
}

/// Takes the completed frames of one socket back to the free list.
#[inline]
fn complete_one(t: &mut TxSide, pool: &mut FramePool, frame_size: u32, umem_len: u64) -> u32 {
    let (n, idx) = t.comp.peek(t.comp.size());
    for i in 0..n {
        let addr = t.comp.read(idx.wrapping_add(i));
        if addr < umem_len {
            let f = addr & !(frame_size as u64 - 1);
            if pool.owner(f) == t.slot {
                pool.free(f);
            }
        }
    }
    t.comp.release(n);
    t.in_flight = t.in_flight.saturating_sub(n);
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(i: u8, len: usize) -> Vec<u8> {
        (0..len).map(|j| i.wrapping_add(j as u8)).collect()
    }

    /// The kernel path without a netdev: a connected UDP socket takes `sendmmsg` as a
    /// packet socket does (one datagram per frame).
    #[test]
    fn queued_frames_go_in_one_send_byte_for_byte() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.connect(rx.local_addr().unwrap()).unwrap();
        let mut k = KernelTx::new(tx.into(), 2048);
        let mut c = TxCounters::default();
        for i in 0..5 {
            k.queue(&frame(i, 60 + usize::from(i)), &mut c);
        }
        assert_eq!(c.packets, 0, "counted once sent");
        k.flush(&mut c);
        assert_eq!((c.packets, c.bytes, c.kicks, c.ring_full), (5, 310, 1, 0));
        let mut buf = [0u8; 2048];
        for i in 0..5 {
            let n = rx.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], &frame(i, 60 + usize::from(i))[..]);
        }
        // Nothing queued: no system call.
        k.flush(&mut c);
        assert_eq!(c.kicks, 1);
    }

    /// What does not fit, and what the kernel refuses, is dropped and counted, at once.
    #[test]
    fn a_full_queue_or_a_refused_send_drops_and_counts() {
        // Not connected: the kernel refuses every frame (no destination).
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut k = KernelTx::new(sock.into(), 2048);
        let mut c = TxCounters::default();
        for i in 0..sys::SEND_FRAMES_MAX + 3 {
            k.queue(&frame(i as u8, 60), &mut c);
        }
        assert_eq!(c.ring_full, 3);
        k.queue(&frame(0, 2049), &mut c);
        assert_eq!(c.too_big, 1);
        k.flush(&mut c);
        assert_eq!(c.packets, 0);
        assert_eq!(c.ring_full, 3 + sys::SEND_FRAMES_MAX as u64);
        assert_eq!(k.queued, 0, "the queue is free again");
    }
}
