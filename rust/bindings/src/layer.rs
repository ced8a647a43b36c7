//! `layer_forward` / `layer_backward`: one recurrent layer on padded time-major arrays.

use charrnn_core::layer::{self, LayerTape, LayerWeights};
use charrnn_core::{CellKind, SeqLayout};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::{f32_arg, guarded, kernel_err, lengths_arg, opt_f32_arg, to_numpy, ArrayArg};

/// What `layer_forward` keeps for `layer_backward`: a copy of the inputs and weights (so
/// that later changes to the caller's arrays cannot corrupt the backward pass) and the
/// kernel's tape.
#[pyclass(name = "LayerTape", module = "charrnn._core", frozen)]
pub struct PyLayerTape {
    kind: CellKind,
    layout: SeqLayout,
    input: usize,
    hidden: usize,
    weights: [Vec<f32>; 4],
    x: Vec<f32>,
    h0: Vec<f32>,
    c0: Vec<f32>,
    tape: LayerTape,
}

#[pymethods]
impl PyLayerTape {
    #[getter]
    fn cell(&self) -> &'static str {
        self.kind.name()
    }

    fn __repr__(&self) -> String {
        format!(
            "LayerTape(cell={:?}, steps={}, batch={}, hidden={})",
            self.kind.name(),
            self.layout.steps,
            self.layout.batch,
            self.hidden
        )
    }
}

impl PyLayerTape {
    fn weights(&self) -> LayerWeights<'_> {
        LayerWeights {
            kind: self.kind,
            input: self.input,
            hidden: self.hidden,
            w_ih: &self.weights[0],
            w_hh: &self.weights[1],
            b_ih: &self.weights[2],
            b_hh: &self.weights[3],
        }
    }
}

pub fn parse_cell(cell: &str) -> PyResult<CellKind> {
    CellKind::parse(cell).map_err(kernel_err)
}

#[pyfunction]
#[pyo3(signature = (cell, x, lengths, w_ih, w_hh, b_ih, b_hh, h0, c0=None))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn layer_forward<'py>(
    py: Python<'py>,
    cell: &str,
    x: &Bound<'py, PyAny>,
    lengths: &Bound<'py, PyAny>,
    w_ih: &Bound<'py, PyAny>,
    w_hh: &Bound<'py, PyAny>,
    b_ih: &Bound<'py, PyAny>,
    b_hh: &Bound<'py, PyAny>,
    h0: &Bound<'py, PyAny>,
    c0: Option<&Bound<'py, PyAny>>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>, Option<Bound<'py, PyAny>>, PyLayerTape)> {
    let kind = parse_cell(cell)?;
    let x = f32_arg(x, "x")?;
    let (steps, batch, input) = match x.expect_ndim(3, "[T, B, In]")? {
        &[t, b, i] => (t, b, i),
        _ => unreachable!(),
    };
    let lengths = lengths_arg(lengths, batch)?;
    let w_hh = f32_arg(w_hh, "w_hh")?;
    let g = kind.gates();
    let hidden = w_hh.expect_ndim(2, "[G*H, H]")?[1];
    if hidden == 0 || input == 0 {
        return Err(PyValueError::new_err("input and hidden sizes must be at least 1"));
    }
    w_hh.expect_shape(&[g * hidden, hidden])?;
    let w_ih = f32_arg(w_ih, "w_ih")?;
    w_ih.expect_shape(&[g * hidden, input])?;
    let b_ih = f32_arg(b_ih, "b_ih")?;
    b_ih.expect_shape(&[g * hidden])?;
    let b_hh = f32_arg(b_hh, "b_hh")?;
    b_hh.expect_shape(&[g * hidden])?;
    let h0 = f32_arg(h0, "h0")?;
    h0.expect_shape(&[batch, hidden])?;
    let c0: Option<ArrayArg<f32>> = opt_f32_arg(c0, "c0")?;
    match (&c0, kind.has_cell_state()) {
        (Some(c), true) => c.expect_shape(&[batch, hidden])?,
        (None, true) => return Err(PyValueError::new_err("c0 is required for an LSTM layer")),
        (Some(_), false) => return Err(PyValueError::new_err(format!("c0 is only for LSTM, not {cell}"))),
        (None, false) => {}
    }

    let layout = SeqLayout::new(steps, &lengths).map_err(kernel_err)?;
    let xp = layout.pack(x.slice(), input);
    let h0r = layout.to_rank(h0.slice(), hidden);
    let c0r = c0.as_ref().map(|c| layout.to_rank(c.slice(), hidden)).unwrap_or_default();
    let weights = [w_ih.slice().to_vec(), w_hh.slice().to_vec(), b_ih.slice().to_vec(), b_hh.slice().to_vec()];
    let w = LayerWeights { kind, input, hidden, w_ih: &weights[0], w_hh: &weights[1], b_ih: &weights[2], b_hh: &weights[3] };
    let (tape, out, h_n, c_n) = guarded(py, |cancel| -> charrnn_core::Result<_> {
            let tape = layer::forward(&layout, &w, &xp, &h0r, &c0r, cancel)?;
            let out = layout.unpack(&tape.h, hidden, 0.0);
            let h_n = layout.from_rank(&layout.final_state(&tape.h, &h0r, hidden), hidden);
            let c_n = kind
                .has_cell_state()
                .then(|| layout.from_rank(&layout.final_state(&tape.aux, &c0r, hidden), hidden));
            Ok((tape, out, h_n, c_n))
        })?;
    let out = to_numpy(py, out, &[steps, batch, hidden]).into_any();
    let h_n = to_numpy(py, h_n, &[batch, hidden]).into_any();
    let c_n = c_n.map(|c| to_numpy(py, c, &[batch, hidden]).into_any());
    let tape = PyLayerTape { kind, layout, input, hidden, weights, x: xp, h0: h0r, c0: c0r, tape };
    Ok((out, h_n, c_n, tape))
}

#[pyfunction]
#[pyo3(signature = (tape, d_out, d_h_n=None, d_c_n=None))]
pub fn layer_backward<'py>(
    py: Python<'py>,
    tape: &PyLayerTape,
    d_out: &Bound<'py, PyAny>,
    d_h_n: Option<&Bound<'py, PyAny>>,
    d_c_n: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let (layout, hidden, batch) = (&tape.layout, tape.hidden, tape.layout.batch);
    let d_out = f32_arg(d_out, "d_out")?;
    d_out.expect_shape(&[layout.steps, batch, hidden])?;
    let state_grad = |arg: Option<&Bound<'py, PyAny>>, name: &str| -> PyResult<Vec<f32>> {
        match opt_f32_arg(arg, name)? {
            Some(a) => {
                a.expect_shape(&[batch, hidden])?;
                Ok(layout.to_rank(a.slice(), hidden))
            }
            None => Ok(vec![0.0; batch * hidden]),
        }
    };
    let d_hn = state_grad(d_h_n, "d_h_n")?;
    let d_cn = if tape.kind.has_cell_state() {
        state_grad(d_c_n, "d_c_n")?
    } else {
        if d_c_n.is_some_and(|d| !d.is_none()) {
            return Err(PyValueError::new_err(format!("d_c_n is only for LSTM, not {}", tape.kind.name())));
        }
        Vec::new()
    };
    let d_out_p = layout.pack(d_out.slice(), hidden);
    let w = tape.weights();
    let g = guarded(py, |cancel| layer::backward(layout, &w, &tape.x, &tape.h0, &tape.c0, &tape.tape, &d_out_p, &d_hn, &d_cn, cancel))?;
    let gh = tape.kind.gates() * hidden;
    let out = PyDict::new(py);
    out.set_item("x", to_numpy(py, layout.unpack(&g.x, tape.input, 0.0), &[layout.steps, batch, tape.input]))?;
    out.set_item("w_ih", to_numpy(py, g.w_ih, &[gh, tape.input]))?;
    let r = g.recurrent;
    out.set_item("w_hh", to_numpy(py, r.w_hh, &[gh, hidden]))?;
    out.set_item("b_ih", to_numpy(py, r.b_ih, &[gh]))?;
    out.set_item("b_hh", to_numpy(py, r.b_hh, &[gh]))?;
    out.set_item("h0", to_numpy(py, layout.from_rank(&r.h0, hidden), &[batch, hidden]))?;
    if tape.kind.has_cell_state() {
        out.set_item("c0", to_numpy(py, layout.from_rank(&r.c0, hidden), &[batch, hidden]))?;
    }
    Ok(out)
}
