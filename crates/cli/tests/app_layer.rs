//! The application layer as a user meets it: `suho.toml` read once with every section checked
//! (a typo is an error naming it, yet commands that need no configuration still run), sources
//! named in `[[sources]]` read with their own decoder, and requests no catalogue route matched
//! stored, counted and listed by `suho sources unmapped`.

mod common;

use common::suho;

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

const MAPPING: &str = r#"
[fields]
time = "ts"
method = "method"
path = "path"
actor = "user"
id = "rid"

[[routes]]
route = "GET /v1/customers/{id}"
subjects = ["path:id"]
fields = ["name", "phone"]
"#;

fn line(rid: &str, path: &str) -> String {
    format!(
        r#"{{"ts":"2025-06-24T10:00:00Z","method":"GET","path":"{path}","user":"emp-1","rid":"{rid}"}}"#
    )
}

#[test]
fn a_named_source_is_read_with_its_decoder_and_uncatalogued_routes_are_listed_not_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("logs")).expect("mkdir");
    std::fs::write(data.join("gw.toml"), MAPPING).expect("mapping");
    let log = [
        line("r1", "/v1/customers/c-000001"),
        line("r2", "/v1/customers/c-000002"),
        line("r3", "/v1/orders/918273/items"),
        line("r4", "/v1/orders/918274/items"),
        line("r5", "/v1/orders/918275/items"),
        line("r6", "/internal/export"),
    ]
    .join("\n");
    std::fs::write(data.join("logs/access.json"), log + "\n").expect("log");
    std::fs::write(
        data.join("suho.toml"),
        "[[sources]]\nname = \"edge\"\npath = \"logs/access.json\"\nformat = \"gateway\"\nmapping = \"gw.toml\"\n",
    )
    .expect("suho.toml");

    let out = suho(&data, &["sources", "list"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("edge") && text(&out).contains("gateway"),
        "{}",
        text(&out)
    );

    let out = suho(&data, &["ingest", "--source", "edge"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("6 stored"), "{}", text(&out));

    let out = suho(&data, &["sources", "unmapped", "--ndjson"]);
    assert!(out.status.success(), "{}", text(&out));
    let groups: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(groups.len(), 2, "{groups:?}");
    assert_eq!(groups[0]["template"], "GET /v1/orders/{}/items");
    assert_eq!(groups[0]["records"], 3);
    // Decoded records carry epoch milliseconds; the listing shows the time.
    assert_eq!(
        groups[0]["first_time"], "2025-06-24T10:00:00.000Z",
        "{}",
        groups[0]
    );
    assert_eq!(groups[1]["template"], "GET /internal/export");
    assert_eq!(groups[1]["records"], 1);

    // The listing is remembered: a second run reads only what was stored since.
    std::fs::write(
        data.join("logs/access.json"),
        line("r7", "/v1/orders/1/items") + "\n",
    )
    .expect("log");
    let out = suho(&data, &["ingest", "--source", "edge"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = suho(&data, &["sources", "unmapped", "--ndjson"]);
    let first: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .expect("a group"),
    )
    .expect("json");
    assert_eq!(first["records"], 4, "{first}");

    let out = suho(&data, &["ingest", "--source", "nosuch"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("no source \"nosuch\"") && text(&out).contains("edge"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_typo_in_suho_toml_is_named_and_commands_without_configuration_still_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let records = dir.path().join("r.ndjson");
    std::fs::write(
        &records,
        r#"{"time":"2025-06-24T10:00:00Z","actor":"emp-1","action":"read","resource":"customers","subjects":["c-1"]}"#,
    )
    .expect("records");
    let out = suho(&data, &["ingest", records.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", text(&out));

    std::fs::write(data.join("suho.toml"), "[ingset]\nmax_past_days = 30\n").expect("toml");
    let out = suho(&data, &["ingest", records.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(
        t.contains("suho.toml") && t.contains("unknown section [ingset]"),
        "{t}"
    );

    // Verifying the ledger needs no configuration: a broken suho.toml does not stop it.
    let out = suho(&data, &["verify"]);
    assert!(out.status.success(), "{}", text(&out));
}
