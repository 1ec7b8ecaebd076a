//! What the sink tests share: alerts to store, and a webhook receiver.
#![allow(dead_code)]

pub mod receiver;

use suho_detect::{Alert, Mark, Severity};

/// An alert as the detectors would raise it.
pub fn alert(id: &str, severity: Severity, count: u64) -> Alert {
    Alert {
        id: id.into(),
        rule: "departed_principal".into(),
        severity,
        time: "2025-06-24T03:12:45.120Z".into(),
        detected_at: "2025-06-24T03:12:46.000Z".into(),
        actor: Some("emp-0131".into()),
        credential: Some("tok-7f3a".into()),
        signing_key: Some("kid-2024-02".into()),
        src_ip: Some("203.0.113.7".into()),
        country: Some("NL".into()),
        ledger_index: 417,
        summary: format!("emp-0131 departed on 2025-05-31 but read customer data ({id})."),
        evidence: serde_json::json!({"departed_at": "2025-05-31T09:00:00Z"}),
        record_id: None,
        incident: "inc-00000000000000a1".into(),
        incident_of: "actor:emp-0131".into(),
        count,
        last_time: "2025-06-24T03:20:00.000Z".into(),
        last_ledger_index: 417 + count,
        window: "2025-06-24T00:00:00Z/2025-06-25T00:00:00Z".into(),
        raised: vec![Mark {
            severity,
            time: "2025-06-24T03:12:45.120Z".into(),
            ledger_index: 417,
        }],
        updated: Some(Mark {
            severity,
            time: "2025-06-24T03:20:00.000Z".into(),
            ledger_index: 417 + count,
        }),
        suppressed_by: None,
        digest: None,
    }
}

/// A Standard Webhooks secret for tests (24 bytes).
pub const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
