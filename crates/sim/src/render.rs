//! Writes events as NDJSON access records (contract section 1) into a reused buffer, by hand,
//! and accumulates ground truth for labelled records as they pass.

use std::collections::{BTreeSet, HashSet};

use crate::event::{
    field, ActorRef, CredRef, Event, Producer, NO_COUNT, NO_KEY, RESOURCES, USER_AGENTS,
};
use crate::fmt::{
    digits_into, mix64, push_hex, push_ipv4, push_json_str, push_padded, push_prefix,
};
use crate::scenario::LabelKind;
use crate::time::{civil_from_days, TimeWriter, KST_OFFSET_MS, MS_PER_DAY};
use crate::world::{push_cred, World};

/// A set of customer indices.
#[derive(Clone, Debug, Default)]
pub(crate) struct Bitset {
    words: Vec<u64>,
}

impl Bitset {
    fn with_len(n: u32) -> Bitset {
        Bitset {
            words: vec![0; (n as usize).div_ceil(64)],
        }
    }

    fn insert(&mut self, i: u32) {
        if let Some(w) = self.words.get_mut((i / 64) as usize) {
            *w |= 1 << (i % 64);
        }
    }

    pub(crate) fn len(&self) -> u64 {
        self.words.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(wi, &w)| {
            (0..64u32)
                .filter(move |b| w & (1 << b) != 0)
                .map(move |b| wi as u32 * 64 + b)
        })
    }
}

/// What the labelled records of one label add up to.
#[derive(Clone, Debug, Default)]
pub(crate) struct TruthAcc {
    pub records: u64,
    pub first: Option<i64>,
    pub last: Option<i64>,
    pub ids: Vec<String>,
    /// Labelled records written without an `id` (should stay 0).
    pub without_id: u64,
    /// Kept as references (sorted as text on output): cheaper than strings per record.
    pub actors: HashSet<ActorRef>,
    pub credentials: HashSet<CredRef>,
    pub keys: BTreeSet<u8>,
    pub ips: BTreeSet<u32>,
    pub subjects: Bitset,
    pub fields: Vec<Bitset>,
}

/// Record counts by who produced them.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counts {
    pub customer: u64,
    pub staff: u64,
    pub service: u64,
    pub attack: u64,
    pub benign_surprise: u64,
    pub by_action: [u64; 11],
}

/// The record writer.
pub(crate) struct Renderer<'w> {
    world: &'w World,
    pub buf: Vec<u8>,
    gw_seq: u64,
    idp_seq: u64,
    db_seq: u64,
    bo_day: i64,
    bo_seq: u64,
    pub counts: Counts,
    pub truth: Vec<TruthAcc>,
    pub written: u64,
    pub first: Option<i64>,
    pub last: Option<i64>,
    times: TimeWriter,
}

impl<'w> Renderer<'w> {
    pub(crate) fn new(world: &'w World) -> Renderer<'w> {
        let truth = world
            .plan
            .labels
            .iter()
            .map(|_| TruthAcc {
                subjects: Bitset::with_len(world.customers),
                fields: (0..field::NAMES.len())
                    .map(|_| Bitset::with_len(world.customers))
                    .collect(),
                ..TruthAcc::default()
            })
            .collect();
        Renderer {
            world,
            buf: Vec::with_capacity(1 << 17),
            gw_seq: 0,
            idp_seq: 0,
            db_seq: 0,
            bo_day: i64::MIN,
            bo_seq: 0,
            counts: Counts::default(),
            truth,
            written: 0,
            first: None,
            last: None,
            times: TimeWriter::default(),
        }
    }

    /// Appends one record line for `e` to the buffer.
    pub(crate) fn render(&mut self, e: &Event, subjects: &[u32], purposes: &[String]) {
        let w = self.world;
        let buf = &mut self.buf;
        buf.extend_from_slice(b"{\"time\":");
        match e.producer.time_style() {
            None => crate::fmt::push_u64(buf, e.t.max(0) as u64),
            Some(style) => {
                buf.push(b'"');
                self.times.push(buf, e.t, style);
                buf.push(b'"');
            }
        }
        let id_range = match e.producer {
            Producer::Gateway => {
                buf.extend_from_slice(b",\"id\":\"");
                let s = buf.len();
                buf.extend_from_slice(b"gw-");
                push_hex(buf, mix64(self.gw_seq ^ w.id_salt), 16);
                self.gw_seq += 1;
                Some((s, buf.len()))
            }
            Producer::Idp => {
                buf.extend_from_slice(b",\"id\":\"");
                let s = buf.len();
                buf.extend_from_slice(b"idp-");
                push_hex(buf, mix64(self.idp_seq ^ w.id_salt.rotate_left(17)), 16);
                self.idp_seq += 1;
                Some((s, buf.len()))
            }
            Producer::DbProxy => {
                buf.extend_from_slice(b",\"id\":\"");
                let s = buf.len();
                buf.extend_from_slice(b"q-");
                push_hex(buf, mix64(self.db_seq ^ w.id_salt.rotate_left(41)), 16);
                self.db_seq += 1;
                Some((s, buf.len()))
            }
            Producer::Backoffice => {
                let day = (e.t + KST_OFFSET_MS).div_euclid(MS_PER_DAY);
                if day != self.bo_day {
                    self.bo_day = day;
                    self.bo_seq = 0;
                }
                self.bo_seq += 1;
                buf.extend_from_slice(b",\"id\":\"");
                let s = buf.len();
                let (y, m, d) = civil_from_days(day);
                buf.extend_from_slice(b"bo-");
                push_padded(buf, y.max(0) as u64, 4);
                push_padded(buf, u64::from(m), 2);
                push_padded(buf, u64::from(d), 2);
                buf.push(b'-');
                push_padded(buf, self.bo_seq, 6);
                Some((s, buf.len()))
            }
            Producer::Mesh => None,
        };
        if id_range.is_some() {
            buf.push(b'"');
        }
        buf.extend_from_slice(b",\"actor\":\"");
        match e.actor {
            ActorRef::Customer(c) => push_customer(buf, c, w.cust_width),
            ActorRef::Principal(p) => {
                if let Some(p) = w.principals.get(p as usize) {
                    buf.extend_from_slice(p.id.as_bytes());
                }
            }
        }
        buf.extend_from_slice(b"\",\"action\":\"");
        buf.extend_from_slice(e.action.as_str().as_bytes());
        buf.extend_from_slice(b"\",\"resource\":\"");
        buf.extend_from_slice(RESOURCES[e.resource as usize].as_bytes());
        buf.push(b'"');
        if e.src_ip != 0 {
            buf.extend_from_slice(b",\"src_ip\":\"");
            push_ipv4(buf, e.src_ip);
            buf.push(b'"');
        }
        if e.cred != CredRef::None {
            buf.extend_from_slice(b",\"credential\":\"");
            push_cred(buf, w, e.cred);
            buf.push(b'"');
        }
        if e.key != NO_KEY {
            if let Some(k) = w.keys.get(e.key as usize) {
                buf.extend_from_slice(b",\"signing_key\":\"");
                buf.extend_from_slice(k.id.as_bytes());
                buf.push(b'"');
            }
        }
        let subj = e.subject_slice(subjects);
        if !subj.is_empty() {
            buf.extend_from_slice(b",\"subjects\":[");
            push_subject_list(buf, subj, w.cust_width);
            buf.push(b']');
        }
        if e.subject_count != NO_COUNT {
            buf.extend_from_slice(b",\"subject_count\":");
            crate::fmt::push_u64(buf, u64::from(e.subject_count));
        }
        if e.fields != 0 {
            buf.extend_from_slice(b",\"fields\":[");
            let mut first = true;
            for (bit, name) in field::NAMES.iter().enumerate() {
                if e.fields & (1 << bit) != 0 {
                    if !first {
                        buf.push(b',');
                    }
                    first = false;
                    buf.push(b'"');
                    buf.extend_from_slice(name.as_bytes());
                    buf.push(b'"');
                }
            }
            buf.push(b']');
        }
        if e.purpose != 0 {
            if let Some(p) = purposes.get(e.purpose as usize - 1) {
                buf.extend_from_slice(b",\"purpose\":");
                push_json_str(buf, p);
            }
        }
        if e.failure {
            buf.extend_from_slice(b",\"outcome\":\"failure\"");
        } else if e.producer == Producer::Idp {
            buf.extend_from_slice(b",\"outcome\":\"success\"");
        }
        if e.ua != 0 {
            buf.extend_from_slice(b",\"attrs\":{\"ua\":\"");
            buf.extend_from_slice(USER_AGENTS[e.ua as usize].as_bytes());
            buf.extend_from_slice(b"\"}");
        }
        buf.extend_from_slice(b"}\n");

        self.written += 1;
        self.first.get_or_insert(e.t);
        self.last = Some(e.t);
        self.counts.by_action[e.action.index()] += 1;
        if e.tag != 0 {
            let idx = e.tag as usize - 1;
            match w.plan.labels.get(idx).map(|l| l.kind) {
                Some(LabelKind::Attack) => self.counts.attack += 1,
                _ => self.counts.benign_surprise += 1,
            }
            let buf = &self.buf;
            let text = |r: (usize, usize)| std::str::from_utf8(&buf[r.0..r.1]).unwrap_or_default();
            if let Some(acc) = self.truth.get_mut(idx) {
                acc.records += 1;
                acc.first.get_or_insert(e.t);
                acc.last = Some(e.t);
                match id_range {
                    Some(r) => acc.ids.push(text(r).to_string()),
                    None => acc.without_id += 1,
                }
                acc.actors.insert(e.actor);
                if e.cred != CredRef::None {
                    acc.credentials.insert(e.cred);
                }
                if e.key != NO_KEY {
                    acc.keys.insert(e.key);
                }
                acc.ips.insert(e.src_ip);
                for &c in subj {
                    acc.subjects.insert(c);
                }
                for (bit, set) in acc.fields.iter_mut().enumerate() {
                    if e.fields & (1 << bit) != 0 {
                        for &c in subj {
                            set.insert(c);
                        }
                    }
                }
            }
        } else {
            match e.actor {
                ActorRef::Customer(_) => self.counts.customer += 1,
                ActorRef::Principal(p) => {
                    if w.principals
                        .get(p as usize)
                        .is_some_and(|p| p.service.is_some())
                    {
                        self.counts.service += 1;
                    } else {
                        self.counts.staff += 1;
                    }
                }
            }
        }
        if let Some(mi) = w.plan.month_end_label {
            let label = &w.plan.labels[mi];
            if label.windows.iter().any(|&(s, end)| e.t >= s && e.t < end) {
                if let Some(acc) = self.truth.get_mut(mi) {
                    acc.records += 1;
                    acc.first.get_or_insert(e.t);
                    acc.last = Some(e.t);
                }
            }
        }
    }
}

/// Appends customer `c`'s id: `c-` and the 1-based number, zero-padded.
pub(crate) fn push_customer(buf: &mut Vec<u8>, c: u32, width: usize) {
    buf.extend_from_slice(b"c-");
    push_padded(buf, u64::from(c) + 1, width);
}

/// Appends `"c-…","c-…"` for every subject, one fixed-size copy per entry.
fn push_subject_list(buf: &mut Vec<u8>, subjects: &[u32], width: usize) {
    let width = width.min(16);
    let mut tmp = [b'0'; 24];
    tmp[0] = b'"';
    tmp[1] = b'c';
    tmp[2] = b'-';
    tmp[3 + width] = b'"';
    tmp[4 + width] = b',';
    buf.reserve(subjects.len() * (width + 5) + 24);
    for &c in subjects {
        let digits = &mut tmp[3..3 + width];
        digits.fill(b'0');
        digits_into(digits, u64::from(c) + 1);
        push_prefix(buf, &tmp, 5 + width);
    }
    if !subjects.is_empty() {
        buf.pop();
    }
}

/// The `actor` text of an actor reference.
pub(crate) fn actor_string(world: &World, actor: ActorRef) -> String {
    match actor {
        ActorRef::Customer(c) => customer_id(c, world.cust_width),
        ActorRef::Principal(p) => world
            .principals
            .get(p as usize)
            .map(|p| p.id.clone())
            .unwrap_or_default(),
    }
}

/// Customer `c`'s id as a string.
pub(crate) fn customer_id(c: u32, width: usize) -> String {
    let mut b = Vec::with_capacity(12);
    push_customer(&mut b, c, width);
    String::from_utf8_lossy(&b).into_owned()
}
