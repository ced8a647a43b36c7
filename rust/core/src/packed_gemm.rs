//! A matrix multiply with the right-hand matrix packed once and reused: the recurrent
//! products `h_prev @ W_hh^T` (forward) and `d_gates @ W_hh` (backward) multiply the same
//! weights at every time step by a small block of rows, so packing the weights for each
//! call (as a general GEMM must) would cost as much as the arithmetic.
//!
//! `PackedMatrix` stores a `[k, n]` matrix as panels of 16 columns, each panel `k` rows of
//! 16 contiguous floats (zero-padded at the right edge). The AVX-512 micro-kernel keeps a
//! 6 x 64 block of the result in registers (four panels, one 16-float register per panel
//! row), the AVX2+FMA one a 6 x 16 block; other CPUs use a portable loop.
//!
//! Every kernel forms each element of the result the same way: one fused multiply-add per
//! `k` index, in order, from zero, then added to `C` when accumulating. So the result does
//! not depend on the kernel, on how rows are blocked, or on the thread that computes them.

/// Width of a panel (two AVX registers of 8 floats).
const NR: usize = 16;
/// Rows of the result per micro-kernel call.
const MR: usize = 6;

/// One packed row of a panel: 16 floats on a cache line of their own, so that the two
/// 8-float loads of the micro-kernel never straddle cache lines.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(64))]
struct Line([f32; NR]);

/// A `[k, n]` right-hand operand packed in column panels.
#[derive(Debug, Clone, Default)]
pub struct PackedMatrix {
    pub k: usize,
    pub n: usize,
    /// Floats from one panel to the next: `k` lines, plus one when that would make the
    /// panels a multiple of 4 KiB apart (they would then all map to the same L1 sets).
    stride: usize,
    lines: Vec<Line>,
}

impl PackedMatrix {
    fn zeroed(k: usize, n: usize) -> Self {
        let lines_per_panel = if (k * NR * 4).is_multiple_of(4096) { k + 1 } else { k };
        PackedMatrix { k, n, stride: lines_per_panel * NR, lines: vec![Line::default(); n.div_ceil(NR) * lines_per_panel] }
    }

    fn data(&self) -> &[f32] {
        // SAFETY: Line is repr(C) [f32; NR] with no padding (64 bytes = 16 floats).
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr() as *const f32, self.lines.len() * NR) }
    }

    fn data_mut(&mut self) -> &mut [f32] {
        // SAFETY: as in `data`.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr() as *mut f32, self.lines.len() * NR) }
    }
}

impl PackedMatrix {
    /// Packs `W^T` for a row-major `w` of shape `[n, k]` (so that `A @ W^T` can be formed).
    pub fn from_transposed(w: &[f32], n: usize, k: usize) -> Self {
        assert_eq!(w.len(), n * k, "PackedMatrix: w must be [n, k]");
        // Column j of W^T is row j of w: read each row once, scatter it down its panel.
        let mut out = Self::zeroed(k, n);
        let stride = out.stride;
        let data = out.data_mut();
        for (j, row) in w.chunks_exact(k).enumerate() {
            let (p, jj) = (j / NR, j % NR);
            let panel = &mut data[p * stride..p * stride + k * NR];
            for (kk, &v) in row.iter().enumerate() {
                panel[kk * NR + jj] = v;
            }
        }
        out
    }

    /// Packs a row-major `b` of shape `[k, n]`.
    pub fn from_matrix(b: &[f32], k: usize, n: usize) -> Self {
        assert_eq!(b.len(), k * n, "PackedMatrix: b must be [k, n]");
        // Each row of b is cut into its panels' 16-float lines (slice copies).
        let mut out = Self::zeroed(k, n);
        let stride = out.stride;
        let data = out.data_mut();
        for (kk, row) in b.chunks_exact(n).enumerate() {
            for (p, part) in row.chunks(NR).enumerate() {
                let dst = p * stride + kk * NR;
                data[dst..dst + part.len()].copy_from_slice(part);
            }
        }
        out
    }

    /// `C[m, n] = A[m, k] @ self` (`accumulate == false`) or `C += A @ self`.
    /// `A` and `C` are row-major and contiguous.
    pub fn multiply(&self, m: usize, a: &[f32], c: &mut [f32], accumulate: bool) {
        assert!(a.len() >= m * self.k && c.len() >= m * self.n, "PackedMatrix::multiply: operand too small");
        if m == 0 || self.n == 0 {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if crate::simd::has_avx512() {
            // SAFETY: the CPU has AVX-512F; operand sizes were checked above.
            unsafe { avx512::multiply(self, m, a, c, accumulate) };
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if crate::simd::has_avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA; operand sizes were checked above.
            unsafe { avx2::multiply(self, m, a, c, accumulate) };
            return;
        }
        self.multiply_portable(m, a, c, accumulate);
    }

    fn multiply_portable(&self, m: usize, a: &[f32], c: &mut [f32], accumulate: bool) {
        let (k, n) = (self.k, self.n);
        for p in 0..n.div_ceil(NR) {
            let panel = &self.data()[p * self.stride..p * self.stride + k * NR];
            let width = NR.min(n - p * NR);
            for i in 0..m {
                let mut acc = [0.0f32; NR];
                let arow = &a[i * k..(i + 1) * k];
                for (kk, &av) in arow.iter().enumerate() {
                    let b = &panel[kk * NR..(kk + 1) * NR];
                    for j in 0..NR {
                        acc[j] += av * b[j];
                    }
                }
                let crow = &mut c[i * n + p * NR..i * n + p * NR + width];
                for (cv, av) in crow.iter_mut().zip(&acc) {
                    *cv = if accumulate { *cv + av } else { *av };
                }
            }
        }
    }
}

/// Rows `0..m` in blocks of at most MR, as even as possible (25 rows: five blocks of five,
/// not four of six and a lone row, which would run at a third of the speed): the first row
/// and the number of rows of each block.
fn row_blocks(m: usize) -> impl Iterator<Item = (usize, usize)> {
    let blocks = m.div_ceil(MR);
    let (base, extra) = (m.checked_div(blocks).unwrap_or(0), m.checked_rem(blocks).unwrap_or(0));
    (0..blocks).scan(0, move |start, blk| {
        let rows = base + usize::from(blk < extra);
        let first = *start;
        *start += rows;
        Some((first, rows))
    })
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{row_blocks, PackedMatrix, NR};
    use std::arch::x86_64::*;

    /// # Safety
    /// The CPU has the features this module is compiled for; `a` holds at least `m * b.k` values and `c` at least `m * b.n` (as `PackedMatrix::multiply` checks).
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn multiply(b: &PackedMatrix, m: usize, a: &[f32], c: &mut [f32], accumulate: bool) {
        unsafe {
            let (k, n) = (b.k, b.n);
            if m <= 2 {
                // A few rows (sampling one name): one row against four panels at a time keeps
                // eight independent accumulators in flight instead of two.
                for i in 0..m {
                    row_times_panels(k, n, a.as_ptr().add(i * k), b.data().as_ptr(), b.stride, c.as_mut_ptr().add(i * n), accumulate);
                }
                return;
            }
            for p in 0..n.div_ceil(NR) {
                let panel = b.data().as_ptr().add(p * b.stride);
                let width = NR.min(n - p * NR);
                for (i, rows) in row_blocks(m) {
                    let a_ptr = a.as_ptr().add(i * k);
                    let c_ptr = c.as_mut_ptr().add(i * n + p * NR);
                    match rows {
                        6 => block::<6>(k, n, a_ptr, panel, c_ptr, width, accumulate),
                        5 => block::<5>(k, n, a_ptr, panel, c_ptr, width, accumulate),
                        4 => block::<4>(k, n, a_ptr, panel, c_ptr, width, accumulate),
                        3 => block::<3>(k, n, a_ptr, panel, c_ptr, width, accumulate),
                        2 => block::<2>(k, n, a_ptr, panel, c_ptr, width, accumulate),
                        _ => block::<1>(k, n, a_ptr, panel, c_ptr, width, accumulate),
                    }
                }
            }
        }
    }

    /// One row of A times every panel, four panels per pass.
    ///
    /// # Safety
    /// AVX2 and FMA; `a` points to `k` values, `data` to the packed panels (`stride` apart) of a `[k, n]` matrix, `c` to `n` writable values.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn row_times_panels(k: usize, n: usize, a: *const f32, data: *const f32, stride: usize, c: *mut f32, accumulate: bool) {
        unsafe {
            let panels = n.div_ceil(NR);
            let mut p = 0;
            while p < panels {
                let group = 4.min(panels - p);
                let mut acc = [_mm256_setzero_ps(); 8];
                for kk in 0..k {
                    let av = _mm256_set1_ps(*a.add(kk));
                    for g in 0..group {
                        let src = data.add((p + g) * stride + kk * NR);
                        acc[2 * g] = _mm256_fmadd_ps(av, _mm256_loadu_ps(src), acc[2 * g]);
                        acc[2 * g + 1] = _mm256_fmadd_ps(av, _mm256_loadu_ps(src.add(8)), acc[2 * g + 1]);
                    }
                }
                for g in 0..group {
                    let mut tmp = [0.0f32; NR];
                    _mm256_storeu_ps(tmp.as_mut_ptr(), acc[2 * g]);
                    _mm256_storeu_ps(tmp.as_mut_ptr().add(8), acc[2 * g + 1]);
                    let col0 = (p + g) * NR;
                    for (j, &v) in tmp.iter().enumerate().take(NR.min(n - col0)) {
                        let d = c.add(col0 + j);
                        *d = if accumulate { *d + v } else { v };
                    }
                }
                p += group;
            }
        }
    }

    /// `R` rows of A times one 16-column panel, accumulated in 2R registers.
    ///
    /// # Safety
    /// The CPU features of this module; `a` points to `R` rows of `k` values, the panels and `c` cover the block's columns (row stride of `c`: its second argument).
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn block<const R: usize>(
        k: usize,
        ldc: usize,
        a: *const f32,
        panel: *const f32,
        c: *mut f32,
        width: usize,
        accumulate: bool,
    ) {
        unsafe {
            let mut acc0 = [_mm256_setzero_ps(); R];
            let mut acc1 = [_mm256_setzero_ps(); R];
            for kk in 0..k {
                let b0 = _mm256_loadu_ps(panel.add(kk * NR));
                let b1 = _mm256_loadu_ps(panel.add(kk * NR + 8));
                for r in 0..R {
                    let av = _mm256_set1_ps(*a.add(r * k + kk));
                    acc0[r] = _mm256_fmadd_ps(av, b0, acc0[r]);
                    acc1[r] = _mm256_fmadd_ps(av, b1, acc1[r]);
                }
            }
            for r in 0..R {
                let dst = c.add(r * ldc);
                if width == NR {
                    let (mut v0, mut v1) = (acc0[r], acc1[r]);
                    if accumulate {
                        v0 = _mm256_add_ps(v0, _mm256_loadu_ps(dst));
                        v1 = _mm256_add_ps(v1, _mm256_loadu_ps(dst.add(8)));
                    }
                    _mm256_storeu_ps(dst, v0);
                    _mm256_storeu_ps(dst.add(8), v1);
                } else {
                    let mut tmp = [0.0f32; NR];
                    _mm256_storeu_ps(tmp.as_mut_ptr(), acc0[r]);
                    _mm256_storeu_ps(tmp.as_mut_ptr().add(8), acc1[r]);
                    for (j, &v) in tmp.iter().enumerate().take(width) {
                        let d = dst.add(j);
                        *d = if accumulate { *d + v } else { v };
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{row_blocks, PackedMatrix, NR};
    use std::arch::x86_64::*;

    /// The packed panels: panel `p` starts at `data + p * stride`.
    #[derive(Clone, Copy)]
    struct Panels {
        data: *const f32,
        stride: usize,
    }

    /// Panels per micro-kernel call: a 6 x 64 block of C in 24 of the 32 registers.
    const NP: usize = 4;

    /// # Safety
    /// The CPU has the features this module is compiled for; `a` holds at least `m * b.k` values and `c` at least `m * b.n` (as `PackedMatrix::multiply` checks).
    #[target_feature(enable = "avx512f")]
    pub unsafe fn multiply(b: &PackedMatrix, m: usize, a: &[f32], c: &mut [f32], accumulate: bool) {
        unsafe {
            let (k, n) = (b.k, b.n);
            let data = Panels { data: b.data().as_ptr(), stride: b.stride };
            let panels = n.div_ceil(NR);
            if m <= 2 {
                // A row or two (sampling one name): one row against eight panels per pass keeps
                // eight independent accumulators in flight.
                for i in 0..m {
                    let mut p = 0;
                    while p < panels {
                        let group = 8.min(panels - p);
                        let (a_ptr, c_ptr) = (a.as_ptr().add(i * k), c.as_mut_ptr().add(i * n));
                        match group {
                            8 => block::<1, 8>(k, n, a_ptr, data, p, c_ptr, accumulate),
                            7 => block::<1, 7>(k, n, a_ptr, data, p, c_ptr, accumulate),
                            6 => block::<1, 6>(k, n, a_ptr, data, p, c_ptr, accumulate),
                            5 => block::<1, 5>(k, n, a_ptr, data, p, c_ptr, accumulate),
                            _ => panels_for_rows::<1>(k, n, a_ptr, data, p, group, c_ptr, accumulate),
                        }
                        p += group;
                    }
                }
                return;
            }
            let mut p = 0;
            while p < panels {
                let group = NP.min(panels - p);
                for (i, rows) in row_blocks(m) {
                    let (a_ptr, c_ptr) = (a.as_ptr().add(i * k), c.as_mut_ptr().add(i * n));
                    match rows {
                        6 => panels_for_rows::<6>(k, n, a_ptr, data, p, group, c_ptr, accumulate),
                        5 => panels_for_rows::<5>(k, n, a_ptr, data, p, group, c_ptr, accumulate),
                        4 => panels_for_rows::<4>(k, n, a_ptr, data, p, group, c_ptr, accumulate),
                        3 => panels_for_rows::<3>(k, n, a_ptr, data, p, group, c_ptr, accumulate),
                        2 => panels_for_rows::<2>(k, n, a_ptr, data, p, group, c_ptr, accumulate),
                        _ => panels_for_rows::<1>(k, n, a_ptr, data, p, group, c_ptr, accumulate),
                    }
                }
                p += group;
            }
        }
    }

    /// `R` rows times `group` (1..=4) panels starting at panel `p`.
    ///
    /// # Safety
    /// As `block`: AVX-512F, `a` holds `R` rows of `k` values, panels `p..p + group` exist, and `c` covers them.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn panels_for_rows<const R: usize>(
        k: usize,
        n: usize,
        a: *const f32,
        data: Panels,
        p: usize,
        group: usize,
        c: *mut f32,
        accumulate: bool,
    ) {
        unsafe {
            match group {
                4 => block::<R, 4>(k, n, a, data, p, c, accumulate),
                3 => block::<R, 3>(k, n, a, data, p, c, accumulate),
                2 => block::<R, 2>(k, n, a, data, p, c, accumulate),
                _ => block::<R, 1>(k, n, a, data, p, c, accumulate),
            }
        }
    }

    /// `R` rows of A (row stride `k`) times the `P` panels from panel `p`, into the
    /// matching `R x 16P` block of C (row stride `n`, the last panel possibly narrower).
    ///
    /// # Safety
    /// The CPU features of this module; `a` points to `R` rows of `k` values, the panels and `c` cover the block's columns (row stride of `c`: its second argument).
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn block<const R: usize, const P: usize>(
        k: usize,
        n: usize,
        a: *const f32,
        data: Panels,
        p: usize,
        c: *mut f32,
        accumulate: bool,
    ) {
        unsafe {
            let mut acc = [[_mm512_setzero_ps(); P]; R];
            let panel = |q: usize| data.data.add((p + q) * data.stride);
            for kk in 0..k {
                let mut bv = [_mm512_setzero_ps(); P];
                for (q, b) in bv.iter_mut().enumerate() {
                    *b = _mm512_load_ps(panel(q).add(kk * NR));
                }
                for (r, row) in acc.iter_mut().enumerate() {
                    let av = _mm512_set1_ps(*a.add(r * k + kk));
                    for (q, v) in row.iter_mut().enumerate() {
                        *v = _mm512_fmadd_ps(av, bv[q], *v);
                    }
                }
            }
            for (r, row) in acc.iter().enumerate() {
                for (q, &v) in row.iter().enumerate() {
                    let col = (p + q) * NR;
                    let dst = c.add(r * n + col);
                    let width = NR.min(n - col);
                    let mask: __mmask16 = if width == NR { 0xffff } else { (1u16 << width) - 1 };
                    let v = if accumulate { _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, dst)) } else { v };
                    _mm512_mask_storeu_ps(dst, mask, v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_products_match_a_naive_product_for_ragged_shapes() {
        for &(m, n, k) in &[(1, 1, 1), (7, 33, 5), (13, 512, 128), (6, 16, 3), (25, 65, 40), (1, 200, 9), (2, 70, 33), (1, 300, 17), (9, 100, 64)] {
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.1).collect();
            let w: Vec<f32> = (0..n * k).map(|i| ((i * 5 % 13) as f32 - 6.0) * 0.1).collect(); // [n, k]
            let mut want = vec![0.0f32; m * n];
            for i in 0..m {
                for j in 0..n {
                    want[i * n + j] = (0..k).map(|p| a[i * k + p] * w[j * k + p]).sum::<f32>() + 1.0;
                }
            }
            let packed = PackedMatrix::from_transposed(&w, n, k);
            let mut got = vec![1.0f32; m * n];
            packed.multiply(m, &a, &mut got, true);
            let mut portable = vec![1.0f32; m * n];
            packed.multiply_portable(m, &a, &mut portable, true);
            // The same product via from_matrix of W^T.
            let wt: Vec<f32> = (0..k * n).map(|i| w[(i % n) * k + i / n]).collect();
            let mut via_t = vec![0.0f32; m * n];
            PackedMatrix::from_matrix(&wt, k, n).multiply(m, &a, &mut via_t, false);
            // Every kernel forms each element in the same order: bit-identical results.
            #[cfg(target_arch = "x86_64")]
            if crate::simd::has_avx2_fma() {
                let mut narrow = vec![1.0f32; m * n];
                // SAFETY: the CPU has AVX2 and FMA; the operands have the checked sizes.
                unsafe { avx2::multiply(&packed, m, &a, &mut narrow, true) };
                assert_eq!(narrow, got, "{m}x{n}x{k}: AVX2 and dispatched kernels differ");
            }
            for i in 0..m * n {
                assert!((got[i] - want[i]).abs() < 1e-4, "{m}x{n}x{k}");
                assert!((portable[i] - want[i]).abs() < 1e-4);
                assert!((via_t[i] + 1.0 - want[i]).abs() < 1e-4);
            }
        }
    }
}
