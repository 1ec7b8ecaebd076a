//! The store at production size: a large credential registry loads, reloads and snapshots.
//!
//! `SUHO_REGISTRY_SCALE` sets the number of credentials (default 20,000 so the debug test
//! suite stays quick); run `SUHO_REGISTRY_SCALE=1000000 cargo test --release -p suho-registry
//! --test scale -- --nocapture` to see the timings at a million.

use std::fmt::Write as _;
use std::time::Instant;

use suho_registry::{HistoryFilter, RegistryStore};

fn registry_file(credentials: usize, principals: usize) -> String {
    let mut out = String::with_capacity(credentials * 200);
    for p in 0..principals {
        writeln!(
            out,
            r#"{{"type":"principal","id":"emp-{p:05}","kind":"employee","status":"active","role":"cs-agent","countries":["KR"],"networks":["10.20.0.0/16"]}}"#
        )
        .expect("write to string");
    }
    writeln!(
        out,
        r#"{{"type":"signing_key","id":"kid-2024-02","owner":"svc-auth","status":"active","created_at":"2024-02-01T00:00:00Z"}}"#
    )
    .expect("write to string");
    for c in 0..credentials {
        // Token ids as issuers make them: not in insertion order.
        let id = (c as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        writeln!(
            out,
            r#"{{"type":"credential","id":"tok-{id:016x}","principal":"emp-{:05}","kind":"access_token","signing_key":"kid-2024-02","issued_at":"2025-06-24T00:00:00Z","expires_at":"2025-06-25T00:00:00Z"}}"#,
            c % principals
        )
        .expect("write to string");
    }
    out
}

/// CPU seconds this process has used, where Linux tells (the wall clock is shared with
/// whatever else runs on the machine).
fn cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Runs `f`, printing how long it took.
fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let (cpu0, t0) = (cpu(), Instant::now());
    let out = f();
    eprintln!("{what}: {:?} (cpu {:.2} s)", t0.elapsed(), cpu() - cpu0);
    out
}

#[test]
fn a_large_registry_loads_reloads_and_snapshots_completely() {
    let n: usize = std::env::var("SUHO_REGISTRY_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let principals = 5_000;
    let file = registry_file(n, principals);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = RegistryStore::open(dir.path()).expect("open");

    let first = timed(&format!("load {n} credentials"), || {
        store.load(file.as_bytes(), "big.ndjson", 1).expect("load")
    });
    assert_eq!(first.inserted as usize, n + principals + 1);
    assert!(first.rejected.is_empty());

    let again = timed("reload, all unchanged", || {
        store
            .load(file.as_bytes(), "big.ndjson", 2)
            .expect("reload")
    });
    assert_eq!(again.unchanged as usize, n + principals + 1);

    let reg = timed("snapshot", || store.snapshot().expect("snapshot"));
    assert_eq!(reg.credentials.len(), n);
    assert_eq!(reg.principals.len(), principals);

    let orphans = timed("orphans", || store.orphans(0).expect("orphans"));
    assert_eq!(
        orphans.len(),
        1,
        "only svc-auth's key: svc-auth is not registered"
    );

    let report = timed("offboard", || {
        store
            .offboard("emp-00007", 1_750_000_000_000, "ops", 3)
            .expect("offboard")
    });
    let owned = n / principals + usize::from(n % principals > 7);
    assert_eq!(report.credentials_revoked.len(), owned);

    let since_reload = store
        .history(HistoryFilter {
            since: Some(2),
            ..Default::default()
        })
        .expect("history");
    assert_eq!(since_reload.len(), owned + 1, "the reload wrote no history");
}
