//! suho's "was my data leaked?" lookup, built like Have I Been Pwned's range API: the company
//! loads hashed contact identifiers (emails, phone numbers) of the affected subjects; a person's
//! client hashes their own identifier, sends only the first 5 hex digits of the hash (20 bits,
//! one of 2^20 ranges), gets back every stored hash of that range and compares locally. The
//! server never learns which identifier was asked about, nor whether it matched.
//!
//! This crate does one job: the identifier scheme and the store. [`normalise_email`] and
//! [`normalise_phone`] document normalisation precisely enough for a web client to reproduce;
//! [`Identifier::hash`] documents the hash; [`Store`] is the sorted, checksummed store file and
//! its range query; [`check`] and [`matches`] are the client's side. It knows nothing of HTTP:
//! `suho-server` serves ranges, the `suho leak-check` command loads and asks.
//!
//! What it hides and what it does not: a range query tells the server one of 2^20 ranges, which
//! with 33.7M stored hashes holds about 32 of them, and the asker's own identifier is usually
//! not stored at all. But every range can be fetched, and a phone number has few possible
//! values (10^8 Korean mobile numbers), so whoever can fetch every range can test every number:
//! the stored hashes are as sensitive as the list of affected numbers. Serve ranges only to
//! authenticated front ends that rate-limit their callers, and keep the store file private.
#![forbid(unsafe_code)]

mod error;
mod hash;
mod input;
mod normalise;
mod store;

pub use error::Error;
pub use hash::{
    check, matches, render_range, IdHash, Identifier, Kind, Prefix, DOMAIN_TAG, PREFIX_COUNT,
    PREFIX_DIGITS, SUFFIX_DIGITS,
};
pub use input::{hash_contacts_csv, read_hex_hashes, HashedContacts};
pub use normalise::{normalise_email, normalise_phone};
pub use store::{
    load, pad, store_path, write_store, LoadMode, LoadReport, Store, HEADER_LEN, LOCK_FILE, MAGIC,
    PADDING_STEP, STORE_DIR, STORE_FILE, VERSION,
};
