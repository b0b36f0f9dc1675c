//! # lgs — the London Gift Shop analytics engine
//!
//! `lgs` ingests the retailer's transactions into a Delta Lake warehouse and computes
//! the marketing team's analytics with Apache DataFusion:
//!
//! - [`ingest`]: CSV files (plain, gzip, zstd; three header shapes) into the `retail`
//!   Delta table, with a quarantine for rows that cannot be parsed;
//! - [`warehouse`]: the Delta tables, their history, and how queries reach them;
//! - [`analytics`]: invoice statistics, monthly metrics and RFM segmentation, as
//!   DataFusion plans over any [`SessionContext`](datafusion::prelude::SessionContext);
//! - [`output`]: terminal tables, JSON, CSV and Parquet results;
//! - [`sql`]: ad-hoc SQL over the warehouse tables and views, streamed.
//!
//! ```no_run
//! # async fn demo() -> lgs::Result<()> {
//! use std::sync::Arc;
//! let warehouse = lgs::Warehouse::new("warehouse");
//! lgs::ingest::ingest(&warehouse, &["data/online_retail_II.csv.zst".into()],
//!     &Default::default(), Arc::new(lgs::ingest::NoProgress)).await?;
//! let ctx = lgs::session::context(&warehouse).await?;
//! let report = lgs::analytics::run_report(&ctx, &Default::default()).await?;
//! println!("{}", lgs::output::to_tables(&report));
//! # Ok(()) }
//! ```

pub mod analytics;
pub mod charts;
pub mod cluster;
pub mod error;
pub mod facts;
pub mod format;
pub mod generate;
pub mod html;
pub mod ingest;
pub mod output;
pub mod pg;
pub mod schema;
pub mod scratch;
pub mod serve;
pub mod session;
pub mod shell;
pub mod sql;
pub mod storage;
pub mod warehouse;
pub mod write;

pub use error::{LgsError, Result};
pub use warehouse::Warehouse;
