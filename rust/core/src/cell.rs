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

/// Runs `x86::$kernel` over the widest lanes the CPU has: 16-lane AVX-512 for the first
/// `width - width % 16` columns, then 8-lane AVX2 for a remaining block of 8 (for all of
/// them on CPUs without AVX-512). Evaluates to
/// the number of columns done; the caller finishes the rest in scalar code. A given
/// column is always computed by the same code on a given CPU, so results are reproducible.
macro_rules! vectorised {
    ($kernel:ident, $width:expr, ($($arg:expr),*)) => {{
        #[allow(unused_mut)]
        let mut done = 0usize;
        #[cfg(target_arch = "x86_64")]
        {
            let width: usize = $width;
            if crate::simd::has_avx512() {
                done = width - width % 16;
                // SAFETY: the CPU has AVX-512F; the caller checked every slice's length.
                unsafe { x86::$kernel::w16($($arg,)* 0..done) };
            }
            let to = width - (width - done) % 8;
            if crate::simd::has_avx2_fma() && to > done {
                // SAFETY: the CPU has AVX2+FMA; the caller checked every slice's length.
                unsafe { x86::$kernel::w8($($arg,)* done..to) };
                done = to;
            }
        }
        done
    }};
}

use crate::simd::{sigmoid, tanh};

// Each kernel below has a portable element-by-element version and, on x86-64 CPUs, an
// explicit vector version (16 lanes with AVX-512, 8 with AVX2+FMA; the fast
// `sigmoid`/`tanh` of `simd::vector`, no divisions) that leaves the last columns that do
// not fill a vector to the element version.

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
    let done = vectorised!(lstm_rows, h, (gates, c_prev, c_out, h_out, h));
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
    let done = vectorised!(lstm_backward_rows, h, (gates, c, c_prev, d_out, dh, dc, d_pre, h));
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
    let done = vectorised!(rnn_rows, n, (&pre[..n], &mut h_out[..n]));
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
    let done = vectorised!(gru_rows, h, (gates, hh, h_prev, h_out, hn_out, h));
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

/// The vectorised kernels, generic over the lane width: each processes the columns
/// `cols` of every row (a multiple of `L::N` of them). `x86::$kernel::w16` / `::w8` are
/// the AVX-512 and AVX2+FMA instantiations, compiled with those features.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use crate::simd::vector::{sigmoid, tanh};
    use crate::simd::{F32x16, F32x8, Lanes};
    use std::ops::Range;

    /// `pub mod $name { w16, w8 }`: the generic body `$name` compiled for each width.
    macro_rules! widths {
        ($($name:ident($($arg:ident: $ty:ty),*);)*) => {$(
            pub mod $name {
                use super::*;
                /// # Safety
                /// AVX-512F, and the slice lengths of the generic body.
                #[allow(clippy::too_many_arguments)]
                #[target_feature(enable = "avx512f")]
                pub unsafe fn w16($($arg: $ty,)* cols: Range<usize>) { unsafe { super::$name::<F32x16>($($arg,)* cols) } }
                /// # Safety
                /// AVX2+FMA, and the slice lengths of the generic body.
                #[allow(clippy::too_many_arguments)]
                #[target_feature(enable = "avx2,fma")]
                pub unsafe fn w8($($arg: $ty,)* cols: Range<usize>) { unsafe { super::$name::<F32x8>($($arg,)* cols) } }
            }
        )*};
    }

    widths! {
        lstm_rows(gates: &mut [f32], c_prev: &[f32], c_out: &mut [f32], h_out: &mut [f32], h: usize);
        lstm_backward_rows(gates: &[f32], c: &[f32], c_prev: &[f32], d_out: &[f32], dh: &[f32], dc: &mut [f32], d_pre: &mut [f32], h: usize);
        rnn_rows(pre: &[f32], h_out: &mut [f32]);
        gru_rows(gates: &mut [f32], hh: &[f32], h_prev: &[f32], h_out: &mut [f32], hn_out: &mut [f32], h: usize);
    }

    /// # Safety
    /// The features of `L`, and `i + L::N <= s.len()`.
    #[inline(always)]
    unsafe fn ld<L: Lanes>(s: &[f32], i: usize) -> L {
        unsafe {
            debug_assert!(i + L::N <= s.len());
            L::load(s.as_ptr().add(i))
        }
    }

    /// # Safety
    /// The features of `L`, and `i + L::N <= s.len()`.
    #[inline(always)]
    unsafe fn st<L: Lanes>(s: &mut [f32], i: usize, v: L) {
        unsafe {
            debug_assert!(i + L::N <= s.len());
            v.store(s.as_mut_ptr().add(i))
        }
    }

    /// # Safety
    /// The features of `L`; `gates` is `[rows, 4h]` and the others hold at least `rows * h`.
    #[inline(always)]
    pub unsafe fn lstm_rows<L: Lanes>(gates: &mut [f32], c_prev: &[f32], c_out: &mut [f32], h_out: &mut [f32], h: usize, cols: Range<usize>) {
        unsafe {
            for (r, row) in gates.chunks_exact_mut(4 * h).enumerate() {
                for j in cols.clone().step_by(L::N) {
                    let k = r * h + j;
                    let i: L = sigmoid(ld(row, j));
                    let f: L = sigmoid(ld(row, h + j));
                    let g: L = tanh(ld(row, 2 * h + j));
                    let o: L = sigmoid(ld(row, 3 * h + j));
                    let c = f.fmadd(ld(c_prev, k), i.mul(g));
                    st(row, j, i);
                    st(row, h + j, f);
                    st(row, 2 * h + j, g);
                    st(row, 3 * h + j, o);
                    st(c_out, k, c);
                    st(h_out, k, o.mul(tanh(c)));
                }
            }
        }
    }

    /// # Safety
    /// The features of `L`; `gates`/`d_pre` are `[rows, 4h]`, the others hold `rows * h`.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub unsafe fn lstm_backward_rows<L: Lanes>(
        gates: &[f32],
        c: &[f32],
        c_prev: &[f32],
        d_out: &[f32],
        dh: &[f32],
        dc: &mut [f32],
        d_pre: &mut [f32],
        h: usize,
        cols: Range<usize>,
    ) {
        unsafe {
            let one = L::splat(1.0);
            for (r, dg) in d_pre.chunks_exact_mut(4 * h).enumerate() {
                let g = &gates[r * 4 * h..(r + 1) * 4 * h];
                for j in cols.clone().step_by(L::N) {
                    let k = r * h + j;
                    let (i, f, gv, o): (L, L, L, L) = (ld(g, j), ld(g, h + j), ld(g, 2 * h + j), ld(g, 3 * h + j));
                    let tc: L = tanh(ld(c, k));
                    let dh_j = ld::<L>(d_out, k).add(ld(dh, k));
                    // dc_j = dc + dh_j * o * (1 - tc^2)
                    let dc_j = dh_j.mul(o).fmadd(tc.fnmadd(tc, one), ld(dc, k));
                    let di = dc_j.mul(gv).mul(i.mul(one.sub(i)));
                    let df = dc_j.mul(ld(c_prev, k)).mul(f.mul(one.sub(f)));
                    let dgg = dc_j.mul(i).mul(gv.fnmadd(gv, one));
                    let dgo = dh_j.mul(tc).mul(o.mul(one.sub(o)));
                    st(dg, j, di);
                    st(dg, h + j, df);
                    st(dg, 2 * h + j, dgg);
                    st(dg, 3 * h + j, dgo);
                    st(dc, k, dc_j.mul(f));
                }
            }
        }
    }

    /// # Safety
    /// The features of `L`; `pre` and `h_out` hold at least `cols.end` values.
    #[inline(always)]
    pub unsafe fn rnn_rows<L: Lanes>(pre: &[f32], h_out: &mut [f32], cols: Range<usize>) {
        unsafe {
            for j in cols.step_by(L::N) {
                st(h_out, j, tanh::<L>(ld(pre, j)));
            }
        }
    }

    /// # Safety
    /// The features of `L`; `gates`/`hh` are `[rows, 3h]`, the others hold `rows * h`.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub unsafe fn gru_rows<L: Lanes>(gates: &mut [f32], hh: &[f32], h_prev: &[f32], h_out: &mut [f32], hn_out: &mut [f32], h: usize, cols: Range<usize>) {
        unsafe {
            for (r, row) in gates.chunks_exact_mut(3 * h).enumerate() {
                let q = &hh[r * 3 * h..(r + 1) * 3 * h];
                for j in cols.clone().step_by(L::N) {
                    let k = r * h + j;
                    let rg: L = sigmoid(ld::<L>(row, j).add(ld(q, j)));
                    let zg: L = sigmoid(ld::<L>(row, h + j).add(ld(q, h + j)));
                    let hn: L = ld(q, 2 * h + j);
                    let ng: L = tanh(ld::<L>(row, 2 * h + j).add(rg.mul(hn)));
                    st(row, j, rg);
                    st(row, h + j, zg);
                    st(row, 2 * h + j, ng);
                    st(hn_out, k, hn);
                    // (1 - z) * n + z * h_prev
                    let keep = L::splat(1.0).sub(zg).mul(ng);
                    st(h_out, k, keep.add(zg.mul(ld(h_prev, k))));
                }
            }
        }
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n).map(|i| (((i * 37 + seed * 11) % 97) as f32 - 48.0) * 0.09).collect()
    }

    fn close(got: &[f32], want: &[f32], what: &str) {
        for (j, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() < 2e-6 * (1.0 + w.abs()), "{what} [{j}]: {g} vs {w}");
        }
    }

    /// The vector kernels (16 and 8 lanes plus the scalar tail, for widths that use every
    /// combination) against the element-by-element functions.
    #[test]
    fn vector_kernels_match_the_element_formulas_for_every_width() {
        for h in [1, 7, 8, 16, 24, 37, 64] {
            let rows = 3;
            let (pre, cp, dout, dh0, dc0) = (values(rows * 4 * h, 1), values(rows * h, 2), values(rows * h, 3), values(rows * h, 4), values(rows * h, 5));
            let mut gates = pre.clone();
            let (mut c, mut hv) = (vec![0.0; rows * h], vec![0.0; rows * h]);
            lstm_rows(&mut gates, &cp, &mut c, &mut hv, h);
            let (mut d_pre, mut dc) = (vec![0.0; rows * 4 * h], dc0.clone());
            lstm_backward_rows(&gates, &c, &cp, &dout, &dh0, &mut dc, &mut d_pre, h);
            let (mut wg, mut wc, mut wh, mut wd, mut wdc) = (gates.clone(), c.clone(), hv.clone(), d_pre.clone(), dc.clone());
            for r in 0..rows {
                for j in 0..h {
                    let (g, k) = (r * 4 * h, r * h + j);
                    let (i, f, gg, o, cv, hh) = lstm_elem(pre[g + j], pre[g + h + j], pre[g + 2 * h + j], pre[g + 3 * h + j], cp[k]);
                    (wg[g + j], wg[g + h + j], wg[g + 2 * h + j], wg[g + 3 * h + j], wc[k], wh[k]) = (i, f, gg, o, cv, hh);
                    let (di, df, dgg, dgo, dcp) = lstm_backward_elem(i, f, gg, o, cv, cp[k], dout[k] + dh0[k], dc0[k]);
                    (wd[g + j], wd[g + h + j], wd[g + 2 * h + j], wd[g + 3 * h + j], wdc[k]) = (di, df, dgg, dgo, dcp);
                }
            }
            close(&gates, &wg, "lstm gates");
            close(&c, &wc, "lstm c");
            close(&hv, &wh, "lstm h");
            close(&d_pre, &wd, "lstm d_pre");
            close(&dc, &wdc, "lstm dc");

            let (x3, hh3) = (values(rows * 3 * h, 6), values(rows * 3 * h, 7));
            let mut gates = x3.clone();
            let (mut h_out, mut hn) = (vec![0.0; rows * h], vec![0.0; rows * h]);
            gru_rows(&mut gates, &hh3, &cp, &mut h_out, &mut hn, h);
            let (mut wg, mut wh) = (gates.clone(), h_out.clone());
            for r in 0..rows {
                for j in 0..h {
                    let (g, k) = (r * 3 * h, r * h + j);
                    let (rg, zg, ng, hv) = gru_elem(x3[g + j], x3[g + h + j], x3[g + 2 * h + j], hh3[g + j], hh3[g + h + j], hh3[g + 2 * h + j], cp[k]);
                    (wg[g + j], wg[g + h + j], wg[g + 2 * h + j], wh[k]) = (rg, zg, ng, hv);
                }
            }
            close(&gates, &wg, "gru gates");
            close(&h_out, &wh, "gru h");

            let mut out = vec![0.0; rows * h];
            rnn_rows(&pre[..rows * h], &mut out);
            let want: Vec<f32> = pre[..rows * h].iter().map(|&p| tanh(p)).collect();
            close(&out, &want, "rnn h");
        }
    }
}
