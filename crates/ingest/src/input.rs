//! Opening an input file or stream: a gzip file (log rotation writes them) is read through a
//! decompressor, so its lines are numbered within the decompressed text; other compressed
//! formats are refused by name before anything is read into the ledger, instead of every
//! line being rejected as "invalid UTF-8".

use std::io::{Cursor, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;

use crate::IngestError;

/// How an input is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Not compressed (or not in a format suho recognises: its lines are read as they are).
    None,
    /// gzip (RFC 1952), including several members one after another.
    Gzip,
}

/// An opened input, ready for [`crate::ingest_stream`].
pub struct Input {
    reader: Box<dyn Read + Send>,
    compression: Compression,
    raw_read: Arc<AtomicU64>,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("compression", &self.compression)
            .finish_non_exhaustive()
    }
}

impl Input {
    /// How the input is compressed.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// A counter of the bytes read so far from the underlying input, before decompression
    /// (for a progress bar over a compressed file's size).
    pub fn raw_bytes_read(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.raw_read)
    }
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.reader.read(buf)
    }
}

/// Counts the bytes read through it.
struct Counted<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Magic numbers of compressed formats suho does not decompress: (magic, name, tool).
const REFUSED: [(&[u8], &str, &str); 3] = [
    (&[0x28, 0xb5, 0x2f, 0xfd], "zstd", "zstd"),
    (&[0xfd, b'7', b'z', b'X', b'Z', 0x00], "xz", "xz"),
    (b"BZh", "bzip2", "bzip2"),
];

/// Opens `input` named `name` (for messages): looks at its first bytes, reads gzip through a
/// decompressor, and refuses zstd, xz and bzip2 with [`IngestError::Compressed`]. Reads at
/// most 6 bytes before returning.
pub fn open_input(name: &str, input: impl Read + Send + 'static) -> Result<Input, IngestError> {
    let raw_read = Arc::new(AtomicU64::new(0));
    let mut counted = Counted {
        inner: input,
        count: Arc::clone(&raw_read),
    };
    let mut magic = Vec::with_capacity(6);
    (&mut counted)
        .take(6)
        .read_to_end(&mut magic)
        .map_err(|error| IngestError::Read {
            source_name: name.to_owned(),
            error,
        })?;
    if let Some((_, format, tool)) = REFUSED.iter().find(|(m, _, _)| magic.starts_with(m)) {
        return Err(IngestError::Compressed {
            source_name: name.to_owned(),
            format,
            tool,
        });
    }
    let gzip = magic.starts_with(&[0x1f, 0x8b]);
    let whole = Cursor::new(magic).chain(counted);
    let (reader, compression): (Box<dyn Read + Send>, _) = if gzip {
        (Box::new(MultiGzDecoder::new(whole)), Compression::Gzip)
    } else {
        (Box::new(whole), Compression::None)
    };
    Ok(Input {
        reader,
        compression,
        raw_read,
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn read_all(i: &mut Input) -> Vec<u8> {
        let mut out = Vec::new();
        i.read_to_end(&mut out).expect("reads");
        out
    }

    #[test]
    fn plain_input_passes_through_whole() {
        for text in [&b""[..], b"{", b"{\"time\":1}\n{\"a\":2}\n"] {
            let mut i = open_input("x", Cursor::new(text.to_vec())).expect("opens");
            assert_eq!(i.compression(), Compression::None);
            assert_eq!(read_all(&mut i), text);
        }
    }

    #[test]
    fn gzip_is_decompressed_even_in_several_members() {
        let text = b"{\"a\":1}\n{\"b\":2}\n";
        let mut file = Vec::new();
        for part in [&text[..8], &text[8..]] {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(part).expect("compress");
            file.extend(gz.finish().expect("compress"));
        }
        let mut i = open_input("x.gz", Cursor::new(file.clone())).expect("opens");
        assert_eq!(i.compression(), Compression::Gzip);
        let counter = i.raw_bytes_read();
        assert_eq!(read_all(&mut i), text);
        assert_eq!(counter.load(Ordering::Relaxed), file.len() as u64);
    }

    #[test]
    fn other_compressed_formats_are_refused_by_name() {
        let zst = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58, 0x61];
        let e = open_input("a.ndjson.zst", Cursor::new(zst))
            .expect_err("zstd is refused")
            .to_string();
        assert!(e.contains("a.ndjson.zst is compressed with zstd"), "{e}");
        assert!(e.contains("decompress it first"), "{e}");
        let e = open_input("b", Cursor::new(b"BZh91AY&SY".to_vec()))
            .expect_err("bzip2 is refused")
            .to_string();
        assert!(e.contains("bzip2"), "{e}");
    }
}
