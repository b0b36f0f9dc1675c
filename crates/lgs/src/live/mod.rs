//! Live analytics: the report's pass over the lines
//! ([`INVOICE_LINES`](crate::analytics::INVOICE_LINES)) kept up to
//! date from each commit of `retail`, so that bringing the report up to date costs
//! time in proportion to the new lines, not the table.
//!
//! The state is a Delta table of its own, `_lgs_live/retail` in the warehouse (not
//! one of its tables: `lgs tables` and SQL do not see it), whose rows have the
//! pass's shape: one per (month, day, invoice, customer, cancellation) with its net
//! amount, eligible amount and last timestamp. A [`refresh`] reads the commits of
//! `retail` after the version the state covers, computes the pass over the files
//! they added, and appends its rows in one commit that also records the version now
//! covered (an application transaction, as a stream records its position: two
//! refreshes at once cannot both add the same commits). The pass's aggregates are
//! sums and a maximum, so the state's rows of a key add up to the pass over every
//! line: a report reads the state grouped again ([`attach`]), and equals the full
//! recomputation. A report does not write: what the state does not cover yet it
//! computes from the new files beside the state.
//!
//! A commit that removed rows (an overwrite, a restore, a repair) or changed the
//! schema, a commit no longer in the log, or a `retail` created anew makes the next
//! refresh rebuild the state from the whole table; a compaction (`lgs optimize`)
//! changes no row and is passed over. When the state has [`COMPACT_FILES`] files, a
//! refresh rewrites it grouped (in proportion to the state: about one row per
//! invoice, a twentieth of the lines), and deletes the files of rewrites more than
//! an hour old.

pub mod summary;

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::empty::EmptyTable;
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use deltalake::kernel::Action;
use serde::Serialize;

use crate::analytics::{Staging, invoice_lines_sql_over};
use crate::error::{LgsError, QueryContext, Result};
use crate::facts::{CommitFacts, StreamPosition};
use crate::schema::{RETAIL_TABLE, retail_schema};
use crate::warehouse::{Warehouse, files_provider, position_in, read_commits};
use crate::write::{RACE_ATTEMPTS, TableWriter};

/// Where the live state of `retail` is kept in the warehouse.
pub const STATE_TABLE: &str = "_lgs_live/retail";

/// The state's files at which a refresh rewrites it grouped.
pub const COMPACT_FILES: usize = 32;

/// How long the files a rewrite of the state replaced are kept for the readers
/// that may still be on them (then a refresh deletes them).
const STATE_RETAIN: Duration = Duration::from_secs(3600);

/// Names under which a session sees the state and the lines it does not cover yet.
const STATE_SCAN: &str = "lgs_live_state";
const NEW_SCAN: &str = "lgs_live_new";

/// What a refresh did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// The state already covered every commit.
    Current,
    /// It added the pass over the files that `commits` commits added.
    Added { commits: u64, files: usize },
    /// It rebuilt the state from the whole table, for this reason.
    Rebuilt { reason: String },
}

/// A refresh's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Refreshed {
    /// The `retail` version the state now covers.
    pub version: u64,
    #[serde(flatten)]
    pub change: Change,
    /// Rows the refresh wrote to the state.
    pub rows_written: u64,
    /// Whether it rewrote the state grouped.
    pub compacted: bool,
    pub seconds: f64,
}

/// What a report reads of the state ([`attach`]).
#[derive(Debug, Clone, Serialize)]
pub struct Attached {
    /// The `retail` version the state covers.
    pub covered: u64,
    /// The version the report reads.
    pub version: u64,
    /// Files of the commits in between, read beside the state.
    pub new_files: usize,
}

/// What the state lacks to cover a version of `retail`.
enum Backlog {
    Current,
    /// The files added by `commits` commits since the covered version.
    Added {
        commits: u64,
        uris: Vec<String>,
    },
    Rebuild(String),
}

/// Brings the live state up to `retail`'s current version, creating it on the first
/// call (see the module's documentation). `None` when there is no `retail` table.
pub async fn refresh(warehouse: &Warehouse) -> Result<Option<Refreshed>> {
    let Some(retail) = warehouse.open(RETAIL_TABLE).await? else {
        return Ok(None);
    };
    // A refresh that lost the race to another one decides again on what it wrote
    // (the loop of `write::retrying_races`, whose async closure would make the
    // dashboard's spawned task not `Send`).
    let mut tries = 1;
    loop {
        match refresh_to(warehouse, &retail).await {
            Err(LgsError::ConcurrentWrite { .. }) if tries < RACE_ATTEMPTS => tries += 1,
            done => return done.map(Some),
        }
    }
}

/// After commits to `retail`: brings the live state up to date when the warehouse
/// keeps one. A failure is logged, not returned: the commits stand, and the next
/// refresh (or a report, beside the state) covers them.
pub async fn follow(warehouse: &Warehouse) {
    match exists(warehouse).await {
        Ok(true) => keep(warehouse).await,
        Ok(false) => {}
        Err(e) => tracing::warn!("the live state was not brought up to date: {e}"),
    }
}

/// [`follow`] for a caller that knows the warehouse keeps a live state (a stream,
/// after each batch).
pub async fn keep(warehouse: &Warehouse) {
    if let Err(e) = refresh(warehouse).await {
        tracing::warn!("the live state was not brought up to date: {e}");
    }
}

/// Whether the warehouse keeps a live state.
pub async fn exists(warehouse: &Warehouse) -> Result<bool> {
    Ok(warehouse.open(STATE_TABLE).await?.is_some())
}

async fn refresh_to(warehouse: &Warehouse, retail: &DeltaTable) -> Result<Refreshed> {
    let started = Instant::now();
    let version = retail.version().unwrap_or(0);
    let app_id = app_id(retail)?;
    let state = warehouse.open(STATE_TABLE).await?;
    let covered = match &state {
        Some(state) => position_in(STATE_TABLE, state, &app_id).await?,
        None => None,
    };
    let ctx = SessionContext::new();
    warehouse.register_store(&ctx);
    // The state is derived data: one with a file missing or damaged is rebuilt.
    let damaged = match &state {
        Some(state) => match warehouse.provider(&ctx, STATE_TABLE, state).await {
            Ok(provider) => {
                ctx.register_table(STATE_SCAN, provider)
                    .context("registering the live state")?;
                None
            }
            Err(e) => Some(Backlog::Rebuild(format!("the state is damaged: {e}"))),
        },
        None => None,
    };
    let backlog = match damaged {
        Some(rebuild) => rebuild,
        None => backlog(retail, covered).await?,
    };
    let (change, overwrite) = match backlog {
        Backlog::Current => {
            return Ok(Refreshed {
                version,
                change: Change::Current,
                rows_written: 0,
                compacted: false,
                seconds: started.elapsed().as_secs_f64(),
            });
        }
        Backlog::Added { commits, uris } => {
            let files = uris.len();
            register_new(&ctx, uris)?;
            (Change::Added { commits, files }, false)
        }
        Backlog::Rebuild(reason) => {
            let provider = warehouse.provider(&ctx, RETAIL_TABLE, retail).await?;
            ctx.register_table(NEW_SCAN, provider)
                .context("registering the live state's input")?;
            (Change::Rebuilt { reason }, true)
        }
    };
    let schema = state_schema(&ctx).await?;
    // Many small appends: rewrite the state grouped, with the new lines.
    let compact = match (&state, overwrite) {
        (Some(state), false) => state_files(state)? + 1 >= COMPACT_FILES,
        _ => false,
    };
    let sql = if compact {
        grouped_sql(&schema)
    } else {
        invoice_lines_sql_over(NEW_SCAN)
    };
    let batches = ctx
        .sql(&sql)
        .await
        .context("computing the live state")?
        .collect()
        .await
        .context("computing the live state")?;
    let facts = CommitFacts {
        rows_written: batches.iter().map(|b| b.num_rows() as u64).sum(),
        stream: Some(StreamPosition {
            app_id,
            after: covered.unwrap_or(0),
            position: version,
        }),
        ..CommitFacts::default()
    };
    let mut writer = TableWriter::new(warehouse, STATE_TABLE, schema.clone(), vec![]);
    for batch in batches {
        writer.write(conform(&batch, &schema)?).await?;
    }
    writer.commit(&facts, overwrite || compact).await?;
    if overwrite || compact {
        // The files of the rewrites before, once no reader can still be on them.
        if let Err(e) = warehouse.vacuum(STATE_TABLE, STATE_RETAIN, false).await {
            tracing::warn!("the live state's replaced files were not deleted: {e}");
        }
    }
    Ok(Refreshed {
        version,
        change,
        rows_written: facts.rows_written,
        compacted: compact,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Points the report of `ctx` (whose `retail` is registered at `version`) at the
/// live state: the pass over the lines becomes the state and the lines of the
/// commits it does not cover yet, grouped again. `None` (and `ctx` unchanged) when
/// the warehouse has no state, or one that cannot serve this version (a rebuild is
/// due, or it covers a later version than a report of the past reads).
///
/// A state that cannot be read (a file missing or damaged) is not attached: the
/// report reads every line, with a warning, and the next refresh rebuilds it.
pub async fn attach(
    warehouse: &Warehouse,
    ctx: &SessionContext,
    version: u64,
) -> Result<Option<Attached>> {
    if warehouse.access().role().is_some() {
        // The state holds every line's figures; a restricted role's report is
        // computed from the lines it sees.
        return Ok(None);
    }
    match attach_state(warehouse, ctx, version).await {
        Err(e) => {
            tracing::warn!("the live state is not read ({e}); reading every line");
            Ok(None)
        }
        attached => attached,
    }
}

async fn attach_state(
    warehouse: &Warehouse,
    ctx: &SessionContext,
    version: u64,
) -> Result<Option<Attached>> {
    let Some(state) = warehouse.open(STATE_TABLE).await? else {
        return Ok(None);
    };
    let Some(mut retail) = warehouse.open(RETAIL_TABLE).await? else {
        return Ok(None);
    };
    if retail.version() != Some(version) {
        retail
            .load_version(version)
            .await
            .map_err(|e| LgsError::delta(RETAIL_TABLE, e))?;
    }
    let covered = position_in(STATE_TABLE, &state, &app_id(&retail)?).await?;
    let uris = match backlog(&retail, covered).await? {
        Backlog::Current => vec![],
        Backlog::Added { uris, .. } => uris,
        Backlog::Rebuild(_) => return Ok(None),
    };
    let new_files = uris.len();
    register_new(ctx, uris)?;
    let provider = warehouse.provider(ctx, STATE_TABLE, &state).await?;
    ctx.register_table(STATE_SCAN, provider)
        .context("registering the live state")?;
    let mut staging = Staging::of(ctx);
    staging.invoice_lines = Some(grouped_sql(&state_schema(ctx).await?));
    staging.set(ctx);
    Ok(Some(Attached {
        covered: covered.unwrap_or(0),
        version,
        new_files,
    }))
}

/// The application transaction that records the `retail` version the state covers:
/// one per `retail` table (a table created anew has another id).
fn app_id(retail: &DeltaTable) -> Result<String> {
    let snapshot = retail
        .snapshot()
        .map_err(|e| LgsError::delta(RETAIL_TABLE, e))?;
    let metadata = serde_json::to_value(snapshot.metadata()).unwrap_or_default();
    let id = metadata["id"].as_str().unwrap_or_default();
    Ok(format!("lgs-live-{id}"))
}

/// What the state lacks to cover `retail`'s loaded version, when it covers
/// `covered`.
async fn backlog(retail: &DeltaTable, covered: Option<u64>) -> Result<Backlog> {
    let version = retail.version().unwrap_or(0);
    let Some(covered) = covered else {
        return Ok(Backlog::Rebuild(
            "there is no state of this table yet".into(),
        ));
    };
    if covered == version {
        return Ok(Backlog::Current);
    }
    if covered > version {
        return Ok(Backlog::Rebuild(format!(
            "the state covers version {covered}, later than {version}"
        )));
    }
    let commits = read_commits(RETAIL_TABLE, retail, covered + 1).await?;
    if commits.len() as u64 != version - covered {
        return Ok(Backlog::Rebuild(format!(
            "commits after version {covered} are no longer in the log"
        )));
    }
    let log_store = retail.log_store();
    let mut uris = Vec::new();
    for (at, actions) in commits {
        for action in actions {
            match action {
                Action::Add(add) if add.data_change => {
                    let Ok(path) = object_store::path::Path::from_url_path(&add.path) else {
                        return Ok(Backlog::Rebuild(format!("version {at} adds {}", add.path)));
                    };
                    uris.push(log_store.to_uri(&path));
                }
                Action::Remove(remove) if remove.data_change => {
                    return Ok(Backlog::Rebuild(format!("version {at} removed rows")));
                }
                Action::Metadata(_) => {
                    return Ok(Backlog::Rebuild(format!("version {at} changed the schema")));
                }
                _ => {}
            }
        }
    }
    Ok(Backlog::Added {
        commits: version - covered,
        uris,
    })
}

/// Registers the files `uris` of `retail` as [`NEW_SCAN`] in `ctx`.
fn register_new(ctx: &SessionContext, uris: Vec<String>) -> Result<()> {
    let provider = files_provider(ctx, uris, retail_schema())?;
    ctx.register_table(NEW_SCAN, provider)
        .context("registering the new lines")?;
    Ok(())
}

/// The number of files of the state's loaded version.
fn state_files(state: &DeltaTable) -> Result<usize> {
    let snapshot = state
        .snapshot()
        .map_err(|e| LgsError::delta(STATE_TABLE, e))?;
    Ok(snapshot.log_data().into_iter().count())
}

/// The schema of the state: the pass's, with plain strings and every column
/// nullable (what the Delta writer takes).
async fn state_schema(ctx: &SessionContext) -> Result<SchemaRef> {
    // A session of its own (same settings): `ctx` may have a `retail` already.
    let probe = SessionContext::new_with_config(ctx.copied_config());
    probe
        .register_table(NEW_SCAN, Arc::new(EmptyTable::new(retail_schema())))
        .context("planning the live state")?;
    let df = probe
        .sql(&invoice_lines_sql_over(NEW_SCAN))
        .await
        .context("planning the live state")?;
    let fields: Vec<Field> = df
        .schema()
        .as_arrow()
        .fields()
        .iter()
        .map(|f| {
            let data_type = match f.data_type() {
                DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
                other => other.clone(),
            };
            Field::new(f.name(), data_type, true)
        })
        .collect();
    Ok(Arc::new(Schema::new(fields)))
}

/// The state and the new lines' pass, grouped again into the pass over every line
/// (sums of sums and the maximum of maxima, in the pass's own types).
fn grouped_sql(schema: &SchemaRef) -> String {
    let typed = |column: &str| match schema.field_with_name(column).map(|f| f.data_type()) {
        Ok(DataType::Decimal128(p, s)) => format!("CAST(sum({column}) AS DECIMAL({p}, {s}))"),
        _ => format!("sum({column})"),
    };
    let columns = "month, day, invoice_no, customer_id, is_cancellation, last_date, amount, \
                   eligible_amount";
    format!(
        "SELECT month, day, invoice_no, customer_id, is_cancellation, \
           max(last_date) AS last_date, {amount} AS amount, {eligible} AS eligible_amount \
         FROM (SELECT {columns} FROM {STATE_SCAN} \
               UNION ALL SELECT {columns} FROM ({pass})) \
         GROUP BY month, day, invoice_no, customer_id, is_cancellation",
        amount = typed("amount"),
        eligible = typed("eligible_amount"),
        pass = invoice_lines_sql_over(NEW_SCAN),
    )
}

/// `batch` in the state's schema (plain strings).
fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| cast(column, field.data_type()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| LgsError::query("writing the live state", e.into()))?;
    RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| LgsError::query("writing the live state", e.into()))
}
