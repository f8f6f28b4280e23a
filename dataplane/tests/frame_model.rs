//! `FrameBuf`'s insert/remove/push/pull against a model: a `Vec<u8>` of the frame's bytes and
//! a headroom count. After every operation the frame's bytes and headroom must equal the
//! model's, and an operation the model says cannot happen must fail and change nothing.

use proptest::prelude::*;
use xvs_dataplane::{ExecError, FrameBuf};

#[derive(Clone, Debug)]
enum Op {
    /// Open `n` bytes at `at`, then write `fill` into them (the opened bytes are
    /// unspecified, so the model only compares them once written).
    Insert {
        at: usize,
        n: usize,
        fill: u8,
    },
    Remove {
        at: usize,
        n: usize,
    },
    PushFront {
        n: usize,
        fill: u8,
    },
    PullFront {
        n: usize,
    },
    Write {
        at: usize,
        value: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    // Offsets and lengths go somewhat past the frame and headroom sizes used below, so
    // the failing cases are exercised too.
    prop_oneof![
        (0usize..80, 0usize..24, any::<u8>()).prop_map(|(at, n, fill)| Op::Insert { at, n, fill }),
        (0usize..80, 0usize..24).prop_map(|(at, n)| Op::Remove { at, n }),
        (0usize..24, any::<u8>()).prop_map(|(n, fill)| Op::PushFront { n, fill }),
        (0usize..80).prop_map(|n| Op::PullFront { n }),
        (0usize..80, any::<u8>()).prop_map(|(at, value)| Op::Write { at, value }),
    ]
}

struct Model {
    data: Vec<u8>,
    headroom: usize,
}

impl Model {
    /// Applies `op` if it is possible; returns whether it was.
    fn apply(&mut self, op: &Op) -> bool {
        match *op {
            Op::Insert { at, n, fill } => {
                if at > self.data.len() || n > self.headroom {
                    return false;
                }
                self.data.splice(at..at, std::iter::repeat_n(fill, n));
                self.headroom -= n;
            }
            Op::Remove { at, n } => {
                if at + n > self.data.len() {
                    return false;
                }
                self.data.drain(at..at + n);
                self.headroom += n;
            }
            Op::PushFront { n, fill } => {
                if n > self.headroom {
                    return false;
                }
                self.data.splice(0..0, std::iter::repeat_n(fill, n));
                self.headroom -= n;
            }
            Op::PullFront { n } => {
                if n > self.data.len() {
                    return false;
                }
                self.data.drain(..n);
                self.headroom += n;
            }
            Op::Write { at, value } => match self.data.get_mut(at) {
                Some(b) => *b = value,
                None => return false,
            },
        }
        true
    }
}

fn apply<B: AsRef<[u8]> + AsMut<[u8]>>(f: &mut FrameBuf<B>, op: &Op) -> Result<(), ExecError> {
    match *op {
        Op::Insert { at, n, fill } => {
            f.insert(at, n)?;
            f.data_mut()[at..at + n].fill(fill);
        }
        Op::Remove { at, n } => f.remove(at, n)?,
        Op::PushFront { n, fill } => {
            f.push_front(n)?;
            f.data_mut()[..n].fill(fill);
        }
        Op::PullFront { n } => f.pull_front(n)?,
        Op::Write { at, value } => match f.data_mut().get_mut(at) {
            Some(b) => *b = value,
            None => {
                return Err(ExecError::OutOfRange {
                    at,
                    n: 1,
                    len: f.len(),
                })
            }
        },
    }
    Ok(())
}

fn check<B: AsRef<[u8]> + AsMut<[u8]>>(
    mut frame: FrameBuf<B>,
    mut model: Model,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    for (i, op) in ops.iter().enumerate() {
        let before = frame.data().to_vec();
        let possible = model.apply(op);
        let r = apply(&mut frame, op);
        prop_assert_eq!(r.is_ok(), possible, "op {} {:?}: {:?}", i, op, r);
        if !possible {
            prop_assert_eq!(frame.data(), &before[..], "failed op changed the frame");
        }
        prop_assert_eq!(frame.data(), &model.data[..], "after op {} {:?}", i, op);
        prop_assert_eq!(frame.headroom(), model.headroom);
        prop_assert_eq!(frame.len(), model.data.len());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn vec_frame_matches_model(
        bytes in proptest::collection::vec(any::<u8>(), 0..64),
        headroom in 0usize..40,
        ops in proptest::collection::vec(op(), 0..24),
    ) {
        let frame = FrameBuf::with_headroom(&bytes, headroom);
        check(frame, Model { data: bytes, headroom }, &ops)?;
    }

    /// The same over a borrowed buffer with tailroom, as a UMEM chunk will be.
    #[test]
    fn slice_frame_matches_model(
        bytes in proptest::collection::vec(any::<u8>(), 0..64),
        headroom in 0usize..40,
        tailroom in 0usize..16,
        ops in proptest::collection::vec(op(), 0..24),
    ) {
        let mut chunk = [0xaau8; 128];
        let end = headroom + bytes.len();
        chunk[headroom..end].copy_from_slice(&bytes);
        let frame = FrameBuf::from_parts(&mut chunk[..end + tailroom], headroom, bytes.len()).unwrap();
        check(frame, Model { data: bytes, headroom }, &ops)?;
    }
}

#[test]
fn from_parts_checks_bounds() {
    let mut chunk = [0u8; 16];
    assert!(FrameBuf::from_parts(&mut chunk[..], 4, 12).is_ok());
    assert_eq!(
        FrameBuf::from_parts(&mut chunk[..], 4, 13).err(),
        Some(ExecError::OutOfRange {
            at: 4,
            n: 13,
            len: 16
        })
    );
    assert!(FrameBuf::from_parts(&mut chunk[..], usize::MAX, 2).is_err());
    let (buf, head, len) = FrameBuf::from_parts(&mut chunk[..], 3, 5)
        .unwrap()
        .into_parts();
    assert_eq!((buf.len(), head, len), (16, 3, 5));
}
