//! `suho leak-check`: the privacy-preserving "was my data leaked?" lookup (k-anonymity hash
//! ranges, `suho-leakcheck`).
//!
//! A company builds the store with `load` (from hex hashes it made itself with `hash`, or from
//! a contacts CSV hashed on load); `suho serve` answers `GET /v1/leak-check/range/{prefix}`;
//! `ask` is the subject's side, computing the hash locally and sending only its 5-hex-digit
//! prefix. Plain contact values are never stored, printed or logged.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use suho_leakcheck::{
    check, hash_contacts_csv, load, matches, read_hex_hashes, render_range, store_path, Error,
    Identifier, LoadMode, Prefix, Store,
};
use suho_server::{Role, TokenStore};

/// How long `ask --url` waits to connect, and for each read or write.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest range response `ask --url` accepts.
const MAX_RESPONSE_BYTES: u64 = 16 << 20;

#[derive(Subcommand, Clone)]
pub enum LeakCmd {
    /// Normalise and hash a contacts CSV (header naming `email` and/or `phone`, e.g.
    /// subject_id,email,phone) into hex hashes, one per line, sorted: for a company that keeps
    /// plain contacts out of suho entirely.
    Hash {
        /// The contacts CSV.
        #[arg(long = "in", value_name = "CSV")]
        input: PathBuf,
        /// Where to write the hashes.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Build the leak-check store from hex hashes (one per line), or with --csv from a contacts
    /// CSV hashed as it is read. A bad line stops the load and the store stays as it was.
    Load {
        /// Hex hashes, one per line (or a contacts CSV with --csv).
        file: PathBuf,
        /// FILE is a contacts CSV (subject_id,email,phone) to normalise and hash.
        #[arg(long)]
        csv: bool,
        /// Add to the hashes already stored instead of replacing them.
        #[arg(long)]
        merge: bool,
    },
    /// Print the stored hashes whose hex form starts with PREFIX, as the server's range
    /// endpoint returns them (the 59 hex digits after the prefix, one per line).
    Range {
        /// Five hexadecimal digits.
        prefix: String,
        /// Pad with random fake suffixes, as the endpoint does for `Add-Padding: true`.
        #[arg(long)]
        padding: bool,
    },
    /// The subject's side: hash an email or phone number here, ask only for its 5-hex-digit
    /// prefix (from the local store, or from `suho serve` with --url), and compare here.
    Ask {
        /// The email address to check.
        #[arg(long, conflicts_with = "phone", required_unless_present = "phone")]
        email: Option<String>,
        /// The phone number to check (010-1234-5678, +82 10 1234 5678, +1 415 555 0100, ...).
        #[arg(long)]
        phone: Option<String>,
        /// Ask a running `suho serve` at this base URL (http://host:port) instead of the local
        /// store.
        #[arg(long)]
        url: Option<String>,
        /// Bearer token of role lookup (or admin) for --url.
        #[arg(long, env = "SUHO_LEAK_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Create a bearer token of role `lookup` (for the company's public web front end); it is
    /// printed once and stored only as a hash.
    Token {
        /// Who or what will use it.
        #[arg(long)]
        name: String,
    },
}

pub fn leak_check(data: &Path, c: LeakCmd) -> Result<i32> {
    match c {
        LeakCmd::Hash { input, out } => hash(&input, &out),
        LeakCmd::Load { file, csv, merge } => load_cmd(data, &file, csv, merge),
        LeakCmd::Range { prefix, padding } => range(data, &prefix, padding),
        LeakCmd::Ask {
            email,
            phone,
            url,
            token,
        } => ask(data, email, phone, url, token),
        LeakCmd::Token { name } => token(data, &name),
    }
}

fn open_input(path: &Path) -> Result<BufReader<File>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(BufReader::with_capacity(1 << 20, file))
}

fn hash(input: &Path, out: &Path) -> Result<i32> {
    let hashed =
        hash_contacts_csv(open_input(input)?).with_context(|| format!("{}", input.display()))?;
    let mut hashes = hashed.hashes;
    // Sorted, so that the file's order says nothing about the CSV's order of subjects.
    hashes.sort_unstable();
    hashes.dedup();
    let mut text = String::with_capacity(hashes.len() * 65);
    for h in &hashes {
        text.push_str(&h.to_string());
        text.push('\n');
    }
    write_atomically(out, text.as_bytes())?;
    eprintln!(
        "hashed {} rows ({} emails, {} phone numbers, {} rows without either): {} distinct hashes written to {}",
        hashed.rows,
        hashed.emails,
        hashed.phones,
        hashed.without_contact,
        hashes.len(),
        out.display()
    );
    Ok(0)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    suho_durable::write_atomic(path, bytes).map_err(|e| anyhow::anyhow!("cannot write {e}"))
}

fn load_cmd(data: &Path, file: &Path, csv: bool, merge: bool) -> Result<i32> {
    let reader = open_input(file)?;
    let hashes = if csv {
        let hashed = hash_contacts_csv(reader)
            .with_context(|| format!("{} (nothing was loaded)", file.display()))?;
        eprintln!(
            "hashed {} rows: {} emails, {} phone numbers, {} rows without either",
            hashed.rows, hashed.emails, hashed.phones, hashed.without_contact
        );
        hashed.hashes
    } else {
        read_hex_hashes(reader)
            .with_context(|| format!("{} (nothing was loaded)", file.display()))?
    };
    let mode = if merge {
        LoadMode::Merge
    } else {
        LoadMode::Replace
    };
    let r = load(data, hashes, mode)?;
    let how = if merge {
        format!(
            "merged {} distinct hashes into the {} stored",
            r.given, r.before
        )
    } else {
        format!(
            "replaced {} stored hashes with {} distinct hashes",
            r.before, r.given
        )
    };
    println!("{}: {} hashes ({how})", r.path.display(), r.total);
    Ok(0)
}

fn open_store(data: &Path) -> Result<Store> {
    match Store::open(store_path(data)) {
        Ok(s) => Ok(s),
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            bail!(
                "no leak-check store loaded in {}: run suho leak-check load",
                data.display()
            )
        }
        Err(e) => Err(e.into()),
    }
}

fn range(data: &Path, prefix: &str, padding: bool) -> Result<i32> {
    let prefix: Prefix = prefix.parse()?;
    let store = open_store(data)?;
    let hashes = if padding {
        store.range_padded(prefix)?
    } else {
        store.range(prefix)?
    };
    let mut out = std::io::stdout().lock();
    out.write_all(render_range(&hashes).as_bytes())?;
    out.flush()?;
    Ok(0)
}

fn ask(
    data: &Path,
    email: Option<String>,
    phone: Option<String>,
    url: Option<String>,
    token: Option<String>,
) -> Result<i32> {
    let (id, what) = match (email, phone) {
        (Some(e), None) => (Identifier::email(&e)?, "email address"),
        (None, Some(p)) => (Identifier::phone(&p)?, "phone number"),
        _ => bail!("give exactly one of --email and --phone"),
    };
    let (leaked, where_) = verdict(data, &id, what, url, token)?;
    println!("leaked: {}", if leaked { "yes" } else { "no" });
    println!("{where_}");
    Ok(0)
}

/// Whether `id` is in the leak-check store (local, or the server at `url`), and a sentence
/// saying what left this machine.
fn verdict(
    data: &Path,
    id: &Identifier,
    what: &str,
    url: Option<String>,
    token: Option<String>,
) -> Result<(bool, String)> {
    let (prefix, hash) = check(id);
    Ok(match url {
        Some(url) => {
            let token =
                token.context("--url needs a bearer token: give --token or set SUHO_LEAK_TOKEN")?;
            let body = fetch_range(&url, &token, prefix)?;
            (
                matches(&body, &hash),
                format!(
                    "only the 5-hex-digit prefix {prefix} of this {what}'s hash left this machine (sent to {url}); the comparison was made here"
                ),
            )
        }
        None => {
            let store = open_store(data)?;
            let body = render_range(&store.range(prefix)?);
            (
                matches(&body, &hash),
                format!(
                    "asked the local store; nothing left this machine (a server is sent only the 5-hex-digit prefix {prefix} of this {what}'s hash)"
                ),
            )
        }
    })
}

/// `GET <url>/v1/leak-check/range/<prefix>` with padding, over plain HTTP/1.1 on a std
/// `TcpStream` (as `suho bench` speaks HTTP: one request needs no client crate). Returns the
/// body of a 200 answer; any other answer is an error carrying the server's message.
fn fetch_range(url: &str, token: &str, prefix: Prefix) -> Result<String> {
    let (host, base) = parse_http_url(url)?;
    if !(host.starts_with("127.") || host.starts_with("localhost:") || host.starts_with("[::1]:")) {
        eprintln!(
            "warning: plain HTTP to {host}: the bearer token and the prefix cross the network in clear"
        );
    }
    let addrs: Vec<_> = host
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {host}"))?
        .collect();
    let mut conn = addrs
        .iter()
        .find_map(|a| TcpStream::connect_timeout(a, HTTP_TIMEOUT).ok())
        .with_context(|| format!("cannot connect to {host}"))?;
    conn.set_read_timeout(Some(HTTP_TIMEOUT))?;
    conn.set_write_timeout(Some(HTTP_TIMEOUT))?;
    write!(
        conn,
        "GET {base}/v1/leak-check/range/{prefix} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nAdd-Padding: true\r\nAccept: text/plain\r\nConnection: close\r\n\r\n"
    )
    .with_context(|| format!("cannot send the request to {host}"))?;
    let mut raw = Vec::new();
    conn.take(MAX_RESPONSE_BYTES)
        .read_to_end(&mut raw)
        .with_context(|| format!("cannot read the answer from {host}"))?;
    let (status, body) = parse_response(&raw)?;
    let text = String::from_utf8(body).context("the answer is not UTF-8 text")?;
    if status != 200 {
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_else(|| text.trim().chars().take(200).collect());
        bail!("{url} answered {status}: {message}");
    }
    Ok(text)
}

/// `http://host[:port][/base]` -> (`host:port`, `/base` without a trailing slash).
fn parse_http_url(url: &str) -> Result<(String, String)> {
    if url.starts_with("https://") {
        bail!(
            "https:// is not supported by this client; ask over a TLS-terminating proxy on loopback, or fetch {url}/v1/leak-check/range/<prefix> with curl"
        );
    }
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("{url}: expected a URL like http://127.0.0.1:7300"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        bail!("{url}: expected a URL like http://127.0.0.1:7300");
    }
    let has_port = match authority.rfind(':') {
        Some(i) => !authority[i..].contains(']'),
        None => false,
    };
    let host = if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok((host, path.trim_end_matches('/').to_owned()))
}

/// The status and the body of a whole HTTP/1.1 response (`Content-Length`, chunked, or up to
/// the end of the connection).
fn parse_response(raw: &[u8]) -> Result<(u16, Vec<u8>)> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("the server's answer has no complete HTTP header")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("not an HTTP status line: {status_line:?}"))?;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.parse::<usize>().context("bad Content-Length")?);
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
            {
                chunked = true;
            }
        }
    }
    let body = &raw[end + 4..];
    let body = if chunked {
        dechunk(body)?
    } else if let Some(n) = length {
        body.get(..n)
            .context("the answer ended before its Content-Length")?
            .to_vec()
    } else {
        body.to_vec()
    };
    Ok((status, body))
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("a chunk size line is not ended")?;
        let size_text = String::from_utf8_lossy(&body[..eol]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .with_context(|| format!("bad chunk size {size_text:?}"))?;
        body = &body[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = body.get(..size).context("a chunk ended early")?;
        out.extend_from_slice(chunk);
        body = body.get(size + 2..).context("a chunk is not ended")?;
    }
}

fn token(data: &Path, name: &str) -> Result<i32> {
    let store = TokenStore::open(data)?;
    let (info, secret) = store.create(Role::Lookup, name)?;
    eprintln!(
        "created token {} with role lookup (shown once; suho keeps only its hash)",
        info.id
    );
    println!("{secret}");
    Ok(0)
}

#[cfg(test)]
mod tests {
    // A failed unwrap in a test is a failed test with a backtrace: what we want here.
    #![allow(clippy::unwrap_used)]

    use super::*;
    use suho_ingest::{IngestService, RejectLog, ServiceOptions};
    use suho_ledger::{Ledger, Options};
    use suho_server::{AppState, ServeConfig};

    fn hashes_of(ids: &[Identifier]) -> Vec<suho_leakcheck::IdHash> {
        ids.iter().map(Identifier::hash).collect()
    }

    #[test]
    fn urls() {
        assert_eq!(
            parse_http_url("http://127.0.0.1:7300").unwrap(),
            ("127.0.0.1:7300".to_owned(), String::new())
        );
        assert_eq!(
            parse_http_url("http://suho.internal/api/").unwrap(),
            ("suho.internal:80".to_owned(), "/api".to_owned())
        );
        assert_eq!(
            parse_http_url("http://[::1]:7300/").unwrap(),
            ("[::1]:7300".to_owned(), String::new())
        );
        assert!(parse_http_url("https://x")
            .unwrap_err()
            .to_string()
            .contains("not supported"));
        assert!(parse_http_url("ftp://x").is_err());
        assert!(parse_http_url("http://").is_err());
    }

    #[test]
    fn responses_with_length_chunked_or_to_the_end() {
        let (s, b) = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef").unwrap();
        assert_eq!((s, b.as_slice()), (200, &b"abc"[..]));
        let (s, b) = parse_response(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((s, b.as_slice()), (200, &b"abcde"[..]));
        let (s, b) = parse_response(b"HTTP/1.1 404 Not Found\r\n\r\n{}").unwrap();
        assert_eq!((s, b.as_slice()), (404, &b"{}"[..]));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc").is_err());
        assert!(parse_response(b"garbage").is_err());
    }

    /// `ask --url` against a real `suho serve` (router, tokens, store) on a loopback port.
    #[test]
    fn ask_over_http_sends_the_prefix_and_matches_locally() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        let leaked = [
            Identifier::email("kim@example.com").unwrap(),
            Identifier::phone("010-1234-5678").unwrap(),
        ];
        load(data, hashes_of(&leaked), LoadMode::Replace).unwrap();
        let tokens = TokenStore::open(data).unwrap();
        let (_, lookup) = tokens.create(Role::Lookup, "web").unwrap();
        let (_, read) = tokens.create(Role::Read, "auditor").unwrap();
        let ledger = Ledger::open(data, Options::default()).unwrap();
        let opts = ServiceOptions {
            workers: 1,
            ..ServiceOptions::default()
        };
        let service = IngestService::start(ledger, RejectLog::new(data), opts);
        let state = AppState::new(service.handle(), tokens, data.join("ledger"));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = rt.spawn(suho_server::serve_on(
            listener,
            ServeConfig::new(addr),
            state,
            async {
                let _ = stopped.await;
            },
        ));
        let url = format!("http://{addr}");

        let (prefix, hash) = check(&Identifier::phone("+82 10 1234 5678").unwrap());
        let body = fetch_range(&url, &lookup, prefix).unwrap();
        assert!(matches(&body, &hash));
        // Padded: more lines than the one real hash.
        assert_eq!(body.lines().count(), suho_leakcheck::PADDING_STEP);
        let (prefix, hash) = check(&Identifier::email("lee@example.com").unwrap());
        assert!(!matches(
            &fetch_range(&url, &lookup, prefix).unwrap(),
            &hash
        ));
        // The server's refusal reaches the user with its reason.
        let err = fetch_range(&url, &read, prefix).unwrap_err().to_string();
        assert!(err.contains("answered 403"), "{err}");
        assert!(err.contains("role `lookup`"), "{err}");
        let err = fetch_range(&url, "suho_0123456789abcdef_00", prefix)
            .unwrap_err()
            .to_string();
        assert!(err.contains("answered 401"), "{err}");

        // The command's answer, local and remote, for a stored and an unknown address.
        for url in [None, Some(url.clone())] {
            let kim = Identifier::email(" KIM@example.com").unwrap();
            let (leaked, _) =
                verdict(data, &kim, "email", url.clone(), Some(lookup.clone())).unwrap();
            assert!(leaked, "{url:?}");
            let lee = Identifier::email("lee@example.com").unwrap();
            let (leaked, _) = verdict(data, &lee, "email", url, Some(lookup.clone())).unwrap();
            assert!(!leaked);
        }

        let _ = stop.send(());
        rt.block_on(server).unwrap().unwrap();
        drop(rt);
        drop(service);
    }

    #[test]
    fn load_names_the_bad_line_and_keeps_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        let csv = data.join("contacts.csv");
        std::fs::write(
            &csv,
            "subject_id,email,phone\nc-1,kim@example.com,010-1234-5678\n",
        )
        .unwrap();
        load_cmd(data, &csv, true, false).unwrap();
        let before = std::fs::read(store_path(data)).unwrap();
        std::fs::write(
            &csv,
            "subject_id,email,phone\nc-2,lee@example.com,\nc-3,park-at-example.com,\n",
        )
        .unwrap();
        let err = format!("{:#}", load_cmd(data, &csv, true, true).unwrap_err());
        assert!(err.contains("contacts.csv"), "{err}");
        assert!(err.contains("line 3: column 2: email: no '@'"), "{err}");
        assert!(!err.contains("park"), "{err}");
        assert_eq!(std::fs::read(store_path(data)).unwrap(), before);

        // hash then load gives the same store as load --csv.
        std::fs::write(
            &csv,
            "subject_id,email,phone\nc-1,kim@example.com,010-1234-5678\n",
        )
        .unwrap();
        let hex = data.join("hashes.txt");
        hash(&csv, &hex).unwrap();
        let text = std::fs::read_to_string(&hex).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(!text.contains("kim"));
        load_cmd(data, &hex, false, false).unwrap();
        assert_eq!(std::fs::read(store_path(data)).unwrap(), before);
    }
}
