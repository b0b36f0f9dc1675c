//! What an analysis is: a named plug-in that reads the registered tables (and the
//! intermediates it declares) through a [`SessionContext`] and returns a
//! [`Section`] of the report.
//!
//! The analyses of a report are listed once, in [`super::analyses`], as DataFusion
//! lists its functions; every output iterates the sections they return.

use async_trait::async_trait;
use datafusion::prelude::SessionContext;

use super::section::Section;
use super::shared::Shared;
use crate::error::Result;

/// An intermediate result several analyses read: computed once per report from
/// SQL over the registered tables and registered under `name` (held as the
/// session's deployment suits, see [`super::Intermediates`]).
#[derive(Debug)]
pub struct Intermediate {
    /// The table name it is registered under (`lgs_...`).
    pub name: &'static str,
    /// The SQL that computes it.
    pub sql: fn() -> String,
}

/// One analysis of the report.
#[async_trait]
pub trait Analysis: Send + Sync {
    /// Its name: the section's name, used to pick analyses and in messages.
    fn name(&self) -> &'static str;

    /// The intermediates it reads besides the pass over the lines
    /// ([`super::INVOICE_LINES`]); each is computed once per report, before the
    /// first analysis that needs it runs.
    fn needs(&self) -> &'static [&'static Intermediate] {
        &[]
    }

    /// Whether it reads the pass over the lines ([`super::INVOICE_LINES`]): a run
    /// of analyses that all read the warehouse's table directly (the product
    /// analyses) skips the pass.
    fn reads_invoice_lines(&self) -> bool {
        true
    }

    /// Computes the section from the tables registered in `ctx`; `shared` gives
    /// what several analyses reuse (the as-of date).
    async fn run(&self, ctx: &SessionContext, shared: &Shared) -> Result<Section>;
}
