//! Compressed request bodies: `Content-Encoding: gzip` (or `x-gzip`) and `zstd`, which log
//! shippers (Vector, Fluent Bit) send by default.
//!
//! The body limit is applied to the *decompressed* size: output is read through a limit of one
//! byte past it, so a decompression bomb is refused having produced at most the limit plus the
//! block the decoder was working on (a zstd block is at most 128 KiB; a deflate block is read
//! in 32 KiB steps), never the whole bomb. zstd is decoded by `ruzstd`, a pure-Rust decoder: the
//! bytes come from the network, and a decoder written in safe Rust keeps memory-safety bugs of
//! a C library off that boundary; it also needs no C toolchain. Its window (the memory one frame
//! may ask for) is held to 8 MiB, what RFC 8878 asks every decoder to support, instead of the
//! crate's default of 128 MiB, so 16 concurrent bodies cannot make the server allocate 2 GiB.

use std::io::Read;

use flate2::read::MultiGzDecoder;
use ruzstd::decoding::StreamingDecoder;

/// Largest zstd window accepted: 8 MiB (RFC 8878 section 3.1.1.1.2 recommends decoders support
/// at least this much; zstd uses no more below level 20 for bodies of this size).
const ZSTD_MAX_WINDOW: u64 = 8 << 20;

/// How a request body is encoded, as far as the server decodes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Identity,
    Gzip,
    Zstd,
}

impl Encoding {
    /// The coding's name, for messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Gzip => "gzip",
            Encoding::Zstd => "zstd",
        }
    }

    /// The encoding named by every `Content-Encoding` header value given (a list of codings,
    /// in the order they were applied). `identity` is ignored; one of gzip, x-gzip or zstd is
    /// decoded. Anything else, or two codings stacked, is `Err` with the header as sent
    /// (at most 100 bytes of it), for a 415 that names it.
    pub(crate) fn parse<'a>(values: impl Iterator<Item = &'a [u8]>) -> Result<Encoding, String> {
        let mut found = Vec::new();
        let mut sent = Vec::new();
        for value in values {
            let text = String::from_utf8_lossy(value);
            sent.push(text.trim().to_owned());
            for coding in text.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                found.push(coding.to_ascii_lowercase());
            }
        }
        let named = || {
            let mut s = sent.join(", ");
            if s.len() > 100 {
                let mut cut = 100;
                while !s.is_char_boundary(cut) {
                    cut -= 1;
                }
                s.truncate(cut);
                s.push('…');
            }
            s
        };
        let applied: Vec<&str> = found
            .iter()
            .map(String::as_str)
            .filter(|c| *c != "identity")
            .collect();
        match applied.as_slice() {
            [] => Ok(Encoding::Identity),
            ["gzip" | "x-gzip"] => Ok(Encoding::Gzip),
            ["zstd"] => Ok(Encoding::Zstd),
            _ => Err(named()),
        }
    }
}

/// Why a body could not be decompressed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Undecodable {
    /// It decompresses to more than the limit (in bytes).
    TooLarge,
    /// It is not valid data of its encoding; says why.
    Corrupt(String),
}

/// Decompress `body`, encoded as `encoding`, to at most `limit` bytes.
pub(crate) fn decode(
    encoding: Encoding,
    body: &[u8],
    limit: usize,
) -> Result<Vec<u8>, Undecodable> {
    match encoding {
        Encoding::Identity => Ok(body.to_vec()),
        Encoding::Gzip => read_limited(MultiGzDecoder::new(body), body.len(), limit),
        Encoding::Zstd => read_limited(ZstdFrames::new(body), body.len(), limit),
    }
}

/// Read `decoder` to its end, refusing output past `limit` bytes.
fn read_limited(
    decoder: impl Read,
    compressed: usize,
    limit: usize,
) -> Result<Vec<u8>, Undecodable> {
    // Log lines compress about tenfold; start near that, within the limit.
    let mut out = Vec::with_capacity(compressed.saturating_mul(8).min(limit));
    decoder
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| Undecodable::Corrupt(e.to_string()))?;
    if out.len() > limit {
        return Err(Undecodable::TooLarge);
    }
    Ok(out)
}

/// The frames of a zstd stream one after another (RFC 8878 section 3: a stream may hold several
/// frames, and skippable frames), each checked against its content checksum when it has one.
struct ZstdFrames<'a> {
    rest: &'a [u8],
    frame: Option<StreamingDecoder<&'a [u8], ruzstd::decoding::FrameDecoder>>,
}

impl<'a> ZstdFrames<'a> {
    fn new(body: &'a [u8]) -> Self {
        ZstdFrames {
            rest: body,
            frame: None,
        }
    }
}

fn corrupt(why: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string())
}

impl Read for ZstdFrames<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if let Some(frame) = self.frame.as_mut() {
                let n = frame.read(buf)?;
                if n > 0 || buf.is_empty() {
                    return Ok(n);
                }
                // The frame is done: its checksum, then what follows it.
                let frame = self
                    .frame
                    .take()
                    .ok_or_else(|| corrupt("zstd frame state lost"))?;
                let (rest, decoder) = frame.into_parts();
                if !decoder.is_finished() {
                    return Err(corrupt("the zstd frame ends early (the body is truncated)"));
                }
                if let (Some(sent), Some(computed)) = (
                    decoder.get_checksum_from_data(),
                    decoder.get_calculated_checksum(),
                ) {
                    if sent != computed {
                        return Err(corrupt(
                            "the zstd frame's content checksum does not match its content",
                        ));
                    }
                }
                self.rest = rest;
            }
            if self.rest.is_empty() {
                return Ok(0);
            }
            // Skippable frames (magic 0x184D2A5?) carry no content.
            if self.rest.len() >= 8 && self.rest[..4] != [0x28, 0xb5, 0x2f, 0xfd] {
                let magic =
                    u32::from_le_bytes([self.rest[0], self.rest[1], self.rest[2], self.rest[3]]);
                if magic & 0xFFFF_FFF0 == 0x184D_2A50 {
                    let len = u32::from_le_bytes([
                        self.rest[4],
                        self.rest[5],
                        self.rest[6],
                        self.rest[7],
                    ]) as usize;
                    let end = 8usize.saturating_add(len);
                    if end > self.rest.len() {
                        return Err(corrupt(
                            "a skippable zstd frame runs past the end of the body",
                        ));
                    }
                    self.rest = &self.rest[end..];
                    continue;
                }
            }
            let decoder = StreamingDecoder::new_with_max_window_size(self.rest, ZSTD_MAX_WINDOW)
                .map_err(corrupt)?;
            self.frame = Some(decoder);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(data).expect("compress");
        gz.finish().expect("compress")
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
    }

    #[test]
    fn codings_are_named_case_insensitively_and_identity_is_ignored() {
        let parse = |v: &[&str]| Encoding::parse(v.iter().map(|s| s.as_bytes()));
        assert_eq!(parse(&[]), Ok(Encoding::Identity));
        assert_eq!(parse(&["identity"]), Ok(Encoding::Identity));
        assert_eq!(parse(&["GZIP"]), Ok(Encoding::Gzip));
        assert_eq!(parse(&["x-gzip"]), Ok(Encoding::Gzip));
        assert_eq!(parse(&[" zstd "]), Ok(Encoding::Zstd));
        assert_eq!(parse(&["identity, zstd"]), Ok(Encoding::Zstd));
        assert_eq!(parse(&["br"]), Err("br".to_owned()));
        assert_eq!(parse(&["gzip", "zstd"]), Err("gzip, zstd".to_owned()));
        let long = "x".repeat(300);
        assert!(parse(&[&long]).is_err_and(|s| s.chars().count() == 101));
    }

    #[test]
    fn several_gzip_members_and_zstd_frames_decode_as_one_body() {
        let mut gz = gzip(b"{\"a\":1}\n");
        gz.extend(gzip(b"{\"b\":2}\n"));
        assert_eq!(
            decode(Encoding::Gzip, &gz, 100).as_deref(),
            Ok(&b"{\"a\":1}\n{\"b\":2}\n"[..])
        );
        let mut zst = zstd(b"{\"a\":1}\n");
        // A skippable frame between two frames.
        zst.extend([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
        zst.extend(zstd(b"{\"b\":2}\n"));
        assert_eq!(
            decode(Encoding::Zstd, &zst, 100).as_deref(),
            Ok(&b"{\"a\":1}\n{\"b\":2}\n"[..])
        );
    }

    /// Counts the bytes read through it.
    struct Counted<'a> {
        inner: &'a [u8],
        read: &'a std::cell::Cell<usize>,
    }

    impl Read for Counted<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.read.set(self.read.get() + n);
            Ok(n)
        }
    }

    #[test]
    fn a_bomb_is_refused_having_decoded_little_more_than_the_limit() {
        // 64 MiB of one byte: about 64 KiB of gzip, a few KiB of zstd.
        let bomb = vec![b'a'; 64 << 20];
        let limit = 1 << 20;
        for (encoding, body) in [(Encoding::Gzip, gzip(&bomb)), (Encoding::Zstd, zstd(&bomb))] {
            assert_eq!(
                decode(encoding, &body, limit),
                Err(Undecodable::TooLarge),
                "{encoding:?}"
            );
            // The decoder stops near the limit: it has consumed a small part of the body.
            let read = std::cell::Cell::new(0);
            let input = Counted {
                inner: &body,
                read: &read,
            };
            let res = match encoding {
                Encoding::Gzip => read_limited(MultiGzDecoder::new(input), body.len(), limit),
                _ => read_limited(
                    StreamingDecoder::new_with_max_window_size(input, ZSTD_MAX_WINDOW)
                        .expect("a zstd frame"),
                    body.len(),
                    limit,
                ),
            };
            assert_eq!(res, Err(Undecodable::TooLarge));
            assert!(
                read.get() < body.len() / 8,
                "{encoding:?}: read {} of {} compressed bytes for a {limit}-byte limit",
                read.get(),
                body.len()
            );
        }
    }

    #[test]
    fn corrupt_and_truncated_bodies_are_refused_with_a_reason() {
        let text =
            b"{\"time\":1750000000000,\"actor\":\"a\",\"action\":\"read\",\"resource\":\"r\"}\n"
                .repeat(50);
        for (encoding, body) in [(Encoding::Gzip, gzip(&text)), (Encoding::Zstd, zstd(&text))] {
            let truncated = &body[..body.len() - 6];
            assert!(
                matches!(
                    decode(encoding, truncated, 1 << 20),
                    Err(Undecodable::Corrupt(_))
                ),
                "{encoding:?} truncated"
            );
            let mut flipped = body.clone();
            let at = flipped.len() / 2;
            flipped[at] ^= 0x55;
            assert!(
                decode(encoding, &flipped, 1 << 20).is_err(),
                "{encoding:?} with a flipped byte"
            );
            assert!(matches!(
                decode(encoding, b"plain text, not compressed", 1 << 20),
                Err(Undecodable::Corrupt(_))
            ));
        }
    }
}
