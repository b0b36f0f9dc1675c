//! lgs's errors as Python exceptions, worded as the command line words them.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    _lgs,
    LgsError,
    PyException,
    "An error from lgs: its message names the file and line, the table, or the \
     option at fault, as the command line's does."
);

/// The error's message and the causes it does not already name, one per line.
pub fn message(err: &anyhow::Error) -> String {
    let mut text = err.to_string();
    let mut shown = text.clone();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !shown.contains(&cause) {
            text.push_str("\n  caused by: ");
            text.push_str(&cause);
        }
        shown = cause;
    }
    text
}

/// An lgs error as a Python exception.
pub fn to_py(err: anyhow::Error) -> PyErr {
    LgsError::new_err(message(&err))
}
