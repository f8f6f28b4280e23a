//! Single-producer single-consumer rings shared with the kernel, as AF_XDP uses them.
//!
//! The logic mirrors the kernel's `tools/lib/bpf/xsk.h` (also libxdp's `xsk.h`) closely:
//! each side keeps cached copies of both indexes and touches the shared ones only when
//! its cached view runs out (`xsk_prod_nb_free`, `xsk_cons_nb_avail`); a producer
//! reserves slots, writes them and submits; a consumer peeks, reads and releases.
//! Indexes are free-running `u32`s (wrapping), slots are `index & mask`.
//!
//! Memory ordering is the kernel's (see the comment in `net/xdp/xsk_queue.h`): a side
//! loads the other side's index with Acquire before touching the slots it covers, and
//! publishes its own index with Release after it has written (producer) or read
//! (consumer) the slots.
//!
//! The rings work over any memory laid out as the kernel lays out a mapped ring
//! (producer, consumer and flags words, then the descriptor array), so the model test
//! (`tests/afxdp_ring_model.rs`) runs both sides over ordinary memory, without a kernel.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, Ordering};

/// Flag the kernel sets in a ring's flags word when it wants a syscall to make progress
/// (`XDP_RING_NEED_WAKEUP`).
pub const NEED_WAKEUP: u32 = libc::XDP_RING_NEED_WAKEUP;

/// Where the parts of one ring are.
#[derive(Clone, Copy, Debug)]
pub struct RingLayout<T> {
    pub producer: *mut u32,
    pub consumer: *mut u32,
    pub flags: *mut u32,
    pub descs: *mut T,
    /// Number of slots, a power of two.
    pub size: u32,
}

struct Shared<T> {
    producer: *const AtomicU32,
    consumer: *const AtomicU32,
    flags: *const AtomicU32,
    descs: *mut T,
    mask: u32,
    size: u32,
    _t: PhantomData<T>,
}

impl<T: Copy> Shared<T> {
    /// # Safety
    /// See [`ProdRing::new`].
    unsafe fn new(l: RingLayout<T>) -> Self {
        assert!(
            l.size.is_power_of_two(),
            "ring size {} is not a power of two",
            l.size
        );
        debug_assert!(
            (l.producer as usize).is_multiple_of(4) && (l.consumer as usize).is_multiple_of(4)
        );
        Shared {
            producer: l.producer as *const AtomicU32,
            consumer: l.consumer as *const AtomicU32,
            flags: l.flags as *const AtomicU32,
            descs: l.descs,
            mask: l.size - 1,
            size: l.size,
            _t: PhantomData,
        }
    }

    #[inline]
    fn producer(&self) -> &AtomicU32 {
        // SAFETY: valid for the ring's life (constructor contract); u32 and AtomicU32
        // have the same layout, and the other side only uses atomic accesses too.
        unsafe { &*self.producer }
    }

    #[inline]
    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as for producer().
        unsafe { &*self.consumer }
    }

    #[inline]
    fn flags(&self) -> u32 {
        // SAFETY: as for producer().
        unsafe { (*self.flags).load(Ordering::Relaxed) }
    }

    #[inline]
    fn slot(&self, idx: u32) -> *mut T {
        // SAFETY: idx & mask < size, inside the descriptor array.
        unsafe { self.descs.add((idx & self.mask) as usize) }
    }
}

/// The producer side of a ring (user space produces on the fill and tx rings).
pub struct ProdRing<T> {
    /// Next slot to reserve.
    cached_prod: u32,
    /// The consumer index last seen, plus `size` (as in xsk.h, so that free slots are
    /// `cached_cons - cached_prod`).
    cached_cons: u32,
    /// The producer index as last published (only this side writes it).
    published: u32,
    sh: Shared<T>,
}

// SAFETY: the ring is a handle to memory shared with the kernel (or a test); one thread
// at a time uses it (it is moved, not shared).
unsafe impl<T: Send> Send for ProdRing<T> {}

impl<T: Copy> ProdRing<T> {
    /// # Safety
    /// The layout's pointers must be valid, aligned and stay mapped for the ring's whole
    /// life, the descriptor array must have `size` slots, and no other producer may use
    /// the ring.
    pub unsafe fn new(layout: RingLayout<T>) -> Self {
        // SAFETY: forwarded contract.
        let sh = unsafe { Shared::new(layout) };
        let prod = sh.producer().load(Ordering::Relaxed);
        let cons = sh.consumer().load(Ordering::Acquire);
        ProdRing {
            cached_prod: prod,
            cached_cons: cons.wrapping_add(sh.size),
            published: prod,
            sh,
        }
    }

    pub fn size(&self) -> u32 {
        self.sh.size
    }

    /// Free slots, refreshing the consumer index only when fewer than `nb` are known
    /// to be free (`xsk_prod_nb_free`).
    #[inline]
    pub fn nb_free(&mut self, nb: u32) -> u32 {
        let free = self.cached_cons.wrapping_sub(self.cached_prod);
        if free >= nb {
            return free;
        }
        self.cached_cons = self
            .sh
            .consumer()
            .load(Ordering::Acquire)
            .wrapping_add(self.sh.size);
        let free = self.cached_cons.wrapping_sub(self.cached_prod);
        debug_assert!(
            free <= self.sh.size,
            "consumer ran ahead of the producer: {free} free of {}",
            self.sh.size
        );
        free
    }

    /// Reserves `nb` slots, all or none (`xsk_ring_prod__reserve`); returns the index of
    /// the first. Write them with [`write`](Self::write), then [`submit`](Self::submit).
    #[inline]
    pub fn reserve(&mut self, nb: u32) -> Option<u32> {
        if self.nb_free(nb) < nb {
            return None;
        }
        let idx = self.cached_prod;
        self.cached_prod = self.cached_prod.wrapping_add(nb);
        debug_assert!(self.reserved() <= self.sh.size);
        Some(idx)
    }

    /// Writes a reserved, not yet submitted slot.
    #[inline]
    pub fn write(&mut self, idx: u32, v: T) {
        debug_assert!(
            idx.wrapping_sub(self.published) < self.reserved(),
            "slot {idx} is not reserved (published {}, reserved {})",
            self.published,
            self.reserved()
        );
        // SAFETY: the slot is inside the array and reserved by us: the consumer does not
        // read it until we publish.
        unsafe { self.sh.slot(idx).write_volatile(v) }
    }

    /// Publishes the first `nb` reserved slots to the consumer (`xsk_ring_prod__submit`).
    #[inline]
    pub fn submit(&mut self, nb: u32) {
        debug_assert!(
            nb <= self.reserved(),
            "submit {nb} > reserved {}",
            self.reserved()
        );
        self.published = self.published.wrapping_add(nb);
        self.sh.producer().store(self.published, Ordering::Release);
    }

    /// Gives back the last `nb` reserved slots, unwritten or not to be sent.
    #[inline]
    pub fn cancel(&mut self, nb: u32) {
        debug_assert!(nb <= self.reserved());
        self.cached_prod = self.cached_prod.wrapping_sub(nb);
    }

    /// Slots reserved and not yet submitted.
    #[inline]
    pub fn reserved(&self) -> u32 {
        self.cached_prod.wrapping_sub(self.published)
    }

    /// Slots submitted that the consumer has not consumed yet (reads the shared index).
    #[inline]
    pub fn outstanding(&self) -> u32 {
        let cons = self.sh.consumer().load(Ordering::Acquire);
        let n = self.published.wrapping_sub(cons);
        debug_assert!(n <= self.sh.size);
        n
    }

    /// The consumer asks for a syscall to make progress (`xsk_ring_prod__needs_wakeup`).
    #[inline]
    pub fn needs_wakeup(&self) -> bool {
        self.sh.flags() & NEED_WAKEUP != 0
    }
}

/// The consumer side of a ring (user space consumes the rx and completion rings).
pub struct ConsRing<T> {
    /// The producer index last seen.
    cached_prod: u32,
    /// Next slot to peek.
    cached_cons: u32,
    /// The consumer index as last published (only this side writes it).
    published: u32,
    sh: Shared<T>,
}

// SAFETY: as for ProdRing.
unsafe impl<T: Send> Send for ConsRing<T> {}

impl<T: Copy> ConsRing<T> {
    /// # Safety
    /// As for [`ProdRing::new`], with "no other consumer".
    pub unsafe fn new(layout: RingLayout<T>) -> Self {
        // SAFETY: forwarded contract.
        let sh = unsafe { Shared::new(layout) };
        let cons = sh.consumer().load(Ordering::Relaxed);
        let prod = sh.producer().load(Ordering::Acquire);
        ConsRing {
            cached_prod: prod,
            cached_cons: cons,
            published: cons,
            sh,
        }
    }

    pub fn size(&self) -> u32 {
        self.sh.size
    }

    /// Entries available, at most `nb`, refreshing the producer index only when none
    /// is known (`xsk_cons_nb_avail`).
    #[inline]
    pub fn nb_avail(&mut self, nb: u32) -> u32 {
        let mut entries = self.cached_prod.wrapping_sub(self.cached_cons);
        if entries == 0 {
            self.cached_prod = self.sh.producer().load(Ordering::Acquire);
            entries = self.cached_prod.wrapping_sub(self.cached_cons);
            debug_assert!(
                self.cached_prod.wrapping_sub(self.published) <= self.sh.size,
                "producer ran more than a ring ahead"
            );
        }
        entries.min(nb)
    }

    /// Takes up to `nb` entries (`xsk_ring_cons__peek`): returns how many and the index
    /// of the first. Read them with [`read`](Self::read), then [`release`](Self::release).
    #[inline]
    pub fn peek(&mut self, nb: u32) -> (u32, u32) {
        let n = self.nb_avail(nb);
        let idx = self.cached_cons;
        self.cached_cons = self.cached_cons.wrapping_add(n);
        (n, idx)
    }

    /// Reads a peeked, not yet released entry.
    #[inline]
    pub fn read(&self, idx: u32) -> T {
        debug_assert!(
            idx.wrapping_sub(self.published) < self.peeked(),
            "slot {idx} is not peeked (published {}, peeked {})",
            self.published,
            self.peeked()
        );
        // SAFETY: inside the array; the producer published it and will not overwrite it
        // before we release it.
        unsafe { self.sh.slot(idx).read_volatile() }
    }

    /// Un-peeks the last `nb` entries (`xsk_ring_cons__cancel`).
    #[inline]
    pub fn cancel(&mut self, nb: u32) {
        debug_assert!(nb <= self.peeked());
        self.cached_cons = self.cached_cons.wrapping_sub(nb);
    }

    /// Hands the first `nb` peeked entries back to the producer (`xsk_ring_cons__release`).
    #[inline]
    pub fn release(&mut self, nb: u32) {
        debug_assert!(
            nb <= self.peeked(),
            "release {nb} > peeked {}",
            self.peeked()
        );
        self.published = self.published.wrapping_add(nb);
        self.sh.consumer().store(self.published, Ordering::Release);
    }

    /// Entries peeked and not yet released.
    #[inline]
    pub fn peeked(&self) -> u32 {
        self.cached_cons.wrapping_sub(self.published)
    }

    #[inline]
    pub fn needs_wakeup(&self) -> bool {
        self.sh.flags() & NEED_WAKEUP != 0
    }
}

/// Ordinary memory laid out like a mapped ring, for tests: both sides of a ring can be
/// built over it and driven without a kernel.
pub struct FakeRing<T> {
    words: Box<[AtomicU32; 3]>,
    descs: Box<[T]>,
}

impl<T: Copy + Default> FakeRing<T> {
    /// A ring of `size` slots (a power of two) whose indexes start at `start` (to test
    /// wrap-around).
    pub fn new(size: u32, start: u32) -> Self {
        FakeRing {
            words: Box::new([
                AtomicU32::new(start),
                AtomicU32::new(start),
                AtomicU32::new(0),
            ]),
            descs: vec![T::default(); size as usize].into_boxed_slice(),
        }
    }

    pub fn layout(&mut self) -> RingLayout<T> {
        RingLayout {
            producer: self.words[0].as_ptr(),
            consumer: self.words[1].as_ptr(),
            flags: self.words[2].as_ptr(),
            descs: self.descs.as_mut_ptr(),
            size: self.descs.len() as u32,
        }
    }

    /// Sets or clears the need-wakeup flag, as the kernel would.
    pub fn set_need_wakeup(&self, on: bool) {
        self.words[2].store(if on { NEED_WAKEUP } else { 0 }, Ordering::Relaxed);
    }

    /// The shared producer and consumer indexes.
    pub fn indexes(&self) -> (u32, u32) {
        (
            self.words[0].load(Ordering::Relaxed),
            self.words[1].load(Ordering::Relaxed),
        )
    }

    /// A producer and a consumer over this memory.
    ///
    /// # Safety
    /// `self` must outlive both rings, and must not move (it is boxed: only the
    /// `FakeRing` value itself moves, not the memory).
    pub unsafe fn sides(&mut self) -> (ProdRing<T>, ConsRing<T>) {
        let l = self.layout();
        // SAFETY: forwarded contract; boxed memory is stable.
        unsafe { (ProdRing::new(l), ConsRing::new(l)) }
    }
}
