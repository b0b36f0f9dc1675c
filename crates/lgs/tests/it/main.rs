//! Integration tests of the `lgs` library: one binary, a module per area.

mod analytics;
mod cluster;
mod common;
mod damage;
mod ingest;
mod outputs;
mod postgres;
mod real_data;
mod roundtrip;
mod sources;
mod travel;
mod wdi;
