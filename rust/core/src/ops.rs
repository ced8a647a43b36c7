//! Element-wise operations on whole buffers: finiteness checks, sums, fills and dropout
//! masks. Those that run over large buffers count their work on a `cancel::Meter`.

use rand_chacha::ChaCha8Rng;

use crate::cancel::{blocks, Cancel, FILL_CHUNK, FRESH_WRITE_WORK};
use crate::error::Result;
use crate::rng::uniform;

/// Whether no value is NaN or infinite: a branch-free integer reduction over the exponent
/// bits (all ones only for NaN/inf) that the compiler vectorises.
pub fn all_finite(data: &[f32]) -> bool {
    const EXP: u32 = 0x7f80_0000;
    let mut acc = [0u32; 16];
    let chunks = data.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a = (*a).max(v.to_bits() & EXP);
        }
    }
    let max = acc.iter().copied().chain(rest.iter().map(|v| v.to_bits() & EXP)).max().unwrap_or(0);
    max != EXP
}

crate::dispatch! {
    /// `dst += src`, element-wise.
    pub fn add_into(dst: &mut [f32], src: &[f32]) {
        for (d, s) in dst.iter_mut().zip(src) {
            *d += s;
        }
    }
}

crate::dispatch! {
    /// Adds the column sums of `a[rows, cols]` into `out[cols]` (bias gradients).
    pub fn add_column_sums(a: &[f32], cols: usize, out: &mut [f32]) {
        for row in a.chunks_exact(cols) {
            for (o, v) in out.iter_mut().zip(row) {
                *o += v;
            }
        }
    }
}

/// [`add_column_sums`] in blocks of rows, polling `cancel` between them (the rows are
/// added in the same order, so the sums do not depend on the blocks).
pub fn column_sums(a: &[f32], cols: usize, out: &mut [f32], cancel: Cancel) -> Result<()> {
    let rows = a.len().checked_div(cols).unwrap_or(0);
    let mut meter = cancel.meter();
    for r in blocks(rows, cols) {
        add_column_sums(&a[r.start * cols..r.end * cols], cols, out);
        meter.add(r.len() * cols)?;
    }
    Ok(())
}

/// `row` repeated `rows` times, as one buffer, counting the writes on a meter.
pub fn repeat_row(row: &[f32], rows: usize, cancel: Cancel) -> Result<Vec<f32>> {
    let mut out = Vec::with_capacity(row.len() * rows);
    let mut meter = cancel.meter();
    for _ in 0..rows {
        out.extend_from_slice(row);
        meter.add(FRESH_WRITE_WORK * row.len())?;
    }
    Ok(out)
}

/// An inverted-dropout mask: each entry is 0 with probability `p`, else `1 / (1 - p)`.
pub fn dropout_mask(len: usize, p: f32, rng: &mut ChaCha8Rng, cancel: Cancel) -> Result<Vec<f32>> {
    let keep = 1.0 / (1.0 - p);
    let mut out = Vec::with_capacity(len);
    let mut meter = cancel.meter();
    for start in (0..len).step_by(FILL_CHUNK) {
        let n = FILL_CHUNK.min(len - start);
        out.extend((0..n).map(|_| if uniform(rng) < f64::from(p) { 0.0 } else { keep }));
        meter.add(FRESH_WRITE_WORK * n)?;
    }
    Ok(out)
}

/// `x * mask`, element-wise, into a new buffer.
pub fn apply_mask(x: &[f32], mask: &[f32], cancel: Cancel) -> Result<Vec<f32>> {
    let mut out = Vec::with_capacity(x.len());
    let mut meter = cancel.meter();
    for (x, mask) in x.chunks(FILL_CHUNK).zip(mask.chunks(FILL_CHUNK)) {
        out.extend(x.iter().zip(mask).map(|(a, m)| a * m));
        meter.add(FRESH_WRITE_WORK * x.len())?;
    }
    Ok(out)
}
