//! The internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! `sum` is the folded ones' complement sum, not yet complemented, so that sums of pieces
//! can be [`combine`]d; the value written into a header is `!sum(...)`, which
//! [`checksum`] returns.

/// Folded 16-bit ones' complement sum of `data` read as big-endian 16-bit words; an odd
/// trailing byte is padded with a zero byte.
pub fn sum(data: &[u8]) -> u16 {
    // Adding 32-bit words is the same sum modulo 0xffff as adding 16-bit words (2^16 is 1
    // modulo 0xffff), with half the additions; a u64 accumulator cannot overflow for any
    // slice that fits in memory.
    let mut acc: u64 = 0;
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        acc += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    let rest = words.remainder();
    let mut pairs = rest.chunks_exact(2);
    for p in &mut pairs {
        acc += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let [last] = pairs.remainder() {
        acc += u64::from(*last) << 8;
    }
    fold(acc)
}

fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Ones' complement sum of two partial sums.
pub fn combine(a: u16, b: u16) -> u16 {
    fold(u64::from(a) + u64::from(b))
}

/// The checksum to store for `data` (with its checksum field zeroed). Over data that
/// already holds a correct checksum this returns 0.
pub fn checksum(data: &[u8]) -> u16 {
    !sum(data)
}

/// The new checksum after one 16-bit word covered by `csum` changed from `old` to `new`:
/// RFC 1624 equation 3, `HC' = ~(~HC + ~m + m')`, which unlike equation 2 never produces
/// 0xffff out of a correct 0x0000 and back.
pub fn update_u16(csum: u16, old: u16, new: u16) -> u16 {
    !combine(combine(!csum, !old), new)
}

/// [`update_u16`] for a 32-bit field (an IPv4 address): both halves at once.
pub fn update_u32(csum: u16, old: u32, new: u32) -> u16 {
    let acc = u64::from(!csum)
        + u64::from(!(old >> 16) as u16)
        + u64::from(!(old as u16))
        + u64::from((new >> 16) as u16)
        + u64::from(new as u16);
    !fold(acc)
}

/// [`update_u16`] for a field of whole 16-bit words that changed from `old` to `new`
/// (an IPv6 address, a MAC): both slices of the same even length, aligned on the
/// checksummed data's words.
pub fn update_words(csum: u16, old: &[u8], new: &[u8]) -> u16 {
    debug_assert!(old.len() == new.len() && old.len().is_multiple_of(2));
    let mut acc = u64::from(!csum);
    for (o, n) in old.chunks_exact(2).zip(new.chunks_exact(2)) {
        acc += u64::from(!u16::from_be_bytes([o[0], o[1]]));
        acc += u64::from(u16::from_be_bytes([n[0], n[1]]));
    }
    !fold(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&data), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(sum(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
        assert_eq!(sum(&[]), 0);
        assert_eq!(sum(&[0xab]), 0xab00);
    }

    #[test]
    fn known_ipv4_header() {
        // The classic example header from Wikipedia's IPv4 checksum article.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&h), 0xb861);
        h[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert_eq!(checksum(&h), 0);
    }

    #[test]
    fn incremental_matches_recompute() {
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        for new in [0u32, 0xffff_ffff, 0x0a00_0001, 0xc0a8_0001, 0x7f00_0001] {
            let old = u32::from_be_bytes([h[12], h[13], h[14], h[15]]);
            let c = update_u32(u16::from_be_bytes([h[10], h[11]]), old, new);
            h[12..16].copy_from_slice(&new.to_be_bytes());
            h[10..12].copy_from_slice(&c.to_be_bytes());
            assert_eq!(checksum(&h), 0, "after writing {new:#x}");
            let mut z = h;
            z[10] = 0;
            z[11] = 0;
            assert_eq!(checksum(&z), c);
        }
        let c = update_u16(0xb861, 0x4011, 0x3f11);
        assert_eq!(c, 0xb961);
    }

    #[test]
    fn combine_is_split_sum() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1001).collect();
        for cut in [0, 2, 4, 100, 1000] {
            assert_eq!(combine(sum(&data[..cut]), sum(&data[cut..])), sum(&data));
        }
    }

    #[test]
    fn update_words_matches_recompute() {
        let mut data: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(29)).collect();
        data[4] = 0;
        data[5] = 0;
        let c = checksum(&data);
        data[4..6].copy_from_slice(&c.to_be_bytes());
        for (at, new) in [
            (8usize, vec![0xffu8; 16]),
            (30, vec![0; 6]),
            (40, vec![1, 2, 3, 4]),
        ] {
            let old = data[at..at + new.len()].to_vec();
            let c = update_words(u16::from_be_bytes([data[4], data[5]]), &old, &new);
            data[at..at + new.len()].copy_from_slice(&new);
            data[4..6].copy_from_slice(&c.to_be_bytes());
            assert_eq!(checksum(&data), 0, "at {at}");
        }
    }
}
