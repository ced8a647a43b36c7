//! Generation: runs the model one step at a time for many sequences at once and draws the
//! next character from the softmax with temperature and top-k.
//!
//! Randomness comes from the one named generator of `rng`.

use std::sync::Arc;

use rand_chacha::ChaCha8Rng;

use crate::cell::{gru_rows, lstm_rows, rnn_rows, CellKind};
use crate::cancel::{Cancel, Meter};
use crate::constraint::Constraint;
use crate::error::{KernelError, Result};
use crate::memory::check_memory;
use crate::rng::{seeded_rng, uniform};
use crate::model::{InputTables, ModelParams};
use crate::ngram::Mixture;
use crate::packed_gemm::PackedMatrix;
use crate::parallel::SharedMut;

/// The recurrent state of `rows` sequences (and their categories, for conditional models).
#[derive(Debug, Clone)]
pub struct StepState {
    pub rows: usize,
    /// Per layer `[rows, H]`.
    pub h: Vec<Vec<f32>>,
    /// Per layer `[rows, H]` (LSTM only).
    pub c: Vec<Vec<f32>>,
    /// Category of each row (conditional models only).
    pub categories: Option<Vec<usize>>,
    hidden: usize,
}

impl StepState {
    /// `rows` sequences from a zero state.
    pub fn zeros(params: &ModelParams, rows: usize, categories: Option<Vec<usize>>) -> Self {
        let hid = params.hidden;
        let n = params.n_layers();
        StepState {
            rows,
            h: vec![vec![0.0; rows * hid]; n],
            c: if params.kind.has_cell_state() { vec![vec![0.0; rows * hid]; n] } else { Vec::new() },
            categories,
            hidden: hid,
        }
    }

    /// Keeps only the listed rows, in that order (a row may be listed several times).
    pub fn keep_rows(&mut self, keep: &[usize]) {
        let hid = self.hidden;
        for s in self.h.iter_mut().chain(self.c.iter_mut()) {
            keep_row_blocks(s, keep, hid);
        }
        if let Some(c) = &mut self.categories {
            *c = keep.iter().map(|&r| c[r]).collect();
        }
        self.rows = keep.len();
    }
}

/// A model prepared for stepping: input tables and weights packed once, owning everything
/// it needs, so it can be kept and reused across calls.
pub struct Stepper {
    kind: CellKind,
    pub vocab: usize,
    pub hidden: usize,
    n_layers: usize,
    pub n_categories: usize,
    tables: InputTables,
    w_hh_t: Vec<PackedMatrix>,
    /// Layers 1..: `W_ih^T`.
    w_ih_t: Vec<PackedMatrix>,
    /// Layers 1..: the input bias (`b_ih + b_hh`, GRU: `b_ih`).
    in_bias: Vec<Vec<f32>>,
    /// Per layer `b_hh` (GRU keeps it inside the reset gate's product).
    b_hh: Vec<Vec<f32>>,
    fc_t: PackedMatrix,
    fc_b: Vec<f32>,
    /// `[rows, V]` after `step`.
    pub logits: Vec<f32>,
}

/// Rows per thread below which a step is not split.
const PARALLEL_MIN_ROWS: usize = 48;

/// The most work (multiply-adds) of one block of rows of a step: a larger step is cut
/// into blocks between which `cancel` is polled. Larger than `cancel::MAX_BLOCK`: each
/// block streams all the weights, and a step of 64 rows of a 2x512 LSTM stays one block.
const STEP_BLOCK: usize = 1 << 28;

impl Stepper {
    pub fn new(params: &ModelParams) -> Self {
        let (hid, gh) = (params.hidden, params.kind.gates() * params.hidden);
        Stepper {
            kind: params.kind,
            vocab: params.vocab,
            hidden: hid,
            n_layers: params.n_layers(),
            n_categories: params.n_categories,
            tables: InputTables::new(params, Cancel::NEVER).expect("never cancelled"),
            w_hh_t: params.layers.iter().map(|w| PackedMatrix::from_transposed(w.w_hh, gh, hid)).collect(),
            w_ih_t: params.layers.iter().skip(1).map(|w| PackedMatrix::from_transposed(w.w_ih, gh, hid)).collect(),
            in_bias: params.layers.iter().skip(1).map(|w| w.input_bias()).collect(),
            b_hh: params.layers.iter().map(|w| w.b_hh.to_vec()).collect(),
            fc_t: PackedMatrix::from_transposed(params.fc_w, params.vocab, hid),
            fc_b: params.fc_b.to_vec(),
            logits: Vec::new(),
        }
    }

    /// A zero state for `rows` sequences of this model.
    pub fn zero_state(&self, rows: usize, categories: Option<Vec<usize>>) -> StepState {
        let hid = self.hidden;
        StepState {
            rows,
            h: vec![vec![0.0; rows * hid]; self.n_layers],
            c: if self.kind.has_cell_state() { vec![vec![0.0; rows * hid]; self.n_layers] } else { Vec::new() },
            categories,
            hidden: hid,
        }
    }

    /// Checks per-sequence categories against the model (see `model::check_categories`).
    pub fn check_categories(&self, categories: Option<&[i32]>, rows: usize) -> Result<Option<Vec<usize>>> {
        crate::model::check_categories(self.n_categories, categories, rows)
    }

    /// Multiply-adds of one step of one row.
    pub fn row_work(&self) -> usize {
        let gh = self.kind.gates() * self.hidden;
        self.n_layers * gh * self.hidden + self.w_ih_t.len() * gh * self.hidden + self.vocab * self.hidden
    }

    /// Feeds one token per row of `state` and computes the logits of the next one. Large
    /// batches are split by rows across the worker threads (rows are independent), and
    /// very large ones in blocks of rows between which `cancel` is polled.
    pub fn step(&mut self, state: &mut StepState, tokens: &[usize], cancel: Cancel) -> Result<()> {
        let rows = state.rows;
        assert_eq!(tokens.len(), rows, "one token per row");
        self.logits.resize(rows * self.vocab, 0.0);
        let threads = crate::parallel::num_threads();
        let parts = if threads > 1 && rows >= 2 * PARALLEL_MIN_ROWS { threads.min(rows / PARALLEL_MIN_ROWS) } else { 1 };
        let hid = self.hidden;
        let h: Vec<SharedMut> = state.h.iter_mut().map(|b| SharedMut::new(b)).collect();
        let c: Vec<SharedMut> = state.c.iter_mut().map(|b| SharedMut::new(b)).collect();
        let logits = SharedMut::new(&mut self.logits);
        let cats = state.categories.as_deref();
        let this = &*self;
        let chunk = rows.div_ceil(parts);
        let ranges: Vec<std::ops::Range<usize>> = (0..parts).map(|i| i * chunk..((i + 1) * chunk).min(rows)).filter(|r| !r.is_empty()).collect();
        let row_work = self.row_work();
        let block = (STEP_BLOCK / row_work.max(1)).max(1);
        crate::parallel::try_for_each(ranges, |part| {
            let mut meter = cancel.meter();
            for start in part.clone().step_by(block) {
                let r = start..(start + block).min(part.end);
                // SAFETY: the row ranges are disjoint; each call touches only its rows.
                unsafe {
                    let hs: Vec<&mut [f32]> = h.iter().map(|b| b.range(r.start * hid, r.end * hid)).collect();
                    let cs: Vec<&mut [f32]> = c.iter().map(|b| b.range(r.start * hid, r.end * hid)).collect();
                    let lg = logits.range(r.start * this.vocab, r.end * this.vocab);
                    this.step_rows(hs, cs, &tokens[r.clone()], cats.map(|c| &c[r.clone()]), lg);
                }
                meter.add(r.len() * row_work)?;
            }
            Ok(())
        })
    }

    /// [`Stepper::step`], then `meter` counts its work (polling `cancel` as it adds up
    /// over many small steps).
    fn step_counted(&mut self, state: &mut StepState, tokens: &[usize], meter: &mut Meter, cancel: Cancel) -> Result<()> {
        self.step(state, tokens, cancel)?;
        meter.add(tokens.len() * self.row_work())
    }

    /// One step for a block of rows: `h`/`c` are this block's rows of every layer's state.
    fn step_rows(&self, mut h: Vec<&mut [f32]>, mut c: Vec<&mut [f32]>, tokens: &[usize], cats: Option<&[usize]>, logits: &mut [f32]) {
        let (rows, hid) = (tokens.len(), self.hidden);
        let gh = self.kind.gates() * hid;
        let mut gates = vec![0.0f32; rows * gh];
        let mut h_new = vec![0.0f32; rows * hid];
        let mut c_new = if self.kind.has_cell_state() { vec![0.0f32; rows * hid] } else { Vec::new() };
        let (mut hh, mut hn) = if self.kind == CellKind::Gru { (vec![0.0f32; rows * gh], vec![0.0f32; rows * hid]) } else { (Vec::new(), Vec::new()) };
        for l in 0..self.n_layers {
            if l == 0 {
                for (r, (dst, &tok)) in gates.chunks_exact_mut(gh).zip(tokens).enumerate() {
                    self.tables.project(dst, tok, cats.map(|c| c[r]));
                }
            } else {
                for row in gates.chunks_exact_mut(gh) {
                    row.copy_from_slice(&self.in_bias[l - 1]);
                }
                // The input of layer l is the new state of layer l-1.
                self.w_ih_t[l - 1].multiply(rows, &*h[l - 1], &mut gates, true);
            }
            match self.kind {
                CellKind::Lstm => {
                    self.w_hh_t[l].multiply(rows, &*h[l], &mut gates, true);
                    lstm_rows(&mut gates, &*c[l], &mut c_new, &mut h_new, hid);
                    c[l].copy_from_slice(&c_new);
                }
                CellKind::Rnn => {
                    self.w_hh_t[l].multiply(rows, &*h[l], &mut gates, true);
                    rnn_rows(&gates, &mut h_new);
                }
                CellKind::Gru => {
                    for row in hh.chunks_exact_mut(gh) {
                        row.copy_from_slice(&self.b_hh[l]);
                    }
                    self.w_hh_t[l].multiply(rows, &*h[l], &mut hh, true);
                    gru_rows(&mut gates, &hh, &*h[l], &mut h_new, &mut hn, hid);
                }
            }
            h[l].copy_from_slice(&h_new);
        }
        for row in logits.chunks_exact_mut(self.vocab) {
            row.copy_from_slice(&self.fc_b);
        }
        self.fc_t.multiply(rows, &*h[self.n_layers - 1], logits, true);
    }

    /// Keeps the logits of the listed rows only (to match `StepState::keep_rows`).
    pub fn keep_logit_rows(&mut self, keep: &[usize]) {
        keep_row_blocks(&mut self.logits, keep, self.vocab);
    }
}

/// Keeps rows `keep` (each `width` values) of `s`, in that order. Rows kept in increasing
/// order (finished sequences dropped while sampling) are moved down in place; any other
/// list (rows repeated or reordered) builds a new buffer row by row.
fn keep_row_blocks(s: &mut Vec<f32>, keep: &[usize], width: usize) {
    if keep.windows(2).all(|w| w[0] < w[1]) {
        for (dst, &src) in keep.iter().enumerate() {
            if dst != src {
                s.copy_within(src * width..(src + 1) * width, dst * width);
            }
        }
        s.truncate(keep.len() * width);
    } else {
        let mut out = Vec::with_capacity(keep.len() * width);
        for &r in keep {
            out.extend_from_slice(&s[r * width..(r + 1) * width]);
        }
        *s = out;
    }
}

/// How to draw the next character from the logits.
#[derive(Debug, Clone)]
pub struct DrawRule {
    pub temperature: f32,
    /// 0: no restriction.
    pub top_k: usize,
    /// Nucleus sampling: keep the most likely ids whose probabilities add up to at least
    /// `top_p` (1.0: no restriction).
    pub top_p: f32,
    /// `allowed[id]` is false for ids that must never be drawn.
    pub allowed: Vec<bool>,
}

/// Reusable buffers of `DrawRule::draw`.
#[derive(Debug, Default)]
pub struct DrawScratch {
    scores: Vec<(f32, usize)>,
    weights: Vec<f64>,
}

impl DrawRule {
    pub fn new(vocab: usize, temperature: f32, top_k: usize, banned: &[usize]) -> Result<Self> {
        if !(temperature > 0.0 && temperature.is_finite()) {
            return Err(KernelError::Value(format!("temperature must be a positive number, got {temperature}")));
        }
        let mut allowed = vec![true; vocab];
        for &b in banned {
            if b >= vocab {
                return Err(KernelError::Value(format!("banned id {b} is outside 0..{vocab} (the vocabulary)")));
            }
            allowed[b] = false;
        }
        if !allowed.iter().any(|&a| a) {
            return Err(KernelError::Value("every id is banned: nothing can be drawn".into()));
        }
        Ok(DrawRule { temperature, top_k, top_p: 1.0, allowed })
    }

    /// The same rule restricted to the nucleus of probability `top_p` (0 < top_p <= 1).
    pub fn with_top_p(mut self, top_p: f32) -> Result<Self> {
        if !(top_p > 0.0 && top_p <= 1.0) {
            return Err(KernelError::Value(format!("top_p must be in (0, 1], got {top_p}")));
        }
        self.top_p = top_p;
        Ok(self)
    }

    /// Draws one id from `softmax(logits / temperature)` over the allowed ids, restricted to
    /// the `top_k` largest (ties broken by lower id).
    pub fn draw(&self, logits: &[f32], rng: &mut ChaCha8Rng, scratch: &mut DrawScratch) -> usize {
        self.draw_where(logits, None, rng, scratch)
    }

    /// The natural log of the share of `softmax(logits / temperature)` (over the ids the
    /// rule allows, before top-k and top-p) that falls on the ids `also` allows too: the
    /// `log Z_t` by which a constrained draw renormalises.
    pub fn log_mass(&self, logits: &[f32], also: &[bool]) -> f64 {
        let max = logits
            .iter()
            .zip(&self.allowed)
            .filter(|(z, &a)| a && !z.is_nan())
            .map(|(&z, _)| z)
            .fold(f32::NEG_INFINITY, f32::max);
        if max == f32::NEG_INFINITY {
            return 0.0;
        }
        let (mut all, mut kept) = (0.0f64, 0.0f64);
        for ((&z, &a), &m) in logits.iter().zip(&self.allowed).zip(also) {
            if a && !z.is_nan() {
                let w = (f64::from(z - max) / f64::from(self.temperature)).exp();
                all += w;
                if m {
                    kept += w;
                }
            }
        }
        (kept / all).ln()
    }

    /// `draw` over the ids that are both allowed by the rule and `also[id]` (a constraint's
    /// mask at this step; at least one id must pass both).
    pub fn draw_where(&self, logits: &[f32], also: Option<&[bool]>, rng: &mut ChaCha8Rng, scratch: &mut DrawScratch) -> usize {
        let scores = &mut scratch.scores;
        scores.clear();
        let passes = |i: usize| self.allowed[i] && also.is_none_or(|m| m[i]);
        // NaN logits are treated as the lowest possible score. Kept in id order.
        scores.extend(logits.iter().enumerate().filter(|(i, _)| passes(*i)).map(|(i, &z)| {
            let s = z / self.temperature;
            (if s.is_nan() { f32::NEG_INFINITY } else { s }, i)
        }));
        if self.top_k > 0 && self.top_k < scores.len() {
            let k = self.top_k;
            scores.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            scores.truncate(k);
            scores.sort_unstable_by_key(|e| e.1); // back to id order
        }
        if self.top_p < 1.0 && scores.len() > 1 {
            // Most likely first (ties: lower id), keep the smallest prefix with mass >= top_p.
            scores.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let max = scores[0].0;
            let w = &mut scratch.weights;
            w.clear();
            w.extend(scores.iter().map(|e| f64::from(e.0 - max).exp()));
            let total: f64 = w.iter().sum();
            let (mut acc, mut keep) = (0.0, scores.len());
            for (i, wi) in w.iter().enumerate() {
                acc += wi;
                if acc >= f64::from(self.top_p) * total {
                    keep = i + 1;
                    break;
                }
            }
            scores.truncate(keep);
            scores.sort_unstable_by_key(|e| e.1);
        }
        let max = scores.iter().map(|e| e.0).fold(f32::NEG_INFINITY, f32::max);
        if max == f32::NEG_INFINITY {
            // Every score is -inf: take the lowest allowed id, deterministically.
            return scores[0].1;
        }
        let weights = &mut scratch.weights;
        weights.clear();
        let mut total = 0.0f64;
        for e in scores.iter() {
            let w = f64::from(e.0 - max).exp();
            total += w;
            weights.push(total);
        }
        let u = uniform(rng) * total;
        let i = weights.partition_point(|&c| c <= u).min(scores.len() - 1);
        scores[i].1
    }
}


#[derive(Debug, Clone)]
pub struct SampleOptions {
    pub n: usize,
    pub start_id: usize,
    pub end_id: usize,
    /// Maximum number of ids drawn after the prefix (the end id included).
    pub max_steps: usize,
    pub temperature: f32,
    pub top_k: usize,
    /// Nucleus sampling threshold (1.0: off).
    pub top_p: f32,
    pub prefix: Vec<usize>,
    pub seed: u64,
    pub banned: Vec<usize>,
    /// Category of every sequence (conditional models only).
    pub categories: Option<Vec<i32>>,
    /// What every drawn string must meet (see `constraint`); the prefix counts towards it.
    pub constraint: Option<Arc<Constraint>>,
    /// Draw from the network mixed with an n-gram model (see `ngram::Mixture`): the rule
    /// (temperature, top-k, top-p, banned ids, the constraint) then acts on the mixture.
    pub mixture: Option<Arc<Mixture>>,
}

/// Checks that every id of `ids` is in the vocabulary.
pub fn check_ids(ids: &[usize], vocab: usize, what: &str) -> Result<()> {
    match ids.iter().find(|&&id| id >= vocab) {
        Some(bad) => Err(KernelError::Value(format!("{what} contains id {bad}, outside 0..{vocab} (the vocabulary)"))),
        None => Ok(()),
    }
}

/// Work counted per logit of a draw (a division, an `exp`, a compare and a sum).
const DRAW_WORK: usize = 4;

/// Draws `n` sequences: each starts from a zero state, is fed `start_id` and the prefix,
/// then draws until `end_id` or `max_steps`. Returns the drawn ids without the end id.
pub fn sample(params: &ModelParams, opts: &SampleOptions, cancel: Cancel) -> Result<Vec<Vec<u32>>> {
    sample_prepared(&mut Stepper::new(params), opts, cancel)
}

/// `sample` with a model prepared once (see `Stepper`), for repeated calls.
pub fn sample_prepared(stepper: &mut Stepper, opts: &SampleOptions, cancel: Cancel) -> Result<Vec<Vec<u32>>> {
    sample_weighted(stepper, opts, cancel).map(|(out, _)| out)
}

/// `sample_prepared`, also returning for every sequence `log ∏ Z_t`: the sum over its
/// steps of the log of the probability mass the constraint left allowed (0 without a
/// constraint). A constrained draw has probability `p(x) / ∏ Z_t`; the model's
/// distribution conditioned on the constraint is `p(x) / P(C)`, so `∏ Z_t` is, up to a
/// constant, the importance weight that turns constrained draws into conditional ones.
pub fn sample_weighted(stepper: &mut Stepper, opts: &SampleOptions, cancel: Cancel) -> Result<(Vec<Vec<u32>>, Vec<f64>)> {
    let v = stepper.vocab;
    check_ids(&[opts.start_id], v, "start_id")?;
    check_ids(&[opts.end_id], v, "end_id")?;
    check_ids(&opts.prefix, v, "prefix")?;
    let rule = DrawRule::new(v, opts.temperature, opts.top_k, &opts.banned)?.with_top_p(opts.top_p)?;
    let categories = stepper.check_categories(opts.categories.as_deref(), opts.n)?;
    let mixture = opts.mixture.as_deref();
    if let Some(m) = mixture {
        m.check_model(v, categories.is_some())?;
    }
    // State, logits and scratch per sequence, and the drawn ids.
    let per_row = 4 * (3 * stepper.n_layers * stepper.hidden + 2 * stepper.vocab + 4 * stepper.hidden) as u128;
    check_memory("sampling", opts.n as u128 * (per_row + 4 * opts.max_steps as u128 + 24))?;
    let mut out: Vec<Vec<u32>> = vec![Vec::new(); opts.n];
    let mut log_weights = vec![0.0f64; opts.n];
    if opts.n == 0 || opts.max_steps == 0 {
        return Ok((out, log_weights));
    }
    // Sequences with the same category see the same start and prefix: warm up one row per
    // distinct category, then copy it to every sequence.
    let mut distinct: Vec<usize> = categories.clone().unwrap_or_else(|| vec![0]);
    distinct.sort_unstable();
    distinct.dedup();
    cancel.check()?;
    let mut meter = cancel.meter();
    let mut state = stepper.zero_state(distinct.len(), categories.as_ref().map(|_| distinct.clone()));
    stepper.step_counted(&mut state, &vec![opts.start_id; distinct.len()], &mut meter, cancel)?;
    for &id in &opts.prefix {
        stepper.step_counted(&mut state, &vec![id; distinct.len()], &mut meter, cancel)?;
    }
    let source: Vec<usize> = match &categories {
        Some(c) => c.iter().map(|k| distinct.binary_search(k).unwrap()).collect(),
        None => vec![0; opts.n],
    };
    state.keep_rows(&source);
    stepper.keep_logit_rows(&source);

    // With a constraint: where every row is in its automaton, and the ids it may draw.
    let constraint = opts.constraint.as_deref();
    let mut positions = match constraint {
        Some(c) => {
            if c.max_len() + 1 > opts.prefix.len() + opts.max_steps {
                return Err(KernelError::Value(format!(
                    "a constraint up to {} characters needs max_steps of at least {} after a prefix of {}",
                    c.max_len(),
                    c.max_len() + 1 - opts.prefix.len().min(c.max_len()),
                    opts.prefix.len()
                )));
            }
            let at = opts.prefix.iter().try_fold(c.start(), |at, &id| c.advance(at, id))?;
            vec![at; opts.n]
        }
        None => Vec::new(),
    };
    let mut mask = vec![false; if constraint.is_some() { v } else { 0 }];

    let mut rng = seeded_rng(opts.seed);
    let mut active: Vec<usize> = (0..opts.n).collect();
    let mut scratch = DrawScratch::default();
    // With a mixture: where each sequence stands in the n-gram's tables (after the start and
    // the prefix, then after every id it draws), and buffers.
    let mut contexts = match mixture {
        Some(m) => vec![m.ngram.context(&[&[opts.start_id], &opts.prefix[..]].concat()); opts.n],
        None => Vec::new(),
    };
    let (mut mixed, mut counts) = (Vec::new(), Vec::new());
    for step in 0..opts.max_steps {
        let mut keep = Vec::with_capacity(active.len());
        let mut next = Vec::with_capacity(active.len());
        for (row, &seq) in active.iter().enumerate() {
            let mut logits = &stepper.logits[row * v..(row + 1) * v];
            if let Some(m) = mixture {
                if m.mixed_logits(logits, &contexts[seq], opts.prefix.len() + step, &mut mixed, &mut counts) {
                    logits = &mixed[..];
                }
            }
            let id = match constraint {
                None => rule.draw(logits, &mut rng, &mut scratch),
                Some(c) => {
                    c.allowed(positions[seq], &mut mask);
                    if !mask.iter().zip(&rule.allowed).any(|(&m, &a)| m && a) {
                        return Err(KernelError::Value(
                            "the constraint leaves only banned ids to draw: no string can meet both".into(),
                        ));
                    }
                    log_weights[seq] += rule.log_mass(logits, &mask);
                    let id = rule.draw_where(logits, Some(&mask), &mut rng, &mut scratch);
                    if id != opts.end_id {
                        positions[seq] = c.advance(positions[seq], id)?;
                    }
                    id
                }
            };
            if id != opts.end_id {
                out[seq].push(id as u32);
                keep.push(row);
                next.push(id);
                if let Some(m) = mixture {
                    m.ngram.push(&mut contexts[seq], id);
                }
            }
        }
        meter.add(DRAW_WORK * v * active.len())?;
        if keep.is_empty() || step + 1 == opts.max_steps {
            break;
        }
        if keep.len() != active.len() {
            state.keep_rows(&keep);
            active = keep.iter().map(|&r| active[r]).collect();
        }
        stepper.step_counted(&mut state, &next, &mut meter, cancel)?;
    }
    Ok((out, log_weights))
}

/// Continues one or more streams of text: feeds the last drawn id back in and draws the
/// next, `steps` times, without an end marker. `state` and the logits (`last_logits`,
/// `[rows, V]`, those after the last fed id) carry over between calls, so text can be
/// generated in chunks.
pub fn continue_text(
    stepper: &mut Stepper,
    state: &mut StepState,
    last_logits: &mut Vec<f32>,
    rule: &DrawRule,
    rng: &mut ChaCha8Rng,
    steps: usize,
    cancel: Cancel,
) -> Result<Vec<Vec<u32>>> {
    let v = stepper.vocab;
    if last_logits.len() != state.rows * v {
        return Err(KernelError::Value("nothing fed yet: feed at least one id (the prime) first".into()));
    }
    stepper.logits = std::mem::take(last_logits);
    check_memory("text generation", state.rows as u128 * steps as u128 * 4)?;
    let mut out = vec![Vec::with_capacity(steps); state.rows];
    let mut scratch = DrawScratch::default();
    cancel.check()?;
    let mut meter = cancel.meter();
    for _ in 0..steps {
        let next: Vec<usize> =
            (0..state.rows).map(|r| rule.draw(&stepper.logits[r * v..(r + 1) * v], rng, &mut scratch)).collect();
        for (o, &id) in out.iter_mut().zip(&next) {
            o.push(id as u32);
        }
        meter.add(DRAW_WORK * v * state.rows)?;
        stepper.step_counted(state, &next, &mut meter, cancel)?;
    }
    *last_logits = std::mem::take(&mut stepper.logits);
    Ok(out)
}

/// Feeds ids (one sequence per row, all of equal length) into `state`; returns the logits
/// after the last one.
pub fn feed(stepper: &mut Stepper, state: &mut StepState, ids: &[Vec<usize>], cancel: Cancel) -> Result<Vec<f32>> {
    if ids.len() != state.rows {
        return Err(KernelError::Value(format!("feed: {} id lists for {} streams", ids.len(), state.rows)));
    }
    let len = ids.first().map_or(0, |s| s.len());
    if ids.iter().any(|s| s.len() != len) || len == 0 {
        return Err(KernelError::Value("feed: every stream needs the same, non-zero number of ids".into()));
    }
    for s in ids {
        check_ids(s, stepper.vocab, "ids")?;
    }
    cancel.check()?;
    let mut meter = cancel.meter();
    for t in 0..len {
        let col: Vec<usize> = ids.iter().map(|s| s[t]).collect();
        stepper.step_counted(state, &col, &mut meter, cancel)?;
    }
    Ok(std::mem::take(&mut stepper.logits))
}

/// One finished beam-search hypothesis.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    /// Ids after the prefix, without the end id.
    pub ids: Vec<u32>,
    /// Natural log-probability of those ids and the end id, given the start and prefix.
    pub log_prob: f64,
}

/// The `beam` most likely completions of `prefix` (each ending with `end_id`, at most
/// `max_steps` ids after the prefix, end included), most likely first. Deterministic.
/// With a `mixture` the log-probabilities are those of the network mixed with an n-gram
/// model (see `ngram::Mixture`).
#[allow(clippy::too_many_arguments)]
pub fn beam_search(
    stepper: &mut Stepper,
    start_id: usize,
    end_id: usize,
    prefix: &[usize],
    beam: usize,
    max_steps: usize,
    banned: &[usize],
    category: Option<i32>,
    mixture: Option<&Mixture>,
    cancel: Cancel,
) -> Result<Vec<Hypothesis>> {
    let v = stepper.vocab;
    if let Some(m) = mixture {
        m.check_model(v, category.is_some())?;
    }
    check_ids(&[start_id, end_id], v, "start_id/end_id")?;
    check_ids(prefix, v, "prefix")?;
    check_ids(banned, v, "banned")?;
    if beam == 0 {
        return Err(KernelError::Value("beam must be at least 1".into()));
    }
    let cats = stepper.check_categories(category.map(|c| vec![c]).as_deref(), 1)?;
    let mut allowed = vec![true; v];
    for &b in banned {
        allowed[b] = false;
    }
    cancel.check()?;
    let mut meter = cancel.meter();
    let mut state = stepper.zero_state(1, cats);
    stepper.step_counted(&mut state, &[start_id], &mut meter, cancel)?;
    for &id in prefix {
        stepper.step_counted(&mut state, &[id], &mut meter, cancel)?;
    }
    // Active hypotheses: (ids, log-prob), one state row each.
    let mut active: Vec<(Vec<u32>, f64)> = vec![(Vec::new(), 0.0)];
    let mut done: Vec<Hypothesis> = Vec::new();
    // With a mixture: where each active hypothesis stands in the n-gram's tables.
    let mut contexts = match mixture {
        Some(m) => vec![m.ngram.context(&[&[start_id], prefix].concat())],
        None => Vec::new(),
    };
    let (mut mixed, mut counts) = (Vec::new(), Vec::new());
    for step in 0..max_steps {
        meter.add(DRAW_WORK * v * active.len())?;
        let mut cands: Vec<(f64, usize, usize)> = Vec::new(); // (log-prob, row, id)
        for (row, (_, lp)) in active.iter().enumerate() {
            let z = &stepper.logits[row * v..(row + 1) * v];
            if let Some(m) = mixture {
                m.mixed_log_probs(z, &contexts[row], prefix.len() + step, &mut mixed, &mut counts);
                for id in (0..v).filter(|&id| allowed[id]) {
                    cands.push((lp + mixed[id], row, id));
                }
                continue;
            }
            let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let lse = f64::from(max) + z.iter().map(|&x| f64::from(x - max).exp()).sum::<f64>().ln();
            for id in (0..v).filter(|&id| allowed[id]) {
                cands.push((lp + f64::from(z[id]) - lse, row, id));
            }
        }
        cands.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut keep_rows = Vec::new();
        let mut next_tokens = Vec::new();
        let mut next_active = Vec::new();
        for &(lp, row, id) in &cands {
            if next_active.len() == beam {
                break;
            }
            if id == end_id {
                if done.len() < beam {
                    done.push(Hypothesis { ids: active[row].0.clone(), log_prob: lp });
                }
                continue;
            }
            if step + 1 == max_steps {
                continue; // no room left to end
            }
            let mut ids = active[row].0.clone();
            ids.push(id as u32);
            next_active.push((ids, lp));
            keep_rows.push(row);
            next_tokens.push(id);
        }
        done.sort_by(|a, b| b.log_prob.total_cmp(&a.log_prob));
        done.truncate(beam);
        // Log-probabilities only fall: stop when no active hypothesis can still enter.
        let best_active = next_active.first().map(|a| a.1).unwrap_or(f64::NEG_INFINITY);
        if next_active.is_empty() || (done.len() == beam && best_active <= done[beam - 1].log_prob) {
            break;
        }
        state.keep_rows(&keep_rows);
        stepper.step_counted(&mut state, &next_tokens, &mut meter, cancel)?;
        if let Some(m) = mixture {
            contexts = keep_rows.iter().zip(&next_tokens).map(|(&row, &id)| {
                let mut c = contexts[row].clone();
                m.ngram.push(&mut c, id);
                c
            }).collect();
        }
        active = next_active;
    }
    Ok(done)
}
