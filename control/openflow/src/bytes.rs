//! Byte helpers shared by every wire structure: big-endian reads at fixed offsets
//! (callers check lengths first, through the views), appends for building, and the
//! `view!` macro that declares a checked view over a fixed-layout structure.

/// Reads a big-endian u16 at `off`. The caller has checked `off + 2 <= b.len()`.
#[inline]
pub(crate) fn be16(b: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([b[off], b[off + 1]])
}

/// Reads a big-endian u32 at `off`. The caller has checked `off + 4 <= b.len()`.
#[inline]
pub(crate) fn be32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// Reads a big-endian u64 at `off`. The caller has checked `off + 8 <= b.len()`.
#[inline]
pub(crate) fn be64(b: &[u8], off: usize) -> u64 {
    (u64::from(be32(b, off)) << 32) | u64::from(be32(b, off + 4))
}

/// Copies `N` bytes at `off`. The caller has checked `off + N <= b.len()`.
#[inline]
pub(crate) fn array<const N: usize>(b: &[u8], off: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[off..off + N]);
    a
}

/// `n` rounded up to a multiple of 8.
#[inline]
pub(crate) const fn round_up8(n: usize) -> usize {
    (n + 7) & !7
}

/// The text of a fixed-size, NUL-padded C string field (up to the first NUL; bytes
/// that are not UTF-8 are replaced).
pub(crate) fn c_string(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Appending big-endian integers and padding to a message being built.
pub(crate) trait Put {
    fn put_u8(&mut self, v: u8);
    fn put_u16(&mut self, v: u16);
    fn put_u32(&mut self, v: u32);
    fn put_u64(&mut self, v: u64);
    fn put_zeros(&mut self, n: usize);
    /// `s` truncated to `n - 1` bytes and NUL-padded to `n` bytes, as OVS's
    /// `ovs_strlcpy` into a fixed array of `n` bytes (always NUL-terminated).
    fn put_c_string(&mut self, s: &str, n: usize);
    /// Zeros up to the next multiple of 8 bytes from `start`.
    fn pad_to_8(&mut self, start: usize);
    /// Overwrites the big-endian u16 at `off` (a length filled in afterwards).
    fn set_u16(&mut self, off: usize, v: u16);
}

impl Put for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_zeros(&mut self, n: usize) {
        self.resize(self.len() + n, 0);
    }
    fn put_c_string(&mut self, s: &str, n: usize) {
        let b = s.as_bytes();
        let len = b.len().min(n.saturating_sub(1));
        self.extend_from_slice(&b[..len]);
        self.put_zeros(n - len);
    }
    fn pad_to_8(&mut self, start: usize) {
        let len = self.len() - start;
        self.put_zeros(round_up8(len) - len);
    }
    fn set_u16(&mut self, off: usize, v: u16) {
        self[off..off + 2].copy_from_slice(&v.to_be_bytes());
    }
}

/// Declares a checked view over a fixed-layout wire structure: `new_checked`
/// verifies the length once, after which every accessor reads within bounds.
///
/// ```ignore
/// view! {
///     /// struct ofp_switch_config
///     pub struct SwitchConfigView(4) {
///         flags: u16 @ 0,
///         miss_send_len: u16 @ 2,
///     }
/// }
/// ```
macro_rules! view {
    (
        $(#[$m:meta])*
        pub struct $name:ident($len:expr) {
            $( $(#[$fm:meta])* $field:ident : $ty:tt @ $off:expr ),* $(,)?
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name<'a> {
            buf: &'a [u8],
        }

        #[allow(dead_code)]
        impl<'a> $name<'a> {
            /// Length of the fixed part of the structure.
            pub const LEN: usize = $len;

            /// A view over `buf`, or `None` if `buf` is shorter than [`Self::LEN`].
            pub fn new_checked(buf: &'a [u8]) -> Option<Self> {
                (buf.len() >= $len).then_some(Self { buf })
            }

            /// Every byte the view was made over (fixed part and what follows).
            pub fn as_bytes(&self) -> &'a [u8] {
                self.buf
            }

            /// The bytes after the fixed part.
            pub fn rest(&self) -> &'a [u8] {
                &self.buf[$len..]
            }

            $(
                $(#[$fm])*
                pub fn $field(&self) -> view!(@ty $ty) {
                    view!(@get $ty, self.buf, $off)
                }
            )*
        }
    };
    (@ty u8) => { u8 };
    (@ty u16) => { u16 };
    (@ty u32) => { u32 };
    (@ty u64) => { u64 };
    (@ty mac) => { [u8; 6] };
    (@ty name16) => { [u8; 16] };
    (@ty name32) => { [u8; 32] };
    (@get u8, $b:expr, $off:expr) => { $b[$off] };
    (@get u16, $b:expr, $off:expr) => { $crate::bytes::be16($b, $off) };
    (@get u32, $b:expr, $off:expr) => { $crate::bytes::be32($b, $off) };
    (@get u64, $b:expr, $off:expr) => { $crate::bytes::be64($b, $off) };
    (@get mac, $b:expr, $off:expr) => { $crate::bytes::array::<6>($b, $off) };
    (@get name16, $b:expr, $off:expr) => { $crate::bytes::array::<16>($b, $off) };
    (@get name32, $b:expr, $off:expr) => { $crate::bytes::array::<32>($b, $off) };
}

pub(crate) use view;

#[cfg(test)]
pub(crate) mod test_util {
    /// Bytes from a hex string (white space ignored); panics on bad hex (tests only).
    pub fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        assert!(s.len().is_multiple_of(2), "odd hex length");
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// Lower-case hex of `b`.
    pub fn to_hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    view! {
        /// test structure
        pub struct TestView(15) {
            a: u8 @ 0,
            b: u16 @ 1,
            c: u32 @ 3,
            d: u64 @ 7,
        }
    }

    #[test]
    fn views_check_once_and_read_big_endian() {
        assert!(TestView::new_checked(&[0; 14]).is_none());
        let buf = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
        let v = TestView::new_checked(&buf).unwrap();
        assert_eq!(v.a(), 1);
        assert_eq!(v.b(), 0x0203);
        assert_eq!(v.c(), 0x0405_0607);
        assert_eq!(v.d(), 0x0809_0a0b_0c0d_0e0f);
        assert_eq!(v.rest(), &[16]);
    }

    #[test]
    fn c_strings_are_truncated_and_terminated_like_strlcpy() {
        let mut b = Vec::new();
        b.put_c_string("abc", 5);
        assert_eq!(b, b"abc\0\0");
        let mut b = Vec::new();
        b.put_c_string("abcdef", 4);
        assert_eq!(b, b"abc\0");
        assert_eq!(c_string(b"ab\0cd"), "ab");
        assert_eq!(c_string(b"abcd"), "abcd");
    }

    #[test]
    fn padding() {
        let mut b = vec![1, 2, 3];
        b.pad_to_8(1);
        assert_eq!(b.len(), 9);
        b.pad_to_8(1);
        assert_eq!(b.len(), 9);
        assert_eq!(round_up8(0), 0);
        assert_eq!(round_up8(9), 16);
    }
}
