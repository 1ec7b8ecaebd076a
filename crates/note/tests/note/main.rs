//! Behaviour of suho-note's formats: published vectors first, then round trips and
//! rejections, one module per topic.

#![allow(clippy::unwrap_used)] // a test that unwraps fails loudly, which is the point

mod checkpoint;
mod keys;
mod proofs;
mod signed_note;
mod vectors;
