//! The outbox as the sinks use it: cursors that move only on acknowledgement, crash safety,
//! severity filters, where a new sink starts.

mod common;

use common::receiver::{Answer, Receiver};
use common::{alert, SECRET};
use suho_detect::{AlertStore, Severity};
use suho_sink::{Outbox, SinkConfig};

fn sinks(dir: &std::path::Path, toml: &str) -> Vec<SinkConfig> {
    std::fs::write(dir.join("suho.toml"), toml).expect("suho.toml");
    suho_sink::load(dir).expect("config")
}

#[test]
fn a_crash_between_delivery_and_the_cursor_redelivers_the_same_ids_and_skips_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let rx = Receiver::start(SECRET, &[]);
    std::fs::write(d.join("hook.secret"), SECRET).expect("secret");
    let cfg = sinks(
        d,
        &format!(
            "[[sinks]]\nname = \"soc\"\nkind = \"webhook\"\nurl = \"{}\"\nsecret_file = \"hook.secret\"\nstart = \"oldest\"\n",
            rx.url
        ),
    )
    .remove(0);
    let mut store = AlertStore::open(&d.join("alerts.db")).expect("store");
    store
        .upsert(&[
            alert("al-1", Severity::High, 1),
            alert("al-2", Severity::Low, 1),
        ])
        .expect("alerts");
    store
        .upsert(&[alert("al-1", Severity::High, 2)])
        .expect("an update produces an event");

    let mut outbox = Outbox::open(d).expect("outbox");
    let mut sink = suho_sink::build(&cfg, d).expect("sink");
    let first = outbox.pending(&cfg, 10).expect("pending");
    assert_eq!(
        first.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    sink.send(&first.events).expect("the receiver acknowledges");
    // The process dies here: delivered and acknowledged, the cursor not yet moved.
    drop(outbox);
    drop(sink);

    let mut outbox = Outbox::open(d).expect("reopen");
    let mut sink = suho_sink::build(&cfg, d).expect("sink");
    let again = outbox.pending(&cfg, 10).expect("pending");
    assert_eq!(
        again.events.iter().map(|e| &e.uid).collect::<Vec<_>>(),
        first.events.iter().map(|e| &e.uid).collect::<Vec<_>>(),
        "the same events, under the same ids"
    );
    sink.send(&again.events).expect("again");
    let last = again.events.last().map_or(0, |e| e.seq);
    outbox.delivered(&cfg.name, last, 3).expect("cursor");
    assert!(outbox.pending(&cfg, 10).expect("pending").events.is_empty());

    // The receiver, deduplicating on webhook-id, saw each event once.
    let uids: Vec<String> = first.events.iter().map(|e| e.uid.clone()).collect();
    assert_eq!(rx.delivered(), uids);
    let requests = rx.requests();
    assert_eq!(requests.len(), 6);
    assert_eq!(requests.iter().filter(|r| r.duplicate).count(), 3);
    assert!(requests
        .iter()
        .all(|r| r.verified && r.answer == Answer::Status(200)));
}

#[test]
fn a_sink_takes_only_its_severity_and_its_cursor_passes_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let cfg = sinks(
        d,
        "[[sinks]]\nname = \"f\"\nkind = \"ocsf_file\"\npath = \"f.ndjson\"\nmin_severity = \"high\"\nstart = \"oldest\"\n",
    )
    .remove(0);
    let mut store = AlertStore::open(&d.join("alerts.db")).expect("store");
    store
        .upsert(&[
            alert("al-1", Severity::Low, 1),
            alert("al-2", Severity::High, 1),
            alert("al-3", Severity::Medium, 1),
        ])
        .expect("alerts");
    let mut outbox = Outbox::open(d).expect("outbox");
    let p = outbox.pending(&cfg, 10).expect("pending");
    assert_eq!(p.events.len(), 1);
    assert_eq!(p.events[0].alert.id, "al-2");
    outbox
        .delivered(&cfg.name, p.events[0].seq, 1)
        .expect("delivered");
    let p = outbox.pending(&cfg, 10).expect("pending");
    assert!(p.events.is_empty());
    assert_eq!(p.skip_to, 3, "the cursor may pass the medium alert");
    outbox.skip(&cfg.name, p.skip_to).expect("skip");
    assert_eq!(outbox.pending_count(&cfg).expect("count"), 0);

    // The low alert rises to critical: from then on this sink gets it, as an update.
    store
        .upsert(&[alert("al-1", Severity::Critical, 9)])
        .expect("escalation");
    let p = outbox.pending(&cfg, 10).expect("pending");
    assert_eq!(p.events.len(), 1);
    assert_eq!(p.events[0].alert.id, "al-1");
    assert_eq!(p.events[0].event_type(), "alert.updated");
    let state = outbox.state(&cfg.name).expect("state").expect("registered");
    assert_eq!((state.cursor, state.delivered), (3, 1));
}

#[test]
fn a_sink_added_later_starts_now_unless_it_asks_for_the_oldest_held_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let mut store = AlertStore::open(&d.join("alerts.db")).expect("store");
    store
        .upsert(&[
            alert("al-1", Severity::High, 1),
            alert("al-2", Severity::High, 1),
        ])
        .expect("before the sinks existed");
    let cfgs = sinks(
        d,
        "[[sinks]]\nname = \"new\"\nkind = \"ocsf_file\"\npath = \"a\"\n\n[[sinks]]\nname = \"backfill\"\nkind = \"ocsf_file\"\npath = \"b\"\nstart = \"oldest\"\n",
    );
    let before = suho_sink::status(d, &cfgs).expect("status");
    assert_eq!((before[0].pending, before[1].pending), (0, 2));
    assert!(!before[0].started);
    let mut outbox = Outbox::open(d).expect("outbox");
    assert!(outbox.pending(&cfgs[0], 10).expect("now").events.is_empty());
    assert_eq!(
        outbox.pending(&cfgs[1], 10).expect("oldest").events.len(),
        2
    );
    store
        .upsert(&[alert("al-3", Severity::High, 1)])
        .expect("after");
    assert_eq!(outbox.pending(&cfgs[0], 10).expect("now").events.len(), 1);
    let after = suho_sink::status(d, &cfgs).expect("status");
    assert!(after[0].started);
    assert_eq!((after[0].pending, after[1].pending), (1, 3));
}

#[test]
fn one_dispatcher_delivers_at_a_time_and_a_waiting_one_takes_over() {
    use std::time::Duration;
    use suho_sink::{DispatchOptions, Dispatcher, SinkError};
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let cfgs = sinks(
        d,
        "[[sinks]]\nname = \"f\"\nkind = \"ocsf_file\"\npath = \"f.ndjson\"\nstart = \"oldest\"\n",
    );
    let mut store = AlertStore::open(&d.join("alerts.db")).expect("store");
    store
        .upsert(&[alert("al-1", Severity::High, 1)])
        .expect("alert");
    let guard = Some(Duration::from_secs(60));
    let waiting = DispatchOptions {
        poll: Duration::from_millis(20),
        wait_for_lock: true,
    };
    let first = Dispatcher::start(d, cfgs.clone(), DispatchOptions::default()).expect("first");
    assert!(matches!(
        Dispatcher::start(d, cfgs.clone(), DispatchOptions::default()),
        Err(SinkError::Busy { .. })
    ));
    // One that waits, and is told to finish while the first still delivers, delivers nothing.
    let gave_up = Dispatcher::start(d, cfgs.clone(), waiting)
        .expect("a waiting dispatcher starts")
        .drain(guard, false)
        .expect("drain");
    assert!(gave_up.locked_out);
    assert_eq!(gave_up.sinks[0].delivered, 0);

    let second = Dispatcher::start(d, cfgs.clone(), waiting).expect("waits");
    let r = first.drain(guard, false).expect("first drains");
    assert_eq!(r.sinks[0].delivered, 1);
    store
        .upsert(&[alert("al-2", Severity::High, 1)])
        .expect("alert");
    let r = second.drain(guard, false).expect("second drains");
    assert!(!r.locked_out);
    assert_eq!(r.sinks[0].delivered, 1);
    let lines = std::fs::read_to_string(d.join("f.ndjson")).expect("file");
    assert_eq!(lines.lines().count(), 2, "each event once");
}
