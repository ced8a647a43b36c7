//! The three recurrent cells, their parameter shapes, and the per-row arithmetic of one
//! time step (shared by the training kernels and the sampler).
//!
//! Weight layout and gate order follow PyTorch (`nn.LSTM`, `nn.RNN`, `nn.GRU`):
//! `w_ih` is `[G*H, In]`, `w_hh` is `[G*H, H]`, `b_ih`/`b_hh` are `[G*H]`, and the gate
//! blocks are stacked in the order
//!
//! * LSTM (G = 4): i, f, g, o —
//!   `i = σ(·)`, `f = σ(·)`, `g = tanh(·)`, `o = σ(·)`, `c' = f*c + i*g`, `h' = o*tanh(c')`
//! * RNN  (G = 1): `h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`
//! * GRU  (G = 3): r, z, n — `r = σ(·)`, `z = σ(·)`,
//!   `n = tanh(W_in x + b_in + r*(W_hn h + b_hn))`, `h' = (1-z)*n + z*h`

use crate::error::{KernelError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellKind {
    Lstm,
    Rnn,
    Gru,
}

impl CellKind {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "lstm" => Ok(CellKind::Lstm),
            "rnn" => Ok(CellKind::Rnn),
            "gru" => Ok(CellKind::Gru),
            other => Err(KernelError::Value(format!(
                "unknown cell {other:?}: expected \"lstm\", \"rnn\" or \"gru\""
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            CellKind::Lstm => "lstm",
            CellKind::Rnn => "rnn",
            CellKind::Gru => "gru",
        }
    }

    /// Number of gate blocks `G` stacked in the weight matrices.
    pub fn gates(self) -> usize {
        match self {
            CellKind::Lstm => 4,
            CellKind::Rnn => 1,
            CellKind::Gru => 3,
        }
    }

    /// Whether the cell carries a memory cell `c` beside `h` (LSTM only).
    pub fn has_cell_state(self) -> bool {
        self == CellKind::Lstm
    }
}

use crate::simd::{sigmoid, tanh};

// Each kernel below has a portable element-by-element version and, on x86-64 CPUs with
// AVX2+FMA, an explicit 8-lane version (the fast `sigmoid`/`tanh` of `simd::avx2`, no
// divisions) that falls back to the element version for the last `hidden % 8` columns.

/// One LSTM element: `(i, f, g, o, c, h)` from the pre-activations and `c_prev`.
#[inline(always)]
fn lstm_elem(pi: f32, pf: f32, pg: f32, po: f32, cp: f32) -> (f32, f32, f32, f32, f32, f32) {
    let (i, f, g, o) = (sigmoid(pi), sigmoid(pf), tanh(pg), sigmoid(po));
    let c = f * cp + i * g;
    (i, f, g, o, c, o * tanh(c))
}

/// One LSTM backward element: `(d_i, d_f, d_g, d_o, dc_prev)`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn lstm_backward_elem(i: f32, f: f32, gv: f32, o: f32, c: f32, cp: f32, dh_j: f32, dc: f32) -> (f32, f32, f32, f32, f32) {
    let tc = tanh(c);
    let dc_j = dc + dh_j * o * (1.0 - tc * tc);
    (dc_j * gv * i * (1.0 - i), dc_j * cp * f * (1.0 - f), dc_j * i * (1.0 - gv * gv), dh_j * tc * o * (1.0 - o), dc_j * f)
}

/// LSTM step for `rows` rows. `gates` holds the pre-activations `[rows, 4H]` on entry
/// and the activations (i, f, g, o) on exit; writes `c_out` and `h_out` (`[rows, H]`).
pub fn lstm_rows(gates: &mut [f32], c_prev: &[f32], c_out: &mut [f32], h_out: &mut [f32], hidden: usize) {
    let h = hidden;
    let rows = gates.len() / (4 * h);
    assert!(c_prev.len() >= rows * h && c_out.len() >= rows * h && h_out.len() >= rows * h, "lstm_rows: short state");
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2_fma() {
        // SAFETY: the CPU has AVX2+FMA; every slice holds `rows` rows (checked above).
        unsafe { x86::lstm_rows(gates, c_prev, c_out, h_out, h) };
        done = h - h % 8;
    }
    for (r, row) in gates.chunks_exact_mut(4 * h).enumerate() {
        for j in done..h {
            let (i, f, g, o, c, hv) = lstm_elem(row[j], row[h + j], row[2 * h + j], row[3 * h + j], c_prev[r * h + j]);
            (row[j], row[h + j], row[2 * h + j], row[3 * h + j]) = (i, f, g, o);
            c_out[r * h + j] = c;
            h_out[r * h + j] = hv;
        }
    }
}

/// LSTM backward for one step's `rows` rows: from the activations `gates`, this step's
/// cells `c` and the previous `c_prev`, the output gradient `d_out` and the carried
/// `dh`/`dc`, writes the pre-activation gradients `d_pre` (`[rows, 4H]`) and replaces
/// `dc` by the gradient w.r.t. `c_prev`.
#[allow(clippy::too_many_arguments)]
pub fn lstm_backward_rows(
    gates: &[f32],
    c: &[f32],
    c_prev: &[f32],
    d_out: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    d_pre: &mut [f32],
    hidden: usize,
) {
    let h = hidden;
    let rows = d_pre.len() / (4 * h);
    assert!(gates.len() >= rows * 4 * h, "lstm_backward_rows: short gates");
    for s in [c, c_prev, d_out, dh, &*dc] {
        assert!(s.len() >= rows * h, "lstm_backward_rows: short state");
    }
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2_fma() {
        // SAFETY: the CPU has AVX2+FMA; every slice holds `rows` rows (checked above).
        unsafe { x86::lstm_backward_rows(gates, c, c_prev, d_out, dh, dc, d_pre, h) };
        done = h - h % 8;
    }
    for (r, dg) in d_pre.chunks_exact_mut(4 * h).enumerate() {
        let g = &gates[r * 4 * h..(r + 1) * 4 * h];
        for j in done..h {
            let k = r * h + j;
            let (di, df, dgg, dgo, dcp) =
                lstm_backward_elem(g[j], g[h + j], g[2 * h + j], g[3 * h + j], c[k], c_prev[k], d_out[k] + dh[k], dc[k]);
            (dg[j], dg[h + j], dg[2 * h + j], dg[3 * h + j]) = (di, df, dgg, dgo);
            dc[k] = dcp;
        }
    }
}

/// Vanilla RNN step: `h_out = tanh(pre)` for `[rows, H]`.
pub fn rnn_rows(pre: &[f32], h_out: &mut [f32]) {
    let n = pre.len().min(h_out.len());
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2_fma() {
        // SAFETY: the CPU has AVX2+FMA; both slices hold `n` values.
        unsafe { x86::rnn_rows(&pre[..n], &mut h_out[..n]) };
        done = n - n % 8;
    }
    for (h, p) in h_out[done..n].iter_mut().zip(&pre[done..n]) {
        *h = tanh(*p);
    }
}

/// RNN backward for one step: `d_pre = (d_out + dh) * (1 - h^2)`.
pub fn rnn_backward_rows(h: &[f32], d_out: &[f32], dh: &[f32], d_pre: &mut [f32]) {
    rnn_backward_impl(h, d_out, dh, d_pre)
}

crate::dispatch! {
    /// The auto-vectorised body of `rnn_backward_rows` (no transcendental functions).
    pub fn rnn_backward_impl(h: &[f32], d_out: &[f32], dh: &[f32], d_pre: &mut [f32]) {
        for (((d, hv), o), c) in d_pre.iter_mut().zip(h).zip(d_out).zip(dh) {
            *d = (o + c) * (1.0 - hv * hv);
        }
    }
}

/// One GRU element: `(r, z, n, h')` from the input part, the recurrent part and `h_prev`.
#[inline(always)]
fn gru_elem(xr: f32, xz: f32, xn: f32, hr: f32, hz: f32, hn: f32, hp: f32) -> (f32, f32, f32, f32) {
    let rg = sigmoid(xr + hr);
    let zg = sigmoid(xz + hz);
    let ng = tanh(xn + rg * hn);
    (rg, zg, ng, (1.0 - zg) * ng + zg * hp)
}

/// GRU step for `rows` rows. `gates` holds the input part `W_ih x + b_ih` (`[rows, 3H]`)
/// on entry and the activations (r, z, n) on exit; `hh` is `W_hh h + b_hh`
/// (`[rows, 3H]`). Writes `h_out` and `hn_out = W_hn h + b_hn` (kept for backward).
pub fn gru_rows(gates: &mut [f32], hh: &[f32], h_prev: &[f32], h_out: &mut [f32], hn_out: &mut [f32], hidden: usize) {
    let h = hidden;
    let rows = gates.len() / (3 * h);
    assert!(hh.len() >= rows * 3 * h, "gru_rows: short hh");
    assert!(h_prev.len() >= rows * h && h_out.len() >= rows * h && hn_out.len() >= rows * h, "gru_rows: short state");
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2_fma() {
        // SAFETY: the CPU has AVX2+FMA; every slice holds `rows` rows (checked above).
        unsafe { x86::gru_rows(gates, hh, h_prev, h_out, hn_out, h) };
        done = h - h % 8;
    }
    for (r, row) in gates.chunks_exact_mut(3 * h).enumerate() {
        let q = &hh[r * 3 * h..(r + 1) * 3 * h];
        for j in done..h {
            let k = r * h + j;
            let (rg, zg, ng, hv) = gru_elem(row[j], row[h + j], row[2 * h + j], q[j], q[h + j], q[2 * h + j], h_prev[k]);
            (row[j], row[h + j], row[2 * h + j]) = (rg, zg, ng);
            hn_out[k] = q[2 * h + j];
            h_out[k] = hv;
        }
    }
}

/// GRU backward for one step: writes the gradients w.r.t. the input part `d_pre` and
/// the recurrent part `d_hh` (`[rows, 3H]`), and replaces `dh` (the carried gradient on
/// entry) by the direct-path gradient `dh * z` w.r.t. `h_prev`; the caller adds
/// `d_hh @ W_hh`.
#[allow(clippy::too_many_arguments)]
pub fn gru_backward_rows(
    gates: &[f32],
    hn: &[f32],
    h_prev: &[f32],
    d_out: &[f32],
    dh: &mut [f32],
    d_pre: &mut [f32],
    d_hh: &mut [f32],
    hidden: usize,
) {
    gru_backward_impl(gates, hn, h_prev, d_out, dh, d_pre, d_hh, hidden)
}

crate::dispatch! {
    /// The auto-vectorised body of `gru_backward_rows` (no transcendental functions).
    pub fn gru_backward_impl(
        gates: &[f32],
        hn: &[f32],
        h_prev: &[f32],
        d_out: &[f32],
        dh: &mut [f32],
        d_pre: &mut [f32],
        d_hh: &mut [f32],
        hidden: usize,
    ) {
        let h = hidden;
        for (r, dp) in d_pre.chunks_exact_mut(3 * h).enumerate() {
            let g = &gates[r * 3 * h..(r + 1) * 3 * h];
            let (gr, gz, gn) = (&g[..h], &g[h..2 * h], &g[2 * h..]);
            let dq = &mut d_hh[r * 3 * h..(r + 1) * 3 * h];
            let (dpr, rest) = dp.split_at_mut(h);
            let (dpz, dpn) = rest.split_at_mut(h);
            let (dqr, rest) = dq.split_at_mut(h);
            let (dqz, dqn) = rest.split_at_mut(h);
            let span = r * h..(r + 1) * h;
            let (hn, hp, dout) = (&hn[span.clone()], &h_prev[span.clone()], &d_out[span.clone()]);
            let dh = &mut dh[span];
            for j in 0..h {
                let (rg, zg, ng) = (gr[j], gz[j], gn[j]);
                let dh_j = dout[j] + dh[j];
                let da_n = dh_j * (1.0 - zg) * (1.0 - ng * ng);
                let da_z = dh_j * (hp[j] - ng) * zg * (1.0 - zg);
                let da_r = da_n * hn[j] * rg * (1.0 - rg);
                dpr[j] = da_r;
                dpz[j] = da_z;
                dpn[j] = da_n;
                dqr[j] = da_r;
                dqz[j] = da_z;
                dqn[j] = da_n * rg;
                dh[j] = dh_j * zg;
            }
        }
    }
}

/// The 8-lane kernels: columns `0..hidden - hidden % 8` of every row.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use crate::simd::avx2::{sigmoid, tanh};
    use std::arch::x86_64::*;

    #[inline(always)]
    unsafe fn ld(s: &[f32], i: usize) -> __m256 {
        debug_assert!(i + 8 <= s.len());
        _mm256_loadu_ps(s.as_ptr().add(i))
    }

    #[inline(always)]
    unsafe fn st(s: &mut [f32], i: usize, v: __m256) {
        debug_assert!(i + 8 <= s.len());
        _mm256_storeu_ps(s.as_mut_ptr().add(i), v)
    }

    /// # Safety
    /// AVX2+FMA; `gates` is `[rows, 4h]` and the others hold at least `rows * h` values.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn lstm_rows(gates: &mut [f32], c_prev: &[f32], c_out: &mut [f32], h_out: &mut [f32], h: usize) {
        for (r, row) in gates.chunks_exact_mut(4 * h).enumerate() {
            let mut j = 0;
            while j + 8 <= h {
                let k = r * h + j;
                let i = sigmoid(ld(row, j));
                let f = sigmoid(ld(row, h + j));
                let g = tanh(ld(row, 2 * h + j));
                let o = sigmoid(ld(row, 3 * h + j));
                let c = _mm256_fmadd_ps(f, ld(c_prev, k), _mm256_mul_ps(i, g));
                st(row, j, i);
                st(row, h + j, f);
                st(row, 2 * h + j, g);
                st(row, 3 * h + j, o);
                st(c_out, k, c);
                st(h_out, k, _mm256_mul_ps(o, tanh(c)));
                j += 8;
            }
        }
    }

    /// # Safety
    /// AVX2+FMA; `gates`/`d_pre` are `[rows, 4h]`, the others hold at least `rows * h`.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn lstm_backward_rows(
        gates: &[f32],
        c: &[f32],
        c_prev: &[f32],
        d_out: &[f32],
        dh: &[f32],
        dc: &mut [f32],
        d_pre: &mut [f32],
        h: usize,
    ) {
        let one = _mm256_set1_ps(1.0);
        for (r, dg) in d_pre.chunks_exact_mut(4 * h).enumerate() {
            let g = &gates[r * 4 * h..(r + 1) * 4 * h];
            let mut j = 0;
            while j + 8 <= h {
                let k = r * h + j;
                let (i, f, gv, o) = (ld(g, j), ld(g, h + j), ld(g, 2 * h + j), ld(g, 3 * h + j));
                let tc = tanh(ld(c, k));
                let dh_j = _mm256_add_ps(ld(d_out, k), ld(dh, k));
                // dc_j = dc + dh_j * o * (1 - tc^2)
                let dc_j = _mm256_fmadd_ps(_mm256_mul_ps(dh_j, o), _mm256_fnmadd_ps(tc, tc, one), ld(dc, k));
                let di = _mm256_mul_ps(_mm256_mul_ps(dc_j, gv), _mm256_mul_ps(i, _mm256_sub_ps(one, i)));
                let df = _mm256_mul_ps(_mm256_mul_ps(dc_j, ld(c_prev, k)), _mm256_mul_ps(f, _mm256_sub_ps(one, f)));
                let dgg = _mm256_mul_ps(_mm256_mul_ps(dc_j, i), _mm256_fnmadd_ps(gv, gv, one));
                let dgo = _mm256_mul_ps(_mm256_mul_ps(dh_j, tc), _mm256_mul_ps(o, _mm256_sub_ps(one, o)));
                st(dg, j, di);
                st(dg, h + j, df);
                st(dg, 2 * h + j, dgg);
                st(dg, 3 * h + j, dgo);
                st(dc, k, _mm256_mul_ps(dc_j, f));
                j += 8;
            }
        }
    }

    /// # Safety
    /// AVX2+FMA; `pre` and `h_out` have the same length.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn rnn_rows(pre: &[f32], h_out: &mut [f32]) {
        let mut j = 0;
        while j + 8 <= pre.len() {
            st(h_out, j, tanh(ld(pre, j)));
            j += 8;
        }
    }

    /// # Safety
    /// AVX2+FMA; `gates`/`hh` are `[rows, 3h]`, the others hold at least `rows * h`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn gru_rows(gates: &mut [f32], hh: &[f32], h_prev: &[f32], h_out: &mut [f32], hn_out: &mut [f32], h: usize) {
        for (r, row) in gates.chunks_exact_mut(3 * h).enumerate() {
            let q = &hh[r * 3 * h..(r + 1) * 3 * h];
            let mut j = 0;
            while j + 8 <= h {
                let k = r * h + j;
                let rg = sigmoid(_mm256_add_ps(ld(row, j), ld(q, j)));
                let zg = sigmoid(_mm256_add_ps(ld(row, h + j), ld(q, h + j)));
                let hn = ld(q, 2 * h + j);
                let ng = tanh(_mm256_add_ps(ld(row, 2 * h + j), _mm256_mul_ps(rg, hn)));
                st(row, j, rg);
                st(row, h + j, zg);
                st(row, 2 * h + j, ng);
                st(hn_out, k, hn);
                // (1 - z) * n + z * h_prev
                let keep = _mm256_mul_ps(_mm256_sub_ps(_mm256_set1_ps(1.0), zg), ng);
                st(h_out, k, _mm256_add_ps(keep, _mm256_mul_ps(zg, ld(h_prev, k))));
                j += 8;
            }
        }
    }
}
