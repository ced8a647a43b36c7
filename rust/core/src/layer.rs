//! One recurrent layer over a whole packed batch (see `layout`): forward through all time
//! steps in one call, and backward through time.
//!
//! Forward does the input projection of every step as one matrix multiply (or, for the
//! first layer of a model, a row gather from a precomputed table), then one small multiply
//! per step for the recurrence. Sequences are independent within a layer, so the ranks are
//! split into balanced groups that run the whole recurrence on separate threads.
//! Backward walks the steps in reverse carrying `dL/dh` (and `dL/dc`), then forms the
//! weight gradients with one multiply each.

use std::ops::Range;

use crate::cell::{gru_backward_rows, gru_rows, lstm_backward_rows, lstm_rows, rnn_backward_rows, rnn_rows, CellKind};
use crate::cancel::{blocks, Cancel};
use crate::error::{check_len, KernelError, Result};
use crate::gemm::{matmul_ab, matmul_abt, matmul_atb};
use crate::ops::{column_sums, repeat_row};
use crate::packed_gemm::PackedMatrix;
use crate::layout::SeqLayout;
use crate::parallel::{self, balanced_ranges, SharedMut};

/// Borrowed weights of one layer (PyTorch layout, see `cell`).
#[derive(Debug, Clone, Copy)]
pub struct LayerWeights<'a> {
    pub kind: CellKind,
    pub input: usize,
    pub hidden: usize,
    pub w_ih: &'a [f32],
    pub w_hh: &'a [f32],
    pub b_ih: &'a [f32],
    pub b_hh: &'a [f32],
}

impl<'a> LayerWeights<'a> {
    pub fn check(&self) -> Result<()> {
        let gh = self.gate_width();
        if self.hidden == 0 || self.input == 0 {
            return Err(KernelError::Value("layer sizes must be at least 1".into()));
        }
        check_len("w_ih", self.w_ih, &[gh, self.input])?;
        check_len("w_hh", self.w_hh, &[gh, self.hidden])?;
        check_len("b_ih", self.b_ih, &[gh])?;
        check_len("b_hh", self.b_hh, &[gh])?;
        Ok(())
    }

    pub fn gate_width(&self) -> usize {
        self.kind.gates() * self.hidden
    }

    /// The bias added to the input projection: `b_ih + b_hh`, except for GRU where `b_hh`
    /// stays inside the reset gate's product and only `b_ih` is added here.
    pub fn input_bias(&self) -> Vec<f32> {
        match self.kind {
            CellKind::Gru => self.b_ih.to_vec(),
            _ => self.b_ih.iter().zip(self.b_hh).map(|(a, b)| a + b).collect(),
        }
    }
}

/// What the forward pass keeps for the backward pass. All packed (`[rows, ...]`).
#[derive(Debug, Clone)]
pub struct LayerTape {
    /// Gate activations `[rows, G*H]` (LSTM: i, f, g, o; GRU: r, z, n; RNN: tanh pre-act).
    pub gates: Vec<f32>,
    /// Layer outputs `h` `[rows, H]`.
    pub h: Vec<f32>,
    /// LSTM: memory cells `c` `[rows, H]`; GRU: `W_hn h + b_hn` `[rows, H]`; RNN: empty.
    pub aux: Vec<f32>,
}

/// Gradients of one layer: the input weights' and the input's (`x`, `[rows, In]` packed),
/// and those of the recurrence (its `d_pre` used up, left empty).
#[derive(Debug, Clone)]
pub struct LayerGrads {
    pub w_ih: Vec<f32>,
    pub x: Vec<f32>,
    pub recurrent: RecurrentGrads,
}

/// Gradients w.r.t. the pre-activations, before the input weights are involved;
/// `h0`/`c0` are `[B, H]` rank order.
#[derive(Debug, Clone)]
pub struct RecurrentGrads {
    /// `dL/d(W_ih x + bias)` per row `[rows, G*H]`.
    pub d_pre: Vec<f32>,
    pub w_hh: Vec<f32>,
    pub b_ih: Vec<f32>,
    pub b_hh: Vec<f32>,
    pub h0: Vec<f32>,
    pub c0: Vec<f32>,
}

fn check_states(layout: &SeqLayout, w: &LayerWeights, h0: &[f32], c0: &[f32]) -> Result<()> {
    check_len("h0", h0, &[layout.batch, w.hidden])?;
    if w.kind.has_cell_state() {
        check_len("c0", c0, &[layout.batch, w.hidden])?;
    }
    Ok(())
}

/// The rank groups that run on separate threads.
fn rank_groups(layout: &SeqLayout) -> Vec<Range<usize>> {
    balanced_ranges(&layout.lengths, parallel::num_threads())
}

/// Forward pass. `x` is `[rows, In]` packed; `h0` (and `c0` for LSTM, empty otherwise)
/// are `[B, H]` in rank order.
pub fn forward(layout: &SeqLayout, w: &LayerWeights, x: &[f32], h0: &[f32], c0: &[f32], cancel: Cancel) -> Result<LayerTape> {
    w.check()?;
    check_len("x", x, &[layout.rows(), w.input])?;
    let (rows, gw) = (layout.rows(), w.gate_width());
    // Input projection of every step at once: gates = x W_ih^T + bias.
    // Filled with the bias directly (no zeroing pass first).
    let mut gates = repeat_row(&w.input_bias(), rows, cancel)?;
    matmul_abt(rows, gw, w.input, x, w.w_ih, 1.0, &mut gates, cancel)?;
    forward_projected(layout, w, gates, h0, c0, cancel)
}

/// Forward pass from the input projections: `gates` (`[rows, G*H]`) holds
/// `W_ih x + input_bias()` for every packed row.
pub fn forward_projected(
    layout: &SeqLayout,
    w: &LayerWeights,
    mut gates: Vec<f32>,
    h0: &[f32],
    c0: &[f32],
    cancel: Cancel,
) -> Result<LayerTape> {
    w.check()?;
    check_states(layout, w, h0, c0)?;
    let (rows, hid) = (layout.rows(), w.hidden);
    check_len("gates", &gates, &[rows, w.gate_width()])?;
    let mut h = vec![0.0f32; rows * hid];
    let mut aux = if w.kind == CellKind::Rnn { Vec::new() } else { vec![0.0f32; rows * hid] };
    let w_hh_t = PackedMatrix::from_transposed(w.w_hh, w.gate_width(), hid);
    let shared = (SharedMut::new(&mut gates), SharedMut::new(&mut h), SharedMut::new(&mut aux));
    parallel::try_for_each(rank_groups(layout), |ranks| {
        // SAFETY: rank groups are disjoint, and each group touches only its own ranks' rows.
        unsafe { recur_forward(layout, w, &w_hh_t, h0, c0, ranks, shared, cancel) }
    })?;
    Ok(LayerTape { gates, h, aux })
}

/// The forward recurrence for the ranks in `ranks`, all steps, a step's rows in blocks
/// of bounded work (see `cancel`), `cancel` polled as the work adds up.
///
/// # Safety
/// Concurrent calls must have disjoint `ranks`; `gates`, `h`, `aux` are the tape buffers.
#[allow(clippy::too_many_arguments)]
unsafe fn recur_forward(
    layout: &SeqLayout,
    w: &LayerWeights,
    w_hh_t: &PackedMatrix,
    h0: &[f32],
    c0: &[f32],
    ranks: Range<usize>,
    (gates, h, aux): (SharedMut, SharedMut, SharedMut),
    cancel: Cancel,
) -> Result<()> {
    unsafe {
        let (hid, gw) = (w.hidden, w.gate_width());
        let mut hh = if w.kind == CellKind::Gru { vec![0.0f32; ranks.len() * gw] } else { Vec::new() };
        let mut meter = cancel.meter();
        for (t, &bs) in layout.batch_sizes.iter().enumerate() {
            let end = ranks.end.min(bs);
            if end <= ranks.start {
                break; // lengths are non-increasing by rank: this group is done
            }
            for block in blocks(end - ranks.start, gw * hid) {
                let (first, n) = (ranks.start + block.start, block.len());
                let row0 = layout.offsets[t] + first;
                let prev_row0 = if t == 0 { 0 } else { layout.offsets[t - 1] + first };
                let g = gates.range(row0 * gw, (row0 + n) * gw);
                let h_prev: &[f32] =
                    if t == 0 { &h0[first * hid..(first + n) * hid] } else { h.range(prev_row0 * hid, (prev_row0 + n) * hid) };
                let h_out = h.range(row0 * hid, (row0 + n) * hid);
                match w.kind {
                    CellKind::Lstm => {
                        w_hh_t.multiply(n, h_prev, g, true);
                        let c_prev: &[f32] = if t == 0 {
                            &c0[first * hid..(first + n) * hid]
                        } else {
                            aux.range(prev_row0 * hid, (prev_row0 + n) * hid)
                        };
                        lstm_rows(g, c_prev, aux.range(row0 * hid, (row0 + n) * hid), h_out, hid);
                    }
                    CellKind::Rnn => {
                        w_hh_t.multiply(n, h_prev, g, true);
                        rnn_rows(g, h_out);
                    }
                    CellKind::Gru => {
                        let hh = &mut hh[..n * gw];
                        for row in hh.chunks_exact_mut(gw) {
                            row.copy_from_slice(w.b_hh);
                        }
                        w_hh_t.multiply(n, h_prev, hh, true);
                        gru_rows(g, hh, h_prev, h_out, aux.range(row0 * hid, (row0 + n) * hid), hid);
                    }
                }
                meter.add(n * gw * hid)?;
            }
        }
        Ok(())
    }
}

/// Backward pass. `d_out` is `dL/dh` at every packed row; `d_hn`/`d_cn` (`[B, H]` rank
/// order, `d_cn` empty unless LSTM) are the gradients w.r.t. the final states.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    layout: &SeqLayout,
    w: &LayerWeights,
    x: &[f32],
    h0: &[f32],
    c0: &[f32],
    tape: &LayerTape,
    d_out: &[f32],
    d_hn: &[f32],
    d_cn: &[f32],
    cancel: Cancel,
) -> Result<LayerGrads> {
    check_len("x", x, &[layout.rows(), w.input])?;
    let mut r = backward_recurrent(layout, w, h0, c0, tape, d_out, d_hn, d_cn, cancel)?;
    let (rows, gw) = (layout.rows(), w.gate_width());
    let mut w_ih = vec![0.0; gw * w.input];
    let mut dx = vec![0.0; rows * w.input];
    matmul_atb(gw, w.input, rows, &r.d_pre, x, 0.0, &mut w_ih, cancel)?;
    matmul_ab(rows, w.input, gw, &r.d_pre, w.w_ih, 0.0, &mut dx, cancel)?;
    r.d_pre = Vec::new();
    Ok(LayerGrads { w_ih, x: dx, recurrent: r })
}

/// Backward through time down to the pre-activations: everything but the input weights'
/// gradient and the input gradient, which the caller forms from `d_pre` (a dense input
/// needs two multiplies; an embedding lookup only a scatter).
#[allow(clippy::too_many_arguments)]
pub fn backward_recurrent(
    layout: &SeqLayout,
    w: &LayerWeights,
    h0: &[f32],
    c0: &[f32],
    tape: &LayerTape,
    d_out: &[f32],
    d_hn: &[f32],
    d_cn: &[f32],
    cancel: Cancel,
) -> Result<RecurrentGrads> {
    w.check()?;
    check_states(layout, w, h0, c0)?;
    let (rows, hid, gw, batch) = (layout.rows(), w.hidden, w.gate_width(), layout.batch);
    check_len("d_out", d_out, &[rows, hid])?;
    check_len("d_h_n", d_hn, &[batch, hid])?;
    if w.kind.has_cell_state() {
        check_len("d_c_n", d_cn, &[batch, hid])?;
    }
    // dL/d(input pre-activation) per row; for GRU also dL/d(W_hh h + b_hh) per row.
    let mut d_pre = vec![0.0f32; rows * gw];
    let mut d_hh = if w.kind == CellKind::Gru { vec![0.0f32; rows * gw] } else { Vec::new() };
    // The carried gradients w.r.t. the state entering the current step, rank order: they
    // start as the final-state gradients and end as the initial-state gradients.
    let mut dh = d_hn.to_vec();
    let mut dc = if w.kind.has_cell_state() { d_cn.to_vec() } else { Vec::new() };
    let shared = (SharedMut::new(&mut d_pre), SharedMut::new(&mut d_hh), SharedMut::new(&mut dh), SharedMut::new(&mut dc));
    let w_hh_p = PackedMatrix::from_matrix(w.w_hh, gw, hid);
    parallel::try_for_each(rank_groups(layout), |ranks| {
        // SAFETY: rank groups are disjoint, and each group touches only its own ranks' rows.
        unsafe { recur_backward(layout, w, &w_hh_p, h0, c0, tape, d_out, ranks, shared, cancel) }
    })?;

    // Weight gradients, each as one multiply over all rows.
    let d_rec: &[f32] = if w.kind == CellKind::Gru { &d_hh } else { &d_pre };
    let h_prev_all = layout.previous_states(&tape.h, h0, hid, cancel)?;
    let mut g = RecurrentGrads {
        d_pre: Vec::new(),
        w_hh: vec![0.0; gw * hid],
        b_ih: vec![0.0; gw],
        b_hh: vec![0.0; gw],
        h0: dh,
        c0: dc,
    };
    matmul_atb(gw, hid, rows, d_rec, &h_prev_all, 0.0, &mut g.w_hh, cancel)?;
    column_sums(&d_pre, gw, &mut g.b_ih, cancel)?;
    column_sums(d_rec, gw, &mut g.b_hh, cancel)?;
    g.d_pre = d_pre;
    Ok(g)
}

/// The backward recurrence for the ranks in `ranks`, all steps in reverse (in blocks of
/// rows and polling `cancel`, as `recur_forward`).
///
/// # Safety
/// Concurrent calls must have disjoint `ranks`.
#[allow(clippy::too_many_arguments)]
unsafe fn recur_backward(
    layout: &SeqLayout,
    w: &LayerWeights,
    w_hh_p: &PackedMatrix,
    h0: &[f32],
    c0: &[f32],
    tape: &LayerTape,
    d_out: &[f32],
    ranks: Range<usize>,
    (d_pre, d_hh, dh, dc): (SharedMut, SharedMut, SharedMut, SharedMut),
    cancel: Cancel,
) -> Result<()> {
    unsafe {
        let (hid, gw) = (w.hidden, w.gate_width());
        let dh = dh.range(ranks.start * hid, ranks.end * hid);
        let mut dc = if w.kind.has_cell_state() { Some(dc.range(ranks.start * hid, ranks.end * hid)) } else { None };
        let mut meter = cancel.meter();
        for t in (0..layout.max_len()).rev() {
            let end = ranks.end.min(layout.batch_sizes[t]);
            if end <= ranks.start {
                continue; // this group's sequences have not started their last steps yet
            }
            for block in blocks(end - ranks.start, gw * hid) {
                let (first, n) = (ranks.start + block.start, block.len());
                let row0 = layout.offsets[t] + first;
                let prev_row0 = if t == 0 { 0 } else { layout.offsets[t - 1] + first };
                let rows_h = row0 * hid..(row0 + n) * hid;
                let dp = d_pre.range(row0 * gw, (row0 + n) * gw);
                let carried = block.start * hid..block.end * hid;
                let dh_n = &mut dh[carried.clone()];
                match w.kind {
                    CellKind::Lstm => {
                        let c_prev: &[f32] =
                            if t == 0 { &c0[first * hid..(first + n) * hid] } else { &tape.aux[prev_row0 * hid..(prev_row0 + n) * hid] };
                        let g = &tape.gates[row0 * gw..(row0 + n) * gw];
                        let dc_n = &mut dc.as_deref_mut().unwrap()[carried];
                        lstm_backward_rows(g, &tape.aux[rows_h.clone()], c_prev, &d_out[rows_h], dh_n, dc_n, dp, hid);
                        w_hh_p.multiply(n, dp, dh_n, false);
                    }
                    CellKind::Rnn => {
                        rnn_backward_rows(&tape.h[rows_h.clone()], &d_out[rows_h], dh_n, dp);
                        w_hh_p.multiply(n, dp, dh_n, false);
                    }
                    CellKind::Gru => {
                        let h_prev: &[f32] =
                            if t == 0 { &h0[first * hid..(first + n) * hid] } else { &tape.h[prev_row0 * hid..(prev_row0 + n) * hid] };
                        let g = &tape.gates[row0 * gw..(row0 + n) * gw];
                        let dq = d_hh.range(row0 * gw, (row0 + n) * gw);
                        gru_backward_rows(g, &tape.aux[rows_h.clone()], h_prev, &d_out[rows_h], dh_n, dp, dq, hid);
                        w_hh_p.multiply(n, dq, dh_n, true);
                    }
                }
                meter.add(n * gw * hid)?;
            }
        }
        Ok(())
    }
}
