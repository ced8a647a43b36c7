//! `adam_step`: the fused Adam(W) update with global-norm clipping, and `ema_update`: the
//! moving average of the weights — both in place on numpy arrays.

use charrnn_core::optim::{adam_update, clip_factor, ema_update as ema_kernel, global_norm, AdamStep};
use numpy::{PyReadwriteArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::convert::{f32_arg, guarded, ArrayArg};

fn writable_list<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Vec<PyReadwriteArrayDyn<'py, f32>>> {
    let list = obj.cast::<PyList>().map_err(|_| PyTypeError::new_err(format!("{name} must be a list of numpy float32 arrays")))?;
    list.iter()
        .enumerate()
        .map(|(i, a)| {
            // Checks dtype and contiguity with a readable message first.
            f32_arg(&a, &format!("{name}[{i}]"))?;
            let arr = a.extract::<PyReadwriteArrayDyn<'py, f32>>().map_err(|e| {
                PyValueError::new_err(format!("{name}[{i}] must be a writeable float32 array not used twice in one call ({e})"))
            })?;
            if !arr.is_c_contiguous() {
                return Err(PyValueError::new_err(format!("{name}[{i}] must be C-contiguous")));
            }
            Ok(arr)
        })
        .collect()
}

fn read_list<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Vec<ArrayArg<'py, f32>>> {
    let list = obj.cast::<PyList>().map_err(|_| PyTypeError::new_err(format!("{name} must be a list of numpy float32 arrays")))?;
    list.iter().enumerate().map(|(i, a)| f32_arg(&a, &format!("{name}[{i}]"))).collect()
}

/// `weight_decay`: one number for every array, or a list of one per array; each finite and >= 0.
fn decay_list(obj: &Bound<'_, PyAny>, n: usize) -> PyResult<Vec<f32>> {
    let values: Vec<f64> = if let Ok(one) = obj.extract::<f64>() {
        vec![one; n]
    } else {
        obj.extract::<Vec<f64>>()
            .map_err(|_| PyTypeError::new_err("weight_decay must be a number or a list of numbers, one per parameter"))?
    };
    if values.len() != n {
        return Err(PyValueError::new_err(format!("weight_decay must give one value per parameter ({n}), got {}", values.len())));
    }
    if let Some(bad) = values.iter().find(|wd| !(wd.is_finite() && **wd >= 0.0)) {
        return Err(PyValueError::new_err(format!("weight_decay must be a finite number >= 0, got {bad}")));
    }
    Ok(values.into_iter().map(|wd| wd as f32).collect())
}

/// One Adam step on every parameter, in place: gradients are multiplied by `grad_scale`,
/// clipped to the global L2 norm `max_norm` (when given), then the moments and the
/// parameters are updated; with `weight_decay` (a number, or one per array) each weight is
/// first multiplied by `1 - lr * weight_decay` (AdamW). Returns the gradient norm after
/// scaling, before clipping.
#[pyfunction]
#[pyo3(signature = (params, grads, m, v, lr, step, beta1=0.9, beta2=0.999, eps=1e-8, grad_scale=1.0, max_norm=None, weight_decay=None))]
// `!(x > 0.0)` rather than `x <= 0.0`: NaN must be refused too.
#[allow(clippy::too_many_arguments, clippy::neg_cmp_op_on_partial_ord, clippy::nonminimal_bool)]
pub fn adam_step(
    py: Python<'_>,
    params: &Bound<'_, PyAny>,
    grads: &Bound<'_, PyAny>,
    m: &Bound<'_, PyAny>,
    v: &Bound<'_, PyAny>,
    lr: f64,
    step: u64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    grad_scale: f64,
    max_norm: Option<f64>,
    weight_decay: Option<&Bound<'_, PyAny>>,
) -> PyResult<f64> {
    if !(lr.is_finite() && lr >= 0.0) || !(0.0..1.0).contains(&beta1) || !(0.0..1.0).contains(&beta2) || !(eps > 0.0) {
        return Err(PyValueError::new_err("adam_step: need lr >= 0, 0 <= beta1, beta2 < 1 and eps > 0"));
    }
    if let Some(mx) = max_norm {
        if !(mx > 0.0) {
            return Err(PyValueError::new_err(format!("max_norm must be positive, got {mx}")));
        }
    }
    let grad_args = read_list(grads, "grads")?;
    let decay = match weight_decay {
        Some(wd) => decay_list(wd, grad_args.len())?,
        None => Vec::new(),
    };
    let mut p = writable_list(params, "params")?;
    let mut mm = writable_list(m, "m")?;
    let mut vv = writable_list(v, "v")?;
    let g: Vec<&[f32]> = grad_args.iter().map(|a| a.slice()).collect();
    let mut ps: Vec<&mut [f32]> = p.iter_mut().map(|a| a.as_slice_mut().expect("contiguous")).collect();
    let mut ms: Vec<&mut [f32]> = mm.iter_mut().map(|a| a.as_slice_mut().expect("contiguous")).collect();
    let mut vs: Vec<&mut [f32]> = vv.iter_mut().map(|a| a.as_slice_mut().expect("contiguous")).collect();
    let s = AdamStep { lr: lr as f32, beta1: beta1 as f32, beta2: beta2 as f32, eps: eps as f32, step, grad_scale: grad_scale as f32 };
    guarded(py, |_cancel| {
        let norm = global_norm(&g, s.grad_scale);
        if !norm.is_finite() {
            return Err(charrnn_core::KernelError::Value(format!("the gradient norm is {norm}: the loss has diverged")));
        }
        adam_update(&mut ps, &g, &mut ms, &mut vs, &s, clip_factor(norm, max_norm), &decay)?;
        Ok(norm)
    })
}

/// One step of the exponential moving average of the weights, in place on `average` (a
/// list of writeable float32 arrays, one per array of `params`, of the same sizes):
/// `average = decay * average + (1 - decay) * params`, with `0 <= decay <= 1`.
#[pyfunction]
pub fn ema_update(py: Python<'_>, average: &Bound<'_, PyAny>, params: &Bound<'_, PyAny>, decay: f64) -> PyResult<()> {
    if !(0.0..=1.0).contains(&decay) {  // NaN too
        return Err(PyValueError::new_err(format!("ema_update: decay must be in [0, 1], got {decay}")));
    }
    let param_args = read_list(params, "params")?;
    let mut avg = writable_list(average, "average")?;
    let p: Vec<&[f32]> = param_args.iter().map(|a| a.slice()).collect();
    let mut a: Vec<&mut [f32]> = avg.iter_mut().map(|x| x.as_slice_mut().expect("contiguous")).collect();
    guarded(py, |_cancel| ema_kernel(&mut a, &p, decay as f32))
}
