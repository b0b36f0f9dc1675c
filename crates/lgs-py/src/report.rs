//! A report (or one analysis) for Python: each section's tables as Arrow, its
//! charts as SVG, its figures and its JSON.

use std::sync::Arc;

use pyo3::prelude::*;

use crate::arrow::Batches;

/// What `lgs report` (or an analysis) computed.
#[pyclass(frozen, module = "lgs._lgs")]
pub struct Report {
    /// The date recency is measured to.
    #[pyo3(get)]
    as_of: String,
    sections: Vec<Py<Section>>,
}

/// One analysis's part of a report.
#[pyclass(frozen, module = "lgs._lgs")]
pub struct Section {
    /// The analysis's name (`monthly`, `rfm`, `clv`).
    #[pyo3(get)]
    name: String,
    #[pyo3(get)]
    title: String,
    /// The keys it adds to the report's JSON document, as JSON text.
    #[pyo3(get)]
    json: String,
    tables: Vec<(String, Arc<Batches>)>,
    /// Its charts: (id, title, SVG document).
    #[pyo3(get)]
    charts: Vec<(String, String, String)>,
    /// Its headline figures: (label, value).
    #[pyo3(get)]
    figures: Vec<(String, String)>,
}

impl Report {
    pub fn from(report: lgs::analytics::Report) -> Report {
        let sections = Python::attach(|py| {
            report
                .sections
                .into_iter()
                .map(|s| Py::new(py, Section::from(s)).expect("a section object"))
                .collect()
        });
        Report {
            as_of: report.as_of,
            sections,
        }
    }
}

impl Section {
    fn from(section: lgs::analytics::Section) -> Section {
        Section {
            name: section.name.to_string(),
            title: section.title,
            json: serde_json::Value::Object(section.json).to_string(),
            tables: section
                .tables
                .into_iter()
                .map(|t| {
                    let batches = Batches::new(t.batch.schema(), vec![t.batch]);
                    (t.name.to_string(), Arc::new(batches))
                })
                .collect(),
            charts: section
                .charts
                .into_iter()
                .map(|c| (c.id, c.title, c.svg))
                .collect(),
            figures: section
                .figures
                .into_iter()
                .map(|f| (f.label, f.value))
                .collect(),
        }
    }
}

#[pymethods]
impl Report {
    #[getter]
    fn sections(&self, py: Python<'_>) -> Vec<Py<Section>> {
        self.sections.iter().map(|s| s.clone_ref(py)).collect()
    }
}

#[pymethods]
impl Section {
    /// Its result tables: (name, batches).
    #[getter]
    fn tables(&self) -> Vec<(String, Batches)> {
        self.tables
            .iter()
            .map(|(name, b)| {
                (
                    name.clone(),
                    Batches::new(b.schema.clone(), b.batches.clone()),
                )
            })
            .collect()
    }
}
