//! `charrnn._core.Constraint`: a compiled sampling constraint (see `charrnn_core::constraint`).

use std::sync::Arc;

use charrnn_core::constraint::Constraint;
use pyo3::prelude::*;

use crate::convert::{count, kernel_err};

/// Regular expressions every drawn string must match as a whole, and a length range in
/// characters, compiled once over a vocabulary: `chars[i]` is the character of id `i`
/// (`None` for the markers).
#[pyclass(name = "Constraint", module = "charrnn._core", frozen)]
pub struct PyConstraint {
    pub inner: Arc<Constraint>,
}

#[pymethods]
impl PyConstraint {
    #[new]
    #[pyo3(signature = (chars, end_id, patterns, min_len, max_len))]
    fn new(py: Python<'_>, chars: Vec<Option<char>>, end_id: i64, patterns: Vec<String>, min_len: i64, max_len: i64) -> PyResult<Self> {
        let (end_id, min_len, max_len) = (count(end_id, "end_id")?, count(min_len, "min_len")?, count(max_len, "max_len")?);
        let refs: Vec<&str> = patterns.iter().map(String::as_str).collect();
        let inner = py.detach(|| Constraint::new(&chars, end_id, &refs, min_len, max_len)).map_err(kernel_err)?;
        Ok(PyConstraint { inner: Arc::new(inner) })
    }

    /// Whether a whole string of ids (no markers) meets the constraint.
    fn accepts(&self, ids: Vec<usize>) -> bool {
        self.inner.accepts(&ids)
    }

    /// The number of automaton states.
    #[getter]
    fn states(&self) -> usize {
        self.inner.states()
    }

    /// The longest string, in characters, the constraint allows.
    #[getter]
    fn max_len(&self) -> usize {
        self.inner.max_len()
    }
}
