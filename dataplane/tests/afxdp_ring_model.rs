//! Model-based tests of the AF_XDP ring logic (no kernel, no root): both sides of a ring
//! run over ordinary memory laid out as the kernel lays out a mapped ring, driven by
//! random operations, and are checked against a plain FIFO queue model: what the
//! consumer reads is what the producer wrote, in order; reserve succeeds exactly when
//! there is room; the shared indexes are what the other side must see.

use std::collections::VecDeque;

use proptest::prelude::*;
use xvs_dataplane::afxdp::ring::FakeRing;

#[derive(Debug, Clone)]
enum Op {
    Reserve(u32),
    Submit(u32),
    CancelReserved(u32),
    Peek(u32),
    Release(u32),
    CancelPeeked(u32),
    Wakeup(bool),
}

fn op(size: u32) -> impl Strategy<Value = Op> {
    let k = 0..=size + 2;
    prop_oneof![
        3 => k.clone().prop_map(Op::Reserve),
        3 => k.clone().prop_map(Op::Submit),
        1 => k.clone().prop_map(Op::CancelReserved),
        3 => k.clone().prop_map(Op::Peek),
        3 => k.clone().prop_map(Op::Release),
        1 => k.prop_map(Op::CancelPeeked),
        1 => any::<bool>().prop_map(Op::Wakeup),
    ]
}

/// The model: values reserved (written, unsubmitted), submitted (visible to the
/// consumer, not yet peeked), peeked (not yet released).
#[derive(Default)]
struct Model {
    reserved: VecDeque<u64>,
    submitted: VecDeque<u64>,
    peeked: VecDeque<u64>,
    next: u64,
    total_submitted: u32,
    total_released: u32,
}

impl Model {
    /// Entries the consumer has not released: the producer cannot reuse their slots.
    fn occupied(&self) -> u32 {
        (self.reserved.len() + self.submitted.len() + self.peeked.len()) as u32
    }
}

fn run(size: u32, start: u32, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut mem = FakeRing::<u64>::new(size, start);
    // SAFETY: mem outlives both sides (dropped at the end of this function).
    let (mut prod, mut cons) = unsafe { mem.sides() };
    let mut m = Model::default();
    for op in ops {
        match op {
            Op::Reserve(k) => {
                let room = size - m.occupied();
                match prod.reserve(k) {
                    Some(idx) => {
                        prop_assert!(k <= room, "reserved {k} with only {room} free");
                        for i in 0..k {
                            prod.write(idx.wrapping_add(i), m.next);
                            m.reserved.push_back(m.next);
                            m.next += 1;
                        }
                    }
                    None => prop_assert!(k > room, "refused {k} with {room} free"),
                }
            }
            Op::Submit(k) => {
                let k = k.min(m.reserved.len() as u32);
                prod.submit(k);
                for _ in 0..k {
                    m.submitted.push_back(m.reserved.pop_front().unwrap());
                }
                m.total_submitted = m.total_submitted.wrapping_add(k);
            }
            Op::CancelReserved(k) => {
                let k = k.min(m.reserved.len() as u32);
                prod.cancel(k);
                for _ in 0..k {
                    m.reserved.pop_back();
                    m.next -= 1;
                }
            }
            Op::Peek(k) => {
                let avail = m.submitted.len() as u32;
                let (n, idx) = cons.peek(k);
                // xsk.h refreshes the producer index only when its cached view is
                // empty: fewer than available may come, but never none when some are
                // there (unless none was asked), and never more.
                prop_assert!(n <= k.min(avail), "peeked {n}, asked {k}, {avail} there");
                if k > 0 && avail > 0 {
                    prop_assert!(n > 0, "peeked nothing with {avail} there");
                }
                for i in 0..n {
                    let v = cons.read(idx.wrapping_add(i));
                    let want = m.submitted.pop_front().unwrap();
                    prop_assert_eq!(v, want, "FIFO order");
                    m.peeked.push_back(v);
                }
            }
            Op::Release(k) => {
                let k = k.min(m.peeked.len() as u32);
                cons.release(k);
                for _ in 0..k {
                    m.peeked.pop_front();
                }
                m.total_released = m.total_released.wrapping_add(k);
            }
            Op::CancelPeeked(k) => {
                let k = k.min(m.peeked.len() as u32);
                cons.cancel(k);
                for _ in 0..k {
                    let v = m.peeked.pop_back().unwrap();
                    m.submitted.push_front(v);
                }
            }
            Op::Wakeup(on) => {
                mem.set_need_wakeup(on);
                prop_assert_eq!(prod.needs_wakeup(), on);
                prop_assert_eq!(cons.needs_wakeup(), on);
            }
        }
        // What the other side sees in shared memory.
        let (p, c) = mem.indexes();
        prop_assert_eq!(p, start.wrapping_add(m.total_submitted));
        prop_assert_eq!(c, start.wrapping_add(m.total_released));
        prop_assert_eq!(prod.reserved(), m.reserved.len() as u32);
        prop_assert_eq!(cons.peeked(), m.peeked.len() as u32);
        prop_assert_eq!(
            prod.outstanding(),
            (m.submitted.len() + m.peeked.len()) as u32
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn ring_matches_queue_model(
        log_size in 0u32..6,
        start in prop_oneof![Just(0u32), Just(u32::MAX - 5), any::<u32>()],
        ops in proptest::collection::vec(op(32), 0..200),
    ) {
        let size = 1 << log_size;
        let ops = ops.into_iter().map(|o| match o {
            Op::Reserve(k) => Op::Reserve(k % (size + 2)),
            o => o,
        }).collect();
        run(size, start, ops)?;
    }
}

/// The two sides on two threads, with the index publication ordering doing its job: a
/// million values through an 8-slot ring arrive complete and in order.
#[test]
fn two_threads_pass_values_in_order() {
    const N: u64 = 1_000_000;
    let mut mem = FakeRing::<u64>::new(8, u32::MAX - 1000);
    // SAFETY: mem outlives the scope in which both sides run.
    let (mut prod, mut cons) = unsafe { mem.sides() };
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut next = 0u64;
            while next < N {
                let k = (N - next).min(3) as u32;
                if let Some(idx) = prod.reserve(k) {
                    for i in 0..k {
                        prod.write(idx.wrapping_add(i), next);
                        next += 1;
                    }
                    prod.submit(k);
                } else {
                    std::thread::yield_now();
                }
            }
        });
        s.spawn(move || {
            let mut want = 0u64;
            while want < N {
                let (n, idx) = cons.peek(5);
                for i in 0..n {
                    assert_eq!(cons.read(idx.wrapping_add(i)), want);
                    want += 1;
                }
                cons.release(n);
                if n == 0 {
                    std::thread::yield_now();
                }
            }
        });
    });
    let (p, c) = mem.indexes();
    assert_eq!(p, c);
    assert_eq!(p, (u32::MAX - 1000).wrapping_add(N as u32));
}
