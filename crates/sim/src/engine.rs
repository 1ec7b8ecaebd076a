//! The day loop: generate each Seoul day's events, sort them into event-time order, write
//! them, then write the registry and the ground truth.

use std::sync::mpsc;

use crate::event::Event;
use crate::render::Renderer;
use crate::time::MS_PER_DAY;
use crate::world::{RegCred, World};
use crate::{net, normal, output, scenario, Outputs, SimConfig, SimError, SimStats, Timestamp};

/// Flush the record buffer to the sink once it holds this many bytes.
const FLUSH_AT: usize = 1 << 18;

/// One day's events under construction, plus tables that live for the whole run.
#[derive(Debug, Default)]
pub(crate) struct DayCtx {
    pub day: u32,
    /// Seoul midnight starting the day, Unix ms.
    pub start_ms: i64,
    /// 0 = Sunday.
    pub weekday: u32,
    pub workday: bool,
    /// Month-end busyness factor.
    pub peak: f64,
    pub events: Vec<Event>,
    /// Subject arena the events' spans index into.
    pub subjects: Vec<u32>,
    /// Purpose strings (whole run); events hold index + 1.
    pub purposes: Vec<String>,
    /// Registered credentials issued so far (whole run).
    pub creds: Vec<RegCred>,
}

impl DayCtx {
    /// A one-subject span (kept inline in the event, see [`Event::subj_start`]).
    pub(crate) fn one(&mut self, c: u32) -> (u32, u32) {
        (c, 1)
    }

    /// A span holding `it`, capped at the contract's 100,000 subjects per record.
    pub(crate) fn subjects_from(&mut self, it: impl IntoIterator<Item = u32>) -> (u32, u32) {
        let start = self.subjects.len();
        self.subjects.extend(it.into_iter().take(100_000));
        let len = self.subjects.len() - start;
        if len == 1 {
            if let Some(c) = self.subjects.pop() {
                return self.one(c);
            }
        }
        (start as u32, len as u32)
    }

    /// Registers a purpose string; returns the event's `purpose` value.
    pub(crate) fn purpose(&mut self, s: &str) -> u32 {
        self.purposes.push(s.to_string());
        self.purposes.len() as u32
    }

    pub(crate) fn push(&mut self, e: Event) {
        self.events.push(e);
    }
}

fn write_err(what: &str) -> impl FnOnce(std::io::Error) -> SimError + '_ {
    move |source| SimError::Write {
        what: what.to_string(),
        source,
    }
}

/// One day's records, sorted, handed from the generator to the writer.
struct DayBatch {
    /// Events in time order.
    events: Vec<Event>,
    /// The subject arena their spans index into.
    subjects: Vec<u32>,
    /// Purpose strings added since the previous batch.
    new_purposes: Vec<String>,
}

/// Generates the days in order and sends each one, sorted, to `tx`; returns the registered
/// credentials issued. Stops early when the receiver hangs up.
fn generate_days(
    world: &World,
    tx: &mpsc::SyncSender<DayBatch>,
    recycled: &mpsc::Receiver<DayBatch>,
) -> Vec<RegCred> {
    let mut ctx = DayCtx::default();
    let mut carry: Vec<Event> = Vec::new();
    let mut carry_subjects: Vec<u32> = Vec::new();
    let mut order: Vec<u64> = Vec::new();
    let mut purposes_sent = 0;
    for day in 0..world.days {
        ctx.day = day;
        ctx.start_ms = world.day_ms(day);
        ctx.weekday = world.civil(day).1;
        ctx.workday = world.is_workday(day);
        ctx.peak = world.plan.peak(day);
        // Reuse the buffers of a day the writer has finished with, when there is one.
        let (mut events, subjects) = match recycled.try_recv() {
            Ok(b) => (b.events, b.subjects),
            Err(_) => (Vec::new(), Vec::with_capacity(ctx.subjects.capacity())),
        };
        events.clear();
        ctx.subjects = subjects;
        ctx.subjects.clear();
        ctx.events.clear();
        for mut e in carry.drain(..) {
            if e.subj_len > 1 {
                let s = e.subj_start as usize;
                let span =
                    ctx.subjects_from(carry_subjects[s..s + e.subj_len as usize].iter().copied());
                e.subj_start = span.0;
            }
            ctx.events.push(e);
        }
        carry_subjects.clear();
        normal::customers(world, &mut ctx);
        normal::services(world, &mut ctx);
        normal::staff(world, &mut ctx);
        scenario::day(world, &mut ctx);
        // Sort keys, not events: (ms since the day's start, generation index) packed in a u64,
        // a total order, so the output is the same whatever the sort algorithm. Every event
        // of the day lies at or after its start (carried ones too) and within 49 days of it.
        order.clear();
        order.extend(ctx.events.iter().enumerate().map(|(i, e)| {
            let offset = (e.t - ctx.start_ms).clamp(0, i64::from(u32::MAX)) as u64;
            (offset << 32) | i as u64
        }));
        order.sort_unstable();
        let end = (MS_PER_DAY as u64) << 32;
        let split = order.partition_point(|&k| k < end);
        if day + 1 == world.days {
            // The window ends here: what would spill past it is not part of the run.
            order.truncate(split);
        }
        let index = |k: u64| (k & u64::from(u32::MAX)) as usize;
        events.extend(order[..split].iter().map(|&k| ctx.events[index(k)]));
        // Events spilling past midnight join the next day's sort.
        for &k in &order[split..] {
            let mut e = ctx.events[index(k)];
            if e.subj_len > 1 {
                let s = e.subj_start as usize;
                e.subj_start = carry_subjects.len() as u32;
                carry_subjects.extend_from_slice(&ctx.subjects[s..s + e.subj_len as usize]);
            }
            carry.push(e);
        }
        let batch = DayBatch {
            events,
            subjects: std::mem::take(&mut ctx.subjects),
            new_purposes: ctx.purposes[purposes_sent..].to_vec(),
        };
        purposes_sent = ctx.purposes.len();
        if tx.send(batch).is_err() {
            break;
        }
    }
    ctx.creds
}

/// Generates the run described by `cfg` into `out`; stops after `limit` records if given.
///
/// Two threads: one generates and sorts day after day, the calling thread writes the
/// previous day meanwhile. The output does not depend on the timing.
pub(crate) fn run(
    cfg: &SimConfig,
    out: &mut Outputs<'_>,
    limit: Option<u64>,
) -> Result<SimStats, SimError> {
    cfg.validate()?;
    let world = World::build(cfg)?;
    let geo_networks = net::write_geo_csv(out.geo_csv).map_err(write_err("geo CSV"))?;
    let mut r = Renderer::new(&world);
    let limit = limit.unwrap_or(u64::MAX);
    let world_ref = &world;
    let (creds, written) = std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel::<DayBatch>(1);
        let (recycle_tx, recycle_rx) = mpsc::channel::<DayBatch>();
        let generator = scope.spawn(move || generate_days(world_ref, &tx, &recycle_rx));
        let mut purposes: Vec<String> = Vec::new();
        let mut result = Ok(());
        'days: for mut batch in rx.iter() {
            purposes.extend(std::mem::take(&mut batch.new_purposes));
            for e in &batch.events {
                if r.written >= limit {
                    break 'days;
                }
                r.render(e, &batch.subjects, &purposes);
                if r.buf.len() >= FLUSH_AT {
                    if let Err(e) = out.records.write_all(&r.buf) {
                        result = Err(e);
                        break 'days;
                    }
                    r.buf.clear();
                }
            }
            // The generator may be gone already; then the buffers are simply dropped.
            let _ = recycle_tx.send(batch);
        }
        // Hanging up stops the generator at its next day.
        drop(rx);
        let creds = match generator.join() {
            Ok(creds) => creds,
            // The generator has no failure path of its own; re-raise a panic as it was.
            Err(panic) => std::panic::resume_unwind(panic),
        };
        (creds, result)
    });
    written.map_err(write_err("records"))?;
    out.records
        .write_all(&r.buf)
        .map_err(write_err("records"))?;
    r.buf.clear();
    out.records.flush().map_err(write_err("records"))?;

    let registry =
        output::write_registry(&world, &creds, out.registry).map_err(write_err("registry"))?;
    let truth_lines =
        output::write_truth(&world, &r.truth, out.truth).map_err(write_err("ground truth"))?;
    out.geo_csv.flush().map_err(write_err("geo CSV"))?;

    let c = r.counts;
    let by_action = crate::event::Action::ALL
        .iter()
        .map(|a| (a.as_str(), c.by_action[a.index()]))
        .collect();
    Ok(SimStats {
        records: r.written,
        customer_records: c.customer,
        staff_records: c.staff,
        service_records: c.service,
        attack_records: c.attack,
        benign_surprise_records: c.benign_surprise,
        by_action,
        principals: registry.principals,
        signing_keys: registry.signing_keys,
        credentials: registry.credentials,
        geo_networks,
        truth_lines,
        first_time: r.first.map(Timestamp::from_unix_ms),
        last_time: r.last.map(Timestamp::from_unix_ms),
        files: Vec::new(),
    })
}
