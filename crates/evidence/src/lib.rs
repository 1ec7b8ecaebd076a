//! Evidence bundles: the records of an incident, with what an investigator needs to check,
//! offline and without trusting the company, that the ledger holds exactly these records and
//! has only grown since.
//!
//! A bundle is a directory:
//!
//! ```text
//! README.md            how to check it, with suho and with the C2SP formats alone
//! manifest.json        what the bundle is about (incident, selector, scope), file digests
//! verifier.key         the log's verifier key (pin it from an independent source)
//! checkpoint           C2SP signed checkpoint of the tree up to the incident's last record
//! latest-checkpoint    the newest signed checkpoint when the bundle was written
//! consistency.proof    suho consistency-proof file: latest-checkpoint extends checkpoint
//! records.ndjson       the records, verbatim, one per line, ascending ledger index
//! records.index        the ledger index of each line of records.ndjson
//! tile/...             C2SP tlog-tiles: the hash tiles and entry bundles the proofs need,
//!                      at the widths of the `checkpoint` tree
//! ```
//!
//! [`write_bundle`] copies the tiles an inclusion proof of every record needs (found by a dry
//! run of the proof algorithm, which asks for the same nodes whatever their hashes), and
//! [`verify_bundle`] checks the signatures, one inclusion proof per entry tile (a proof built
//! from a tile's hashes authenticates every hash of that tile), every record's SHA-256
//! against its entry and its entry against the tile, and the consistency proof.
//!
//! Architecture invariant: this crate reads the ledger's public tiles, its write-ahead log and
//! its keys; it never writes the ledger.
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};
use suho_ledger::{
    bundle_path, load_or_create_signer, load_verifier, tile_path, tile_width, Entry, Layout,
    LedgerError, TileReader, WalReader, ENTRY_LEN, TILE_WIDTH,
};
use suho_merkle::{inclusion_proof, leaf_hash, root_of, verify_inclusion, Hash, NodeSource};
use suho_note::{Checkpoint, Verifier};

/// Name of the bundle's manifest.
pub const MANIFEST: &str = "manifest.json";
/// Format tag in the manifest.
pub const FORMAT: &str = "suho.dev/evidence-bundle@v1";

/// Errors of writing or checking a bundle.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvidenceError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// The ledger could not be read.
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// A signed note or proof file is malformed or its signature does not verify.
    #[error("{file}: {reason}")]
    Note {
        /// The bundle file.
        file: &'static str,
        /// Why.
        reason: String,
    },
    /// The bundle does not prove what it says: names the first problem found.
    #[error("{file}: {reason}")]
    Invalid {
        /// The bundle file (and line) concerned.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A caller asked for something impossible (no records, records past the checkpoint).
    #[error("{0}")]
    Request(String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> EvidenceError + '_ {
    move |source| EvidenceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn invalid(file: impl Into<String>, reason: impl Into<String>) -> EvidenceError {
    EvidenceError::Invalid {
        file: file.into(),
        reason: reason.into(),
    }
}

/// Maps a source IP to its country.
pub type CountryOf = dyn Fn(IpAddr) -> Option<[u8; 2]> + Send + Sync;

/// What to put in a bundle.
#[derive(Clone)]
pub struct BundleInput<'a> {
    /// Ledger indexes of the records, ascending, no repeats.
    pub indexes: &'a [u64],
    /// What the bundle is about, copied into the manifest (incident, selector, scope summary,
    /// who made it and why).
    pub about: serde_json::Value,
    /// The country (ISO 3166 alpha-2) of a source IP, from the company's geo database: the
    /// bundle states it for each source IP, and the offline check uses it to test "no data
    /// left the company" claims.
    pub country_of: Option<&'a CountryOf>,
    /// The organisation's home countries (ISO 3166 alpha-2).
    pub home_countries: Vec<String>,
}

/// What [`write_bundle`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct BundleReport {
    /// Records in the bundle.
    pub records: u64,
    /// Size of the tree the inclusion proofs are against.
    pub checkpoint_size: u64,
    /// Size of the latest checkpoint (the consistency proof's newer end).
    pub latest_size: u64,
    /// Hash tiles and entry bundles copied.
    pub tiles: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// A node source that answers zeros and notes which tiles the nodes come from: the proof
/// algorithms ask for the same nodes whatever their values. (The widths written follow from
/// the checkpoint's size.)
#[derive(Default)]
struct DryRun {
    used: RefCell<BTreeSet<(u8, u64)>>,
}

impl NodeSource for DryRun {
    type Error = std::convert::Infallible;

    fn node(&self, level: u8, index: u64) -> Result<Hash, Self::Error> {
        let first = index << u32::from(level % 8);
        self.used
            .borrow_mut()
            .insert((level / 8, first / TILE_WIDTH));
        Ok([0; 32])
    }
}

/// Tile reads with a small cache: a proof asks for several nodes of one tile.
struct Cached<'a> {
    inner: &'a TileReader,
    size: u64,
    cache: RefCell<HashMap<(u8, u64), Vec<Hash>>>,
}

impl<'a> Cached<'a> {
    fn new(inner: &'a TileReader, size: u64) -> Cached<'a> {
        Cached {
            inner,
            size,
            cache: RefCell::new(HashMap::new()),
        }
    }

    /// The hashes of tile `(tl, t)` at its width in the tree of `self.size`.
    fn tile(&self, tl: u8, t: u64) -> Result<Vec<Hash>, LedgerError> {
        if let Some(v) = self.cache.borrow().get(&(tl, t)) {
            return Ok(v.clone());
        }
        let w = tile_width(self.size, tl, t);
        let mut v = self.inner.read_tile(tl, t, w)?;
        v.truncate(w as usize);
        let mut cache = self.cache.borrow_mut();
        // Level-0 tiles are read in order and once each: keep the cache small.
        if cache.len() > 4096 {
            cache.retain(|(l, _), _| *l > 0);
        }
        cache.insert((tl, t), v.clone());
        Ok(v)
    }
}

impl NodeSource for Cached<'_> {
    type Error = LedgerError;

    fn node(&self, level: u8, index: u64) -> Result<Hash, LedgerError> {
        let tl = level / 8;
        let r = u32::from(level % 8);
        let first = index << r;
        let count = 1usize << r;
        let tile = self.tile(tl, first / TILE_WIDTH)?;
        let off = (first % TILE_WIDTH) as usize;
        tile.get(off..off + count)
            .and_then(suho_merkle::complete_subtree_root)
            .ok_or_else(|| LedgerError::Corrupt {
                path: tile_path(tl, first / TILE_WIDTH, tile.len() as u64),
                detail: format!(
                    "{} hashes; node ({level}, {index}) needs {}",
                    tile.len(),
                    off + count
                ),
            })
    }
}

struct Out {
    dir: PathBuf,
    bytes: u64,
    digests: BTreeMap<String, String>,
}

impl Out {
    fn write(&mut self, rel: &Path, data: &[u8]) -> Result<(), EvidenceError> {
        let path = self.dir.join(rel);
        if let Some(p) = path.parent() {
            fs::create_dir_all(p).map_err(io_err(p))?;
        }
        fs::write(&path, data).map_err(io_err(&path))?;
        self.bytes += data.len() as u64;
        self.digests.insert(
            rel.to_string_lossy().replace('\\', "/"),
            hex::encode(Sha256::digest(data)),
        );
        Ok(())
    }
}

fn read_checkpoint(
    layout: &Layout,
    verifier: &Verifier,
) -> Result<(String, Checkpoint), EvidenceError> {
    let path = layout.checkpoint();
    let text = fs::read_to_string(&path).map_err(io_err(&path))?;
    let (cp, _) = Checkpoint::open(&text, std::slice::from_ref(verifier)).map_err(|e| {
        EvidenceError::Note {
            file: "checkpoint",
            reason: e.to_string(),
        }
    })?;
    Ok((text, cp))
}

/// Write a bundle of the records at `input.indexes` into `out` (a new directory; it is built
/// next to it and renamed into place, so a bundle is either whole or absent).
pub fn write_bundle(
    layout: &Layout,
    input: &BundleInput<'_>,
    out: &Path,
) -> Result<BundleReport, EvidenceError> {
    let Some(&last) = input.indexes.last() else {
        return Err(EvidenceError::Request(
            "the selection has no records: there is nothing to prove".into(),
        ));
    };
    if input.indexes.windows(2).any(|w| w[0] >= w[1]) {
        return Err(EvidenceError::Request(
            "the ledger indexes must be ascending without repeats".into(),
        ));
    }
    if out.exists() {
        return Err(EvidenceError::Request(format!(
            "{} already exists: choose a new directory for the bundle",
            out.display()
        )));
    }
    let verifier = load_verifier(&layout.keys())?;
    let (latest_text, latest) = read_checkpoint(layout, &verifier)?;
    let size = last.saturating_add(1);
    if size > latest.size {
        return Err(EvidenceError::Request(format!(
            "record {last} is not yet covered by a signed checkpoint (size {}): wait a second and retry",
            latest.size
        )));
    }
    let reader = TileReader::new(&layout.ledger());
    let tiles = Cached::new(&reader, size);
    let checkpoint_text = if size == latest.size {
        latest_text.clone()
    } else {
        let root = root_of(&tiles, size).map_err(|e| EvidenceError::Request(e.to_string()))?;
        let signer = load_or_create_signer(layout)?;
        Checkpoint {
            origin: latest.origin.clone(),
            size,
            root,
            extensions: Vec::new(),
        }
        .sign(&[&signer])
        .map_err(|e| EvidenceError::Note {
            file: "checkpoint",
            reason: e.to_string(),
        })?
    };

    // Which tiles: a dry proof for one record per entry tile, the root, and every parent.
    let dry = DryRun::default();
    let mut entry_tiles = BTreeSet::new();
    for &i in input.indexes {
        if entry_tiles.insert(i / TILE_WIDTH) {
            // Infallible source: the only errors are impossible ranges, ruled out above.
            let _ = inclusion_proof(&dry, i, size);
        }
    }
    let _ = root_of(&dry, size);
    let mut needed: BTreeSet<(u8, u64)> = dry.used.into_inner();
    needed.extend(entry_tiles.iter().map(|&t| (0u8, t)));
    let mut parents = Vec::new();
    for &(tl, t) in &needed {
        let (mut l, mut i) = (tl, t);
        while l < 7 && tile_width(size, l + 1, i / TILE_WIDTH) > 0 {
            l += 1;
            i /= TILE_WIDTH;
            parents.push((l, i));
        }
    }
    needed.extend(parents);

    let tmp = out.with_extension("partial");
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
    }
    fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
    let mut o = Out {
        dir: tmp.clone(),
        bytes: 0,
        digests: BTreeMap::new(),
    };
    let mut tile_count = 0u64;
    for &(tl, t) in &needed {
        let w = tile_width(size, tl, t);
        if w == 0 {
            continue;
        }
        let hashes = tiles.tile(tl, t)?;
        o.write(&tile_path(tl, t, w), &hashes.concat())?;
        tile_count += 1;
    }
    for &t in &entry_tiles {
        let w = tile_width(size, 0, t);
        let entries = reader.read_bundle(t, w)?;
        let mut b = Vec::with_capacity(entries.len() * (ENTRY_LEN + 2));
        for e in entries.iter().take(w as usize) {
            b.extend_from_slice(&(ENTRY_LEN as u16).to_be_bytes());
            b.extend_from_slice(e);
        }
        o.write(&bundle_path(t, w), &b)?;
        tile_count += 1;
    }

    // The records, verbatim, from the write-ahead log.
    let mut bodies = Vec::new();
    let mut index_lines = String::new();
    let mut want = input.indexes.iter().peekable();
    let mut failed = None;
    let mut countries: BTreeMap<String, String> = BTreeMap::new();
    WalReader::new(&layout.wal()).scan(input.indexes[0], |f| {
        match want.peek() {
            Some(&&i) if i == f.index => {
                if f.body.contains(&b'\n') {
                    failed = Some(f.index);
                    return false;
                }
                if let (Some(lookup), Ok(rec)) =
                    (input.country_of, suho_record::parse_record(&f.body))
                {
                    if let Some(ip) = rec.src_ip {
                        countries.entry(ip.to_string()).or_insert_with(|| {
                            lookup(ip)
                                .map_or("??".into(), |c| String::from_utf8_lossy(&c).into_owned())
                        });
                    }
                }
                bodies.extend_from_slice(&f.body);
                bodies.push(b'\n');
                index_lines.push_str(&format!("{}\n", f.index));
                want.next();
            }
            Some(_) => {}
            None => return false,
        }
        want.peek().is_some()
    })?;
    if let Some(i) = failed {
        return Err(EvidenceError::Request(format!(
            "record {i} holds a line break and cannot be written one per line"
        )));
    }
    if let Some(&&i) = want.peek() {
        return Err(EvidenceError::Request(format!(
            "record {i} is not in the write-ahead log"
        )));
    }
    o.write(Path::new("records.ndjson"), &bodies)?;
    o.write(Path::new("records.index"), index_lines.as_bytes())?;
    o.write(Path::new("checkpoint"), checkpoint_text.as_bytes())?;
    o.write(Path::new("latest-checkpoint"), latest_text.as_bytes())?;
    o.write(
        Path::new("verifier.key"),
        format!("{}\n", verifier).as_bytes(),
    )?;
    if size < latest.size {
        let proof = suho_ledger::consistency_proof_file(layout, &checkpoint_text)?;
        o.write(Path::new("consistency.proof"), proof.as_bytes())?;
    }
    o.write(Path::new("README.md"), README.as_bytes())?;
    let manifest = serde_json::json!({
        "format": FORMAT,
        "origin": latest.origin,
        "records": input.indexes.len(),
        "checkpoint_size": size,
        "latest_size": latest.size,
        "about": input.about,
        "source_countries": countries,
        "home_countries": input.home_countries,
        "files": o.digests,
    });
    let text = serde_json::to_string_pretty(&manifest)
        .map_err(|e| EvidenceError::Request(format!("manifest: {e}")))?;
    o.write(Path::new(MANIFEST), text.as_bytes())?;
    let bytes = o.bytes;
    fs::rename(&tmp, out).map_err(io_err(out))?;
    Ok(BundleReport {
        records: input.indexes.len() as u64,
        checkpoint_size: size,
        latest_size: latest.size,
        tiles: tile_count,
        bytes,
    })
}

/// What a checked bundle shows.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BundleCheck {
    /// The log's origin.
    pub origin: String,
    /// Verifier key the signatures were checked with.
    pub key: String,
    /// Whether that key was pinned by the caller (true) or taken from the bundle (false).
    pub key_pinned: bool,
    /// Records proved.
    pub records: u64,
    /// Size of the tree they are proved in.
    pub checkpoint_size: u64,
    /// Size of the latest checkpoint, proved to extend it.
    pub latest_size: u64,
    /// Entry tiles authenticated by an inclusion proof.
    pub tiles_proved: u64,
    /// Distinct data subjects in the records.
    pub subjects: u64,
    /// Field category -> distinct subjects.
    pub fields: BTreeMap<String, u64>,
    /// First and last event time (RFC 3339).
    pub first_access: Option<String>,
    /// Last event time.
    pub last_access: Option<String>,
    /// Records that left the company's countries (source country outside the home
    /// countries, by the bundle's stated countries), or were exports, downloads or prints.
    pub external_records: u64,
    /// Distinct subjects in those records.
    pub external_subjects: u64,
    /// Source country -> records.
    pub countries: BTreeMap<String, u64>,
    /// Records by action.
    pub actions: BTreeMap<String, u64>,
    /// The bundle's `about` section, as written (not proved: suho's statement).
    pub about: serde_json::Value,
}

/// Open the bundle file `name` (a relative path with no `..`) if it is a plain file: a bundle
/// comes from elsewhere, and a name such as `/dev/zero`, a symbolic link to it or a path out of
/// the bundle must not make the check read forever or read outside the bundle.
fn open_plain(dir: &Path, name: &str) -> Result<File, EvidenceError> {
    let rel = Path::new(name);
    if name.is_empty()
        || !rel
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
    {
        return Err(invalid(
            name,
            "not a path inside the bundle (absolute, or with `..` or `.`)",
        ));
    }
    let p = dir.join(rel);
    let meta = fs::symlink_metadata(&p).map_err(io_err(&p))?;
    if !meta.is_file() {
        return Err(invalid(
            name,
            "not a plain file (a bundle holds no links, devices or pipes)",
        ));
    }
    File::open(&p).map_err(io_err(&p))
}

fn read(dir: &Path, name: &str) -> Result<Vec<u8>, EvidenceError> {
    let mut b = Vec::new();
    io::Read::read_to_end(&mut open_plain(dir, name)?, &mut b).map_err(io_err(&dir.join(name)))?;
    Ok(b)
}

/// Check the bundle in `dir`. With `pinned`, signatures must verify with that key (obtained
/// independently of the bundle); without it, the bundle's own `verifier.key` is used and the
/// result says so.
pub fn verify_bundle(dir: &Path, pinned: Option<&Verifier>) -> Result<BundleCheck, EvidenceError> {
    let manifest: serde_json::Value = serde_json::from_slice(&read(dir, MANIFEST)?)
        .map_err(|e| invalid(MANIFEST, format!("not JSON: {e}")))?;
    if manifest["format"] != FORMAT {
        return Err(invalid(MANIFEST, format!("format is not {FORMAT}")));
    }
    let own_key = String::from_utf8_lossy(&read(dir, "verifier.key")?)
        .trim()
        .to_string();
    let verifier = match pinned {
        Some(v) => v.clone(),
        None => Verifier::parse(&own_key).map_err(|e| invalid("verifier.key", e.to_string()))?,
    };
    let note = |file: &'static str| -> Result<(String, Checkpoint), EvidenceError> {
        let text = String::from_utf8(read(dir, file)?).map_err(|_| invalid(file, "not UTF-8"))?;
        let (cp, _) = Checkpoint::open(&text, std::slice::from_ref(&verifier)).map_err(|e| {
            EvidenceError::Note {
                file,
                reason: format!("{e} (is the key right?)"),
            }
        })?;
        Ok((text, cp))
    };
    let (_, cp) = note("checkpoint")?;
    let (_, latest) = note("latest-checkpoint")?;
    if cp.origin != verifier.name() || latest.origin != cp.origin {
        return Err(invalid(
            "checkpoint",
            format!(
                "origin {:?} is not the key's log {:?}",
                cp.origin,
                verifier.name()
            ),
        ));
    }
    // The newer checkpoint extends the one the records are proved in.
    if latest.size != cp.size {
        let text = String::from_utf8(read(dir, "consistency.proof")?)
            .map_err(|_| invalid("consistency.proof", "not UTF-8"))?;
        let (old, new) = suho_ledger::verify_consistency_file(&text, &verifier)
            .map_err(|e| invalid("consistency.proof", e.to_string()))?;
        if old != cp.size || new != latest.size {
            return Err(invalid(
                "consistency.proof",
                format!(
                    "proves {old} -> {new}, but the checkpoints are {} -> {}",
                    cp.size, latest.size
                ),
            ));
        }
    } else if latest.root != cp.root {
        return Err(invalid(
            "latest-checkpoint",
            "same size as checkpoint but another root: the log forked",
        ));
    }
    // Every file is the one the manifest names.
    if let Some(files) = manifest["files"].as_object() {
        for (name, digest) in files {
            if name == MANIFEST {
                continue;
            }
            let mut sha = Sha256::new();
            io::copy(&mut open_plain(dir, name)?, &mut sha).map_err(io_err(&dir.join(name)))?;
            let got = hex::encode(sha.finalize());
            if Some(got.as_str()) != digest.as_str() {
                return Err(invalid(
                    name.clone(),
                    "altered: its SHA-256 is not the manifest's",
                ));
            }
        }
    }

    let reader = TileReader::new(dir);
    let tiles = Cached::new(&reader, cp.size);
    let bodies = open_plain(dir, "records.ndjson")?;
    let idx_text = String::from_utf8(read(dir, "records.index")?)
        .map_err(|_| invalid("records.index", "not UTF-8"))?;
    let mut indexes = idx_text.lines();
    let countries: BTreeMap<String, String> =
        serde_json::from_value(manifest["source_countries"].clone()).unwrap_or_default();
    let home: Vec<String> =
        serde_json::from_value(manifest["home_countries"].clone()).unwrap_or_default();

    let mut check = BundleCheck {
        origin: cp.origin.clone(),
        key: verifier.to_string(),
        key_pinned: pinned.is_some(),
        checkpoint_size: cp.size,
        latest_size: latest.size,
        about: manifest["about"].clone(),
        ..BundleCheck::default()
    };
    let mut subjects: HashMap<String, u128> = HashMap::new();
    let mut external: std::collections::HashSet<String> = Default::default();
    let mut field_ids: Vec<String> = Vec::new();
    let mut proved_tile: Option<(u64, Vec<[u8; ENTRY_LEN]>)> = None;
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    let mut prev: Option<u64> = None;
    for (n, line) in BufReader::new(bodies).split(b'\n').enumerate() {
        let at = format!("records.ndjson:{}", n + 1);
        let body = line.map_err(io_err(&dir.join("records.ndjson")))?;
        let index: u64 = indexes
            .next()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| {
                invalid(
                    format!("records.index:{}", n + 1),
                    "missing or not a number",
                )
            })?;
        if prev.is_some_and(|p| p >= index) || index >= cp.size {
            return Err(invalid(
                format!("records.index:{}", n + 1),
                format!(
                    "index {index} is out of order or past the checkpoint (size {})",
                    cp.size
                ),
            ));
        }
        prev = Some(index);
        let t = index / TILE_WIDTH;
        if proved_tile.as_ref().is_none_or(|(pt, _)| *pt != t) {
            // One inclusion proof authenticates every hash of this entry tile.
            let hashes = tiles
                .tile(0, t)
                .map_err(|e| invalid(format!("tile 0/{t}"), e.to_string()))?;
            let rep = t * TILE_WIDTH;
            let proof = inclusion_proof(&tiles, rep, cp.size)
                .map_err(|e| invalid(format!("tile 0/{t}"), e.to_string()))?;
            verify_inclusion(&hashes[0], rep, cp.size, &proof, &cp.root).map_err(|e| {
                invalid(
                    format!("tile/0/{t}"),
                    format!("the tiles do not hash to the signed checkpoint's root: {e}"),
                )
            })?;
            let w = tile_width(cp.size, 0, t);
            let entries = reader
                .read_bundle(t, w)
                .map_err(|e| invalid(format!("tile/entries/{t}"), e.to_string()))?;
            for (k, e) in entries.iter().take(w as usize).enumerate() {
                if hashes.get(k) != Some(&leaf_hash(e)) {
                    return Err(invalid(
                        format!("tile/entries/{t}"),
                        format!("entry {} does not match its leaf hash", rep + k as u64),
                    ));
                }
            }
            check.tiles_proved += 1;
            proved_tile = Some((t, entries));
        }
        let entry_bytes = proved_tile
            .as_ref()
            .and_then(|(_, e)| e.get((index % TILE_WIDTH) as usize))
            .ok_or_else(|| invalid(at.clone(), format!("no entry {index} in the bundle")))?;
        let entry = Entry::decode(entry_bytes)
            .ok_or_else(|| invalid(at.clone(), format!("entry {index} is not a suho entry")))?;
        if !entry.matches_body(&body) {
            return Err(invalid(
                at,
                format!("altered: its SHA-256 is not the one ledger entry {index} commits to"),
            ));
        }
        check.records += 1;
        let rec = suho_record::parse_record(&body)
            .map_err(|e| invalid(at.clone(), format!("not an access record: {e}")))?;
        first = first.min(rec.time_ms);
        last = last.max(rec.time_ms);
        *check
            .actions
            .entry(rec.action.as_str().to_string())
            .or_default() += 1;
        let country = rec.src_ip.map(|ip: IpAddr| {
            countries
                .get(&ip.to_string())
                .cloned()
                .unwrap_or_else(|| "??".into())
        });
        if let Some(c) = &country {
            *check.countries.entry(c.clone()).or_default() += 1;
        }
        let is_external = country
            .as_ref()
            .is_some_and(|c| c != "??" && !home.iter().any(|h| h.eq_ignore_ascii_case(c)))
            || matches!(rec.action.as_str(), "export" | "download" | "print");
        if is_external {
            check.external_records += 1;
        }
        let mut mask = 0u128;
        for f in &rec.fields {
            let id = match field_ids.iter().position(|x| x == f.as_ref()) {
                Some(i) => i,
                None => {
                    field_ids.push(f.to_string());
                    field_ids.len() - 1
                }
            };
            if id < 128 {
                mask |= 1 << id;
            }
        }
        for s in &rec.subjects {
            *subjects.entry(s.to_string()).or_default() |= mask;
            if is_external {
                external.insert(s.to_string());
            }
        }
    }
    if indexes.next().is_some_and(|l| !l.trim().is_empty()) {
        return Err(invalid("records.index", "more indexes than records"));
    }
    let declared = manifest["records"].as_u64().unwrap_or(0);
    if declared != check.records {
        return Err(invalid(
            "records.ndjson",
            format!("{} records, the manifest says {declared}", check.records),
        ));
    }
    check.subjects = subjects.len() as u64;
    check.external_subjects = external.len() as u64;
    for (i, name) in field_ids.iter().enumerate().take(128) {
        let n = subjects.values().filter(|m| *m & (1 << i) != 0).count() as u64;
        check.fields.insert(name.clone(), n);
    }
    if check.records > 0 {
        check.first_access = Some(suho_record::format_rfc3339_ms(first));
        check.last_access = Some(suho_record::format_rfc3339_ms(last));
    }
    Ok(check)
}

const README: &str = r#"# suho evidence bundle

This directory proves that the records in `records.ndjson` are in an append-only Merkle log
(RFC 6962) whose signed checkpoints you can check, and that the log has only grown since.

## With suho

    suho verify-evidence . --key '<verifier key obtained independently of this bundle>'

## With the C2SP formats alone

1. Obtain the log's verifier key from a source you trust (not only `verifier.key`).
2. `checkpoint` and `latest-checkpoint` are C2SP tlog-checkpoints in C2SP signed-notes
   (Ed25519): check both signatures with the key.
3. `consistency.proof` (absent when both have one size) holds both checkpoints and the RFC 6962
   consistency proof between their trees, one base64 hash per line after the header line.
4. `tile/` holds C2SP tlog-tiles (height 8) of the `checkpoint` tree: hash tiles
   `tile/<L>/<N>[.p/<W>]` and entry bundles `tile/entries/<N>[.p/<W>]` (each entry: a big-endian
   u16 length, always 53, then the entry). Any tlog-tiles client (for example Go's
   golang.org/x/mod/sumdb/tlog TileHashReader with ProveRecord/CheckRecord) can build and check
   the inclusion proof of every entry against `checkpoint`.
5. An entry is 53 bytes: version 0x01, event time (i64 ms), sequenced time (i64 ms), body length
   (u32), SHA-256 of the body. Its leaf hash is SHA-256(0x00 || entry).
6. Line k of `records.ndjson` is the record body at the ledger index on line k of
   `records.index`; its SHA-256 must equal that entry's last 32 bytes, and its length the
   entry's body length.

`manifest.json` says what the bundle is about (incident, selection, scope) and lists the SHA-256
of every file; its `source_countries` are suho's statement of where each source IP is (from the
company's geo database), not part of the proof.
"#;
