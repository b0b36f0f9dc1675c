//! Results handed to Python through the Arrow C stream interface
//! (`__arrow_c_stream__`): pyarrow, polars and pandas (through pyarrow) take the
//! batches as they are, without a copy through Python objects.

use datafusion::arrow::array::{RecordBatch, RecordBatchIterator};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ffi_stream::FFI_ArrowArrayStream;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::errors::to_py;

/// Batches of a result, with their schema.
#[pyclass(frozen, module = "lgs._lgs")]
pub struct Batches {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

impl Batches {
    pub fn new(schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        Batches { schema, batches }
    }
}

#[pymethods]
impl Batches {
    /// The Arrow C stream capsule of these batches (the PyCapsule interface;
    /// `requested_schema` is not honoured: the batches come as they are).
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        capsule(py, self.schema.clone(), self.batches.clone())
    }

    /// The number of rows.
    #[getter]
    fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// The column names, in order.
    #[getter]
    fn columns(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    fn __len__(&self) -> usize {
        self.num_rows()
    }

    /// The first `limit` rows as text, formatted as the terminal shows them.
    fn rows(&self, limit: usize) -> PyResult<Vec<Vec<String>>> {
        let options = FormatOptions::default().with_null("");
        let mut out: Vec<Vec<String>> = Vec::new();
        for batch in &self.batches {
            let formatters = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| to_py(e.into()))?;
            for row in 0..batch.num_rows() {
                if out.len() >= limit {
                    return Ok(out);
                }
                out.push(
                    formatters
                        .iter()
                        .map(|f| f.value(row).to_string())
                        .collect(),
                );
            }
        }
        Ok(out)
    }
}

/// A capsule named `arrow_array_stream` holding a stream over `batches`; the
/// consumer moves the stream out, and whatever is left is released with the
/// capsule.
pub fn capsule(
    py: Python<'_>,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> PyResult<Bound<'_, PyCapsule>> {
    let reader = RecordBatchIterator::new(batches.into_iter().map(Ok), schema);
    let stream = FFI_ArrowArrayStream::new(Box::new(reader));
    PyCapsule::new_with_value_and_destructor(py, stream, c"arrow_array_stream", |stream, _| {
        drop(stream)
    })
}
