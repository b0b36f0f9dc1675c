//! The guard of a restricted session: raw tables are sealed inside the role's
//! views, and nothing else in a plan may read the warehouse's files.
//!
//! A restricted session's tables read their files through [`Sealed`] scans, which
//! only [`super::visible`] puts into plans, under the role's filter and masks. When a
//! plan is analysed, [`Guard`] rejects any other scan of the warehouse's files (a
//! listing under the warehouse, a Delta table provider) and only then unseals the
//! sealed scans, so that the plan is optimised, distributed and run exactly as an
//! unrestricted one. `CREATE EXTERNAL TABLE` is refused outright ([`Refuse`]).

use std::any::Any;
use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{Session, TableProvider, TableProviderFactory};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNodeRecursion};
use datafusion::common::{Result as DfResult, plan_err};
use datafusion::datasource::listing::ListingTable;
use datafusion::datasource::{TableType, provider_as_source, source_as_provider};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{CreateExternalTable, Expr, LogicalPlan, TableScan};
use datafusion::optimizer::AnalyzerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;

/// A raw table inside a role's view: it plans as the table it wraps, and only the
/// guard lets it into a plan (and unwraps it there).
#[derive(Debug)]
pub struct Sealed(Arc<dyn TableProvider>);

/// `raw`, sealed.
pub fn sealed(raw: Arc<dyn TableProvider>) -> Arc<dyn TableProvider> {
    Arc::new(Sealed(raw))
}

#[async_trait]
impl TableProvider for Sealed {
    fn schema(&self) -> SchemaRef {
        self.0.schema()
    }

    fn table_type(&self) -> TableType {
        self.0.table_type()
    }

    fn get_logical_plan(&self) -> Option<Cow<'_, LogicalPlan>> {
        None
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.0.scan(state, projection, filters, limit).await
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        _input: Arc<dyn ExecutionPlan>,
        _op: InsertOp,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        refuse_insert()
    }
}

/// What `INSERT` into a warehouse table answers.
pub(crate) fn refuse_insert() -> DfResult<Arc<dyn ExecutionPlan>> {
    plan_err!("a warehouse table is written with lgs ingest, not INSERT")
}

/// The analyser rule of a restricted session.
#[derive(Debug)]
pub struct Guard {
    role: String,
    /// The warehouse's URL (ending in `/`): no listing under it may be read...
    root: String,
    /// ...except the report's scratch results under this one (a cluster's
    /// intermediates, computed from what the role sees).
    scratch: String,
}

impl Guard {
    fn refuse<T>(&self, what: &str) -> DfResult<T> {
        plan_err!(
            "role {} may not read {what} directly; it sees the warehouse's tables only \
             through its policy",
            self.role
        )
    }

    /// Fails when `scan` reads the warehouse's files without the role's policy.
    fn check(&self, scan: &TableScan) -> DfResult<()> {
        let Ok(provider) = source_as_provider(&scan.source) else {
            return Ok(());
        };
        let any = provider.as_ref() as &dyn Any;
        if any.is::<Sealed>() {
            return Ok(());
        }
        if let Some(listing) = any.downcast_ref::<ListingTable>() {
            for url in listing.table_paths() {
                let url = url.as_str();
                if url.starts_with(&self.root) && !url.starts_with(&self.scratch) {
                    return self.refuse(&format!("the files of {url}"));
                }
            }
        }
        if any.is::<crate::warehouse::scan::SnapshotTable>() {
            return self.refuse(&format!("the files of {}", scan.table_name));
        }
        if any.is::<deltalake::delta_datafusion::DeltaScanNext>()
            || any.is::<deltalake::delta_datafusion::DeltaCdfTableProvider>()
        {
            return self.refuse(&format!("the Delta table {}", scan.table_name));
        }
        if let Some(view) = any.downcast_ref::<ViewTable>() {
            self.check_plan(view.logical_plan())?;
        }
        Ok(())
    }

    fn check_plan(&self, plan: &LogicalPlan) -> DfResult<()> {
        plan.apply_with_subqueries(|node| {
            if let LogicalPlan::TableScan(scan) = node {
                self.check(scan)?;
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        Ok(())
    }
}

impl AnalyzerRule for Guard {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> DfResult<LogicalPlan> {
        self.check_plan(&plan)?;
        let unsealed = plan.transform_up_with_subqueries(|node| {
            let LogicalPlan::TableScan(scan) = &node else {
                return Ok(Transformed::no(node));
            };
            let Ok(provider) = source_as_provider(&scan.source) else {
                return Ok(Transformed::no(node));
            };
            match (provider.as_ref() as &dyn Any).downcast_ref::<Sealed>() {
                Some(Sealed(raw)) => {
                    let mut scan = scan.clone();
                    scan.source = provider_as_source(raw.clone());
                    Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
                }
                None => Ok(Transformed::no(node)),
            }
        })?;
        Ok(unsealed.data)
    }

    fn name(&self) -> &str {
        "lgs_policy_guard"
    }
}

/// Refuses `CREATE EXTERNAL TABLE` in a restricted session.
#[derive(Debug)]
struct Refuse {
    role: String,
}

#[async_trait]
impl TableProviderFactory for Refuse {
    async fn create(
        &self,
        _state: &dyn Session,
        cmd: &CreateExternalTable,
    ) -> DfResult<Arc<dyn TableProvider>> {
        plan_err!(
            "role {} may not read files directly (CREATE EXTERNAL TABLE {} LOCATION '{}')",
            self.role,
            cmd.name,
            cmd.locations.join("', '")
        )
    }
}

/// Makes `ctx` a session of the restricted role `role` over the warehouse at
/// `root` (a URL ending in `/`) with its scratch directory at `scratch`.
pub fn install(ctx: &SessionContext, role: &str, root: String, scratch: String) {
    ctx.add_analyzer_rule(Arc::new(Guard {
        role: role.to_string(),
        root,
        scratch,
    }));
    ctx.add_analyzer_rule(Arc::new(super::unmask::Unmask::default()));
    let refuse: Arc<dyn TableProviderFactory> = Arc::new(Refuse {
        role: role.to_string(),
    });
    let state = ctx.state_ref();
    let mut state = state.write();
    let formats: Vec<String> = state.table_factories().keys().cloned().collect();
    for format in formats {
        state.table_factories_mut().insert(format, refuse.clone());
    }
}
