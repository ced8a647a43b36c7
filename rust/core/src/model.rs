//! The whole network: character embedding (optionally beside a category embedding) ->
//! stacked recurrent layers -> linear output layer -> log-softmax cross-entropy, forward
//! and backward for one batch, with the dropouts of `dropout` while training.

use crate::cell::CellKind;
use crate::cancel::{Cancel, FRESH_WRITE_WORK};
use std::borrow::Cow;

use crate::dropout::{locked_rows, scale_rows, Dropout, DropoutMasks, MaskSizes, PassMasks};
use crate::error::{KernelError, Result};
use crate::gemm::{matmul_ab, matmul_abt, matmul_atb};
use crate::loss::softmax_nll;
use crate::memory::check_memory;
use crate::ops::{add_into, all_finite, apply_mask, column_sums, repeat_row};
use crate::split::{sum_in_order, Groups};
use crate::layer::{self, LayerTape, LayerWeights};
use crate::layout::SeqLayout;

/// One parameter array as the caller holds it: data and shape.
#[derive(Debug, Clone, Copy)]
pub struct ParamRef<'a> {
    pub data: &'a [f32],
    pub shape: &'a [usize],
}

/// Borrowed weights of a whole model, validated.
#[derive(Debug, Clone)]
pub struct ModelParams<'a> {
    pub kind: CellKind,
    pub vocab: usize,
    pub embed: usize,
    pub hidden: usize,
    /// `[V, E]`
    pub embedding: &'a [f32],
    /// Optional category embedding `[K, C]`: layer 0's input is `[char embedding, category
    /// embedding]`, so its `w_ih` is `[G*H, E + C]`.
    pub category: Option<&'a [f32]>,
    pub n_categories: usize,
    pub category_dim: usize,
    pub layers: Vec<LayerWeights<'a>>,
    /// `[V, H]`
    pub fc_w: &'a [f32],
    /// `[V]`
    pub fc_b: &'a [f32],
}

fn expect_shape(index: usize, name: &str, p: &ParamRef, want: &[usize]) -> Result<()> {
    if p.shape != want {
        return Err(KernelError::shape(format!("params[{index}] ({name})"), want, p.shape));
    }
    if p.data.len() != want.iter().product::<usize>() {
        return Err(KernelError::Value(format!("params[{index}] ({name}): data does not match its shape")));
    }
    Ok(())
}


fn nonempty_matrix(what: &str, p: &ParamRef) -> Result<(usize, usize)> {
    match p.shape {
        &[r, c] if r > 0 && c > 0 && p.data.len() == r * c => Ok((r, c)),
        _ => Err(KernelError::Value(format!("{what} must be a non-empty 2-D matrix, got shape {:?}", p.shape))),
    }
}

impl<'a> ModelParams<'a> {
    /// Reads the parameter list `[embedding, (w_ih, w_hh, b_ih, b_hh) * L, fc_w, fc_b]`
    /// and the optional category embedding, infers the sizes and checks every shape.
    pub fn new(kind: CellKind, params: &[ParamRef<'a>], category: Option<ParamRef<'a>>) -> Result<Self> {
        if params.len() < 7 || !(params.len() - 3).is_multiple_of(4) {
            return Err(KernelError::Value(format!(
                "expected 3 + 4*layers parameter arrays (embedding, 4 per layer, fc weight, fc bias), got {}",
                params.len()
            )));
        }
        let n_layers = (params.len() - 3) / 4;
        let (vocab, embed) = nonempty_matrix("params[0] (embedding)", &params[0])?;
        let (_, hidden) = nonempty_matrix("params[2] (layer 0 w_hh)", &params[2])?;
        let (n_categories, category_dim) = match &category {
            Some(c) => nonempty_matrix("category_embedding", c)?,
            None => (0, 0),
        };
        let gh = kind.gates() * hidden;
        let mut layers = Vec::with_capacity(n_layers);
        for l in 0..n_layers {
            let base = 1 + 4 * l;
            let input = if l == 0 { embed + category_dim } else { hidden };
            expect_shape(base, &format!("layer {l} w_ih"), &params[base], &[gh, input])?;
            expect_shape(base + 1, &format!("layer {l} w_hh"), &params[base + 1], &[gh, hidden])?;
            expect_shape(base + 2, &format!("layer {l} b_ih"), &params[base + 2], &[gh])?;
            expect_shape(base + 3, &format!("layer {l} b_hh"), &params[base + 3], &[gh])?;
            layers.push(LayerWeights {
                kind,
                input,
                hidden,
                w_ih: params[base].data,
                w_hh: params[base + 1].data,
                b_ih: params[base + 2].data,
                b_hh: params[base + 3].data,
            });
        }
        let fc = params.len() - 2;
        expect_shape(fc, "fc weight", &params[fc], &[vocab, hidden])?;
        expect_shape(fc + 1, "fc bias", &params[fc + 1], &[vocab])?;
        for (i, p) in params.iter().enumerate() {
            if !all_finite(p.data) {
                let bad = p.data.iter().position(|v| !v.is_finite()).unwrap_or(0);
                return Err(KernelError::Value(format!("params[{i}] holds a non-finite value at flat index {bad}")));
            }
        }
        if let Some(c) = &category {
            if !all_finite(c.data) {
                return Err(KernelError::Value("category_embedding holds a non-finite value".into()));
            }
        }
        Ok(ModelParams {
            kind,
            vocab,
            embed,
            hidden,
            embedding: params[0].data,
            category: category.map(|c| c.data),
            n_categories,
            category_dim,
            layers,
            fc_w: params[fc].data,
            fc_b: params[fc + 1].data,
        })
    }

    pub fn n_layers(&self) -> usize {
        self.layers.len()
    }

    /// Shapes of the parameters in list order (for the gradients); the category
    /// embedding, when there is one, comes last.
    pub fn shapes(&self) -> Vec<Vec<usize>> {
        let gh = self.kind.gates() * self.hidden;
        let mut out = vec![vec![self.vocab, self.embed]];
        for l in &self.layers {
            out.extend([vec![gh, l.input], vec![gh, self.hidden], vec![gh], vec![gh]]);
        }
        out.extend([vec![self.vocab, self.hidden], vec![self.vocab]]);
        if self.category.is_some() {
            out.push(vec![self.n_categories, self.category_dim]);
        }
        out
    }

    /// The sizes of the model's dropout masks.
    pub fn mask_sizes(&self) -> MaskSizes {
        let w_hh = self.kind.gates() * self.hidden * self.hidden;
        MaskSizes { vocab: self.vocab, embed: self.embed, hidden: self.hidden, w_hh, layers: self.n_layers() }
    }

    /// Checks a category id list against the model.
    pub fn check_categories(&self, categories: Option<&[i32]>, rows: usize) -> Result<Option<Vec<usize>>> {
        check_categories(self.n_categories, categories, rows)
    }
}

/// Checks per-sequence categories against a model with `n_categories` categories (0: not a
/// conditional model): required exactly when the model is conditional, one per row, each
/// in range. Returns them as indices.
pub fn check_categories(n_categories: usize, categories: Option<&[i32]>, rows: usize) -> Result<Option<Vec<usize>>> {
    match (n_categories > 0, categories) {
        (false, None) => Ok(None),
        (false, Some(_)) => Err(KernelError::Value("categories given, but the model has no category embedding".into())),
        (true, None) => Err(KernelError::Value("this model is conditional: categories are required".into())),
        (true, Some(c)) => {
            if c.len() != rows {
                return Err(KernelError::shape("categories", [rows], [c.len()]));
            }
            c.iter()
                .map(|&k| {
                    if k < 0 || k as usize >= n_categories {
                        Err(KernelError::Value(format!("category {k} is outside 0..{n_categories} (the model's categories)")))
                    } else {
                        Ok(k as usize)
                    }
                })
                .collect::<Result<Vec<_>>>()
                .map(Some)
        }
    }
}

/// Layer 0's input projection per character and per category.
///
/// Layer 0's input is an embedding row (and a category embedding row), so
/// `W_ih0 x + bias` is a sum of rows of `char_table = embedding @ W_ih0[:, :E]^T + bias`
/// (`[V, G*H]`) and `cat_table = category @ W_ih0[:, E:]^T` (`[K, G*H]`): two small
/// multiplies per batch instead of one per character.
pub struct InputTables {
    pub char_table: Vec<f32>,
    pub cat_table: Vec<f32>,
    /// `W_ih0[:, :E]` and `W_ih0[:, E:]` as contiguous matrices.
    w_char: Vec<f32>,
    w_cat: Vec<f32>,
    pub width: usize,
}

impl InputTables {
    pub fn new(p: &ModelParams, cancel: Cancel) -> Result<Self> {
        let l0 = &p.layers[0];
        let gw = l0.gate_width();
        let (e, c) = (p.embed, p.category_dim);
        let (w_char, w_cat) = if c == 0 {
            (l0.w_ih.to_vec(), Vec::new())
        } else {
            let mut a = Vec::with_capacity(gw * e);
            let mut b = Vec::with_capacity(gw * c);
            for row in l0.w_ih.chunks_exact(e + c) {
                a.extend_from_slice(&row[..e]);
                b.extend_from_slice(&row[e..]);
            }
            (a, b)
        };
        let bias = l0.input_bias();
        let mut char_table = vec![0.0f32; p.vocab * gw];
        for row in char_table.chunks_exact_mut(gw) {
            row.copy_from_slice(&bias);
        }
        matmul_abt(p.vocab, gw, e, p.embedding, &w_char, 1.0, &mut char_table, cancel)?;
        let mut cat_table = Vec::new();
        if let Some(cat) = p.category {
            cat_table = vec![0.0f32; p.n_categories * gw];
            matmul_abt(p.n_categories, gw, c, cat, &w_cat, 0.0, &mut cat_table, cancel)?;
        }
        Ok(InputTables { char_table, cat_table, w_char, w_cat, width: gw })
    }

    /// Writes the input projection of one character (and category) into `dst`.
    #[inline]
    pub fn project(&self, dst: &mut [f32], id: usize, category: Option<usize>) {
        let gw = self.width;
        dst.copy_from_slice(&self.char_table[id * gw..(id + 1) * gw]);
        if let Some(k) = category {
            self.add_category(dst, k);
        }
    }

    /// Adds category `k`'s part of the input projection to `dst`.
    #[inline]
    pub fn add_category(&self, dst: &mut [f32], k: usize) {
        let gw = self.width;
        for (d, v) in dst.iter_mut().zip(&self.cat_table[k * gw..(k + 1) * gw]) {
            *d += v;
        }
    }
}

/// A padded, time-major batch: `ids`/`targets` are `[steps, batch]`.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    pub steps: usize,
    pub batch: usize,
    pub ids: &'a [i32],
    pub targets: &'a [i32],
    pub lengths: &'a [i64],
}

/// Training-time options of a forward/backward pass.
#[derive(Debug, Clone, Copy, Default)]
pub struct PassOptions<'a> {
    /// `[L, B, H]` initial states in batch order (zeros when `None`).
    pub h0: Option<&'a [f32]>,
    pub c0: Option<&'a [f32]>,
    pub compute_grad: bool,
    /// Dropout while training (see `dropout`).
    pub dropout: Dropout,
    /// Seed of the dropout masks.
    pub seed: u64,
    /// Masks already drawn (`DropoutMasks` form, `hidden` shaped as `dropout.locked` says):
    /// the pass draws none and applies exactly these (an empty one: no such dropout),
    /// whatever `dropout`'s probabilities. The groups of a split batch get their share of
    /// the batch's masks this way; a pass given masks is never split itself.
    pub given: Option<&'a DropoutMasks>,
    /// Also return the dropout masks drawn and the NLL at every position
    /// (`ForwardOutput::masks`, `position_nll`): for tests, references and mixtures.
    pub details: bool,
    /// `[B]` category of each sequence (conditional models only).
    pub categories: Option<&'a [i32]>,
    /// Polled as the work adds up, in every phase (see `cancel`).
    pub cancel: Cancel<'a>,
}

#[derive(Debug, Clone)]
pub struct ForwardOutput {
    /// Summed NLL (nats) over all real positions.
    pub loss_sum: f64,
    /// Per sequence, batch order.
    pub seq_loss: Vec<f64>,
    /// Number of real positions.
    pub count: usize,
    /// Gradients of `loss_sum`, in parameter-list order (category embedding last).
    pub grads: Option<Vec<Vec<f32>>>,
    /// Final states `[L, B, H]`, batch order.
    pub h_n: Vec<f32>,
    /// LSTM only: final memory cells `[L, B, H]`.
    pub c_n: Option<Vec<f32>>,
    /// The dropout masks, when `PassOptions::details` asked for them.
    pub masks: Option<DropoutMasks>,
    /// With `details`: the NLL (nats) at every position, `[T, B]`, 0 at padding.
    pub position_nll: Option<Vec<f64>>,
}

/// Packs the real positions of a `[steps, batch]` id array, checking every id is `< vocab`.
fn pack_ids(layout: &SeqLayout, ids: &[i32], vocab: usize, what: &str) -> Result<Vec<usize>> {
    let packed = layout.pack(ids, 1);
    packed
        .iter()
        .map(|&id| {
            if id < 0 || id as usize >= vocab {
                Err(KernelError::Value(format!("{what} contains id {id}, outside 0..{vocab} (the vocabulary)")))
            } else {
                Ok(id as usize)
            }
        })
        .collect()
}



/// `out[ids[r]] += src[r]` for every row `r` of `src` (`[rows, width]`). With several
/// threads each takes a block of columns, so every sum is formed in the same row order
/// whatever the number of threads; `cancel` is polled as the rows add up.
fn scatter_rows(src: &[f32], width: usize, ids: &[usize], out: &mut [f32], cancel: Cancel) -> Result<()> {
    let threads = crate::parallel::num_threads();
    let parts = if ids.len() * width < 1 << 16 { 1 } else { threads.min(width / 8).max(1) };
    let cols = crate::parallel::balanced_ranges(&vec![1; width.div_ceil(8)], parts);
    let shared = crate::parallel::SharedMut::new(out);
    crate::parallel::try_for_each(cols, |c| {
        let span = c.start * 8..(c.end * 8).min(width);
        let mut meter = cancel.meter();
        for (row, &id) in src.chunks_exact(width).zip(ids) {
            // SAFETY: the column blocks are disjoint, so no two threads touch the same values.
            let dst = unsafe { shared.range(id * width + span.start, id * width + span.end) };
            add_into(dst, &row[span.clone()]);
            meter.add(span.len())?;
        }
        Ok(())
    })
}



/// The copies of the embedding table and of the recurrent weights with the per-batch masks
/// applied: a pass runs with these in place of the weights (`params`).
struct DroppedWeights {
    embedding: Option<Vec<f32>>,
    w_hh: Vec<Vec<f32>>,
}

impl DroppedWeights {
    /// `embedding` (`[V]`) and `recurrent` (per layer) as in `DropoutMasks` (empty: none).
    fn new(params: &ModelParams, embedding: &[f32], recurrent: &[Vec<f32>], cancel: Cancel) -> Result<Self> {
        let embedding = match embedding {
            [] => None,
            m => Some(scale_rows(params.embedding, params.embed, m, cancel)?),
        };
        let w_hh = recurrent.iter().zip(&params.layers).map(|(m, w)| apply_mask(w.w_hh, m, cancel)).collect::<Result<_>>()?;
        Ok(DroppedWeights { embedding, w_hh })
    }

    fn params<'b>(&'b self, params: &ModelParams<'b>) -> ModelParams<'b> {
        let mut eff = params.clone();
        if let Some(e) = &self.embedding {
            eff.embedding = e;
        }
        for (w, dropped) in eff.layers.iter_mut().zip(&self.w_hh) {
            w.w_hh = dropped;
        }
        eff
    }
}

/// Turns the gradients of the dropped copies (`DroppedWeights`) into the weights' own:
/// through the same per-batch masks.
fn mask_batch_grads(grads: &mut [Vec<f32>], embed: usize, embedding: &[f32], recurrent: &[Vec<f32>], cancel: Cancel) -> Result<()> {
    if !embedding.is_empty() {
        grads[0] = scale_rows(&grads[0], embed, embedding, cancel)?;
    }
    for (l, m) in recurrent.iter().enumerate() {
        grads[2 + 4 * l].iter_mut().zip(m).for_each(|(g, m)| *g *= m);
    }
    Ok(())
}

/// The pass of `forward_backward` over a batch already validated (laid out as `layout`),
/// with the sequences cut into `threads` contiguous groups of about equal total length:
/// one fork and join per batch instead of one per product and per layer (which, on small
/// batches, spent as much time waking threads as computing). Gradients are summed in group
/// order, so results are reproducible for a given thread count and differ from one
/// thread's by rounding.
///
/// The dropout masks are drawn once for the whole batch, as a one-thread pass draws them,
/// and each group is given its share (`Groups::masks`); the groups share one dropped copy
/// of the embedding table and recurrent weights, and the summed gradients go through the
/// per-batch masks once. So a split pass uses the masks of a one-thread pass.
fn forward_backward_split(params: &ModelParams, batch: &Batch, opts: &PassOptions, layout: &SeqLayout, threads: usize) -> Result<ForwardOutput> {
    let (steps, hid, n_layers, cancel) = (batch.steps, params.hidden, params.n_layers(), opts.cancel);
    let groups = Groups::balanced(batch.lengths, threads);
    let sizes = params.mask_sizes();
    let masks = PassMasks::draw(&opts.dropout, opts.seed, layout, sizes, cancel)?.into_masks(layout, hid);
    let dropped = DroppedWeights::new(params, &masks.embedding, &masks.recurrent, cancel)?;
    let eff = dropped.params(params);
    let mut results: Vec<Option<Result<ForwardOutput>>> = groups.ranges.iter().map(|_| None).collect();
    crate::parallel::for_each(results.iter_mut().zip(groups.ranges.iter().cloned()).collect(), |(slot, g)| {
        let (ids, targets) = (groups.columns(batch.ids, steps, 1, &g), groups.columns(batch.targets, steps, 1, &g));
        let state = |s: Option<&[f32]>| s.map(|s| groups.state_rows(s, n_layers, hid, &g));
        let (h0, c0) = (state(opts.h0), state(opts.c0));
        let given = opts.dropout.active().then(|| groups.masks(&masks, steps, sizes, opts.dropout.locked, &g));
        let sub = Batch { steps, batch: g.len(), ids: &ids, targets: &targets, lengths: &batch.lengths[g.clone()] };
        let sub_opts = PassOptions {
            h0: h0.as_deref(),
            c0: c0.as_deref(),
            categories: opts.categories.map(|c| &c[g.clone()]),
            given: given.as_ref(),
            ..*opts
        };
        *slot = Some(crate::parallel::serial(|| forward_backward(&eff, &sub, &sub_opts)));
    });
    let mut parts = results.into_iter().map(|r| r.expect("every group ran")).collect::<Result<Vec<_>>>()?;
    let h_n = groups.merge_states(&parts.iter().map(|p| &p.h_n[..]).collect::<Vec<_>>(), n_layers, hid);
    let c_n = parts.iter().map(|p| p.c_n.as_deref()).collect::<Option<Vec<_>>>().map(|c| groups.merge_states(&c, n_layers, hid));
    let grads = match parts.iter_mut().map(|p| p.grads.take()).collect::<Option<Vec<_>>>() {
        Some(g) => {
            let mut total = sum_in_order(g, cancel)?;
            mask_batch_grads(&mut total, params.embed, &masks.embedding, &masks.recurrent, cancel)?;
            Some(total)
        }
        None => None,
    };
    Ok(ForwardOutput {
        loss_sum: parts.iter().map(|p| p.loss_sum).sum(),
        seq_loss: parts.iter().flat_map(|p| p.seq_loss.iter().copied()).collect(),
        count: parts.iter().map(|p| p.count).sum(),
        grads,
        h_n,
        c_n,
        masks: None,
        position_nll: None,
    })
}



/// Forward (and optionally backward) pass of the model over one batch.
///
/// Gradients do not flow into the initial state: a caller carrying state between batches
/// gets truncated backpropagation through time. With several threads (and neither
/// `details` nor `given`) the sequences are split into one group per thread, each group's
/// pass runs whole on its thread, and the results are merged (`forward_backward_split`).
pub fn forward_backward(params: &ModelParams, batch: &Batch, opts: &PassOptions) -> Result<ForwardOutput> {
    let (steps, bsz, hid, n_layers) = (batch.steps, batch.batch, params.hidden, params.n_layers());
    if batch.ids.len() != steps * bsz || batch.targets.len() != steps * bsz {
        return Err(KernelError::Value("ids and targets must both be [steps, batch]".into()));
    }
    if batch.lengths.len() != bsz {
        return Err(KernelError::shape("lengths", [bsz], [batch.lengths.len()]));
    }
    opts.dropout.check()?;
    let state_len = n_layers * bsz * hid;
    for (name, s) in [("h0", opts.h0), ("c0", opts.c0)] {
        if let Some(s) = s {
            if s.len() != state_len {
                return Err(KernelError::shape(name, [n_layers, bsz, hid], format!("{} values", s.len())));
            }
            if s.iter().any(|v| !v.is_finite()) {
                return Err(KernelError::Value(format!("{name} holds a non-finite value")));
            }
        }
    }
    if opts.c0.is_some() && !params.kind.has_cell_state() {
        return Err(KernelError::Value(format!("c0 is only for LSTM, not {}", params.kind.name())));
    }
    let categories = params.check_categories(opts.categories, bsz)?;
    // Per real position: every layer's tape (gates, h, c) and gradients, and the logits.
    let gw = params.kind.gates() * hid;
    let per_row = 4 * (n_layers * (2 * gw + 6 * hid) + 2 * params.vocab + params.embed) as u128;
    check_memory("this batch", (steps * bsz) as u128 * per_row)?;
    let layout = SeqLayout::new(steps, batch.lengths)?;
    let rows = layout.rows();
    let ids = pack_ids(&layout, batch.ids, params.vocab, "ids")?;
    let targets = pack_ids(&layout, batch.targets, params.vocab, "targets")?;
    let threads = crate::parallel::num_threads();
    if threads > 1 && !opts.details && opts.given.is_none() && bsz >= 2 * threads {
        return forward_backward_split(params, batch, opts, &layout, threads);
    }
    // The category of every packed row (rank r at any step is sequence order[r]).
    let row_cats: Option<Vec<usize>> = categories.as_ref().map(|cats| {
        let mut out = Vec::with_capacity(rows);
        for &bs in &layout.batch_sizes {
            out.extend(layout.order[..bs].iter().map(|&b| cats[b]));
        }
        out
    });

    let cancel = opts.cancel;
    let pass_masks = match opts.given {
        Some(m) => PassMasks::given(m, opts.dropout.locked, &layout, params.mask_sizes())?,
        None => PassMasks::draw(&opts.dropout, opts.seed, &layout, params.mask_sizes(), cancel)?,
    };
    // Per-batch masks: embedding rows and recurrent weights; the pass runs with the dropped
    // copies (`eff`), and their gradients are multiplied by the same masks at the end.
    let dropped = DroppedWeights::new(params, &pass_masks.embedding, &pass_masks.recurrent, cancel)?;
    let eff = dropped.params(params);
    let params = &eff;

    let tables = InputTables::new(params, cancel)?;
    let e = params.embed;
    // With input dropout layer 0 reads `x = embedding[id] * mask[sequence]` (`[rows, E]`),
    // which no per-character table can hold: its projection is one multiply per batch.
    let mut input_x: Option<(Vec<f32>, Vec<f32>)> = None; // (x, the mask per row)
    let mut gates0 = Vec::with_capacity(rows * gw);
    let mut meter = cancel.meter();
    if !pass_masks.input.is_empty() {
        let mask_rows = locked_rows(&layout, &pass_masks.input, e, cancel)?;
        let mut x = Vec::with_capacity(rows * e);
        for (&id, m) in ids.iter().zip(mask_rows.chunks_exact(e)) {
            x.extend(params.embedding[id * e..(id + 1) * e].iter().zip(m).map(|(a, b)| a * b));
            meter.add(FRESH_WRITE_WORK * e)?;
        }
        gates0 = repeat_row(&params.layers[0].input_bias(), rows, cancel)?;
        if let Some(cats) = &row_cats {
            for (row, &k) in gates0.chunks_exact_mut(gw).zip(cats) {
                tables.add_category(row, k);
                meter.add(gw)?;
            }
        }
        matmul_abt(rows, gw, e, &x, &tables.w_char, 1.0, &mut gates0, cancel)?;
        input_x = Some((x, mask_rows));
    } else {
        for (r, &id) in ids.iter().enumerate() {
            let start = gates0.len();
            gates0.extend_from_slice(&tables.char_table[id * gw..(id + 1) * gw]);
            if let Some(cats) = &row_cats {
                tables.add_category(&mut gates0[start..], cats[r]);
            }
            meter.add(FRESH_WRITE_WORK * gw)?;
        }
    }

    // Initial states per layer, rank order.
    let zeros = vec![0.0f32; bsz * hid];
    let layer_state = |s: Option<&[f32]>, l: usize| -> Vec<f32> {
        match s {
            Some(s) => layout.to_rank(&s[l * bsz * hid..(l + 1) * bsz * hid], hid),
            None => zeros.clone(),
        }
    };
    let has_c = params.kind.has_cell_state();
    let training_dropout = !pass_masks.hidden.is_empty();
    // masks[l - 1] multiplies the input of layer l (l >= 1); masks[L - 1] the output layer's
    // input, per packed row. Locked masks (per sequence) are repeated at every step.
    let masks: Vec<Cow<[f32]>> = if pass_masks.locked {
        pass_masks.hidden.iter().map(|m| locked_rows(&layout, m, hid, cancel).map(Cow::Owned)).collect::<Result<_>>()?
    } else {
        pass_masks.hidden.iter().map(|m| Cow::Borrowed(&m[..])).collect()
    };
    let mut h_init = Vec::with_capacity(n_layers);
    let mut c_init = Vec::with_capacity(n_layers);
    let mut tapes: Vec<LayerTape> = Vec::with_capacity(n_layers);
    let mut inputs: Vec<Vec<f32>> = vec![Vec::new(); n_layers + 1]; // dropped-out inputs
    for (l, w) in params.layers.iter().enumerate() {
        cancel.check()?;
        h_init.push(layer_state(opts.h0, l));
        c_init.push(if has_c { layer_state(opts.c0, l) } else { Vec::new() });
        let tape = if l == 0 {
            layer::forward_projected(&layout, w, std::mem::take(&mut gates0), &h_init[l], &c_init[l], cancel)?
        } else if training_dropout {
            inputs[l] = apply_mask(&tapes[l - 1].h, &masks[l - 1], cancel)?;
            layer::forward(&layout, w, &inputs[l], &h_init[l], &c_init[l], cancel)?
        } else {
            layer::forward(&layout, w, &tapes[l - 1].h, &h_init[l], &c_init[l], cancel)?
        };
        tapes.push(tape);
    }
    if training_dropout {
        inputs[n_layers] = apply_mask(&tapes[n_layers - 1].h, &masks[n_layers - 1], cancel)?;
    }

    // Output layer and loss.
    cancel.check()?;
    let v = params.vocab;
    let top: &[f32] = if training_dropout { &inputs[n_layers] } else { &tapes[n_layers - 1].h };
    let mut logits = repeat_row(params.fc_b, rows, cancel)?;
    matmul_abt(rows, v, hid, top, params.fc_w, 1.0, &mut logits, cancel)?;
    let nll = softmax_nll(&mut logits, &targets, v, cancel)?;
    let mut seq_loss = vec![0.0f64; bsz];
    for (t, &bs) in layout.batch_sizes.iter().enumerate() {
        for rank in 0..bs {
            seq_loss[layout.order[rank]] += nll[layout.offsets[t] + rank];
        }
    }
    let loss_sum = nll.iter().sum();
    let position_nll = opts.details.then(|| layout.unpack(&nll, 1, 0.0));

    // Final states, batch order, stacked [L, B, H].
    let mut h_n = Vec::with_capacity(state_len);
    let mut c_n = Vec::with_capacity(if has_c { state_len } else { 0 });
    for (l, tape) in tapes.iter().enumerate() {
        h_n.extend(layout.from_rank(&layout.final_state(&tape.h, &h_init[l], hid), hid));
        if has_c {
            c_n.extend(layout.from_rank(&layout.final_state(&tape.aux, &c_init[l], hid), hid));
        }
    }

    let grads = if opts.compute_grad {
        // d(loss)/d(logits) = softmax - onehot(target).
        for (row, &t) in logits.chunks_exact_mut(v).zip(&targets) {
            row[t] -= 1.0;
        }
        // Zeroed only where something is accumulated or multiplied into; the layers'
        // gradients are moved in from their own buffers below.
        let shapes = params.shapes();
        let moved_in = |i: usize| (1..1 + 4 * n_layers).contains(&i);
        let mut grads: Vec<Vec<f32>> =
            shapes.iter().enumerate().map(|(i, s)| if moved_in(i) { Vec::new() } else { vec![0.0; s.iter().product()] }).collect();
        let fc = 1 + 4 * n_layers;
        cancel.check()?;
        matmul_atb(v, hid, rows, &logits, top, 0.0, &mut grads[fc], cancel)?;
        column_sums(&logits, v, &mut grads[fc + 1], cancel)?;
        let mut d_h = vec![0.0f32; rows * hid];
        matmul_ab(rows, hid, v, &logits, params.fc_w, 0.0, &mut d_h, cancel)?;
        drop(logits);
        if training_dropout {
            d_h.iter_mut().zip(masks[n_layers - 1].iter()).for_each(|(d, m)| *d *= m);
        }

        let zero_state = vec![0.0f32; bsz * hid];
        let no_c: Vec<f32> = Vec::new();
        let d_cn = if has_c { &zero_state } else { &no_c };
        for l in (1..n_layers).rev() {
            cancel.check()?;
            let w = &params.layers[l];
            // The input layer l actually saw (after dropout).
            let x: &[f32] = if training_dropout { &inputs[l] } else { &tapes[l - 1].h };
            let g = layer::backward(&layout, w, x, &h_init[l], &c_init[l], &tapes[l], &d_h, &zero_state, d_cn, cancel)?;
            let base = 1 + 4 * l;
            grads[base] = g.w_ih;
            grads[base + 1] = g.recurrent.w_hh;
            grads[base + 2] = g.recurrent.b_ih;
            grads[base + 3] = g.recurrent.b_hh;
            d_h = g.x;
            if training_dropout {
                d_h.iter_mut().zip(masks[l - 1].iter()).for_each(|(d, m)| *d *= m);
            }
        }
        // Layer 0: sum the pre-activation gradients per character (and per category); the
        // input weights' and the embeddings' gradients are then small multiplies.
        cancel.check()?;
        let l0 = &params.layers[0];
        let g0 = layer::backward_recurrent(&layout, l0, &h_init[0], &c_init[0], &tapes[0], &d_h, &zero_state, d_cn, cancel)?;
        let mut d_cat = vec![0.0f32; params.n_categories * gw];
        if let Some(cats) = &row_cats {
            scatter_rows(&g0.d_pre, gw, cats, &mut d_cat, cancel)?;
        }
        let c = params.category_dim;
        let mut dw_char = vec![0.0f32; gw * e];
        if let Some((x, mask_rows)) = &input_x {
            // x = embedding[id] * mask: dW = d_pre^T x; d embedding[id] += (d_pre W) * mask.
            matmul_atb(gw, e, rows, &g0.d_pre, x, 0.0, &mut dw_char, cancel)?;
            let mut d_x = vec![0.0f32; rows * e];
            matmul_ab(rows, e, gw, &g0.d_pre, &tables.w_char, 0.0, &mut d_x, cancel)?;
            d_x.iter_mut().zip(mask_rows).for_each(|(d, m)| *d *= m);
            scatter_rows(&d_x, e, &ids, &mut grads[0], cancel)?;
        } else {
            let mut d_char = vec![0.0f32; v * gw];
            scatter_rows(&g0.d_pre, gw, &ids, &mut d_char, cancel)?;
            matmul_ab(v, e, gw, &d_char, &tables.w_char, 0.0, &mut grads[0], cancel)?;
            matmul_atb(gw, e, v, &d_char, params.embedding, 0.0, &mut dw_char, cancel)?;
        }
        if let Some(cat) = params.category {
            let mut dw_cat = vec![0.0f32; gw * c];
            matmul_atb(gw, c, params.n_categories, &d_cat, cat, 0.0, &mut dw_cat, cancel)?;
            let mut dw = vec![0.0f32; gw * (e + c)];
            for j in 0..gw {
                dw[j * (e + c)..j * (e + c) + e].copy_from_slice(&dw_char[j * e..(j + 1) * e]);
                dw[j * (e + c) + e..(j + 1) * (e + c)].copy_from_slice(&dw_cat[j * c..(j + 1) * c]);
            }
            grads[1] = dw;
            let last = grads.len() - 1;
            matmul_ab(params.n_categories, c, gw, &d_cat, &tables.w_cat, 0.0, &mut grads[last], cancel)?;
        } else {
            grads[1] = dw_char;
        }
        grads[2] = g0.w_hh;
        grads[3] = g0.b_ih;
        grads[4] = g0.b_hh;
        mask_batch_grads(&mut grads, e, &pass_masks.embedding, &pass_masks.recurrent, cancel)?;
        Some(grads)
    } else {
        None
    };

    drop(masks);
    let masks = opts.details.then(|| pass_masks.into_masks(&layout, hid));
    Ok(ForwardOutput { loss_sum, seq_loss, count: rows, grads, h_n, c_n: has_c.then_some(c_n), masks, position_nll })
}
