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

/// A column of the pass over the lines ([`super::INVOICE_LINES`]) that only some
/// analyses read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassColumn {
    /// The invoice's month, `YYYY-MM` (a grouping key).
    Month,
    /// The amount of the invoice's eligible lines (price > 0 and quantity > 0).
    EligibleAmount,
}

impl PassColumn {
    pub const ALL: &'static [PassColumn] = &[PassColumn::Month, PassColumn::EligibleAmount];
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

    /// The columns of the pass over the lines it reads beyond those every pass has
    /// (`day`, `invoice_no`, `customer_id`, `is_cancellation`, `last_date`,
    /// `amount`): a report whose analyses all read none of them groups the lines by
    /// fewer keys and decodes fewer columns. By default, all of them.
    fn pass_columns(&self) -> &'static [PassColumn] {
        PassColumn::ALL
    }

    /// Computes the section from the tables registered in `ctx`; `shared` gives
    /// what several analyses reuse (the as-of date).
    async fn run(&self, ctx: &SessionContext, shared: &Shared) -> Result<Section>;
}
