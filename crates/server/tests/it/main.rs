//! Integration tests of suho-server, one binary with a module per topic.

// A failed unwrap in a test is a failed test with a backtrace: what we want here.
#![allow(clippy::unwrap_used)]

mod auth;
mod common;
mod encoding;
mod ingest;
mod ledger_files;
mod tls;
mod tokens;
