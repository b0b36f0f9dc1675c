//! Writing a query's result as Parquet, one file per partition of the plan that
//! computes it, where that plan runs: the report's intermediates on a cluster
//! (see [`crate::analytics::Intermediates::Files`]).
//!
//! DataFusion's own file sink (`COPY TO`, `DataFrame::write_parquet`) needs its
//! input in a single partition: on a cluster, Ballista then adds a stage that
//! shuffles the whole result once more to one task, which writes every row. A
//! [`ScratchWrite`] keeps the partitions of its input: each task of the stage that
//! computes the result writes its own part, so nothing moves again and the write
//! is spread over every slot. Its output is one row per part: the file written
//! and its rows.
//!
//! Parts are named by the plan partition and a fresh id, and read back by exactly
//! the names the write returned ([`write`]): on Ballista a task runs a slice of a
//! stage's partitions renumbered from 0, so the partition alone does not name a
//! part uniquely, and a task that ran twice (an executor lost after its write)
//! leaves a file that no result names, which is never read.
//!
//! The logical node reaches the scheduler through [`crate::cluster`]'s codecs, is
//! planned by [`QueryPlanner`] (every lgs session, scheduler and executor has it)
//! and the physical node reaches the executors the same way.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use datafusion::arrow::array::{AsArray, RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt64Type};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DFSchema, DFSchemaRef, internal_err};
use datafusion::dataframe::DataFrame;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::parquet_encryption::EncryptionFactory;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{
    Expr, Extension, LogicalPlan, UserDefinedLogicalNode, UserDefinedLogicalNodeCore,
};
use datafusion::parquet::arrow::AsyncArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, ExecutionPlanProperties,
    Partitioning, PlanProperties,
};
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};
use datafusion::prelude::SessionContext;
use futures::StreamExt;

/// The columns of a [`ScratchWrite`]'s output, one row per part: the file's name
/// in the directory and the rows written to it.
const FILE: &str = "file";
const ROWS: &str = "rows";

fn output_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            Field::new(FILE, DataType::Utf8, false),
            Field::new(ROWS, DataType::UInt64, false),
        ]))
    });
    SCHEMA.clone()
}

/// The one input of a scratch write (logical or physical), or an error saying
/// how many it got.
pub(crate) fn one_input<T: Clone>(inputs: &[T]) -> Result<T> {
    match inputs {
        [input] => Ok(input.clone()),
        _ => internal_err!("a scratch write has one input, got {}", inputs.len()),
    }
}

/// Writes the result of `df` under `dir`, each partition by the task that
/// computes it, and returns the parts as a table (their schema read from the
/// first part) with the number of rows written. Files under `dir` that this write
/// did not report are not part of it.
pub async fn write(
    ctx: &SessionContext,
    df: DataFrame,
    dir: &Path,
) -> Result<(Arc<dyn TableProvider>, u64)> {
    let plan = ScratchWrite::plan(df.into_unoptimized_plan(), dir)?;
    let parts = DataFrame::new(ctx.state(), plan).collect().await?;
    let mut files = Vec::new();
    let mut rows = 0;
    let missing = |what| DataFusionError::Internal(format!("a scratch write without {what}"));
    for batch in &parts {
        let counts = batch
            .column_by_name(ROWS)
            .and_then(|c| c.as_primitive_opt::<UInt64Type>())
            .ok_or_else(|| missing("row counts"))?;
        rows += counts.iter().flatten().sum::<u64>();
        let names = batch
            .column_by_name(FILE)
            .and_then(|c| c.as_string_opt::<i32>())
            .ok_or_else(|| missing("file names"))?;
        for name in names.iter().flatten() {
            files.push(ListingTableUrl::parse(
                dir.join(name).display().to_string(),
            )?);
        }
    }
    if files.is_empty() {
        return internal_err!("the scratch write to {} wrote no part", dir.display());
    }
    let format =
        ParquetFormat::default().with_options(crate::crypt::parquet_options(&ctx.runtime_env()));
    let options = ListingOptions::new(Arc::new(format));
    let config = ListingTableConfig::new_with_multi_paths(files)
        .with_listing_options(options)
        .infer_schema(&ctx.state())
        .await?;
    Ok((Arc::new(ListingTable::try_new(config)?), rows))
}

/// Logical plan node: write the result of `input` as Parquet files under `dir`,
/// one per partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScratchWrite {
    input: LogicalPlan,
    dir: String,
    schema: DFSchemaRef,
}

impl ScratchWrite {
    /// A plan writing the result of `input` under `dir` (created if missing).
    pub fn plan(input: LogicalPlan, dir: &Path) -> Result<LogicalPlan> {
        let node = Self::new(input, dir.display().to_string())?;
        Ok(LogicalPlan::Extension(Extension {
            node: Arc::new(node),
        }))
    }

    pub(crate) fn new(input: LogicalPlan, dir: String) -> Result<Self> {
        let schema = Arc::new(DFSchema::try_from(output_schema())?);
        Ok(Self { input, dir, schema })
    }

    pub(crate) fn dir(&self) -> &str {
        &self.dir
    }
}

impl PartialOrd for ScratchWrite {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        // The schema is the same for every node: the directory and input decide.
        match self.dir.partial_cmp(&other.dir) {
            Some(std::cmp::Ordering::Equal) => self.input.partial_cmp(&other.input),
            order => order,
        }
    }
}

impl UserDefinedLogicalNodeCore for ScratchWrite {
    fn name(&self) -> &str {
        "ScratchWrite"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ScratchWrite: dir={}", self.dir)
    }

    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, inputs: Vec<LogicalPlan>) -> Result<Self> {
        Self::new(one_input(&inputs)?, self.dir.clone())
    }
}

/// Physical plan node of a [`ScratchWrite`]: partition `i` of the input is written
/// to `DIR/part-i-ID.parquet`, ID new for every execution (see the module's
/// documentation for why); a part that fails is removed.
#[derive(Debug)]
pub struct ScratchWriteExec {
    input: Arc<dyn ExecutionPlan>,
    dir: PathBuf,
    properties: Arc<PlanProperties>,
}

impl ScratchWriteExec {
    pub fn new(input: Arc<dyn ExecutionPlan>, dir: PathBuf) -> Self {
        let parts = input.output_partitioning().partition_count();
        let properties = PlanProperties::new(
            EquivalenceProperties::new(output_schema()),
            Partitioning::UnknownPartitioning(parts),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        Self {
            input,
            dir,
            properties: Arc::new(properties),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl DisplayAs for ScratchWriteExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ScratchWriteExec: dir={}", self.dir.display())
    }
}

impl ExecutionPlan for ScratchWriteExec {
    fn name(&self) -> &str {
        "ScratchWriteExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(Self::new(one_input(&children)?, self.dir.clone())))
    }

    /// Whatever the partitions are, each is written as it is.
    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::UnspecifiedDistribution]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![false]
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let encryption = crate::crypt::registered(context.runtime_env().as_ref());
        let input = self.input.execute(partition, context)?;
        let name = format!("part-{partition:05}-{}.parquet", uuid::Uuid::new_v4());
        let path = self.dir.join(&name);
        let schema = output_schema();
        let done = {
            let schema = schema.clone();
            async move {
                let rows = write_part(input, &path, encryption).await?;
                Ok(RecordBatch::try_new(
                    schema,
                    vec![
                        Arc::new(StringArray::from(vec![name])),
                        Arc::new(UInt64Array::from(vec![rows])),
                    ],
                )?)
            }
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            schema,
            futures::stream::once(done),
        )))
    }
}

/// Writes every batch of `input` to `path` and returns the rows written. Scratch
/// files are read once or twice and removed: not worth a compressor's time. They
/// are encrypted in an encrypted warehouse (they hold customers' rows too).
async fn write_part(
    mut input: SendableRecordBatchStream,
    path: &Path,
    encryption: Option<Arc<dyn EncryptionFactory>>,
) -> Result<u64> {
    let failed = |e: &dyn fmt::Display| {
        DataFusionError::Execution(format!("writing {}: {e}", path.display()))
    };
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| failed(&e))?;
    }
    let file = tokio::fs::File::create(path)
        .await
        .map_err(|e| failed(&e))?;
    let mut properties = WriterProperties::builder().set_compression(Compression::UNCOMPRESSED);
    if let Some(factory) = encryption {
        let store_path = object_store::path::Path::from(path.display().to_string());
        let options = Default::default();
        let schema = input.schema();
        if let Some(encrypt) = factory
            .get_file_encryption_properties(&options, &schema, &store_path)
            .await?
        {
            properties = properties.with_file_encryption_properties(encrypt);
        }
    }
    let properties = properties.build();
    let mut writer = AsyncArrowWriter::try_new(file, input.schema(), Some(properties))?;
    let mut rows = 0;
    let written = async {
        while let Some(batch) = input.next().await {
            let batch = batch?;
            rows += batch.num_rows() as u64;
            writer.write(&batch).await?;
        }
        writer.close().await?;
        Ok::<_, DataFusionError>(())
    }
    .await;
    if written.is_err() {
        let _ = tokio::fs::remove_file(path).await;
    }
    written.map(|()| rows)
}

/// Plans [`ScratchWrite`] nodes (and leaves every other node to DataFusion).
#[derive(Debug, Default)]
struct ScratchPlanner;

#[async_trait]
impl ExtensionPlanner for ScratchPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session: &dyn Session,
        _planning_ctx: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(write) = node.as_any().downcast_ref::<ScratchWrite>() else {
            return Ok(None);
        };
        Ok(Some(Arc::new(ScratchWriteExec::new(
            one_input(physical_inputs)?,
            PathBuf::from(&write.dir),
        ))))
    }
}

/// DataFusion's physical planner with [`ScratchWrite`] added: the query planner of
/// every local session and of the scheduler.
#[derive(Debug, Default)]
pub struct QueryPlanner;

#[async_trait]
impl datafusion::execution::context::QueryPlanner for QueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(ScratchPlanner)])
            .create_physical_plan(logical_plan, session)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::Int64Type;
    use datafusion::datasource::MemTable;
    use datafusion::execution::SessionStateBuilder;
    use datafusion::physical_plan::displayable;
    use datafusion::prelude::SessionConfig;

    /// A session of `partitions` partitions with lgs's planner and a table `t` of
    /// (k, v) over three input partitions.
    fn session(partitions: usize) -> SessionContext {
        let state = SessionStateBuilder::new()
            .with_config(SessionConfig::new().with_target_partitions(partitions))
            .with_default_features()
            .with_query_planner(Arc::new(QueryPlanner))
            .build();
        let ctx = SessionContext::new_with_state(state);
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("v", DataType::Int64, false),
        ]));
        let part = |from: i64| {
            let keys: Vec<i64> = (from..from + 500).map(|i| i % 97).collect();
            let values: Vec<i64> = (from..from + 500).collect();
            vec![
                RecordBatch::try_new(
                    schema.clone(),
                    vec![
                        Arc::new(Int64Array::from(keys)),
                        Arc::new(Int64Array::from(values)),
                    ],
                )
                .unwrap(),
            ]
        };
        let table =
            MemTable::try_new(schema.clone(), vec![part(0), part(500), part(1000)]).unwrap();
        ctx.register_table("t", Arc::new(table)).unwrap();
        ctx
    }

    async fn sorted_pairs(df: DataFrame) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        for b in df.collect().await.unwrap() {
            let k = b.column_by_name("k").unwrap().as_primitive::<Int64Type>();
            let s = b.column_by_name("s").unwrap().as_primitive::<Int64Type>();
            out.extend(k.values().iter().copied().zip(s.values().iter().copied()));
        }
        out.sort();
        out
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        files
    }

    const SUMS: &str = "SELECT k, sum(v) AS s FROM t GROUP BY k";

    /// The write keeps the partitions of the aggregation under it: no stage of one
    /// partition is added, one file per partition is written, and the parts read
    /// back give the query's result exactly.
    #[tokio::test]
    async fn each_partition_is_written_by_itself_and_reads_back_whole() {
        let ctx = session(4);
        let want = sorted_pairs(ctx.sql(SUMS).await.unwrap()).await;
        assert_eq!(want.len(), 97);

        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().join("sums");
        let input = ctx.sql(SUMS).await.unwrap().into_unoptimized_plan();
        let write_plan = DataFrame::new(ctx.state(), ScratchWrite::plan(input, &dir).unwrap());
        let plan = write_plan.create_physical_plan().await.unwrap();
        let shown = displayable(plan.as_ref()).indent(false).to_string();
        assert!(shown.starts_with("ScratchWriteExec"), "{shown}");
        assert!(!shown.contains("CoalescePartitionsExec"), "{shown}");
        assert_eq!(plan.output_partitioning().partition_count(), 4, "{shown}");

        let (table, rows) = write(&ctx, ctx.sql(SUMS).await.unwrap(), &dir)
            .await
            .unwrap();
        assert_eq!(rows, want.len() as u64);
        let files = files_in(&dir);
        assert_eq!(files.len(), 4, "{files:?}");
        for (i, file) in files.iter().enumerate() {
            assert!(file.starts_with(&format!("part-{i:05}-")), "{files:?}");
            assert!(file.ends_with(".parquet"), "{files:?}");
        }
        ctx.register_table("back", table).unwrap();
        let back = sorted_pairs(ctx.sql("SELECT k, s FROM back").await.unwrap()).await;
        assert_eq!(back, want);
    }

    /// Two writes whose parts have the same partition number (as two Ballista
    /// tasks of one stage have: each runs its slice from partition 0) keep both
    /// parts, and each reads back only its own: a file beside them that no write
    /// reported (left by a task that ran twice) is not read.
    #[tokio::test]
    async fn parts_numbered_alike_are_all_kept_and_only_reported_parts_are_read() {
        let ctx = session(1);
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().join("sums");
        let low = format!("SELECT * FROM ({SUMS}) WHERE k < 50");
        let high = format!("SELECT * FROM ({SUMS}) WHERE k >= 50");
        let (first, _) = write(&ctx, ctx.sql(&low).await.unwrap(), &dir)
            .await
            .unwrap();
        let [part] = <[String; 1]>::try_from(files_in(&dir)).unwrap();
        std::fs::copy(dir.join(&part), dir.join("part-00000-stray.parquet")).unwrap();
        let (second, _) = write(&ctx, ctx.sql(&high).await.unwrap(), &dir)
            .await
            .unwrap();
        let files = files_in(&dir);
        assert_eq!(files.len(), 3, "{files:?}");
        assert!(
            files.iter().all(|f| f.starts_with("part-00000-")),
            "{files:?}"
        );

        for (table, sql) in [(first, &low), (second, &high)] {
            ctx.register_table("back", table).unwrap();
            let back = sorted_pairs(ctx.sql("SELECT k, s FROM back").await.unwrap()).await;
            assert_eq!(back, sorted_pairs(ctx.sql(sql).await.unwrap()).await);
            ctx.deregister_table("back").unwrap();
        }
    }

    /// A part that cannot be written fails the query naming the file, and leaves no
    /// file behind.
    #[tokio::test]
    async fn a_part_that_cannot_be_written_is_a_clear_error() {
        let ctx = session(2);
        let scratch = tempfile::tempdir().unwrap();
        // The directory to write into is a file.
        let dir = scratch.path().join("taken");
        std::fs::write(&dir, b"not a directory").unwrap();
        let error = write(&ctx, ctx.sql(SUMS).await.unwrap(), &dir)
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains(&dir.display().to_string()), "{error}");
        assert_eq!(files_in(scratch.path()), ["taken"]);
    }
}
