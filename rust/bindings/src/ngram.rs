//! `charrnn._core.NGramTable` and `charrnn._core.Mixture`: a fitted n-gram model's tables
//! and its mixture with a network, for the sampler (see `charrnn_core::ngram`).

use std::sync::Arc;

use charrnn_core::ngram::{Mixture, NGramTable};
use numpy::PyArrayDyn;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::convert::{count, f64_arg, i64_arg, kernel_err, to_numpy};

/// The arrays of one list argument (`keys`, `alpha` or `gamma`: one per order), each 1-D.
fn per_order<T: Copy + numpy::Element>(
    list: &Bound<'_, PyAny>,
    what: &str,
    arg: impl for<'a> Fn(&Bound<'a, PyAny>, &str) -> PyResult<crate::convert::ArrayArg<'a, T>>,
) -> PyResult<Vec<Vec<T>>> {
    let list = list.cast::<PyList>().map_err(|_| PyValueError::new_err(format!("{what} must be a list of arrays, one per order")))?;
    list.iter()
        .enumerate()
        .map(|(k, a)| {
            let a = arg(&a, &format!("{what}[{k}]"))?;
            a.expect_ndim(1, "array")?;
            Ok(a.slice().to_vec())
        })
        .collect()
}

/// A fitted n-gram model as the sampler reads it: per order the sorted `keys`, `alpha` and
/// `gamma` of `charrnn.ngram.NGram`, and the `base` (order-0) distribution over `vocab` ids.
#[pyclass(name = "NGramTable", module = "charrnn._core", frozen)]
pub struct PyNGramTable {
    pub inner: Arc<NGramTable>,
}

#[pymethods]
impl PyNGramTable {
    #[new]
    #[pyo3(signature = (vocab, base, keys, alpha, gamma))]
    fn new(
        py: Python<'_>,
        vocab: i64,
        base: &Bound<'_, PyAny>,
        keys: &Bound<'_, PyAny>,
        alpha: &Bound<'_, PyAny>,
        gamma: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let vocab = count(vocab, "vocab")?;
        let base = f64_arg(base, "base")?;
        base.expect_ndim(1, "array")?;
        let base = base.slice().to_vec();
        let (keys, alpha, gamma) = (per_order(keys, "keys", i64_arg)?, per_order(alpha, "alpha", f64_arg)?, per_order(gamma, "gamma", f64_arg)?);
        if keys.len() != alpha.len() || keys.len() != gamma.len() {
            return Err(PyValueError::new_err(format!(
                "keys, alpha and gamma need one array per order each, got {}, {} and {}",
                keys.len(),
                alpha.len(),
                gamma.len()
            )));
        }
        let orders = keys.into_iter().zip(alpha).zip(gamma).map(|((k, a), g)| (k, a, g)).collect();
        let table = py.detach(|| NGramTable::new(vocab, base, orders)).map_err(kernel_err)?;
        Ok(PyNGramTable { inner: Arc::new(table) })
    }

    /// The distribution of the next id after `history` (the start id first): a float64
    /// array of `vocab` values.
    fn next_probs<'py>(&self, py: Python<'py>, history: Vec<i64>) -> PyResult<Bound<'py, PyArrayDyn<f64>>> {
        let history: Vec<usize> = history.into_iter().map(|v| count(v, "history")).collect::<PyResult<_>>()?;
        let mut out = vec![0.0; self.inner.vocab()];
        self.inner.next_probs(&history, &mut out).map_err(kernel_err)?;
        Ok(to_numpy(py, out, &[self.inner.vocab()]))
    }

    #[getter]
    fn vocab(&self) -> usize {
        self.inner.vocab()
    }

    #[getter]
    fn order(&self) -> usize {
        self.inner.order()
    }
}

/// A network mixed with an n-gram model: `weights[t]` on the network at position `t` of a
/// name (the last weight for every later position).
#[pyclass(name = "Mixture", module = "charrnn._core", frozen)]
pub struct PyMixture {
    pub inner: Arc<Mixture>,
}

#[pymethods]
impl PyMixture {
    #[new]
    #[pyo3(signature = (ngram, weights))]
    fn new(ngram: PyRef<'_, PyNGramTable>, weights: Vec<f64>) -> PyResult<Self> {
        Ok(PyMixture { inner: Arc::new(Mixture::new(ngram.inner.clone(), weights).map_err(kernel_err)?) })
    }

    #[getter]
    fn weights(&self) -> Vec<f64> {
        self.inner.weights().to_vec()
    }
}
