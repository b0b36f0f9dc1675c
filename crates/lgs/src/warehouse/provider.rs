//! How a Delta table is seen by a session: a Parquet listing of the files of its
//! current snapshot, or for a partitioned table one scan of its files with the
//! partition values the log gives them ([`SnapshotTable`], which prunes files by
//! a filter on partition columns at planning time).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::datasource::empty::EmptyTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;

use crate::error::{LgsError, QueryContext, Result};
use crate::schema::{REJECTED_TABLE, RETAIL_TABLE, rejected_schema, retail_schema};

use super::Warehouse;
use super::scan::{SnapshotFile, SnapshotTable};

impl Warehouse {
    /// The table `name` as this warehouse's caller may see it (`None`: not at all),
    /// see [`crate::policy::visible`].
    pub(crate) async fn visible_provider(
        &self,
        ctx: &SessionContext,
        name: &str,
        table: &DeltaTable,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        let Some(role) = self.access().role() else {
            return self.provider(ctx, name, table).await.map(Some);
        };
        if !role.may_read(name) {
            return Ok(None);
        }
        let raw = self.provider_sealed(ctx, name, table, true).await?;
        crate::policy::visible(ctx, self.access(), name, raw)
    }

    /// The table `name` as its files hold it (no policy applied): for lgs's own
    /// maintenance, never for a caller's session.
    pub(crate) async fn provider(
        &self,
        ctx: &SessionContext,
        name: &str,
        table: &DeltaTable,
    ) -> Result<Arc<dyn TableProvider>> {
        self.provider_sealed(ctx, name, table, false).await
    }

    /// [`Warehouse::provider`], its file scans [`crate::policy::guard::sealed`] when
    /// `seal`.
    async fn provider_sealed(
        &self,
        ctx: &SessionContext,
        name: &str,
        table: &DeltaTable,
        seal: bool,
    ) -> Result<Arc<dyn TableProvider>> {
        let delta_err = |e| LgsError::delta(name, e);
        self.register_store(ctx);
        super::integrity::check_files(name, table).await?;
        super::integrity::check_key(name, table, self.keyring()).await?;
        let snapshot = table.snapshot().map_err(delta_err)?;
        // The rows of each file, for the progress of the session's queries.
        if let Some(rows) = crate::progress::FileRows::of(ctx.state_ref().read().config()) {
            for file in snapshot.log_data() {
                if let Some(n) = file.num_records() {
                    rows.record(file.object_store_path().as_ref(), n as u64);
                }
            }
        }
        let schema = match name {
            RETAIL_TABLE => retail_schema(),
            REJECTED_TABLE => rejected_schema(),
            _ => snapshot.snapshot().arrow_schema(),
        };
        let schema = as_read(ctx, schema);
        let partition_columns: Vec<String> = snapshot.metadata().partition_columns().to_vec();
        let provider: Arc<dyn TableProvider> = if partition_columns.is_empty() {
            let uris: Vec<String> = table.get_file_uris().map_err(delta_err)?.collect();
            listing(ctx, uris, schema)?
        } else {
            // Delta keeps partition values in the log, not in the files' paths: one
            // scan of every file with the values the log gives it (see
            // [`SnapshotTable`]).
            let log_store = table.log_store();
            let files = snapshot
                .log_data()
                .into_iter()
                .map(|file| SnapshotFile::of(&file, log_store.as_ref(), &partition_columns))
                .collect();
            Arc::new(
                SnapshotTable::try_new(schema, partition_columns, files)
                    .context("reading the partitions of the table")?,
            )
        };
        Ok(if seal {
            crate::policy::guard::sealed(provider)
        } else {
            provider
        })
    }
}

/// A Parquet listing of exactly these files of a table whose schema is `schema`,
/// as `ctx` reads it.
pub(crate) fn files_provider(
    ctx: &SessionContext,
    uris: Vec<String>,
    schema: SchemaRef,
) -> Result<Arc<dyn TableProvider>> {
    listing(ctx, uris, as_read(ctx, schema))
}

/// `schema` as `ctx` reads Parquet files of it (strings as views, when it does).
fn as_read(ctx: &SessionContext, schema: SchemaRef) -> SchemaRef {
    if ctx
        .state()
        .config()
        .options()
        .execution
        .parquet
        .schema_force_view_types
    {
        with_view_types(&schema)
    } else {
        schema
    }
}

/// A Parquet listing of exactly these files, decrypted with the keys registered in
/// `ctx` (see [`crate::crypt`]).
fn listing(
    ctx: &SessionContext,
    uris: Vec<String>,
    schema: SchemaRef,
) -> Result<Arc<dyn TableProvider>> {
    if uris.is_empty() {
        return Ok(Arc::new(EmptyTable::new(schema)));
    }
    let urls = uris
        .iter()
        .map(ListingTableUrl::parse)
        .collect::<datafusion::error::Result<Vec<_>>>()
        .context("listing table files")?;
    let format =
        ParquetFormat::default().with_options(crate::crypt::parquet_options(&ctx.runtime_env()));
    let options = ListingOptions::new(Arc::new(format)).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .with_schema(schema);
    Ok(Arc::new(
        ListingTable::try_new(config).context("building the table scan")?,
    ))
}

/// The schema with `Utf8` columns as `Utf8View`, as DataFusion reads Parquet strings.
fn with_view_types(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 => {
                f.as_ref().clone().with_data_type(DataType::Utf8View)
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}
