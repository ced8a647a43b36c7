//! The matrix multiplies every kernel goes through, so that the GEMM implementation and
//! its threading live in one place. Matrices are row-major; large products are split by
//! rows of the result across the worker threads (see `parallel`).
//!
//! On CPUs with AVX-512, a product whose `A` is stored untransposed packs `op(B)` once into
//! a [`PackedMatrix`] and runs the packed micro-kernel over the rows of `A`: measured on our
//! shapes (`examples/profile_gemm.rs`, packing included) it is 1.1-1.45x faster than
//! `matrixmultiply`'s AVX-512 kernel. The weight gradients (`A` transposed) stay with
//! `matrixmultiply`, whose own packing of `A` beats transposing it first (200 vs 115-145
//! GFLOP/s). On other CPUs `matrixmultiply` does all the work.

use crate::cancel::{Cancel, Meter, MAX_BLOCK};
use crate::error::Result;
use crate::packed_gemm::PackedMatrix;
use crate::parallel;

/// Below this many multiply-adds a product runs on one thread.
const PARALLEL_MIN_WORK: usize = 1 << 18;

/// `C = alpha * op(A) * op(B) + beta * C` on one thread, `C` being `[m, n]` with row stride
/// `ldc`. `A` is addressed as `a[i * rsa + p * csa]`, `B` as `b[p * rsb + j * csb]`.
#[allow(clippy::too_many_arguments)]
fn sgemm_raw(
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    (rsa, csa): (usize, usize),
    b: &[f32],
    (rsb, csb): (usize, usize),
    beta: f32,
    c: &mut [f32],
    ldc: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    // Bounds of every index the strides reach: checked so the unsafe call is always sound.
    assert!(c.len() > (m - 1) * ldc + n - 1, "sgemm: C too small");
    if k == 0 {
        for row in c.chunks_mut(ldc).take(m) {
            row[..n].iter_mut().for_each(|v| *v *= beta);
        }
        return;
    }
    assert!(a.len() > (m - 1) * rsa + (k - 1) * csa, "sgemm: A too small");
    assert!(b.len() > (k - 1) * rsb + (n - 1) * csb, "sgemm: B too small");
    // SAFETY: the asserts above bound every element matrixmultiply reads or writes.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            alpha,
            a.as_ptr(),
            rsa as isize,
            csa as isize,
            b.as_ptr(),
            rsb as isize,
            csb as isize,
            beta,
            c.as_mut_ptr(),
            ldc as isize,
            1,
        );
    }
}

/// `C = alpha * op(A) * op(B) + beta * C` with `C` of shape `[m, n]`, contiguous.
///
/// `op(A)` is `[m, k]`: `A` is stored `[m, k]` when `trans_a` is false, `[k, m]` when true.
/// `op(B)` is `[k, n]`: `B` is stored `[k, n]` when `trans_b` is false, `[n, k]` when true.
/// With `beta == 0` the old contents of `C` are ignored. A large product is done in
/// pieces of at most `cancel::MAX_BLOCK` multiply-adds where it can be, `cancel` polled
/// between them; the result does not depend on the pieces, each element being formed
/// the same way (see `sgemm_packed` and `sgemm_general`).
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    trans_a: bool,
    trans_b: bool,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    b: &[f32],
    beta: f32,
    c: &mut [f32],
    cancel: Cancel,
) -> Result<()> {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "sgemm: operand too small");
    if !trans_a && alpha == 1.0 && (beta == 0.0 || beta == 1.0) && crate::simd::has_avx512() {
        return sgemm_packed(trans_a, trans_b, m, n, k, a, b, beta == 1.0, c, cancel);
    }
    sgemm_general(trans_a, trans_b, m, n, k, alpha, a, b, beta, c, cancel)
}

/// [`sgemm`] through the packed micro-kernel: `C = op(A) op(B)` or `C += op(A) op(B)`.
#[allow(clippy::too_many_arguments)]
pub fn sgemm_packed(
    trans_a: bool,
    trans_b: bool,
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    accumulate: bool,
    c: &mut [f32],
    cancel: Cancel,
) -> Result<()> {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "sgemm: operand too small");
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(0.0);
        }
        return Ok(());
    }
    let packed =
        if trans_b { PackedMatrix::from_transposed(&b[..n * k], n, k) } else { PackedMatrix::from_matrix(&b[..k * n], k, n) };
    let transposed;
    let rows_of_a: &[f32] = if trans_a {
        transposed = transpose(&a[..k * m], k, m);
        &transposed
    } else {
        &a[..m * k]
    };
    // The packed operand is shared by every block of rows: blocks cost nothing extra.
    let block_rows = (MAX_BLOCK / (n * k)).max(1);
    by_row_blocks(m, n, k, c, cancel, block_rows, |row0, rows, ch, meter| {
        packed.multiply(rows, &rows_of_a[row0 * k..(row0 + rows) * k], ch, accumulate);
        meter.add(rows * n * k)
    })
}

/// Runs `f(first_row, rows, c_rows, meter)` over the rows of `C` (`[m, n]`) in blocks of
/// at most `block_rows` rows: on one thread when the product is small, else one range of
/// rows per worker thread, each with its meter (polling `cancel`).
fn by_row_blocks(
    m: usize,
    n: usize,
    k: usize,
    c: &mut [f32],
    cancel: Cancel,
    block_rows: usize,
    f: impl Fn(usize, usize, &mut [f32], &mut Meter) -> Result<()> + Sync,
) -> Result<()> {
    let run = |row0: usize, rows: usize, c: &mut [f32]| -> Result<()> {
        let mut meter = cancel.meter();
        for start in (0..rows).step_by(block_rows.max(1)) {
            let end = (start + block_rows).min(rows);
            f(row0 + start, end - start, &mut c[start * n..end * n], &mut meter)?;
        }
        Ok(())
    };
    let threads = parallel::num_threads();
    if threads <= 1 || m * n * k < PARALLEL_MIN_WORK || m < 2 * threads {
        return run(0, m, &mut c[..m * n]);
    }
    let block = m.div_ceil(threads);
    let chunks: Vec<(usize, &mut [f32])> =
        c[..m * n].chunks_mut(block * n).enumerate().map(|(i, ch)| (i * block, ch)).collect();
    parallel::try_for_each(chunks, |(row0, ch)| run(row0, ch.len() / n, ch))
}

/// The `[cols, rows]` transpose of a row-major `[rows, cols]` matrix, in cache-sized tiles.
fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    const TILE: usize = 32;
    let mut out = vec![0.0f32; rows * cols];
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                let src = &a[r * cols..(r + 1) * cols];
                for cc in c0..(c0 + TILE).min(cols) {
                    out[cc * rows + r] = src[cc];
                }
            }
        }
    }
    out
}

/// `matrixmultiply`'s depth of one packed panel (`S_KC`): it accumulates into `C` one
/// slice of `KC` values of `k` at a time, the first with the caller's `beta`, the next
/// ones with 1. A product cut along `k` at multiples of `KC`, the first piece with `beta`
/// and the others with 1, is therefore formed exactly as in one call, and packs each
/// operand no more often (a cut along `m` would pack `B` again for every piece).
/// `split_k_is_exact` checks this against the crate in use.
const KC: usize = 256;
/// Rows of `C` per piece when `m * n * KC` alone exceeds the work bound (a multiple of
/// `matrixmultiply`'s `S_MC`, so that `A` is packed in whole blocks).
const MIN_BLOCK_ROWS: usize = 64;

/// [`sgemm`] through `matrixmultiply`, for any `alpha`/`beta` and CPU.
#[allow(clippy::too_many_arguments)]
pub fn sgemm_general(
    trans_a: bool,
    trans_b: bool,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    b: &[f32],
    beta: f32,
    c: &mut [f32],
    cancel: Cancel,
) -> Result<()> {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "sgemm: operand too small");
    let sa = if trans_a { (1, m) } else { (k, 1) };
    let sb = if trans_b { (1, k) } else { (n, 1) };
    if m == 0 || n == 0 {
        return Ok(());
    }
    let block_rows = (MAX_BLOCK / (n * k.clamp(1, KC))).max(MIN_BLOCK_ROWS);
    by_row_blocks(m, n, k, c, cancel, block_rows, |row0, rows, ch, meter| {
        let depth = (MAX_BLOCK / (rows * n) / KC * KC).max(KC);
        let a = &a[row0 * sa.0..];
        for p0 in (0..k.max(1)).step_by(depth) {
            let kk = depth.min(k - p0);
            let beta = if p0 == 0 { beta } else { 1.0 };
            sgemm_raw(rows, n, kk, alpha, &a[(p0 * sa.1).min(a.len())..], sa, &b[(p0 * sb.0).min(b.len())..], sb, beta, ch, n);
            meter.add(rows * n * kk)?;
        }
        Ok(())
    })
}

/// `C[m, n] (+)= A[m, k] * B[n, k]^T`, the `x @ W^T` of a linear layer.
#[allow(clippy::too_many_arguments)]
pub fn matmul_abt(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], beta: f32, c: &mut [f32], cancel: Cancel) -> Result<()> {
    sgemm(false, true, m, n, k, 1.0, a, b, beta, c, cancel)
}

/// `C[m, n] (+)= A[m, k] * B[k, n]`.
#[allow(clippy::too_many_arguments)]
pub fn matmul_ab(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], beta: f32, c: &mut [f32], cancel: Cancel) -> Result<()> {
    sgemm(false, false, m, n, k, 1.0, a, b, beta, c, cancel)
}

/// `C[m, n] (+)= A[k, m]^T * B[k, n]`, the weight gradient `dY^T @ X`.
#[allow(clippy::too_many_arguments)]
pub fn matmul_atb(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], beta: f32, c: &mut [f32], cancel: Cancel) -> Result<()> {
    sgemm(true, false, m, n, k, 1.0, a, b, beta, c, cancel)
}



#[cfg(test)]
mod tests {
    use super::*;

    fn naive(ta: bool, tb: bool, m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0;
                for p in 0..k {
                    let av = if ta { a[p * m + i] } else { a[i * k + p] };
                    let bv = if tb { b[j * k + p] } else { b[p * n + j] };
                    s += av * bv;
                }
                c[i * n + j] = s;
            }
        }
        c
    }

    /// `sgemm_general` cuts a deep product along `k` at multiples of `KC`: the result must be
    /// exactly that of one `matrixmultiply` call (see `KC`), for every transposition.
    #[test]
    fn split_k_is_exact() {
        let (m, n, k) = (70, 600, 4 * MAX_BLOCK / (70 * 600) + 100);
        let a: Vec<f32> = (0..m * k).map(|i| ((i % 1013) as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i % 997) as f32 * 0.73).cos()).collect();
        parallel::set_num_threads(1);
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            for beta in [0.0, 1.0, 0.5] {
                let mut whole = vec![0.25f32; m * n];
                let sa = if ta { (1, m) } else { (k, 1) };
                let sb = if tb { (1, k) } else { (n, 1) };
                sgemm_raw(m, n, k, 1.0, &a, sa, &b, sb, beta, &mut whole, n);
                let mut cut = vec![0.25f32; m * n];
                sgemm_general(ta, tb, m, n, k, 1.0, &a, &b, beta, &mut cut, Cancel::NEVER).unwrap();
                assert!(whole == cut, "ta={ta} tb={tb} beta={beta}: a product cut along k differs from one call");
            }
        }
        parallel::set_num_threads(0);
    }

    #[test]
    fn sgemm_matches_naive_product_for_all_transpositions_and_thread_counts() {
        for &(m, n, k) in &[(5, 7, 3), (130, 70, 40)] {
            let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.73).cos()).collect();
            for threads in [1, 2, 3] {
                parallel::set_num_threads(threads);
                for ta in [false, true] {
                    for tb in [false, true] {
                        let want = naive(ta, tb, m, n, k, &a, &b);
                        let mut c = vec![1.0; m * n];
                        sgemm(ta, tb, m, n, k, 1.0, &a, &b, 0.5, &mut c, Cancel::NEVER).unwrap();
                        for (x, y) in c.iter().zip(&want) {
                            assert!((x - (y + 0.5)).abs() < 1e-4, "{m}x{n}x{k} ta={ta} tb={tb} t={threads}");
                        }
                        // Both engines, overwriting and accumulating, on every CPU.
                        for accumulate in [false, true] {
                            let mut p = vec![1.0; m * n];
                            sgemm_packed(ta, tb, m, n, k, &a, &b, accumulate, &mut p, Cancel::NEVER).unwrap();
                            let mut g = vec![1.0; m * n];
                            let beta = if accumulate { 1.0 } else { 0.0 };
                            sgemm_general(ta, tb, m, n, k, 1.0, &a, &b, beta, &mut g, Cancel::NEVER).unwrap();
                            for ((x, y), w) in p.iter().zip(&g).zip(&want) {
                                let w = w + beta;
                                assert!((x - w).abs() < 1e-4 && (y - w).abs() < 1e-4, "{m}x{n}x{k} {ta} {tb} {accumulate}");
                            }
                        }
                    }
                }
            }
        }
        parallel::set_num_threads(0);
    }
}
