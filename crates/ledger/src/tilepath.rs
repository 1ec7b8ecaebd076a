//! C2SP tlog-tiles paths: `tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]`.

use std::path::PathBuf;

/// Hashes per full tile, and entries per full entry bundle (tile height 8).
pub const TILE_WIDTH: u64 = 256;

/// Encode a tile index as C2SP path elements: 1234067 -> `x001/x234/067`.
pub fn encode_index(n: u64) -> String {
    let mut groups = Vec::new();
    let mut v = n;
    loop {
        groups.push(v % 1000);
        v /= 1000;
        if v == 0 {
            break;
        }
    }
    let last = groups.len() - 1;
    groups
        .iter()
        .rev()
        .enumerate()
        .map(|(i, g)| {
            if i == last {
                format!("{g:03}")
            } else {
                format!("x{g:03}")
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Relative path of hash tile `(level, index)`; `width` < 256 names a partial tile.
pub fn tile_path(level: u8, index: u64, width: u64) -> PathBuf {
    with_width(format!("tile/{level}/{}", encode_index(index)), width)
}

/// Relative path of entry bundle `index`; `width` < 256 names a partial bundle.
pub fn bundle_path(index: u64, width: u64) -> PathBuf {
    with_width(format!("tile/entries/{}", encode_index(index)), width)
}

fn with_width(base: String, width: u64) -> PathBuf {
    if width >= TILE_WIDTH {
        PathBuf::from(base)
    } else {
        PathBuf::from(format!("{base}.p/{width}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_c2sp_tlog_tiles() {
        // The examples from the tlog-tiles specification.
        assert_eq!(encode_index(1234067), "x001/x234/067");
        assert_eq!(encode_index(0), "000");
        assert_eq!(encode_index(1000), "x001/000");
        assert_eq!(
            tile_path(0, 1234067, 256),
            PathBuf::from("tile/0/x001/x234/067")
        );
        assert_eq!(tile_path(1, 5, 12), PathBuf::from("tile/1/005.p/12"));
        assert_eq!(bundle_path(42, 256), PathBuf::from("tile/entries/042"));
        assert_eq!(bundle_path(42, 7), PathBuf::from("tile/entries/042.p/7"));
    }
}
