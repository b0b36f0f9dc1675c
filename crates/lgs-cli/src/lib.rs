//! The `lgs` command line as a library: its argument parser (the one place the
//! options, their defaults and their checks are defined) and what each subcommand
//! does. The `lgs` binary (`main.rs`) runs it; the Python package (`lgs-py`)
//! parses its calls' options with the same parser, so a notebook and a terminal
//! accept and refuse the same things.

pub mod access;
pub mod analyses;
pub mod args;
pub mod commands;
pub mod generate;
pub mod maintenance;
pub mod maintenance_args;
pub mod products;
pub mod progress;
pub mod report;
pub mod serving;
pub mod shell;
pub mod stream;
