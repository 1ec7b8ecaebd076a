//! Alert sinks through the real binary: `suho ingest` delivers what it raises, a receiver that
//! refuses, holds requests past the timeout (while a `suho sinks deliver` is killed with
//! SIGKILL) and comes back gets every alert event once, in order, signed; `suho sinks status`
//! says what happened.

mod common;

#[path = "../../sink/tests/common/receiver.rs"]
mod receiver;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{suho, SUHO};
use receiver::{Answer, Receiver};

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
/// Bound on waiting for one expected request; never reached when things work.
const GUARD: Duration = Duration::from_secs(60);

const RECORDS: &str = r#"{"time":"2025-06-24T03:12:45Z","id":"r-1","actor":"emp-0131","action":"read","resource":"GET /v1/customers/{id}","subjects":["c-1"]}
{"time":"2025-06-24T03:40:02Z","id":"r-1","actor":"emp-0131","action":"export","resource":"customers.csv","subjects":["c-1","c-2"],"fields":["name","phone"]}
{"time":"2025-06-24T04:00:00Z","id":"r-3","actor":"emp-0200","action":"export","resource":"customers.csv","subject_count":5000}
"#;

fn status(data: &Path) -> serde_json::Value {
    let out = suho(data, &["sinks", "status", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("status JSON")
}

#[test]
fn every_alert_reaches_a_webhook_that_refuses_times_out_and_comes_back_once_and_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("data dir");
    let rx = Receiver::start(SECRET, &[]);
    rx.set_default(Answer::Status(500));
    let secret_file = data.join("soc.whsec");
    let made = suho(
        &data,
        &["sinks", "secret", secret_file.to_str().expect("utf-8")],
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    assert!(std::fs::read_to_string(&secret_file)
        .expect("secret")
        .starts_with("whsec_"));
    // The receiver is given this test's secret instead.
    std::fs::write(&secret_file, SECRET).expect("secret");
    std::fs::write(
        data.join("suho.toml"),
        format!(
            "[[sinks]]\nname = \"soc\"\nkind = \"webhook\"\nurl = \"{}\"\nsecret_file = \"soc.whsec\"\ntimeout_ms = 500\nbackoff_initial_ms = 20\nbackoff_max_ms = 100\n",
            rx.url
        ),
    )
    .expect("suho.toml");
    let records = dir.path().join("in.ndjson");
    std::fs::write(&records, RECORDS).expect("records");

    // 1. The receiver refuses: ingest stores everything and says what waits.
    let out = suho(&data, &["ingest", records.to_str().expect("utf-8")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("alert events wait for sink soc"), "{err}");
    assert!(err.contains("answered HTTP 500"), "{err}");
    let s = status(&data);
    let events = s["outbox"]["events"].as_u64().expect("events");
    assert!(events >= 5, "the records raise several alerts: {s}");
    assert_eq!(s["sinks"][0]["pending"], events, "{s}");
    assert_eq!(s["sinks"][0]["failing"], true, "{s}");
    assert!(rx
        .requests()
        .iter()
        .all(|r| r.answer == Answer::Status(500)));

    // 2. The receiver holds the request; the delivering process is killed meanwhile.
    rx.set_default(Answer::Hold);
    let mut child = Command::new(SUHO)
        .arg("--data")
        .arg(&data)
        .args(["sinks", "deliver"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn suho sinks deliver");
    let held = loop {
        let r = rx.seen.recv_timeout(GUARD).expect("a request");
        if r.answer == Answer::Hold {
            break r;
        }
    };
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    // 3. It holds again, past the timeout: deliver gives up on it and says so.
    let out = suho(&data, &["sinks", "deliver"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("did not answer within 500 ms"), "{text}");
    let s = status(&data);
    assert_eq!(s["sinks"][0]["delivered"], 0, "{s}");
    assert!(s["sinks"][0]["attempts"].as_u64() >= Some(2), "{s}");

    // 4. It comes back: everything, in order, once.
    rx.set_default(Answer::Status(200));
    let out = suho(&data, &["sinks", "deliver"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let store = suho_detect::AlertStore::open(&data.join("alerts.db")).expect("alerts.db");
    let instance = store.outbox_instance().expect("instance");
    let expected: Vec<String> = store
        .outbox_after(0, suho_detect::Severity::Low, 1000)
        .expect("outbox")
        .iter()
        .map(|e| format!("msg_{instance}_{}", e.seq))
        .collect();
    assert_eq!(expected.len() as u64, events);
    assert_eq!(
        rx.delivered(),
        expected,
        "every event once, in outbox order"
    );
    let requests = rx.requests();
    assert!(requests.iter().all(|r| r.verified), "every request signed");
    assert!(
        requests.iter().all(|r| !r.duplicate),
        "nothing acknowledged was sent again"
    );
    assert_eq!(
        held.id, expected[0],
        "the killed attempt is retried under its id"
    );
    // Every attempt before the receiver came back was for the first event: none overtook it.
    let first_ack = requests
        .iter()
        .position(|r| r.answer == Answer::Status(200))
        .expect("an acknowledgement");
    assert!(requests[..first_ack].iter().all(|r| r.id == expected[0]));
    // The body is the alert as `suho alerts --format ndjson` prints it.
    let alerts =
        String::from_utf8_lossy(&suho(&data, &["alerts", "--format", "ndjson"]).stdout).to_string();
    for r in requests.iter().filter(|r| r.answer == Answer::Status(200)) {
        let body: serde_json::Value = serde_json::from_str(&r.body).expect("JSON body");
        assert!(body["type"]
            .as_str()
            .is_some_and(|t| t == "alert.created" || t == "alert.updated"));
        assert_eq!(body["id"], r.id.as_str());
        let id = body["data"]["id"].as_str().expect("alert id");
        assert!(alerts.contains(id), "{id}");
    }

    let s = status(&data);
    let soc = &s["sinks"][0];
    assert_eq!(soc["delivered"], events, "{s}");
    assert_eq!(soc["pending"], 0, "{s}");
    assert_eq!(soc["failing"], false, "{s}");
    assert!(soc["last_success"].is_string(), "{s}");
    assert!(
        soc["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("did not answer within 500 ms")),
        "{s}"
    );
    let table = String::from_utf8_lossy(&suho(&data, &["sinks", "status"]).stdout).to_string();
    assert!(table.contains("soc (webhook, http://127.0.0.1:"), "{table}");
    assert!(
        table.contains(&format!("delivered {events}, pending 0")),
        "{table}"
    );
}

#[test]
fn a_bad_sink_configuration_stops_ingest_before_anything_is_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("data dir");
    std::fs::write(
        data.join("suho.toml"),
        "[[sinks]]\nname = \"soc\"\nkind = \"webhook\"\nurl = \"https://soc.example.com/h\"\nsecret_file = \"missing.whsec\"\n",
    )
    .expect("suho.toml");
    let records = dir.path().join("in.ndjson");
    std::fs::write(&records, RECORDS).expect("records");
    let out = suho(&data, &["ingest", records.to_str().expect("utf-8")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("reading the webhook secret"), "{err}");
    assert!(err.contains("missing.whsec"), "{err}");
    assert!(!data.join("wal").exists(), "the ledger was not even opened");

    std::fs::write(
        data.join("suho.toml"),
        "[[sinks]]\nname = \"soc\"\nkind = \"webhook\"\nurl = \"https://soc.example.com/h\"\nsecret = \"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD\"\n",
    )
    .expect("suho.toml");
    let out = suho(&data, &["sinks", "status"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("[[sinks]] \"soc\": an inline `secret` is not accepted"),
        "{err}"
    );
    assert!(
        !err.contains("C2FVsBQI"),
        "a secret is never repeated: {err}"
    );
}

/// POST a body to `suho serve`; the response's status line.
fn post(addr: &str, token: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(addr).expect("connect");
    conn.set_read_timeout(Some(GUARD)).expect("timeout");
    let head = format!(
        "POST /v1/records HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).expect("head");
    conn.write_all(body.as_bytes()).expect("body");
    let mut resp = String::new();
    conn.read_to_string(&mut resp).expect("response");
    resp.lines().next().unwrap_or_default().to_string()
}

#[test]
fn suho_serve_pushes_alerts_to_the_webhook_as_they_are_raised() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("data dir");
    let rx = Receiver::start(SECRET, &[]);
    std::fs::write(data.join("soc.whsec"), SECRET).expect("secret");
    std::fs::write(
        data.join("suho.toml"),
        format!(
            "[[sinks]]\nname = \"soc\"\nkind = \"webhook\"\nurl = \"{}\"\nsecret_file = \"soc.whsec\"\nformat = \"ocsf\"\n",
            rx.url
        ),
    )
    .expect("suho.toml");
    let token = common::ingest_token(&data);
    let addr = format!("127.0.0.1:{}", common::free_port());
    let mut serve = common::start_serve(&data, &addr);
    assert!(post(&addr, &token, RECORDS).starts_with("HTTP/1.1 200"));
    // No command runs the delivery: the server pushes what its detectors raise.
    let first = rx.seen.recv_timeout(GUARD).expect("a pushed finding");
    let finding: serde_json::Value = serde_json::from_str(&first.body).expect("JSON");
    assert_eq!(finding["class_uid"], 2004, "format = \"ocsf\": {finding}");
    assert_eq!(finding["metadata"]["uid"], first.id.as_str());
    let term = Command::new("kill")
        .arg("-TERM")
        .arg(serve.id().to_string())
        .status()
        .expect("kill");
    assert!(term.success());
    assert!(serve.wait().expect("serve exits").success());

    // Whatever the stop left pending goes next, after what was delivered, in order.
    assert_eq!(suho(&data, &["sinks", "deliver"]).status.code(), Some(0));
    let store = suho_detect::AlertStore::open(&data.join("alerts.db")).expect("alerts.db");
    let instance = store.outbox_instance().expect("instance");
    let expected: Vec<String> = store
        .outbox_after(0, suho_detect::Severity::Low, 1000)
        .expect("outbox")
        .iter()
        .map(|e| format!("msg_{instance}_{}", e.seq))
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(rx.delivered(), expected);
    assert!(rx.requests().iter().all(|r| r.verified && !r.duplicate));
}
