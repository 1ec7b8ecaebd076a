//! A webhook receiver on a real socket, as a Standard Webhooks consumer would be: it checks
//! every request's signature itself (HMAC-SHA256 written out from RFC 2104 here, not suho's
//! signing code), acknowledges or refuses as the test scripts it, and deduplicates on
//! `webhook-id`. Also used by the command-line tests (`#[path]`), so it needs only std, sha2,
//! base64 and serde_json.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{channel, Receiver as Rx, Sender};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// What the receiver does with the next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Answer with this status (2xx acknowledges).
    Status(u16),
    /// Read the request and never answer: the sender's timeout must end it.
    Hold,
}

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Request {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: String,
    /// The signature checked out against the secret.
    pub verified: bool,
    /// What the receiver did.
    pub answer: Answer,
    /// Its `webhook-id` had been acknowledged before (a duplicate the receiver drops).
    pub duplicate: bool,
}

struct Book {
    script: VecDeque<Answer>,
    default: Answer,
    requests: Vec<Request>,
    acked_ids: Vec<String>,
}

pub struct Receiver {
    pub url: String,
    book: Arc<Mutex<Book>>,
    /// Every request as it arrives (a held one before it is held).
    pub seen: Rx<Request>,
}

/// HMAC-SHA256 (RFC 2104): H((K ^ opad) || H((K ^ ipad) || m)), 64-byte blocks.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&ipad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize()
        .into()
}

/// Whether `signature` (`v1,<b64> ...`, space separated) signs `id.timestamp.body` with the
/// `whsec_` secret, as the Standard Webhooks specification says.
pub fn verify(secret: &str, id: &str, timestamp: &str, body: &str, signature: &str) -> bool {
    let Some(b64) = secret.strip_prefix("whsec_") else {
        return false;
    };
    let Ok(key) = base64::engine::general_purpose::STANDARD.decode(b64) else {
        return false;
    };
    let content = format!("{id}.{timestamp}.{body}");
    let want =
        base64::engine::general_purpose::STANDARD.encode(hmac_sha256(&key, content.as_bytes()));
    signature
        .split(' ')
        .filter_map(|s| s.split_once(','))
        .any(|(v, sig)| v == "v1" && sig == want)
}

impl Receiver {
    /// Listens on 127.0.0.1 (a free port); requests beyond the script are acknowledged (see
    /// [`Receiver::set_default`]).
    pub fn start(secret: &str, script: &[Answer]) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/hooks/suho", listener.local_addr().expect("addr"));
        let book = Arc::new(Mutex::new(Book {
            script: script.iter().copied().collect(),
            default: Answer::Status(200),
            requests: Vec::new(),
            acked_ids: Vec::new(),
        }));
        let (tx, seen) = channel();
        let b = book.clone();
        let secret = secret.to_string();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (b, tx, secret) = (b.clone(), tx.clone(), secret.clone());
                std::thread::spawn(move || serve(conn, &b, &tx, &secret));
            }
        });
        Receiver { url, book, seen }
    }

    /// Adds answers to the script.
    pub fn then(&self, answers: &[Answer]) {
        self.book
            .lock()
            .expect("book")
            .script
            .extend(answers.iter().copied());
    }

    /// What requests beyond the script get.
    pub fn set_default(&self, answer: Answer) {
        self.book.lock().expect("book").default = answer;
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.book.lock().expect("book").requests.clone()
    }

    /// Ids acknowledged for the first time, in order: what the receiver's application saw.
    pub fn delivered(&self) -> Vec<String> {
        self.book.lock().expect("book").acked_ids.clone()
    }
}

fn serve(conn: TcpStream, book: &Mutex<Book>, tx: &Sender<Request>, secret: &str) {
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let mut out = conn;
    // Keep-alive: several requests may come on one connection.
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end().to_string();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let get = |k: &str| {
            headers
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let len: usize = get("content-length").parse().unwrap_or(0);
        let mut body = vec![0u8; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body = String::from_utf8(body).unwrap_or_default();
        let (id, timestamp, signature) = (
            get("webhook-id"),
            get("webhook-timestamp"),
            get("webhook-signature"),
        );
        let verified = verify(secret, &id, &timestamp, &body, &signature);
        let answer = {
            let mut b = book.lock().expect("book");
            let d = b.default;
            b.script.pop_front().unwrap_or(d)
        };
        let mut req = Request {
            id,
            timestamp,
            signature,
            body,
            verified,
            answer,
            duplicate: false,
        };
        match answer {
            Answer::Hold => {
                // Never answer; the request ends when the sender gives up and closes.
                record(book, tx, req);
                let mut rest = Vec::new();
                let _ = reader.read_to_end(&mut rest);
                return;
            }
            Answer::Status(code) => {
                if (200..300).contains(&code) && verified {
                    let mut b = book.lock().expect("book");
                    if b.acked_ids.contains(&req.id) {
                        req.duplicate = true;
                    } else {
                        b.acked_ids.push(req.id.clone());
                    }
                }
                // A receiver that cannot verify refuses, as Standard Webhooks consumers do.
                let code = if verified { code } else { 401 };
                let reply = format!(
                    "HTTP/1.1 {code} X\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"
                );
                record(book, tx, req);
                if out.write_all(reply.as_bytes()).is_err() {
                    return;
                }
            }
        }
    }
}

fn record(book: &Mutex<Book>, tx: &Sender<Request>, req: Request) {
    book.lock().expect("book").requests.push(req.clone());
    let _ = tx.send(req);
}
