//! `lgs-cli`'s tests in one integration binary (one link instead of one per file):
//! the `lgs` command as a user runs it.

mod basket;
mod browser;
mod cli;
mod cluster;
mod clv;
mod concurrency;
mod experiment;
mod feeds;
mod governance;
mod kafka;
mod limits;
mod live;
mod load;
mod objectstore;
mod recommend;
mod reliability;
mod served;
mod sql;
mod stream;
mod support;
mod trends;
mod webdriver;
