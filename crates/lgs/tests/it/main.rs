//! Integration tests of the `lgs` library: one binary, a module per area.

mod analytics;
mod basket;
mod cluster;
mod clv;
mod common;
mod damage;
mod experiment;
mod forget;
mod ingest;
mod live;
mod outputs;
mod policy;
mod postgres;
mod races;
mod real_basket;
mod real_clv;
mod real_data;
mod real_kmeans;
mod real_recommend;
mod real_trends;
mod recommend;
mod roundtrip;
mod sources;
mod travel;
mod trends;
mod wdi;
