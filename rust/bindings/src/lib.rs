//! `charrnn._core`: the thin PyO3 layer over `charrnn-core`. It converts numpy arrays to
//! slices (checking dtype, shape and contiguity once, here), releases the GIL around every
//! kernel call, and turns kernel errors into `ValueError`.

mod constraint;
mod convert;
mod layer;
mod model;
mod ngram;
mod optim;

use pyo3::prelude::*;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<layer::PyLayerTape>()?;
    m.add_function(wrap_pyfunction!(layer::layer_forward, m)?)?;
    m.add_function(wrap_pyfunction!(layer::layer_backward, m)?)?;
    m.add_function(wrap_pyfunction!(model::forward_backward, m)?)?;
    m.add_function(wrap_pyfunction!(model::sample, m)?)?;
    m.add_class::<model::PyGenerator>()?;
    m.add_function(wrap_pyfunction!(model::beam_search, m)?)?;
    m.add_class::<model::PyPreparedModel>()?;
    m.add_class::<constraint::PyConstraint>()?;
    m.add_class::<ngram::PyNGramTable>()?;
    m.add_class::<ngram::PyMixture>()?;
    m.add_function(wrap_pyfunction!(optim::adam_step, m)?)?;
    m.add_function(wrap_pyfunction!(optim::ema_update, m)?)?;
    m.add_function(wrap_pyfunction!(model::set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(model::get_num_threads, m)?)?;
    Ok(())
}
