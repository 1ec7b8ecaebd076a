//! However large a batch, the write-ahead log holds only blocks its own reader accepts: a batch
//! bigger than a block may be (an HTTP body of 64 MiB of small records has more raw bytes than
//! that, with framing) is cut into several blocks, and every record reads back after a restart.

use suho_ledger::{verify, Layout, Ledger, Options, Prepared, WalReader, BLOCK_TARGET_RAW};

#[test]
fn a_batch_larger_than_any_block_is_stored_in_several_and_reads_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 80 records of 1 MiB: 80 MiB of raw block bytes, past the 64 MiB a reader accepts.
    let bodies: Vec<Vec<u8>> = (0..80u8)
        .map(|i| {
            let mut b = format!(r#"{{"time":{i},"actor":"a","action":"read","resource":"r","x":""#)
                .into_bytes();
            b.resize((1 << 20) - 2, b'a' + i % 26);
            b.extend_from_slice(b"\"}");
            b
        })
        .collect();
    {
        let mut l = Ledger::open(dir.path(), Options::default()).expect("open");
        let batch: Vec<Prepared> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| Prepared::new(b, i as i64, None, 1))
            .collect();
        l.append_batch(&batch, Vec::new()).expect("append");
        l.checkpoint().expect("checkpoint");
    }
    let l = Ledger::open(dir.path(), Options::default()).expect("reopen");
    assert_eq!(l.size(), 80, "every record of the batch survives a restart");
    drop(l);
    let layout = Layout::new(dir.path());
    verify(&layout, None, |_, _| {}).expect("verify passes");
    let wal = WalReader::new(&layout.wal());
    for i in [0u64, 3, 4, 79] {
        let frame = wal.frame(i).expect("frame");
        assert_eq!(frame.body, bodies[i as usize], "record {i} reads back");
    }
    // The blocks were cut at the target: at most `per_block` records of 1 MiB fit in each.
    let per_block = (BLOCK_TARGET_RAW / (1 << 20)) as u64;
    assert!(per_block >= 2, "the test assumes a target of several MiB");
    let segs: Vec<_> = std::fs::read_dir(layout.wal())
        .expect("wal dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "seg"))
        .collect();
    let seg = std::fs::read(segs[0].path()).expect("segment");
    let blocks = seg.windows(4).filter(|w| w == b"SBLK").count() as u64;
    assert!(
        blocks >= 80 / per_block,
        "{blocks} blocks for 80 records of 1 MiB"
    );
}
