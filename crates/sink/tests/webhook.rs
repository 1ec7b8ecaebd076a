//! The webhook sink against a real HTTP receiver that refuses, times out and comes back, with
//! the dispatcher stopped and started again over the same files in between.

mod common;

use std::time::Duration;

use common::receiver::{verify, Answer, Receiver};
use common::{alert, SECRET};
use suho_detect::{AlertStore, Severity};
use suho_sink::{DispatchOptions, Dispatcher};

/// Generous guard for one expected request; never reached when things work.
const GUARD: Duration = Duration::from_secs(60);

fn config(dir: &std::path::Path, url: &str, extra: &str) {
    std::fs::write(dir.join("hook.secret"), format!("{SECRET}\n")).expect("secret");
    std::fs::write(
        dir.join("suho.toml"),
        format!(
            "[[sinks]]\nname = \"soc\"\nkind = \"webhook\"\nurl = \"{url}\"\nsecret_file = \"hook.secret\"\ntimeout_ms = 400\nbackoff_initial_ms = 20\nbackoff_max_ms = 200\n{extra}"
        ),
    )
    .expect("suho.toml");
}

fn start(dir: &std::path::Path) -> Dispatcher {
    let sinks = suho_sink::load(dir).expect("config");
    Dispatcher::start(
        dir,
        sinks,
        DispatchOptions {
            poll: Duration::from_millis(50),
            ..DispatchOptions::default()
        },
    )
    .expect("dispatcher")
}

/// The receiver's own verifier agrees with the specification's published vector
/// (standard-webhooks/standard-webhooks, libraries/php/tests/WebhookTest.php,
/// testSignFunctionWorks), so the checks below cannot pass with a wrong verifier.
#[test]
fn the_test_receiver_verifies_the_published_vector() {
    assert!(verify(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "1614265330",
        r#"{"test": 2432232314}"#,
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    ));
    assert!(!verify(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "1614265331",
        r#"{"test": 2432232314}"#,
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    ));
}

#[test]
fn a_receiver_that_refuses_then_times_out_then_comes_back_gets_every_event_once_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let rx = Receiver::start(SECRET, &[Answer::Status(500), Answer::Hold]);
    config(d, &rx.url, "");
    let mut store = AlertStore::open(&d.join("alerts.db")).expect("store");
    let instance = store.outbox_instance().expect("instance");
    let uid = |seq: i64| format!("msg_{instance}_{seq}");

    let dispatcher = start(d);
    store.on_outbox(Some(dispatcher.hook()));
    store
        .upsert(&[alert("al-1", Severity::High, 1)])
        .expect("first alert");
    store
        .upsert(&[alert("al-2", Severity::Critical, 1)])
        .expect("second alert");

    // The receiver refuses the first event...
    let refused = rx.seen.recv_timeout(GUARD).expect("a first attempt");
    assert_eq!(refused.answer, Answer::Status(500));
    assert_eq!(refused.id, uid(1));
    // ... and suho stops, and starts again over the same files, while an update arrives.
    drop(dispatcher);
    store.on_outbox(None);
    store
        .upsert(&[alert("al-1", Severity::Critical, 5)])
        .expect("an update");
    let dispatcher = start(d);
    store.on_outbox(Some(dispatcher.hook()));

    // Then the receiver holds a request past suho's timeout, then comes back.
    let held = rx.seen.recv_timeout(GUARD).expect("a second attempt");
    assert_eq!(held.answer, Answer::Hold);
    assert_eq!(held.id, uid(1), "a retry keeps the event's webhook-id");
    while rx.delivered().len() < 3 {
        rx.seen.recv_timeout(GUARD).expect("deliveries go on");
    }
    let report = dispatcher.shutdown().expect("shutdown");
    assert!(report.all_delivered(), "{report:?}");

    // Every event arrived once as acknowledged, in order, each signed.
    assert_eq!(rx.delivered(), vec![uid(1), uid(2), uid(3)]);
    let requests = rx.requests();
    assert!(requests.iter().all(|r| r.verified), "{requests:#?}");
    assert!(requests.iter().all(|r| !r.duplicate), "{requests:#?}");
    let acked: Vec<_> = requests
        .iter()
        .filter(|r| r.answer == Answer::Status(200))
        .collect();
    assert_eq!(acked.len(), 3, "nothing acknowledged was sent again");
    let bodies: Vec<serde_json::Value> = acked
        .iter()
        .map(|r| serde_json::from_str(&r.body).expect("JSON body"))
        .collect();
    let summary: Vec<_> = bodies
        .iter()
        .map(|b| {
            (
                b["type"].as_str().unwrap_or_default().to_string(),
                b["data"]["id"].as_str().unwrap_or_default().to_string(),
                b["data"]["count"].as_u64().unwrap_or_default(),
                b["id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("alert.created".into(), "al-1".into(), 1, uid(1)),
            ("alert.created".into(), "al-2".into(), 1, uid(2)),
            ("alert.updated".into(), "al-1".into(), 5, uid(3)),
        ]
    );
    // The body's data is the alert exactly as the store holds it (contract section 3).
    let stored = store.get("al-1").expect("get").expect("al-1");
    assert_eq!(
        serde_json::from_value::<suho_detect::Alert>(bodies[2]["data"].clone()).expect("alert"),
        stored
    );

    // The update names its own record and since when the alert is high; `time` stays.
    assert_eq!(bodies[2]["data"]["updated"]["ledger_index"], 422);
    assert_eq!(bodies[2]["data"]["raised"][0]["ledger_index"], 417);
    assert_eq!(bodies[2]["data"]["time"], bodies[0]["data"]["time"]);

    // What the state says: delivered, nothing pending, the failures remembered.
    let status = suho_sink::status(d, &suho_sink::load(d).expect("config")).expect("status");
    assert_eq!(status[0].delivered, 3);
    assert_eq!(status[0].pending, 0);
    assert!(!status[0].failing);
    assert!(
        status[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("did not answer within 400 ms")),
        "{status:?}"
    );
}

#[test]
fn a_refusing_receiver_is_shown_failing_with_its_reason_and_nothing_is_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let rx = Receiver::start(SECRET, &[Answer::Status(401); 3]);
    config(d, &rx.url, "start = \"oldest\"\n");
    let mut store = AlertStore::open(&d.join("alerts.db")).expect("store");
    store
        .upsert(&[
            alert("al-1", Severity::High, 1),
            alert("al-2", Severity::Low, 1),
        ])
        .expect("alerts");
    // `sinks deliver`: one immediate try, then stop at the failure.
    let report = start(d).drain(Some(GUARD), true).expect("drain");
    assert!(!report.all_delivered());
    assert_eq!(report.sinks[0].pending, 2);
    let why = report.sinks[0].last_error.clone().unwrap_or_default();
    assert!(why.contains("answered HTTP 401"), "{why}");
    assert!(
        why.contains("check that the receiver has this sink's secret"),
        "{why}"
    );
    let status = suho_sink::status(d, &suho_sink::load(d).expect("config")).expect("status");
    assert!(status[0].failing);
    assert_eq!(status[0].attempts, 1);
    assert!(status[0].next_attempt.is_some());

    // Each `sinks deliver` tries once more; the receiver refuses twice more, then accepts.
    let mut runs = 1;
    while !start(d)
        .drain(Some(GUARD), true)
        .expect("drain")
        .all_delivered()
    {
        runs += 1;
        assert!(runs < 10, "the receiver accepts from its fourth request on");
    }
    assert_eq!(runs, 3);
    let requests = rx.requests();
    let ids: Vec<_> = requests.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 5, "{ids:?}");
    assert!(
        ids[..4].iter().all(|i| *i == ids[0]),
        "the refused event is retried under its id, before any later one: {ids:?}"
    );
    assert_eq!(rx.delivered(), vec![ids[0].to_string(), ids[4].to_string()]);
    assert!(requests.iter().all(|r| r.verified));
}
