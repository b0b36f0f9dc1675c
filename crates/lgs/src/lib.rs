//! # lgs — the London Gift Shop analytics engine
//!
//! `lgs` ingests the retailer's transactions into a Delta Lake warehouse and computes
//! the marketing team's analytics with Apache DataFusion, locally or on a Ballista
//! cluster. One place for each thing (see `docs/architecture.md`):
//!
//! - [`ingest`]: CSV (plain, gzip, zstd), `pg_dump` output, Excel, Parquet and live
//!   PostgreSQL into a Delta table, with a quarantine for rows that cannot be
//!   parsed; [`generate`] makes data shaped like the real files;
//! - [`warehouse`]: the Delta tables, their history and how sessions see them;
//!   [`write`] is the one path every Delta write takes, and [`facts`] what lgs
//!   records in each commit;
//! - [`session`]: the one door to a DataFusion session (local, or a [`cluster`]
//!   client), which also says how a report keeps its intermediates;
//! - [`analytics`]: the analyses, each a plug-in ([`analytics::Analysis`]) that
//!   returns a [`analytics::Section`] of the report;
//! - [`output`]: the sinks (terminal, JSON, CSV, files, Delta, PostgreSQL, HTML,
//!   PNG) that write whatever sections a report has; [`charts`] draws, [`html`]
//!   lays out the page that [`serve`] (the dashboard) also serves;
//! - [`sql`] and [`shell`]: ad-hoc SQL over the warehouse tables and views.
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
//! for section in &report.sections {
//!     println!("{}: {} tables, {} charts", section.name, section.tables.len(), section.charts.len());
//! }
//! # Ok(()) }
//! ```

pub mod analytics;
pub mod asof;
pub mod audit;
pub mod charts;
pub mod cluster;
pub mod crypt;
pub mod error;
pub mod facts;
pub mod format;
pub mod generate;
pub mod html;
pub mod ingest;
pub mod live;
pub mod memory;
pub mod output;
pub mod pg;
pub mod policy;
pub mod progress;
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
