//! Writing a warehouse table: batches streamed to Parquet files, then one Delta
//! commit with lgs's facts. Every Delta write of lgs goes through here (ingest, its
//! log and quarantine, `lgs report --save`), so each is atomic the same way.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
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
    rows: u64,
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
            rows: 0,
        }
    }

    fn open(&self) -> Result<RecordBatchWriter> {
        let url = self.warehouse.prepare_table_dir(&self.name)?;
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(128 * 1024))
            .build();
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
        writer
            .write(batch)
            .await
            .map_err(|e| LgsError::delta(&self.name, e))
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

    /// Commits what was written as one new version of the table (replacing its
    /// contents, and its schema when it changed, with `overwrite`); returns it.
    pub async fn commit(&mut self, facts: &CommitFacts, overwrite: bool) -> Result<u64> {
        let adds = match self.writer.as_mut() {
            Some(w) => w
                .flush()
                .await
                .map_err(|e| LgsError::delta(&self.name, e))?,
            None => vec![],
        };
        self.warehouse
            .commit(
                &self.name,
                &self.schema,
                &self.partitions,
                adds,
                facts,
                overwrite,
            )
            .await
    }
}
