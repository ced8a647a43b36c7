//! The loss: log-softmax cross-entropy over the output layer's logits, vectorised, with
//! the same order of operations on every CPU.

use crate::cancel::{blocks, Cancel};
use crate::error::Result;

/// Log-softmax cross-entropy in place: `logits` (`[rows, V]`) becomes the softmax
/// probabilities; returns the NLL `log(sum(exp(z))) - z_target` of every row.
///
/// Rows are independent: with several threads each takes a block of rows (the results do
/// not depend on the number of threads), in pieces of bounded work between polls of `cancel`.
pub fn softmax_nll(logits: &mut [f32], targets: &[usize], vocab: usize, cancel: Cancel) -> Result<Vec<f64>> {
    let rows = targets.len();
    let mut nll = vec![0.0f64; rows];
    // An exp, a max, a sum and a scaling per value: counted as four multiply-adds.
    let part = |logits: &mut [f32], targets: &[usize], nll: &mut [f64]| -> Result<()> {
        let mut meter = cancel.meter();
        for r in blocks(targets.len(), 4 * vocab) {
            softmax_nll_rows(&mut logits[r.start * vocab..r.end * vocab], &targets[r.clone()], vocab, &mut nll[r.clone()]);
            meter.add(4 * vocab * r.len())?;
        }
        Ok(())
    };
    let threads = crate::parallel::num_threads();
    if threads <= 1 || rows < 64 {
        part(logits, targets, &mut nll)?;
        return Ok(nll);
    }
    let block = rows.div_ceil(threads);
    let parts: Vec<_> = logits.chunks_mut(block * vocab).zip(targets.chunks(block)).zip(nll.chunks_mut(block)).collect();
    crate::parallel::try_for_each(parts, |((l, t), n)| part(l, t, n))?;
    Ok(nll)
}

crate::dispatch! {
    /// The body of `softmax_nll`, compiled for AVX2 where the CPU has it: the `exp` pass is
    /// vectorised; the sum stays a sequential loop (so the result does not depend on the CPU).
    pub fn softmax_nll_rows(logits: &mut [f32], targets: &[usize], vocab: usize, nll: &mut [f64]) {
        for ((row, &t), out) in logits.chunks_exact_mut(vocab).zip(targets).zip(nll.iter_mut()) {
            let max = lanes8(row, f32::NEG_INFINITY, f32::max);
            let shifted_target = row[t] - max;
            for v in row.iter_mut() {
                *v = crate::simd::exp(*v - max);
            }
            let sum = lanes8(row, 0.0, |a, b| a + b);
            *out = f64::from(sum).ln() - f64::from(shifted_target);
            let inv = 1.0 / sum;
            for v in row.iter_mut() {
                *v *= inv;
            }
        }
    }
}

/// Reduces `x` with `op` in eight interleaved lanes (one vector register once vectorised),
/// then across the lanes: the same order of operations on every CPU.
#[inline(always)]
fn lanes8(x: &[f32], init: f32, op: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [init; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = op(*a, v);
        }
    }
    for (a, &v) in acc.iter_mut().zip(rest) {
        *a = op(*a, v);
    }
    let [a0, a1, a2, a3, a4, a5, a6, a7] = acc;
    op(op(op(a0, a4), op(a1, a5)), op(op(a2, a6), op(a3, a7)))
}
