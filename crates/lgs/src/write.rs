//! Writing a warehouse table: batches streamed to Parquet files, then one Delta
//! commit with lgs's facts. Every Delta write of lgs goes through here (ingest, its
//! log and quarantine, `lgs report --save`), so each is atomic the same way.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};

use crate::error::{LgsError, Result};
use crate::facts::CommitFacts;
use crate::warehouse::Warehouse;

/// Streams batches of one table to Parquet files, to be committed at the end. The
/// table directory is touched only when the first batch arrives.
pub struct TableWriter<'a> {
    warehouse: &'a Warehouse,
    name: String,
    schema: SchemaRef,
    partitions: Vec<String>,
    writer: Option<RecordBatchWriter>,
    /// Where the table's files go, once the writer is open.
    location: String,
    rows: u64,
    /// The table's version when the caller decided what to write (`Some(None)`: there
    /// was no table), if the commit must check what was committed since.
    decided_at: Option<Option<u64>>,
}

impl<'a> TableWriter<'a> {
    pub fn new(
        warehouse: &'a Warehouse,
        name: &str,
        schema: SchemaRef,
        partitions: Vec<String>,
    ) -> Self {
        TableWriter {
            warehouse,
            name: name.to_string(),
            schema,
            partitions,
            writer: None,
            location: String::new(),
            rows: 0,
            decided_at: None,
        }
    }

    /// The writer of content chosen from the table's commits up to `version` (`None`:
    /// there was no table; read it before the commits). The commit fails with
    /// [`LgsError::ConcurrentWrite`] if a commit since claims the same content (see
    /// [`CommitFacts::claims`]): the check at commit time that makes concurrent runs
    /// load each content once.
    pub fn decided_at(mut self, version: Option<u64>) -> Self {
        self.decided_at = Some(version);
        self
    }

    fn open(&mut self) -> Result<RecordBatchWriter> {
        let url = self.warehouse.prepare_table_dir(&self.name)?;
        self.location = match url.to_file_path() {
            Ok(path) => path.display().to_string(),
            Err(()) => url.to_string(),
        };
        let mut properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(128 * 1024));
        for column in crate::schema::columns_without_statistics(&self.schema) {
            properties = properties
                .set_column_statistics_enabled(ColumnPath::from(*column), EnabledStatistics::None);
        }
        if let Some(keyring) = self.warehouse.keyring() {
            properties = properties.with_file_encryption_properties(keyring.encryption()?);
        }
        let properties = properties.build();
        Ok(RecordBatchWriter::try_new(
            url.as_str(),
            self.schema.clone(),
            Some(self.partitions.clone()),
            None,
        )
        .map_err(|e| LgsError::delta(&self.name, e))?
        .with_writer_properties(properties)
        .with_target_file_size(256 * 1024 * 1024))
    }

    pub async fn write(&mut self, batch: RecordBatch) -> Result<()> {
        if self.writer.is_none() {
            self.writer = Some(self.open()?);
        }
        let writer = self.writer.as_mut().expect("opened above");
        self.rows += batch.num_rows() as u64;
        let written = writer.write(batch).await;
        written.map_err(|e| self.write_failed(e))
    }

    fn write_failed(&self, source: deltalake::DeltaTableError) -> LgsError {
        LgsError::WriteFailed {
            table: self.name.clone(),
            location: self.location.clone(),
            source: Box::new(source),
        }
    }

    /// The table written.
    pub fn table(&self) -> &str {
        &self.name
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Drops what was written (nothing is committed).
    pub fn abort(&mut self) {
        if let Some(w) = self.writer.as_mut() {
            w.reset();
        }
    }

    /// Flushes what was written to files and returns them, for a caller that
    /// commits them itself (with other actions). In an encrypted warehouse their
    /// statistics hold counts only ([`crate::crypt::log_stats`]).
    pub async fn finish(&mut self) -> Result<Vec<deltalake::kernel::Add>> {
        let mut adds = match self.writer.as_mut() {
            Some(w) => {
                let flushed = w.flush().await;
                flushed.map_err(|e| self.write_failed(e))?
            }
            None => vec![],
        };
        if self.warehouse.keyring().is_some() {
            for add in &mut adds {
                add.stats = add.stats.as_deref().and_then(crate::crypt::log_stats);
            }
        }
        Ok(adds)
    }

    /// Commits what was written as one new version of the table (replacing its
    /// contents, and its schema when it changed, with `overwrite`); returns it.
    /// If it fails because a concurrent commit won ([`LgsError::ConcurrentWrite`]:
    /// nothing was committed), the files written for it are removed.
    pub async fn commit(&mut self, facts: &CommitFacts, overwrite: bool) -> Result<u64> {
        let adds = self.finish().await?;
        let committed = self
            .warehouse
            .commit(
                &self.name,
                &self.schema,
                &self.partitions,
                adds.clone(),
                facts,
                overwrite,
                self.decided_at,
            )
            .await;
        if let Err(LgsError::ConcurrentWrite { .. }) = committed {
            self.warehouse.remove_uncommitted(&self.name, &adds).await;
        }
        committed
    }
}

/// How many times a write that lost a race to a concurrent run starts again.
pub const RACE_ATTEMPTS: usize = 10;

/// Runs `attempt` again (up to [`RACE_ATTEMPTS`] times in all) while it fails with
/// [`LgsError::ConcurrentWrite`]: a run that lost a race decides again from what the
/// winner committed.
pub async fn retrying_races<T>(mut attempt: impl AsyncFnMut() -> Result<T>) -> Result<T> {
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(LgsError::ConcurrentWrite { .. }) if tries < RACE_ATTEMPTS => tries += 1,
            done => return done,
        }
    }
}
