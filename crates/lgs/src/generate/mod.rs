//! Synthetic data of the real shapes, for scale tests and benchmarks: LGS
//! transactions ([`retail`]) at any size and a WDI grid ([`WdiGrid`]).

pub mod retail;
mod wdi;

pub use wdi::{WdiGrid, write_wdi};
