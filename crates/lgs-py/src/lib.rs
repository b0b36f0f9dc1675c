//! `lgs` for Python: the warehouse, SQL and every analysis one call away in a
//! notebook. This is the native module (`lgs._lgs`); `python/lgs/__init__.py` is
//! the package analysts import, which adds the Python conveniences (pandas and
//! polars, HTML in Jupyter) on top.
//!
//! Everything a call does goes through the same door as the command line: its
//! options are parsed by `lgs`'s own argument parser (same defaults, same checks,
//! same messages), the warehouse is opened with the same role, keys and limits,
//! and the work runs on a Tokio runtime without the GIL, watching for Ctrl-C (a
//! kernel interrupt) to cancel it.

mod arrow;
mod connection;
mod errors;
mod report;
mod run;

use pyo3::prelude::*;

/// The native module.
#[pymodule]
fn _lgs(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("LgsError", m.py().get_type::<errors::LgsError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<connection::Connection>()?;
    m.add_class::<connection::Query>()?;
    m.add_class::<arrow::Batches>()?;
    m.add_class::<report::Report>()?;
    m.add_class::<report::Section>()?;
    m.add_function(wrap_pyfunction!(connection::connect, m)?)?;
    m.add_function(wrap_pyfunction!(run::set_progress, m)?)?;
    Ok(())
}
