//! Allocation-free text formatting for the record writer: integers, hex ids, IPv4 addresses
//! and JSON strings appended to a reused byte buffer.

const HEX: &[u8; 16] = b"0123456789abcdef";

/// "00" "01" ... "99": two digits per lookup.
const DIGITS2: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Writes the decimal digits of `n` right-aligned into `out`, which is pre-filled with `'0'`;
/// returns the index of the first digit written.
#[inline]
pub(crate) fn digits_into(out: &mut [u8], mut n: u64) -> usize {
    let mut i = out.len();
    while n >= 100 {
        let r = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        out[i..i + 2].copy_from_slice(&DIGITS2[r..r + 2]);
    }
    if n >= 10 {
        let r = n as usize * 2;
        i -= 2;
        out[i..i + 2].copy_from_slice(&DIGITS2[r..r + 2]);
    } else {
        i -= 1;
        out[i] = b'0' + n as u8;
    }
    i
}

/// Appends the decimal digits of `n`.
#[inline]
pub(crate) fn push_u64(buf: &mut Vec<u8>, n: u64) {
    push_padded(buf, n, 1);
}

/// Appends the decimal digits of `n`, zero-padded on the left to at least `width` digits
/// (at most 20).
#[inline]
pub(crate) fn push_padded(buf: &mut Vec<u8>, n: u64, width: usize) {
    // A fixed-size copy then a truncate: cheaper than a variable-length copy for short text.
    let w = decimal_width(n).max(width.min(20));
    let len = buf.len();
    buf.extend_from_slice(&[b'0'; 20]);
    digits_into(&mut buf[len..len + w], n);
    buf.truncate(len + w);
}

/// Appends the first `n` bytes of `tmp` (fixed-size copy, then truncate).
#[inline]
pub(crate) fn push_prefix<const N: usize>(buf: &mut Vec<u8>, tmp: &[u8; N], n: usize) {
    let len = buf.len();
    buf.extend_from_slice(tmp);
    buf.truncate(len + n.min(N));
}

/// Appends exactly two digits of `n` (0..=99).
#[inline]
pub(crate) fn push_2(buf: &mut Vec<u8>, n: u32) {
    let r = (n % 100) as usize * 2;
    buf.extend_from_slice(&DIGITS2[r..r + 2]);
}

/// Number of decimal digits of `n` (1 for 0).
#[inline]
pub(crate) fn decimal_width(n: u64) -> usize {
    let mut w = 1;
    let mut p = 10u64;
    while w < 20 && n >= p {
        w += 1;
        p = p.saturating_mul(10);
    }
    w
}

/// Appends the low `digits` (at most 16) hex digits of `n`, most significant first.
#[inline]
pub(crate) fn push_hex(buf: &mut Vec<u8>, n: u64, digits: u32) {
    let mut tmp = [0u8; 16];
    for (i, b) in tmp.iter_mut().enumerate() {
        *b = HEX[((n >> ((15 - i) * 4)) & 0xf) as usize];
    }
    if digits >= 16 {
        buf.extend_from_slice(&tmp);
    } else {
        buf.extend_from_slice(&tmp[16 - digits as usize..]);
    }
}

/// Appends an IPv4 address in dotted-quad form.
#[inline]
pub(crate) fn push_ipv4(buf: &mut Vec<u8>, ip: u32) {
    let mut tmp = [0u8; 16];
    let mut n = 0;
    for (i, octet) in ip.to_be_bytes().into_iter().enumerate() {
        if i > 0 {
            tmp[n] = b'.';
            n += 1;
        }
        if octet >= 100 {
            tmp[n] = b'0' + octet / 100;
            n += 1;
        }
        if octet >= 10 {
            tmp[n] = b'0' + octet / 10 % 10;
            n += 1;
        }
        tmp[n] = b'0' + octet % 10;
        n += 1;
    }
    push_prefix(buf, &tmp, n);
}

/// Dotted-quad text of an IPv4 address.
pub(crate) fn ipv4_string(ip: u32) -> String {
    std::net::Ipv4Addr::from(ip).to_string()
}

/// Appends `s` as a JSON string literal, quotes included.
pub(crate) fn push_json_str(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    for &c in s.as_bytes() {
        match c {
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            0..=0x1f => {
                buf.extend_from_slice(b"\\u00");
                push_hex(buf, u64::from(c), 2);
            }
            _ => buf.push(c),
        }
    }
    buf.push(b'"');
}

/// SplitMix64's finaliser: a bijection on `u64` that scatters nearby inputs, used to turn
/// sequence numbers into random-looking but unique ids and to derive independent seeds.
pub(crate) const fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut b = Vec::new();
        f(&mut b);
        String::from_utf8(b).unwrap_or_default()
    }

    #[test]
    fn integers_and_padding() {
        assert_eq!(text(|b| push_u64(b, 0)), "0");
        assert_eq!(text(|b| push_u64(b, u64::MAX)), "18446744073709551615");
        assert_eq!(text(|b| push_padded(b, 417, 7)), "0000417");
        assert_eq!(text(|b| push_padded(b, 12_345_678, 7)), "12345678");
        assert_eq!(text(|b| push_padded(b, 0, 3)), "000");
        assert_eq!(text(|b| push_u64(b, 7)), "7");
        assert_eq!(text(|b| push_u64(b, 10)), "10");
        assert_eq!(text(|b| push_u64(b, 1_746_025_200_123)), "1746025200123");
        assert_eq!(text(|b| push_2(b, 5)), "05");
        assert_eq!(decimal_width(9_999_999), 7);
        assert_eq!(decimal_width(10_000_000), 8);
    }

    #[test]
    fn hex_ip_and_json_strings() {
        assert_eq!(text(|b| push_hex(b, 0xdead_beef, 12)), "0000deadbeef");
        assert_eq!(text(|b| push_hex(b, u64::MAX - 1, 16)), "fffffffffffffffe");
        assert_eq!(text(|b| push_ipv4(b, 0xcb00_7107)), "203.0.113.7");
        assert_eq!(text(|b| push_ipv4(b, 0x0a64_ff00)), "10.100.255.0");
        assert_eq!(text(|b| push_ipv4(b, u32::MAX)), "255.255.255.255");
        assert_eq!(ipv4_string(0x0a14_0301), "10.20.3.1");
        assert_eq!(
            text(|b| push_json_str(b, "a\"b\\c\nd\u{1}é")),
            "\"a\\\"b\\\\c\\nd\\u0001é\""
        );
    }

    #[test]
    fn mix_is_injective_on_a_sample() {
        let mut seen: Vec<u64> = (0..10_000u64).map(mix64).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 10_000);
    }
}
