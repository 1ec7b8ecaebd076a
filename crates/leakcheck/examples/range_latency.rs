//! Measures the store at Coupang's scale: writes N random hashes (default 33.7M, 1.08 GB),
//! opens the store (verification and index) and times range queries, plain and padded.
//!
//! `cargo run -p suho-leakcheck --example range_latency -- [N] [DIR]`
//! (DIR defaults to a temporary directory, removed afterwards).

use std::time::{Duration, Instant};

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use suho_leakcheck::{write_store, IdHash, Prefix, Store, PREFIX_COUNT};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(Ok(33_700_000), |s| s.parse())?;
    let tmp = tempfile::tempdir()?;
    let dir = args
        .next()
        .map_or_else(|| tmp.path().to_path_buf(), Into::into);
    let path = dir.join("hashes.bin");

    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let t = Instant::now();
    let hashes: Vec<IdHash> = (0..n)
        .map(|_| {
            let mut b = [0u8; 32];
            rng.fill_bytes(&mut b);
            IdHash(b)
        })
        .collect();
    println!("generated {n} hashes in {:.1?}", t.elapsed());
    let t = Instant::now();
    let written = write_store(&path, hashes)?;
    println!(
        "wrote {written} hashes ({} MB) in {:.1?}",
        std::fs::metadata(&path)?.len() / 1_000_000,
        t.elapsed()
    );

    let t = Instant::now();
    let store = Store::open(&path)?;
    println!(
        "opened (checksum, order, index) in {:.1?}; largest range {}, padded responses have {} lines",
        t.elapsed(),
        store.largest_range(),
        store.padding_target()
    );

    for padded in [false, true] {
        let mut times: Vec<Duration> = Vec::with_capacity(20_000);
        let mut lines = 0usize;
        for _ in 0..20_000 {
            let p = Prefix::new(rng.gen_range(0..PREFIX_COUNT as u32)).ok_or("prefix")?;
            let t = Instant::now();
            let r = if padded {
                store.range_padded(p)?
            } else {
                store.range(p)?
            };
            let body = suho_leakcheck::render_range(&r);
            times.push(t.elapsed());
            lines += body.lines().count();
        }
        times.sort();
        let pct = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
        println!(
            "range{}: {} queries, mean {} lines, p50 {:.1?}, p99 {:.1?}, max {:.1?}",
            if padded { " (padded)" } else { "" },
            times.len(),
            lines / times.len(),
            pct(0.5),
            pct(0.99),
            pct(1.0)
        );
    }
    Ok(())
}
