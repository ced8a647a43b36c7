//! Element-wise operations on whole buffers: finiteness checks, sums, fills and dropout
//! masks. Those that run over large buffers count their work on a `cancel::Meter`.

use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;

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

/// An inverted-dropout mask like [`dropout_mask`] from 16 random bits per entry (the
/// generator's bytes, little-endian pairs): an entry is 0 when its bits fall below
/// `p × 2^16` (rounded), else `1 / (1 - p)`. A quarter of the random bits and a loop the
/// compiler vectorises, for the masks that cover whole weight matrices every batch (weight
/// drop); the drop probability is `p` to within 2^-17.
pub fn dropout_mask16(len: usize, p: f32, rng: &mut ChaCha8Rng, cancel: Cancel) -> Result<Vec<f32>> {
    let keep = 1.0 / (1.0 - p);
    let threshold = ((f64::from(p) * 65536.0).round() as u32).min(65535) as u16;
    let mut out = vec![0.0f32; len];
    let mut bytes = vec![0u8; 2 * FILL_CHUNK.min(len)];
    let mut meter = cancel.meter();
    for block in out.chunks_mut(FILL_CHUNK) {
        let bytes = &mut bytes[..2 * block.len()];
        rng.fill_bytes(bytes);
        for (v, b) in block.iter_mut().zip(bytes.chunks_exact(2)) {
            *v = if u16::from_le_bytes([b[0], b[1]]) < threshold { 0.0 } else { keep };
        }
        meter.add(FRESH_WRITE_WORK * block.len())?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::seeded_rng;

    #[test]
    fn dropout_mask16_drops_p_of_the_entries_and_scales_the_rest() {
        for (p, len) in [(0.3f32, 400_001), (0.5, 7), (0.1, 100_003), (0.9, 50_000)] {
            let mask = dropout_mask16(len, p, &mut seeded_rng(3), Cancel::NEVER).unwrap();
            assert_eq!(mask.len(), len);
            let keep = 1.0 / (1.0 - p);
            assert!(mask.iter().all(|&m| m == 0.0 || m == keep));
            if len > 1000 {
                let dropped = mask.iter().filter(|&&m| m == 0.0).count() as f64 / len as f64;
                // 5 standard deviations of a binomial proportion.
                let sd = (f64::from(p) * (1.0 - f64::from(p)) / len as f64).sqrt();
                assert!((dropped - f64::from(p)).abs() < 5.0 * sd + 1e-5, "p {p}: dropped {dropped}");
            }
        }
        let a = dropout_mask16(1000, 0.3, &mut seeded_rng(5), Cancel::NEVER).unwrap();
        assert_eq!(a, dropout_mask16(1000, 0.3, &mut seeded_rng(5), Cancel::NEVER).unwrap());
        assert_ne!(a, dropout_mask16(1000, 0.3, &mut seeded_rng(6), Cancel::NEVER).unwrap());
        // Entries are independent across the four 16-bit lanes of one draw: no lane is all kept.
        let wide = dropout_mask16(40_000, 0.5, &mut seeded_rng(7), Cancel::NEVER).unwrap();
        for lane in 0..4 {
            let dropped = wide.iter().skip(lane).step_by(4).filter(|&&m| m == 0.0).count();
            assert!((4_500..5_500).contains(&dropped), "lane {lane}: {dropped} of 10000 dropped");
        }
    }
}
