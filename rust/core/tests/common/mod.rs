//! Helpers shared by the integration tests: seeded random data and model parameters.
#![allow(dead_code)]

use charrnn_core::cell::CellKind;
use charrnn_core::model::{forward_backward, Batch, ForwardOutput, ModelParams, ParamRef, PassOptions};
use charrnn_core::rng::{seeded_rng, uniform};
use rand_chacha::ChaCha8Rng;

pub struct Rng(pub ChaCha8Rng);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seeded_rng(seed))
    }
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * uniform(&mut self.0) as f32
    }
    pub fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(-scale, scale)).collect()
    }
    pub fn below(&mut self, n: usize) -> usize {
        (uniform(&mut self.0) * n as f64) as usize
    }
}

/// Owned parameters of a model, in the list order of `ModelParams::new`.
pub struct OwnedParams {
    pub kind: CellKind,
    pub data: Vec<Vec<f32>>,
    pub shapes: Vec<Vec<usize>>,
}

impl OwnedParams {
    pub fn random(kind: CellKind, vocab: usize, embed: usize, hidden: usize, layers: usize, rng: &mut Rng) -> Self {
        let gh = kind.gates() * hidden;
        let mut shapes = vec![vec![vocab, embed]];
        for l in 0..layers {
            let input = if l == 0 { embed } else { hidden };
            shapes.extend([vec![gh, input], vec![gh, hidden], vec![gh], vec![gh]]);
        }
        shapes.extend([vec![vocab, hidden], vec![vocab]]);
        let data = shapes.iter().map(|s| rng.vec(s.iter().product(), 0.6)).collect();
        OwnedParams { kind, data, shapes }
    }

    pub fn view(&self) -> ModelParams<'_> {
        let refs: Vec<ParamRef> =
            self.data.iter().zip(&self.shapes).map(|(d, s)| ParamRef { data: d, shape: s }).collect();
        ModelParams::new(self.kind, &refs, None).expect("valid parameters")
    }
}

/// Central finite-difference check of an analytic gradient.
///
/// The kernels compute in f32. With step `eps` = 1e-2 on a loss of order 10, f32 round-off
/// in each loss evaluation (~1e-6 relative, i.e. ~1e-5 absolute) contributes about
/// 1e-5 / (2 eps) = 5e-4 to the numerical derivative, and the truncation error of the
/// central difference is O(eps^2) = 1e-4 times the third derivative. The tolerance
/// `3e-3 + 3e-2 * |g|` sits well above both, and far below the size of any real mistake
/// (a wrong gate or a missing term changes gradients by O(|g|)).
pub fn assert_grad_close(what: &str, analytic: f64, numeric: f64) {
    let tol = 3e-3 + 3e-2 * analytic.abs().max(numeric.abs());
    assert!(
        (analytic - numeric).abs() <= tol,
        "{what}: analytic {analytic:.6} vs numeric {numeric:.6} (tolerance {tol:.2e})"
    );
}

pub const EPS: f32 = 1e-2;

/// `forward_backward` with optional initial states and gradients on or off.
pub fn run(p: &ModelParams, b: &Batch, h0: Option<&[f32]>, c0: Option<&[f32]>, grad: bool) -> ForwardOutput {
    forward_backward(p, b, &PassOptions { h0, c0, compute_grad: grad, ..Default::default() }).unwrap()
}
