//! A Delta table's snapshot as one Parquet scan (partitioned tables, and the files
//! a rewrite reads).
//!
//! Delta keeps partition values in its log, not in the files' paths or contents.
//! [`SnapshotTable`] holds what the log says of each file (its URI, size and
//! partition values) and plans one `DataSourceExec` over all of them, the
//! partition values attached to each file as DataFusion's listing tables attach
//! the values they parse from paths. A filter on partition columns alone is
//! evaluated here against each file's values, so only the files it keeps are
//! read and the filter is exact; every other filter stays above the scan (and is
//! pushed into the Parquet reader by DataFusion's physical optimiser).
//!
//! One scan plans in a few milliseconds where a union of one listing per
//! partition took tens (issue 31), and it crosses the wire to a cluster's
//! scheduler as the list of files ([`SnapshotTable::encode`]).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{FieldRef, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DFSchema, Result as DfResult, ScalarValue, plan_err, project_schema};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::helpers::expr_applicable_for_cols;
use datafusion::datasource::listing::{ListingTableUrl, PartitionedFile};
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use deltalake::kernel::LogicalFileView;
use deltalake::logstore::LogStore;
use serde::{Deserialize, Serialize};

/// One data file of a snapshot, as the Delta log records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotFile {
    /// The file's full URI.
    pub uri: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its values of the table's partition columns, in their order, as the log
    /// writes them (`None`: null).
    pub partition: Vec<Option<String>>,
}

impl SnapshotFile {
    /// `file` of the table whose log is `log_store`, partitioned by `partition_columns`.
    pub fn of(
        file: &LogicalFileView,
        log_store: &dyn LogStore,
        partition_columns: &[String],
    ) -> Self {
        let values = file.partition_values_map();
        SnapshotFile {
            uri: log_store.to_uri(&file.object_store_path()),
            size: file.size().max(0) as u64,
            partition: partition_columns
                .iter()
                .map(|c| values.get(c).cloned().flatten())
                .collect(),
        }
    }
}

/// What [`SnapshotTable::encode`] writes after its tag.
#[derive(Serialize, Deserialize)]
struct Encoded {
    partition_columns: Vec<String>,
    files: Vec<SnapshotFile>,
}

/// A table's snapshot (partitioned or not), scanned as one set of Parquet files.
#[derive(Debug)]
pub struct SnapshotTable {
    /// The table's columns as read, in the table's order.
    schema: SchemaRef,
    partition_columns: Vec<String>,
    files: Vec<SnapshotFile>,
    /// Each file's partition values, typed as the schema says.
    values: Vec<Vec<ScalarValue>>,
    /// The columns that are in the files, in the table's order.
    file_schema: SchemaRef,
    /// The partition columns' fields, in `partition_columns`' order.
    partition_fields: Vec<FieldRef>,
    /// For each column of `schema`, its index in the scan's columns (the file's
    /// columns, then the partition columns).
    scan_index: Vec<usize>,
}

/// What an encoded [`SnapshotTable`] starts with (then JSON). Ballista's own
/// encodings are Protobuf messages, which never start with a zero byte.
const TAG: &[u8] = b"\0lgs.snapshot\0";

impl SnapshotTable {
    /// The snapshot of a table of `schema` (as read) partitioned by
    /// `partition_columns`, made of `files`.
    pub fn try_new(
        schema: SchemaRef,
        partition_columns: Vec<String>,
        files: Vec<SnapshotFile>,
    ) -> DfResult<Self> {
        let mut partition_fields = Vec::with_capacity(partition_columns.len());
        for name in &partition_columns {
            partition_fields.push(Arc::new(schema.field_with_name(name)?.clone()));
        }
        let file_fields: Vec<FieldRef> = schema
            .fields()
            .iter()
            .filter(|f| !partition_columns.contains(f.name()))
            .cloned()
            .collect();
        let scan_index = schema
            .fields()
            .iter()
            .map(
                |f| match partition_columns.iter().position(|c| c == f.name()) {
                    Some(i) => file_fields.len() + i,
                    None => file_fields
                        .iter()
                        .position(|g| g.name() == f.name())
                        .expect("a column not partitioned is in the files"),
                },
            )
            .collect();
        let values = files
            .iter()
            .map(|file| {
                if file.partition.len() != partition_fields.len() {
                    return plan_err!(
                        "{} has {} partition values for {} partition columns",
                        file.uri,
                        file.partition.len(),
                        partition_fields.len()
                    );
                }
                file.partition
                    .iter()
                    .zip(&partition_fields)
                    .map(|(value, field)| match value {
                        Some(v) => ScalarValue::try_from_string(v.clone(), field.data_type()),
                        None => ScalarValue::try_from(field.data_type()),
                    })
                    .collect()
            })
            .collect::<DfResult<Vec<Vec<ScalarValue>>>>()?;
        Ok(Self {
            file_schema: Arc::new(Schema::new(file_fields)),
            schema,
            partition_columns,
            files,
            values,
            partition_fields,
            scan_index,
        })
    }

    /// Writes this table for a cluster's scheduler (its schema travels apart).
    pub fn encode(&self, buf: &mut Vec<u8>) -> DfResult<()> {
        buf.extend_from_slice(TAG);
        let encoded = Encoded {
            partition_columns: self.partition_columns.clone(),
            files: self.files.clone(),
        };
        serde_json::to_writer(buf, &encoded)
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))
    }

    /// The table [`SnapshotTable::encode`] wrote to `buf`, its schema `schema`, or
    /// `None` when `buf` holds another table.
    pub fn decode(buf: &[u8], schema: SchemaRef) -> DfResult<Option<Self>> {
        let Some(json) = buf.strip_prefix(TAG) else {
            return Ok(None);
        };
        let encoded: Encoded = serde_json::from_slice(json)
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        Self::try_new(schema, encoded.partition_columns, encoded.files).map(Some)
    }

    fn partition_names(&self) -> Vec<&str> {
        self.partition_columns.iter().map(String::as_str).collect()
    }

    /// The indices of the files whose partition values pass every filter in
    /// `filters` that reads partition columns only.
    fn kept(&self, state: &dyn Session, filters: &[Expr]) -> DfResult<Vec<usize>> {
        let names = self.partition_names();
        let on_partitions: Vec<Expr> = filters
            .iter()
            .filter(|f| expr_applicable_for_cols(&names, f))
            .cloned()
            .collect();
        let all = (0..self.files.len()).collect();
        let Some(predicate) = conjunction(on_partitions) else {
            return Ok(all);
        };
        if self.files.is_empty() {
            return Ok(all);
        }
        let schema = Arc::new(Schema::new(self.partition_fields.clone()));
        let columns = (0..self.partition_fields.len())
            .map(|c| ScalarValue::iter_to_array(self.values.iter().map(|v| v[c].clone())))
            .collect::<DfResult<Vec<ArrayRef>>>()?;
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
        let df_schema = DFSchema::try_from(schema)?;
        let predicate = state.create_physical_expr(predicate, &df_schema)?;
        let verdict = predicate.evaluate(&batch)?.into_array(batch.num_rows())?;
        let Some(verdict) = verdict.as_boolean_opt() else {
            return plan_err!("a filter on partition columns is not true or false");
        };
        Ok((0..self.files.len())
            .filter(|&i| verdict.is_valid(i) && verdict.value(i))
            .collect())
    }
}

#[async_trait]
impl TableProvider for SnapshotTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        let names = self.partition_names();
        Ok(filters
            .iter()
            .map(|f| {
                if expr_applicable_for_cols(&names, f) {
                    TableProviderFilterPushDown::Exact
                } else {
                    TableProviderFilterPushDown::Inexact
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let kept = self.kept(state, filters)?;
        let Some(&first) = kept.first() else {
            let schema = project_schema(&self.schema, projection)?;
            return Ok(Arc::new(EmptyExec::new(schema)));
        };
        let object_store_url = ListingTableUrl::parse(&self.files[first].uri)?.object_store();
        let mut files = Vec::with_capacity(kept.len());
        for i in kept {
            let file = &self.files[i];
            let url = ListingTableUrl::parse(&file.uri)?;
            files.push(
                PartitionedFile::new(url.prefix().to_string(), file.size)
                    .with_partition_values(self.values[i].clone()),
            );
        }
        let groups = FileGroup::new(files).split_files(state.config().target_partitions());
        let projection: Vec<usize> = match projection {
            Some(columns) => columns.iter().map(|&c| self.scan_index[c]).collect(),
            None => self.scan_index.clone(),
        };
        let format = ParquetFormat::default()
            .with_options(crate::crypt::parquet_options(state.runtime_env()));
        let table_schema = TableSchema::builder(self.file_schema.clone())
            .with_table_partition_cols(self.partition_fields.clone())
            .build();
        let config = FileScanConfigBuilder::new(object_store_url, format.file_source(table_schema))
            .with_file_groups(groups)
            .with_projection_indices(Some(projection))?
            .with_limit(limit)
            .build();
        format.create_physical_plan(state, config).await
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        _input: Arc<dyn ExecutionPlan>,
        _op: InsertOp,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        crate::policy::guard::refuse_insert()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Float64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int64Type};
    use datafusion::dataframe::DataFrameWriteOptions;
    use datafusion::prelude::SessionContext;

    fn field(name: &str, data_type: DataType) -> Field {
        Field::new(name, data_type, true)
    }

    /// Writes one Parquet file of `values` (column `v`) to `path`.
    async fn write(ctx: &SessionContext, path: &std::path::Path, values: Vec<f64>) -> u64 {
        let schema = Arc::new(Schema::new(vec![field("v", DataType::Float64)]));
        let batch =
            RecordBatch::try_new(schema, vec![Arc::new(Float64Array::from(values))]).unwrap();
        let dir = path.with_extension("dir");
        ctx.read_batch(batch)
            .unwrap()
            .write_parquet(
                dir.to_str().unwrap(),
                DataFrameWriteOptions::new().with_single_file_output(true),
                None,
            )
            .await
            .unwrap();
        // A single-file write to a directory name makes that directory a file.
        std::fs::rename(&dir, path).unwrap();
        std::fs::metadata(path).unwrap().len()
    }

    /// A table of three files: country (the partition column, first in the table
    /// and null for the third file), year (a partition column, last) and v.
    async fn three_files(ctx: &SessionContext) -> (tempfile::TempDir, SnapshotTable) {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        for (name, values, partition) in [
            ("a", vec![1.0, 2.0], [Some("FR"), Some("2010")]),
            ("b", vec![10.0], [Some("UK"), Some("2011")]),
            ("c", vec![100.0, 200.0, 300.0], [None, Some("2011")]),
        ] {
            let path = dir.path().join(format!("{name}.parquet"));
            let size = write(ctx, &path, values).await;
            files.push(SnapshotFile {
                uri: format!("file://{}", path.display()),
                size,
                partition: partition.iter().map(|v| v.map(String::from)).collect(),
            });
        }
        let schema = Arc::new(Schema::new(vec![
            field("country", DataType::Utf8),
            field("v", DataType::Float64),
            field("year", DataType::Int64),
        ]));
        let table = SnapshotTable::try_new(
            schema,
            vec!["country".to_string(), "year".to_string()],
            files,
        )
        .unwrap();
        (dir, table)
    }

    async fn rows(ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
        ctx.sql(sql).await.unwrap().collect().await.unwrap()
    }

    #[tokio::test]
    async fn reads_every_file_with_its_partition_values_in_the_tables_order() {
        let ctx = SessionContext::new();
        let (_dir, table) = three_files(&ctx).await;
        ctx.register_table("t", Arc::new(table)).unwrap();
        let batches = rows(&ctx, "SELECT country, v, year FROM t ORDER BY v").await;
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        let expected = "\
+---------+-------+------+
| country | v     | year |
+---------+-------+------+
| FR      | 1.0   | 2010 |
| FR      | 2.0   | 2010 |
| UK      | 10.0  | 2011 |
|         | 100.0 | 2011 |
|         | 200.0 | 2011 |
|         | 300.0 | 2011 |
+---------+-------+------+";
        assert_eq!(text, expected);
        // SELECT * gives the table's own column order.
        let batches = rows(&ctx, "SELECT * FROM t LIMIT 1").await;
        let schema = batches[0].schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["country", "v", "year"]);
    }

    #[tokio::test]
    async fn a_filter_on_partition_columns_reads_only_the_files_it_keeps() {
        let ctx = SessionContext::new();
        let (_dir, table) = three_files(&ctx).await;
        ctx.register_table("t", Arc::new(table)).unwrap();
        // Hand-computed: UK's one file holds 10; year 2011 holds 10+100+200+300.
        for (sql, sum, files) in [
            (
                "SELECT sum(v) FROM t WHERE country = 'UK'",
                10.0,
                "b.parquet",
            ),
            ("SELECT sum(v) FROM t WHERE year = 2011", 610.0, "b.parquet"),
            (
                "SELECT sum(v) FROM t WHERE country IS NULL",
                600.0,
                "c.parquet",
            ),
            (
                "SELECT sum(v) FROM t WHERE year > 2010 AND v > 150",
                500.0,
                "c.parquet",
            ),
        ] {
            let batches = rows(&ctx, sql).await;
            let got = batches[0].column(0).as_primitive::<Float64Type>().value(0);
            assert_eq!(got, sum, "{sql}");
            let plan = rows(&ctx, &format!("EXPLAIN {sql}")).await;
            let text = datafusion::arrow::util::pretty::pretty_format_batches(&plan)
                .unwrap()
                .to_string();
            assert!(text.contains(files), "{sql}: {text}");
            if sql.contains("country = 'UK'") {
                assert!(
                    !text.contains("a.parquet") && !text.contains("c.parquet"),
                    "{text}"
                );
            }
        }
        // No file kept: an empty answer, not an error.
        let batches = rows(&ctx, "SELECT count(*) FROM t WHERE country = 'DE'").await;
        let count = batches[0].column(0).as_primitive::<Int64Type>().value(0);
        assert_eq!(count, 0);
    }

    #[tokio::test]
    async fn encodes_and_decodes_its_files() {
        let ctx = SessionContext::new();
        let (_dir, table) = three_files(&ctx).await;
        let mut buf = Vec::new();
        table.encode(&mut buf).unwrap();
        let back = SnapshotTable::decode(&buf, table.schema())
            .unwrap()
            .unwrap();
        assert_eq!(back.files, table.files);
        assert_eq!(back.values, table.values);
        assert!(
            SnapshotTable::decode(b"\x0aother", table.schema())
                .unwrap()
                .is_none()
        );
    }
}
