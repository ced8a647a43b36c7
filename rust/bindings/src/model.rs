//! `forward_backward`, `sample` and the text `Generator`: the whole model, one call per
//! batch (or per chunk of generated text).

use charrnn_core::dropout::{Dropout, DropoutMasks};
use charrnn_core::model::{self, Batch, ModelParams, ParamRef, PassOptions};
use charrnn_core::rng::seeded_rng;
use charrnn_core::sampler::{self, DrawRule, SampleOptions, StepState, Stepper};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use rand_chacha::ChaCha8Rng;

use crate::constraint::PyConstraint;
use crate::ngram::PyMixture;
use crate::convert::{count, f32_arg, guarded, i32_arg, kernel_err, lengths_arg, opt_f32_arg, to_numpy, ArrayArg};
use crate::layer::parse_cell;

/// Extracts the parameter list as float32 C-contiguous arrays.
fn param_args<'py>(params: &Bound<'py, PyAny>) -> PyResult<Vec<ArrayArg<'py, f32>>> {
    let list = params.cast::<PyList>().map_err(|_| PyTypeError::new_err("params must be a list of numpy float32 arrays"))?;
    list.iter().enumerate().map(|(i, p)| f32_arg(&p, &format!("params[{i}]"))).collect()
}

fn param_refs<'a>(args: &'a [ArrayArg<'_, f32>]) -> Vec<ParamRef<'a>> {
    args.iter().map(|a| ParamRef { data: a.slice(), shape: a.shape() }).collect()
}

fn category_ref<'a>(arg: &'a Option<ArrayArg<'_, f32>>) -> Option<ParamRef<'a>> {
    arg.as_ref().map(|a| ParamRef { data: a.slice(), shape: a.shape() })
}

/// Validates a model's arrays and prepares it for stepping (weights packed, tables built).
fn prepare(cell: &str, params: &Bound<'_, PyAny>, category_embedding: Option<&Bound<'_, PyAny>>) -> PyResult<Stepper> {
    let kind = parse_cell(cell)?;
    let args = param_args(params)?;
    let refs = param_refs(&args);
    let cat_arg = opt_f32_arg(category_embedding, "category_embedding")?;
    let mp = ModelParams::new(kind, &refs, category_ref(&cat_arg)).map_err(kernel_err)?;
    Ok(Stepper::new(&mp))
}

/// Seeds are any integer in 0..2^64 (ValueError otherwise, not OverflowError).
fn seed_arg(seed: i128) -> PyResult<u64> {
    u64::try_from(seed).map_err(|_| PyValueError::new_err(format!("seed must be in 0..2**64, got {seed}")))
}

fn ids_from(values: Vec<i64>, what: &str) -> PyResult<Vec<usize>> {
    values.into_iter().map(|v| count(v, what)).collect()
}

/// The masks of a pass as a dict of float32 arrays (only the dropouts that were on).
fn masks_dict<'py>(py: Python<'py>, m: DropoutMasks, mp: &ModelParams, steps: usize, batch: usize, locked: bool) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let (gh, h) = (mp.kind.gates() * mp.hidden, mp.hidden);
    if !m.embedding.is_empty() {
        d.set_item("embedding", to_numpy(py, m.embedding, &[mp.vocab]))?;
    }
    if !m.input.is_empty() {
        d.set_item("input", to_numpy(py, m.input, &[batch, mp.embed]))?;
    }
    if !m.hidden.is_empty() {
        let hidden = m.hidden.into_iter().map(|x| {
            let shape: Vec<usize> = if locked { vec![batch, h] } else { vec![steps, batch, h] };
            to_numpy(py, x, &shape)
        });
        d.set_item("hidden", PyList::new(py, hidden)?)?;
    }
    if !m.recurrent.is_empty() {
        d.set_item("recurrent", PyList::new(py, m.recurrent.into_iter().map(|x| to_numpy(py, x, &[gh, h])))?)?;
    }
    Ok(d)
}

#[pyfunction]
#[pyo3(signature = (cell, params, ids, targets, lengths, h0=None, c0=None, compute_grad=true, dropout=0.0, seed=0, categories=None, category_embedding=None, *, locked=false, input_dropout=0.0, embed_dropout=0.0, weight_drop=0.0, details=false))]
#[allow(clippy::too_many_arguments)]
pub fn forward_backward<'py>(
    py: Python<'py>,
    cell: &str,
    params: &Bound<'py, PyAny>,
    ids: &Bound<'py, PyAny>,
    targets: &Bound<'py, PyAny>,
    lengths: &Bound<'py, PyAny>,
    h0: Option<&Bound<'py, PyAny>>,
    c0: Option<&Bound<'py, PyAny>>,
    compute_grad: bool,
    dropout: f64,
    seed: i128,
    categories: Option<&Bound<'py, PyAny>>,
    category_embedding: Option<&Bound<'py, PyAny>>,
    locked: bool,
    input_dropout: f64,
    embed_dropout: f64,
    weight_drop: f64,
    details: bool,
) -> PyResult<Bound<'py, PyTuple>> {
    let kind = parse_cell(cell)?;
    let args = param_args(params)?;
    let refs = param_refs(&args);
    let cat_arg = opt_f32_arg(category_embedding, "category_embedding")?;
    let mp = ModelParams::new(kind, &refs, category_ref(&cat_arg)).map_err(kernel_err)?;
    let ids = i32_arg(ids, "ids")?;
    let (steps, batch) = match ids.expect_ndim(2, "[T, B]")? {
        &[t, b] => (t, b),
        _ => unreachable!(),
    };
    let targets = i32_arg(targets, "targets")?;
    targets.expect_shape(&[steps, batch])?;
    let lengths = lengths_arg(lengths, batch)?;
    let state_shape = [mp.n_layers(), batch, mp.hidden];
    let h0 = opt_f32_arg(h0, "h0")?;
    let c0 = opt_f32_arg(c0, "c0")?;
    for s in [&h0, &c0].into_iter().flatten() {
        s.expect_shape(&state_shape)?;
    }
    let cats = match categories {
        Some(c) if !c.is_none() => {
            let c = i32_arg(c, "categories")?;
            c.expect_shape(&[batch])?;
            Some(c)
        }
        _ => None,
    };
    let b = Batch { steps, batch, ids: ids.slice(), targets: targets.slice(), lengths: &lengths };
    let seed = seed_arg(seed)?;
    let (h0s, c0s, cats_s) = (h0.as_ref().map(|a| a.slice()), c0.as_ref().map(|a| a.slice()), cats.as_ref().map(|c| c.slice()));
    let out = guarded(py, |cancel| {
        let dropout = Dropout { hidden: dropout as f32, locked, input: input_dropout as f32, embedding: embed_dropout as f32, weight: weight_drop as f32 };
        let opts = PassOptions { h0: h0s, c0: c0s, compute_grad, dropout, seed, given: None, categories: cats_s, details, cancel };
        model::forward_backward(&mp, &b, &opts)
    })?;
    let grads = out.grads.map(|gs| gs.into_iter().zip(mp.shapes()).map(|(g, s)| to_numpy(py, g, &s).into_any()).collect::<Vec<_>>());
    let mut items: Vec<Bound<'py, PyAny>> = vec![
        out.loss_sum.into_pyobject(py)?.into_any(),
        to_numpy(py, out.seq_loss, &[batch]).into_any(),
        grads.into_pyobject(py)?.into_any(),
        to_numpy(py, out.h_n, &state_shape).into_any(),
        out.c_n.map(|c| to_numpy(py, c, &state_shape).into_any()).into_pyobject(py)?.into_any(),
    ];
    if details {
        let extra = PyDict::new(py);
        extra.set_item("masks", masks_dict(py, out.masks.unwrap_or_default(), &mp, steps, batch, locked)?)?;
        extra.set_item("position_nll", to_numpy(py, out.position_nll.unwrap_or_default(), &[steps, batch]))?;
        items.push(extra.into_any());
    }
    PyTuple::new(py, items)
}

#[pyfunction]
#[pyo3(signature = (cell, params, n, start_id, end_id, max_steps, temperature=1.0, top_k=0, prefix=Vec::new(), seed=0, banned=Vec::new(), categories=None, category_embedding=None, top_p=1.0, constraint=None, log_weights=false, mixture=None))]
#[allow(clippy::too_many_arguments)]
pub fn sample(
    py: Python<'_>,
    cell: &str,
    params: &Bound<'_, PyAny>,
    n: i64,
    start_id: i64,
    end_id: i64,
    max_steps: i64,
    temperature: f64,
    top_k: i64,
    prefix: Vec<i64>,
    seed: i128,
    banned: Vec<i64>,
    categories: Option<Vec<i32>>,
    category_embedding: Option<&Bound<'_, PyAny>>,
    top_p: f64,
    constraint: Option<PyRef<'_, PyConstraint>>,
    log_weights: bool,
    mixture: Option<PyRef<'_, PyMixture>>,
) -> PyResult<Py<PyAny>> {
    let mut model = PyPreparedModel { stepper: prepare(cell, params, category_embedding)? };
    model.sample(py, n, start_id, end_id, max_steps, temperature, top_k, prefix, seed, banned, categories, top_p, constraint, log_weights, mixture)
}

/// A stateful text generator: owns a copy of the weights, the recurrent state of its
/// streams and its random generator, so text can be produced chunk by chunk.
#[pyclass(name = "Generator", module = "charrnn._core")]
pub struct PyGenerator {
    stepper: Stepper,
    state: Option<StepState>,
    logits: Vec<f32>,
    rng: ChaCha8Rng,
    streams: usize,
    categories: Option<Vec<usize>>,
}

#[pymethods]
impl PyGenerator {
    #[new]
    #[pyo3(signature = (cell, params, streams=1, seed=0, categories=None, category_embedding=None))]
    fn new(
        cell: &str,
        params: &Bound<'_, PyAny>,
        streams: i64,
        seed: i128,
        categories: Option<Vec<i32>>,
        category_embedding: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let stepper = prepare(cell, params, category_embedding)?;
        let streams = count(streams, "streams")?;
        if streams == 0 {
            return Err(PyValueError::new_err("streams must be at least 1"));
        }
        let cats = stepper.check_categories(categories.as_deref(), streams).map_err(kernel_err)?;
        Ok(PyGenerator {
            stepper,
            state: None,
            logits: Vec::new(),
            rng: seeded_rng(seed_arg(seed)?),
            streams,
            categories: cats,
        })
    }

    /// Feeds ids to every stream (a list of ids, the same for all streams, or one list per
    /// stream of equal lengths). Returns nothing; `generate` continues from there.
    fn feed(&mut self, py: Python<'_>, ids: &Bound<'_, PyAny>) -> PyResult<()> {
        let per_stream: Vec<Vec<usize>> = if let Ok(flat) = ids.extract::<Vec<i64>>() {
            vec![ids_from(flat, "ids")?; self.streams]
        } else {
            let lists: Vec<Vec<i64>> = ids.extract().map_err(|_| PyTypeError::new_err("ids must be a list of ints or a list of lists of ints"))?;
            lists.into_iter().map(|l| ids_from(l, "ids")).collect::<PyResult<_>>()?
        };
        let mut state = match self.state.clone() {
            Some(s) => s,
            None => self.stepper.zero_state(self.streams, self.categories.clone()),
        };
        let stepper = &mut self.stepper;
        let logits = guarded(py, |cancel| sampler::feed(stepper, &mut state, &per_stream, cancel))?;
        // Only a completed feed changes the generator (a failed or interrupted one leaves it
        // as it was).
        self.logits = logits;
        self.state = Some(state);
        Ok(())
    }

    /// Draws `steps` ids per stream, feeding each back in; returns one list per stream.
    #[pyo3(signature = (steps, temperature=1.0, top_k=0, banned=Vec::new(), top_p=1.0))]
    fn generate(
        &mut self,
        py: Python<'_>,
        steps: i64,
        temperature: f64,
        top_k: i64,
        banned: Vec<i64>,
        top_p: f64,
    ) -> PyResult<Vec<Vec<u32>>> {
        let steps = count(steps, "steps")?;
        let banned = ids_from(banned, "banned")?;
        let top_k = count(top_k, "top_k")?;
        let Some(mut state) = self.state.take() else {
            return Err(PyValueError::new_err("nothing fed yet: feed the prime (at least one id) first"));
        };
        let mut logits = self.logits.clone();
        let mut rng = self.rng.clone();
        let before = state.clone();
        let stepper = &mut self.stepper;
        let result = guarded(py, |cancel| {
            let rule = DrawRule::new(stepper.vocab, temperature as f32, top_k, &banned)?.with_top_p(top_p as f32)?;
            sampler::continue_text(stepper, &mut state, &mut logits, &rule, &mut rng, steps, cancel)
        });
        if result.is_ok() {
            self.rng = rng;
            self.state = Some(state);
            self.logits = logits;
        } else {
            // Bad options or an interruption: the generator stays as it was before the call.
            self.state = Some(before);
        }
        result
    }

    #[getter]
    fn streams(&self) -> usize {
        self.streams
    }
}

/// Sets the number of worker threads of the kernels (0: one per core).
#[pyfunction]
pub fn set_num_threads(n: i64) -> PyResult<()> {
    charrnn_core::parallel::set_num_threads(count(n, "n")?);
    Ok(())
}

/// The number of worker threads the kernels use.
#[pyfunction]
pub fn get_num_threads() -> usize {
    charrnn_core::parallel::num_threads()
}

/// The `beam` most likely completions of a prefix: `[(ids, log_prob), ...]`, best first.
#[pyfunction]
#[pyo3(signature = (cell, params, start_id, end_id, prefix, beam, max_steps, banned=Vec::new(), category=None, category_embedding=None, mixture=None))]
#[allow(clippy::too_many_arguments)]
pub fn beam_search(
    py: Python<'_>,
    cell: &str,
    params: &Bound<'_, PyAny>,
    start_id: i64,
    end_id: i64,
    prefix: Vec<i64>,
    beam: i64,
    max_steps: i64,
    banned: Vec<i64>,
    category: Option<i32>,
    category_embedding: Option<&Bound<'_, PyAny>>,
    mixture: Option<PyRef<'_, PyMixture>>,
) -> PyResult<Vec<(Vec<u32>, f64)>> {
    let mut model = PyPreparedModel { stepper: prepare(cell, params, category_embedding)? };
    model.beam_search(py, start_id, end_id, prefix, beam, max_steps, banned, category, mixture)
}

/// A model prepared once for repeated sampling: weights packed, input tables built. Use it
/// when drawing many small batches (one name at a time) from unchanged weights; it keeps a
/// copy, so later changes to the arrays do not affect it.
#[pyclass(name = "PreparedModel", module = "charrnn._core")]
pub struct PyPreparedModel {
    stepper: Stepper,
}

#[pymethods]
impl PyPreparedModel {
    #[new]
    #[pyo3(signature = (cell, params, category_embedding=None))]
    fn new(cell: &str, params: &Bound<'_, PyAny>, category_embedding: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        Ok(PyPreparedModel { stepper: prepare(cell, params, category_embedding)? })
    }

    /// Same as `charrnn._core.sample`, without the per-call preparation.
    #[pyo3(signature = (n, start_id, end_id, max_steps, temperature=1.0, top_k=0, prefix=Vec::new(), seed=0, banned=Vec::new(), categories=None, top_p=1.0, constraint=None, log_weights=false, mixture=None))]
    #[allow(clippy::too_many_arguments)]
    fn sample(
        &mut self,
        py: Python<'_>,
        n: i64,
        start_id: i64,
        end_id: i64,
        max_steps: i64,
        temperature: f64,
        top_k: i64,
        prefix: Vec<i64>,
        seed: i128,
        banned: Vec<i64>,
        categories: Option<Vec<i32>>,
        top_p: f64,
        constraint: Option<PyRef<'_, PyConstraint>>,
        log_weights: bool,
        mixture: Option<PyRef<'_, PyMixture>>,
    ) -> PyResult<Py<PyAny>> {
        let opts = SampleOptions {
            n: count(n, "n")?,
            start_id: count(start_id, "start_id")?,
            end_id: count(end_id, "end_id")?,
            max_steps: count(max_steps, "max_steps")?,
            temperature: temperature as f32,
            top_k: count(top_k, "top_k")?,
            top_p: top_p as f32,
            prefix: ids_from(prefix, "prefix")?,
            seed: seed_arg(seed)?,
            banned: ids_from(banned, "banned")?,
            categories,
            constraint: constraint.map(|c| c.inner.clone()),
            mixture: mixture.map(|m| m.inner.clone()),
        };
        let stepper = &mut self.stepper;
        let (ids, weights) = guarded(py, |cancel| sampler::sample_weighted(stepper, &opts, cancel))?;
        if log_weights {
            Ok((ids, weights).into_pyobject(py)?.into_any().unbind())
        } else {
            Ok(ids.into_pyobject(py)?.into_any().unbind())
        }
    }

    /// Same as `charrnn._core.beam_search`, without the per-call preparation.
    #[pyo3(signature = (start_id, end_id, prefix, beam, max_steps, banned=Vec::new(), category=None, mixture=None))]
    #[allow(clippy::too_many_arguments)]
    fn beam_search(
        &mut self,
        py: Python<'_>,
        start_id: i64,
        end_id: i64,
        prefix: Vec<i64>,
        beam: i64,
        max_steps: i64,
        banned: Vec<i64>,
        category: Option<i32>,
        mixture: Option<PyRef<'_, PyMixture>>,
    ) -> PyResult<Vec<(Vec<u32>, f64)>> {
        let (start, end) = (count(start_id, "start_id")?, count(end_id, "end_id")?);
        let prefix = ids_from(prefix, "prefix")?;
        let banned = ids_from(banned, "banned")?;
        let (beam, max_steps) = (count(beam, "beam")?, count(max_steps, "max_steps")?);
        let stepper = &mut self.stepper;
        let mixture = mixture.map(|m| m.inner.clone());
        let hyps = guarded(py, |cancel| {
            sampler::beam_search(stepper, start, end, &prefix, beam, max_steps, &banned, category, mixture.as_deref(), cancel)
        })?;
        Ok(hyps.into_iter().map(|h| (h.ids, h.log_prob)).collect())
    }
}
