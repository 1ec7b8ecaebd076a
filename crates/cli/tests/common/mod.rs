//! What the binary's test files share: running `suho` on a data directory, and starting
//! `suho serve` on a free port.
// Each test binary uses only some of these.
#![allow(dead_code)]

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const SUHO: &str = env!("CARGO_BIN_EXE_suho");

/// `suho --data DATA ARGS...`, run to completion.
pub fn suho(data: &Path, args: &[&str]) -> Output {
    Command::new(SUHO)
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("run suho")
}

/// A TCP port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A new ingest token for the data directory `data`.
pub fn ingest_token(data: &Path) -> String {
    let out = suho(
        data,
        &["token", "create", "--role", "ingest", "--name", "test"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `suho serve` on `addr`, once it accepts connections.
pub fn start_serve(data: &Path, addr: &str) -> Child {
    start_serve_with(data, addr, Stdio::null())
}

/// [`start_serve`], its standard error going to `stderr`.
pub fn start_serve_with(data: &Path, addr: &str, stderr: Stdio) -> Child {
    let child = Command::new(SUHO)
        .arg("--data")
        .arg(data)
        .args(["serve", "--listen", addr])
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawn suho serve");
    let t = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "suho serve did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// The follower's status, once the process `pid` has written one.
pub fn status_of(data: &Path, pid: u32) -> Option<serde_json::Value> {
    let text = std::fs::read(data.join("follow/status")).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&text).ok()?;
    (v["pid"].as_u64() == Some(u64::from(pid))).then_some(v)
}

/// Wait until the follower `child` says (in its status file) that `cond` holds.
pub fn wait_status(
    data: &Path,
    child: &Arc<Mutex<Option<Child>>>,
    what: &str,
    cond: impl Fn(&serde_json::Value) -> bool,
) {
    let t = Instant::now();
    loop {
        let pid = {
            let mut slot = child.lock().expect("lock");
            let c = slot.as_mut().expect("a running follower");
            if let Some(status) = c.try_wait().expect("try_wait") {
                panic!("the follower exited ({status}) while waiting for {what}");
            }
            c.id()
        };
        if status_of(data, pid).is_some_and(|v| cond(&v)) {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "never got to: {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
