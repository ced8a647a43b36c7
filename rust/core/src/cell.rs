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

use crate::dispatch;
use crate::simd::{sigmoid, tanh};

dispatch! {
    /// LSTM step for `rows` rows. `gates` holds the pre-activations `[rows, 4H]` on entry
    /// and the activations (i, f, g, o) on exit; writes `c_out` and `h_out` (`[rows, H]`).
    pub fn lstm_rows(gates: &mut [f32], c_prev: &[f32], c_out: &mut [f32], h_out: &mut [f32], hidden: usize) {
        let h = hidden;
        for (r, row) in gates.chunks_exact_mut(4 * h).enumerate() {
            let (ig, rest) = row.split_at_mut(h);
            let (fg, rest) = rest.split_at_mut(h);
            let (gg, og) = rest.split_at_mut(h);
            let cp = &c_prev[r * h..(r + 1) * h];
            let co = &mut c_out[r * h..(r + 1) * h];
            let ho = &mut h_out[r * h..(r + 1) * h];
            for j in 0..h {
                let i = sigmoid(ig[j]);
                let f = sigmoid(fg[j]);
                let g = tanh(gg[j]);
                let o = sigmoid(og[j]);
                let c = f * cp[j] + i * g;
                ig[j] = i;
                fg[j] = f;
                gg[j] = g;
                og[j] = o;
                co[j] = c;
                ho[j] = o * tanh(c);
            }
        }
    }
}

dispatch! {
    /// LSTM backward for one step's `rows` rows: from the activations `gates`, this step's
    /// cells `c` and the previous `c_prev`, the output gradient `d_out` and the carried
    /// `dh`/`dc`, writes the pre-activation gradients `d_pre` (`[rows, 4H]`) and replaces
    /// `dc` by the gradient w.r.t. `c_prev`.
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
        for (r, dg) in d_pre.chunks_exact_mut(4 * h).enumerate() {
            let g = &gates[r * 4 * h..(r + 1) * 4 * h];
            let (gi, gf, gg, go) = (&g[..h], &g[h..2 * h], &g[2 * h..3 * h], &g[3 * h..]);
            let (dgi, rest) = dg.split_at_mut(h);
            let (dgf, rest) = rest.split_at_mut(h);
            let (dgg, dgo) = rest.split_at_mut(h);
            let span = r * h..(r + 1) * h;
            let (c, cp, dout, dh) = (&c[span.clone()], &c_prev[span.clone()], &d_out[span.clone()], &dh[span.clone()]);
            let dc = &mut dc[span];
            for j in 0..h {
                let (i, f, gv, o) = (gi[j], gf[j], gg[j], go[j]);
                let tc = tanh(c[j]);
                let dh_j = dout[j] + dh[j];
                let dc_j = dc[j] + dh_j * o * (1.0 - tc * tc);
                dgi[j] = dc_j * gv * i * (1.0 - i);
                dgf[j] = dc_j * cp[j] * f * (1.0 - f);
                dgg[j] = dc_j * i * (1.0 - gv * gv);
                dgo[j] = dh_j * tc * o * (1.0 - o);
                dc[j] = dc_j * f;
            }
        }
    }
}

dispatch! {
    /// Vanilla RNN step: `h_out = tanh(pre)` for `[rows, H]`.
    pub fn rnn_rows(pre: &[f32], h_out: &mut [f32]) {
        for (h, p) in h_out.iter_mut().zip(pre) {
            *h = tanh(*p);
        }
    }
}

dispatch! {
    /// RNN backward for one step: `d_pre = (d_out + dh) * (1 - h^2)`.
    pub fn rnn_backward_rows(h: &[f32], d_out: &[f32], dh: &[f32], d_pre: &mut [f32]) {
        for (((d, hv), o), c) in d_pre.iter_mut().zip(h).zip(d_out).zip(dh) {
            *d = (o + c) * (1.0 - hv * hv);
        }
    }
}

dispatch! {
    /// GRU step for `rows` rows. `gates` holds the input part `W_ih x + b_ih` (`[rows, 3H]`)
    /// on entry and the activations (r, z, n) on exit; `hh` is `W_hh h + b_hh`
    /// (`[rows, 3H]`). Writes `h_out` and `hn_out = W_hn h + b_hn` (kept for backward).
    pub fn gru_rows(gates: &mut [f32], hh: &[f32], h_prev: &[f32], h_out: &mut [f32], hn_out: &mut [f32], hidden: usize) {
        let h = hidden;
        for (r, row) in gates.chunks_exact_mut(3 * h).enumerate() {
            let hrow = &hh[r * 3 * h..(r + 1) * 3 * h];
            let (xr, rest) = row.split_at_mut(h);
            let (xz, xn) = rest.split_at_mut(h);
            let (hr, hz, hnv) = (&hrow[..h], &hrow[h..2 * h], &hrow[2 * h..]);
            let span = r * h..(r + 1) * h;
            let hp = &h_prev[span.clone()];
            let ho = &mut h_out[span.clone()];
            let hn = &mut hn_out[span];
            for j in 0..h {
                let rg = sigmoid(xr[j] + hr[j]);
                let zg = sigmoid(xz[j] + hz[j]);
                let ng = tanh(xn[j] + rg * hnv[j]);
                xr[j] = rg;
                xz[j] = zg;
                xn[j] = ng;
                hn[j] = hnv[j];
                ho[j] = (1.0 - zg) * ng + zg * hp[j];
            }
        }
    }
}

dispatch! {
    /// GRU backward for one step: writes the gradients w.r.t. the input part `d_pre` and
    /// the recurrent part `d_hh` (`[rows, 3H]`), and replaces `dh` (the carried gradient on
    /// entry) by the direct-path gradient `dh * z` w.r.t. `h_prev`; the caller adds
    /// `d_hh @ W_hh`.
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
