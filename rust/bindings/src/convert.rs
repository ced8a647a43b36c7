//! numpy <-> Rust conversions and error mapping: every argument check of the binding layer.

use charrnn_core::{Cancel, Hook, KernelError};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use numpy::ndarray::{ArrayD, IxDyn};
use numpy::{IntoPyArray, PyArrayDyn, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

/// Kernel errors are argument errors: `ValueError` with the kernel's message.
pub fn kernel_err(e: KernelError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn dtype_name(obj: &Bound<'_, PyAny>) -> String {
    match obj.getattr("dtype") {
        Ok(d) => d.str().map(|s| s.to_string()).unwrap_or_else(|_| "?".into()),
        Err(_) => format!("a {} (not a numpy array)", obj.get_type().name().map(|n| n.to_string()).unwrap_or_default()),
    }
}

/// A read-only view of a numpy array of element type `T`, C-contiguous.
pub struct ArrayArg<'py, T: numpy::Element> {
    array: PyReadonlyArrayDyn<'py, T>,
    pub name: String,
}

impl<'py, T: numpy::Element> ArrayArg<'py, T> {
    pub fn extract(obj: &Bound<'py, PyAny>, name: &str, dtype: &str) -> PyResult<Self> {
        match obj.extract::<PyReadonlyArrayDyn<'py, T>>() {
            Ok(array) => {
                if !array.is_c_contiguous() {
                    return Err(PyValueError::new_err(format!(
                        "{name} must be C-contiguous (use numpy.ascontiguousarray)"
                    )));
                }
                Ok(ArrayArg { array, name: name.to_string() })
            }
            Err(_) => Err(PyTypeError::new_err(format!(
                "{name} must be a numpy array of dtype {dtype}, got {}",
                dtype_name(obj)
            ))),
        }
    }

    pub fn shape(&self) -> &[usize] {
        self.array.shape()
    }

    pub fn slice(&self) -> &[T] {
        self.array.as_slice().expect("checked C-contiguous")
    }

    /// Checks the exact shape.
    pub fn expect_shape(&self, want: &[usize]) -> PyResult<()> {
        if self.shape() != want {
            return Err(PyValueError::new_err(format!(
                "{} must have shape {:?}, got {:?}",
                self.name,
                want,
                self.shape()
            )));
        }
        Ok(())
    }

    /// Checks the number of dimensions and returns the shape.
    pub fn expect_ndim(&self, ndim: usize, what: &str) -> PyResult<&[usize]> {
        if self.shape().len() != ndim {
            return Err(PyValueError::new_err(format!(
                "{} must be {ndim}-dimensional {what}, got shape {:?}",
                self.name,
                self.shape()
            )));
        }
        Ok(self.shape())
    }
}

pub fn f32_arg<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<ArrayArg<'py, f32>> {
    ArrayArg::extract(obj, name, "float32")
}

pub fn i32_arg<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<ArrayArg<'py, i32>> {
    ArrayArg::extract(obj, name, "int32")
}

pub fn f64_arg<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<ArrayArg<'py, f64>> {
    ArrayArg::extract(obj, name, "float64")
}

pub fn i64_arg<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<ArrayArg<'py, i64>> {
    ArrayArg::extract(obj, name, "int64")
}

pub fn opt_f32_arg<'py>(obj: Option<&Bound<'py, PyAny>>, name: &str) -> PyResult<Option<ArrayArg<'py, f32>>> {
    match obj {
        Some(o) if !o.is_none() => Ok(Some(f32_arg(o, name)?)),
        _ => Ok(None),
    }
}

/// A new numpy array owning `data`, with `shape`.
pub fn to_numpy<'py, T: numpy::Element>(py: Python<'py>, data: Vec<T>, shape: &[usize]) -> Bound<'py, PyArrayDyn<T>> {
    ArrayD::from_shape_vec(IxDyn(shape), data).expect("shape matches data").into_pyarray(py)
}

/// A non-negative count argument (`ValueError` otherwise).
pub fn count(v: i64, what: &str) -> PyResult<usize> {
    usize::try_from(v).map_err(|_| PyValueError::new_err(format!("{what} must be >= 0, got {v}")))
}

/// Reads the `lengths` argument: `[B]` int32, each within `0..=steps`.
pub fn lengths_arg(obj: &Bound<'_, PyAny>, batch: usize) -> PyResult<Vec<i64>> {
    let lengths = i32_arg(obj, "lengths")?;
    lengths.expect_shape(&[batch])?;
    Ok(lengths.slice().iter().map(|&v| i64::from(v)).collect())
}

/// Runs a kernel with the GIL released. Kernel errors become `ValueError`; a panic (a bug:
/// kernels validate their inputs) becomes `RuntimeError` instead of unwinding into Python.
///
/// The kernel gets a cancellation hook (polled as its work adds up, see
/// `charrnn_core::cancel`) that, at most every 100 ms, briefly takes the GIL to run
/// Python's signal handlers: Ctrl-C raises `KeyboardInterrupt` out of a long call. Python
/// runs signal handlers only on its main thread, so only the calling thread asks; the
/// kernel's worker threads see the stop through the hook once it has fired.
pub fn guarded<T: Send, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    F: FnOnce(Cancel<'_>) -> charrnn_core::Result<T> + Send,
{
    let pending: Mutex<Option<PyErr>> = Mutex::new(None);
    let caller = std::thread::current().id();
    let last = Mutex::new(Instant::now());
    let ask = || -> bool {
        if std::thread::current().id() != caller {
            return false;
        }
        let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
        if last.elapsed() < Duration::from_millis(100) {
            return false;
        }
        *last = Instant::now();
        match Python::attach(|py| py.check_signals()) {
            Ok(()) => false,
            Err(e) => {
                *pending.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                true
            }
        }
    };
    let hook = Hook::new(&ask);
    let result = py.detach(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(hook.cancel()))));
    match result {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(KernelError::Interrupted)) => Err(pending
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or_else(|| pyo3::exceptions::PyKeyboardInterrupt::new_err("interrupted"))),
        Ok(Err(e)) => Err(kernel_err(e)),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(pyo3::exceptions::PyRuntimeError::new_err(format!("charrnn internal error (please report): {msg}")))
        }
    }
}
