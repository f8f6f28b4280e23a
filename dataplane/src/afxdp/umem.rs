//! The UMEM: one memory area per worker, cut into equal frames, registered with the
//! kernel (`XDP_UMEM_REG`) on the worker's first AF_XDP socket and shared by its other
//! sockets; and the frame allocator, a free list of frame addresses (no allocation per
//! packet).
//!
//! Frames are in "aligned" mode: the frame size is a power of two (2048 or 4096), a
//! frame's address is its offset in the area, and the kernel hands descriptors whose
//! address is the frame address plus the headroom it left (256 bytes,
//! XDP_PACKET_HEADROOM, plus our own UMEM headroom, 0).

use std::io;
use std::os::fd::RawFd;

use super::sys::{self, Mapping};

/// Frame owner value of a frame in the free list.
pub const FREE: u16 = u16::MAX;

#[derive(Debug, thiserror::Error)]
pub enum UmemError {
    #[error("frame size {0} is not a power of two between 2048 and the page size")]
    BadFrameSize(u32),
    #[error("UMEM of {frames} frames of {frame_size} bytes is too large or empty")]
    BadSize { frames: u32, frame_size: u32 },
    #[error("mmap of the {len}-byte UMEM: {err}")]
    Mmap { len: usize, err: io::Error },
    #[error("setsockopt(XDP_UMEM_REG): {0}")]
    Register(io::Error),
}

/// The memory of one UMEM (an anonymous mapping), unmapped on drop. Sockets using the
/// area must be closed before it goes (the datapath drops them first).
pub struct UmemArea {
    // Who may touch which frame is the frame protocol's business (see the datapath).
    map: Mapping,
    frame_size: u32,
    frames: u32,
}

impl UmemArea {
    /// Maps `frames` frames of `frame_size` bytes (populated, so no page faults later).
    pub fn new(frames: u32, frame_size: u32) -> Result<UmemArea, UmemError> {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u32;
        if !frame_size.is_power_of_two() || !(2048..=page).contains(&frame_size) {
            return Err(UmemError::BadFrameSize(frame_size));
        }
        let len = (frames as usize)
            .checked_mul(frame_size as usize)
            .filter(|&l| l > 0 && frames <= 1 << 22)
            .ok_or(UmemError::BadSize { frames, frame_size })?;
        let map = Mapping::anonymous(len).map_err(|err| UmemError::Mmap { len, err })?;
        Ok(UmemArea {
            map,
            frame_size,
            frames,
        })
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn frame_size(&self) -> u32 {
        self.frame_size
    }

    pub fn frames(&self) -> u32 {
        self.frames
    }

    pub fn base(&self) -> *mut u8 {
        self.map.as_ptr()
    }

    /// Registers the area as the UMEM of AF_XDP socket `fd` (`XDP_UMEM_REG`).
    pub fn register(&self, fd: RawFd) -> Result<(), UmemError> {
        // SAFETY: the area is our mapping, and it outlives the sockets that use it (the
        // type's contract: they are closed before it is dropped).
        unsafe { sys::register_umem(fd, self.base(), self.len(), self.frame_size) }
            .map_err(UmemError::Register)
    }

    /// For a descriptor `(addr, len)` from the kernel: the address of its frame and the
    /// offset of the data in it, if the descriptor lies inside one frame of the area.
    /// Never trusts the kernel (or a bug) with a pointer outside the UMEM.
    #[inline]
    pub fn locate(&self, addr: u64, len: u32) -> Option<(u64, usize)> {
        if addr >= self.len() as u64 {
            return None;
        }
        let frame = addr & !(self.frame_size as u64 - 1);
        let off = (addr - frame) as usize;
        (off + len as usize <= self.frame_size as usize).then_some((frame, off))
    }

    /// The bytes of the frame at `frame` (a frame address).
    ///
    /// # Safety
    /// `frame` must be a frame address of this area, owned by the caller (taken from
    /// the rx ring, the completion ring or the free list, not yet given back), and no
    /// other reference to that frame may exist while the slice lives: the frame
    /// protocol (each frame is in exactly one of: free list, a fill ring, an rx ring,
    /// the worker's hands, a tx ring, a completion ring) is what makes the slices of
    /// different frames disjoint.
    #[inline]
    pub unsafe fn frame_mut<'a>(&self, frame: u64) -> &'a mut [u8] {
        debug_assert!(frame.is_multiple_of(self.frame_size as u64) && frame < self.len() as u64);
        // SAFETY: in bounds (contract and debug check); exclusivity is the caller's.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.base().add(frame as usize),
                self.frame_size as usize,
            )
        }
    }
}

/// Which frames are free, and who holds the others. The owner array lets the datapath
/// take back every frame a socket held (in its fill, rx, tx or completion ring) when
/// the socket is closed, so removing a port loses no frame.
pub struct FramePool {
    free: Vec<u64>,
    owner: Vec<u16>,
    shift: u32,
}

impl FramePool {
    /// All `frames` frames of `frame_size` bytes free.
    pub fn new(frames: u32, frame_size: u32) -> FramePool {
        assert!(frame_size.is_power_of_two());
        FramePool {
            // Popped from the end: hand out low addresses first.
            free: (0..frames as u64)
                .rev()
                .map(|i| i * frame_size as u64)
                .collect(),
            owner: vec![FREE; frames as usize],
            shift: frame_size.trailing_zeros(),
        }
    }

    pub fn n_free(&self) -> usize {
        self.free.len()
    }

    pub fn capacity(&self) -> usize {
        self.owner.len()
    }

    /// A free frame, now owned by `owner`.
    #[inline]
    pub fn alloc(&mut self, owner: u16) -> Option<u64> {
        let f = self.free.pop()?;
        let i = (f >> self.shift) as usize;
        debug_assert_eq!(
            self.owner[i], FREE,
            "frame {f:#x} on the free list is owned"
        );
        self.owner[i] = owner;
        Some(f)
    }

    /// Gives frame `f` back.
    #[inline]
    pub fn free(&mut self, f: u64) {
        let i = (f >> self.shift) as usize;
        debug_assert!(i < self.owner.len());
        if let Some(o) = self.owner.get_mut(i) {
            debug_assert_ne!(*o, FREE, "frame {f:#x} freed twice");
            if *o == FREE {
                return; // a double free would corrupt the list: refuse it
            }
            *o = FREE;
            // Never grows past capacity: each frame is on the list at most once.
            self.free.push(f);
        }
    }

    #[inline]
    pub fn owner(&self, f: u64) -> u16 {
        self.owner
            .get((f >> self.shift) as usize)
            .copied()
            .unwrap_or(FREE)
    }

    #[inline]
    pub fn set_owner(&mut self, f: u64, owner: u16) {
        if let Some(o) = self.owner.get_mut((f >> self.shift) as usize) {
            *o = owner;
        }
    }

    /// Frees every frame held by `owner`; returns how many.
    pub fn reclaim(&mut self, owner: u16) -> usize {
        debug_assert_ne!(owner, FREE);
        let mut n = 0;
        for i in 0..self.owner.len() {
            if self.owner[i] == owner {
                self.owner[i] = FREE;
                self.free.push((i as u64) << self.shift);
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_alloc_free_reclaim() {
        let mut p = FramePool::new(8, 2048);
        let a = p.alloc(1).unwrap();
        let b = p.alloc(2).unwrap();
        let c = p.alloc(1).unwrap();
        assert_eq!((a, b, c), (0, 2048, 4096));
        assert_eq!(p.n_free(), 5);
        p.free(b);
        assert_eq!(p.owner(b), FREE);
        assert_eq!(p.reclaim(1), 2);
        assert_eq!(p.n_free(), 8);
        let mut all: Vec<u64> = (0..8).map(|_| p.alloc(3).unwrap()).collect();
        all.sort();
        assert_eq!(all, (0..8).map(|i| i * 2048).collect::<Vec<_>>());
        assert!(p.alloc(3).is_none());
    }

    #[test]
    fn locate_bounds() {
        let u = UmemArea::new(4, 2048).unwrap();
        assert_eq!(u.locate(2048 + 256, 100), Some((2048, 256)));
        assert_eq!(u.locate(2048 + 256, 1792), Some((2048, 256)));
        assert_eq!(u.locate(2048 + 256, 1793), None);
        assert_eq!(u.locate(4 * 2048, 0), None);
        assert_eq!(u.locate(u64::MAX, u32::MAX), None);
    }
}
