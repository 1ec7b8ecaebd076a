//! A minimal MaxMind DB writer for tests, following the published MaxMind DB file format
//! spec (version 2.0): an IPv6 search tree with 24-bit records (IPv4 networks live under
//! `::/96`), a data section in the MaxMind data format, and the metadata map after the
//! `\xAB\xCD\xEFMaxMind.com` marker. The `maxminddb` crate only reads, so tests write their
//! own small databases with this.

use std::net::IpAddr;

/// A value in the MaxMind data format (the subset tests need).
pub enum V {
    Str(&'static str),
    F64(f64),
    U16(u16),
    U32(u32),
    U64(u64),
    Map(Vec<(&'static str, V)>),
    Arr(Vec<V>),
}

fn ctrl(out: &mut Vec<u8>, ty: u8, size: usize) {
    let (first, extra): (u8, Vec<u8>) = if size < 29 {
        (size as u8, vec![])
    } else if size < 29 + 256 {
        (29, vec![(size - 29) as u8])
    } else {
        let s = size - 285;
        (30, vec![(s >> 8) as u8, s as u8])
    };
    if ty <= 7 {
        out.push((ty << 5) | first);
    } else {
        out.push(first);
        out.push(ty - 7);
    }
    out.extend(extra);
}

fn uint(out: &mut Vec<u8>, ty: u8, v: u64) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    ctrl(out, ty, 8 - skip);
    out.extend_from_slice(&bytes[skip..]);
}

pub fn encode(v: &V, out: &mut Vec<u8>) {
    match v {
        V::Str(s) => {
            ctrl(out, 2, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        V::F64(x) => {
            ctrl(out, 3, 8);
            out.extend_from_slice(&x.to_be_bytes());
        }
        V::U16(x) => uint(out, 5, u64::from(*x)),
        V::U32(x) => uint(out, 6, u64::from(*x)),
        V::U64(x) => uint(out, 9, *x),
        V::Map(m) => {
            ctrl(out, 7, m.len());
            for (k, v) in m {
                encode(&V::Str(k), out);
                encode(v, out);
            }
        }
        V::Arr(a) => {
            ctrl(out, 11, a.len());
            for v in a {
                encode(v, out);
            }
        }
    }
}

/// Builds a database mapping each network (address, prefix length) to a record.
/// Networks must not overlap.
pub fn build(networks: Vec<(IpAddr, u8, V)>) -> Vec<u8> {
    // Tree nodes: [left, right]; `None` = empty, `Some(Ok(node))`, `Some(Err(data offset))`.
    type Rec = Option<Result<usize, usize>>;
    let mut nodes: Vec<[Rec; 2]> = vec![[None, None]];
    let mut data = Vec::new();
    for (ip, len, value) in networks {
        let (bits, len) = match ip {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), u32::from(len) + 96),
            IpAddr::V6(v6) => (u128::from(v6), u32::from(len)),
        };
        let offset = data.len();
        encode(&value, &mut data);
        let mut node = 0usize;
        for i in 0..len {
            let bit = ((bits >> (127 - i)) & 1) as usize;
            if i + 1 == len {
                nodes[node][bit] = Some(Err(offset));
            } else {
                node = match nodes[node][bit] {
                    Some(Ok(n)) => n,
                    _ => {
                        nodes.push([None, None]);
                        let n = nodes.len() - 1;
                        nodes[node][bit] = Some(Ok(n));
                        n
                    }
                };
            }
        }
    }
    let count = nodes.len();
    let mut out = Vec::new();
    for n in &nodes {
        for r in n {
            let v = match r {
                None => count,
                Some(Ok(n)) => *n,
                Some(Err(off)) => count + 16 + off,
            };
            out.extend_from_slice(&(v as u32).to_be_bytes()[1..]);
        }
    }
    out.extend_from_slice(&[0u8; 16]);
    out.extend_from_slice(&data);
    out.extend_from_slice(b"\xab\xcd\xefMaxMind.com");
    let meta = V::Map(vec![
        ("binary_format_major_version", V::U16(2)),
        ("binary_format_minor_version", V::U16(0)),
        ("build_epoch", V::U64(1_750_000_000)),
        ("database_type", V::Str("suho-test-city")),
        (
            "description",
            V::Map(vec![("en", V::Str("suho test database"))]),
        ),
        ("ip_version", V::U16(6)),
        ("languages", V::Arr(vec![V::Str("en")])),
        ("node_count", V::U32(count as u32)),
        ("record_size", V::U16(24)),
    ]);
    encode(&meta, &mut out);
    out
}
