//! The dropouts a training pass can apply, and the masks they draw.
//!
//! Every mask is inverted dropout: an entry is 0 with probability `p`, else `1 / (1 - p)`,
//! so the expected value of what it multiplies is unchanged and evaluation needs no
//! rescaling. Five places, as in the regularised LSTM language models of Gal & Ghahramani
//! (variational dropout) and Merity et al. (AWD-LSTM):
//!
//! - `hidden`: the inputs of layers 1.. and of the output layer. A fresh mask per position,
//!   or, with `locked`, one mask per sequence reused at every step (variational dropout);
//! - `input`: layer 0's character embedding, one mask per sequence (always locked);
//! - `embedding`: whole rows of the embedding table, one draw per character per batch, so a
//!   dropped character is unknown everywhere in the batch;
//! - `weight`: DropConnect on every layer's recurrent weights `w_hh`, one mask per batch.
//!
//! The `hidden` masks come from the pass's generator (stream 0) in the order they always
//! did, so a pass with only `hidden` dropout gives the same numbers as before the others
//! existed; the others come from stream 1 of the same seed. `PassMasks::draw` draws them
//! all, in that order; a pass can also be handed masks already drawn (`PassMasks::given`),
//! which is how the groups of a split batch share one batch's masks.

use rand_chacha::ChaCha8Rng;

use crate::cancel::{Cancel, FRESH_WRITE_WORK};
use crate::error::{KernelError, Result};
use crate::layout::SeqLayout;
use crate::ops::{dropout_mask, dropout_mask16};
use crate::rng::seeded_rng;

/// The sizes a model's masks have.
#[derive(Debug, Clone, Copy)]
pub struct MaskSizes {
    pub vocab: usize,
    pub embed: usize,
    pub hidden: usize,
    /// Values of one layer's `w_hh`, `G*H*H`.
    pub w_hh: usize,
    pub layers: usize,
}

/// Dropout probabilities of one training pass (all 0: no dropout).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Dropout {
    /// The inputs of layers 1.. and of the output layer.
    pub hidden: f32,
    /// `hidden`'s masks drawn once per sequence instead of once per position.
    pub locked: bool,
    /// Layer 0's character embedding, one mask per sequence.
    pub input: f32,
    /// Whole rows of the embedding table, one draw per character per batch.
    pub embedding: f32,
    /// DropConnect on the recurrent weights, one mask per layer per batch.
    pub weight: f32,
}

impl Dropout {
    /// Dropout on the inputs of layers 1.. and of the output layer only, per position.
    pub fn hidden(p: f32) -> Self {
        Dropout { hidden: p, ..Default::default() }
    }

    /// Every probability must be in [0, 1).
    pub fn check(&self) -> Result<()> {
        for (name, p) in [("dropout", self.hidden), ("input dropout", self.input), ("embedding dropout", self.embedding), ("weight drop", self.weight)] {
            if !(0.0..1.0).contains(&p) {
                return Err(KernelError::Value(format!("{name} must be in [0, 1), got {p}")));
            }
        }
        Ok(())
    }

    /// Whether the pass draws any mask.
    pub fn active(&self) -> bool {
        self.hidden > 0.0 || self.input > 0.0 || self.embedding > 0.0 || self.weight > 0.0
    }
}

/// The masks a pass drew, in the caller's order, for tests and reference implementations;
/// also the form in which a pass takes masks already drawn (`PassOptions::given`).
#[derive(Debug, Clone, Default)]
pub struct DropoutMasks {
    /// `[V]`, one factor per embedding row (empty: no embedding dropout).
    pub embedding: Vec<f32>,
    /// `[B, E]`, one mask per sequence on its character embedding (empty: none).
    pub input: Vec<f32>,
    /// One per layer above the first and one for the output layer (`L` in all); each
    /// `[B, H]` when locked, else `[T, B, H]` (0 at padding); empty: no hidden dropout.
    pub hidden: Vec<Vec<f32>>,
    /// `[G*H, H]` per layer, multiplying `w_hh` (empty: no weight drop).
    pub recurrent: Vec<Vec<f32>>,
}

/// The per-batch masks of one pass: drawn before the forward pass, and the dropped copies of
/// the embedding table and recurrent weights the pass runs with.
pub struct BatchMasks {
    /// Stream 1 of the pass's seed (stream 0 belongs to the `hidden` masks).
    rng: ChaCha8Rng,
    pub embedding: Option<Vec<f32>>,
    pub recurrent: Vec<Vec<f32>>,
}

impl BatchMasks {
    /// Draws the embedding-row mask (`vocab` rows) and one recurrent mask of `w_hh_len`
    /// entries per layer, as `d` asks.
    pub fn draw(d: &Dropout, seed: u64, vocab: usize, w_hh_len: usize, layers: usize, cancel: Cancel) -> Result<Self> {
        let mut rng = seeded_rng(seed);
        rng.set_stream(1);
        let embedding = if d.embedding > 0.0 { Some(dropout_mask16(vocab, d.embedding, &mut rng, cancel)?) } else { None };
        let mut recurrent = Vec::new();
        if d.weight > 0.0 {
            for _ in 0..layers {
                recurrent.push(dropout_mask16(w_hh_len, d.weight, &mut rng, cancel)?);
            }
        }
        Ok(BatchMasks { rng, embedding, recurrent })
    }

    /// The per-sequence input mask, `[batch, width]` in batch order (drawn after the
    /// per-batch masks, from the same stream).
    pub fn draw_input(&mut self, p: f32, batch: usize, width: usize, cancel: Cancel) -> Result<Vec<f32>> {
        dropout_mask16(batch * width, p, &mut self.rng, cancel)
    }
}

/// The masks of one pass in the form the pass uses them: as `DropoutMasks`, except that
/// per-position `hidden` masks are packed, `[rows, H]` in the pass's `SeqLayout`.
#[derive(Debug, Clone, Default)]
pub struct PassMasks {
    /// `[V]` (empty: none).
    pub embedding: Vec<f32>,
    /// `[B, E]`, batch order (empty: none).
    pub input: Vec<f32>,
    /// Layers 1.. and the output layer (`L` in all), each `[B, H]` when `locked`, else
    /// `[rows, H]`; empty: no hidden dropout.
    pub hidden: Vec<Vec<f32>>,
    pub locked: bool,
    /// `[G*H, H]` per layer (empty: none).
    pub recurrent: Vec<Vec<f32>>,
}

impl PassMasks {
    /// Every mask `d` asks for, over a batch laid out as `layout`. Stream 1 gives the
    /// embedding rows, one recurrent mask per layer, then the input mask `[B, E]`; stream 0
    /// the hidden masks of layers 1.. and then of the output layer, `[B, H]` each when
    /// locked, else `[rows, H]` in packed row order.
    pub fn draw(d: &Dropout, seed: u64, layout: &SeqLayout, sizes: MaskSizes, cancel: Cancel) -> Result<Self> {
        let mut batch = BatchMasks::draw(d, seed, sizes.vocab, sizes.w_hh, sizes.layers, cancel)?;
        let input = if d.input > 0.0 { batch.draw_input(d.input, layout.batch, sizes.embed, cancel)? } else { Vec::new() };
        let mut hidden = Vec::new();
        if d.hidden > 0.0 {
            let mut rng = seeded_rng(seed);
            let len = if d.locked { layout.batch } else { layout.rows() } * sizes.hidden;
            for _ in 0..sizes.layers {
                hidden.push(dropout_mask(len, d.hidden, &mut rng, cancel)?);
            }
        }
        Ok(PassMasks { embedding: batch.embedding.unwrap_or_default(), input, hidden, locked: d.locked, recurrent: batch.recurrent })
    }

    /// Masks drawn elsewhere (`DropoutMasks` form, `hidden` shaped as `locked` says), their
    /// shapes checked against the batch and the model. An empty mask is no dropout.
    pub fn given(m: &DropoutMasks, locked: bool, layout: &SeqLayout, sizes: MaskSizes) -> Result<Self> {
        let check = |what: String, mask: &[f32], len: usize| {
            if mask.is_empty() || mask.len() == len {
                Ok(())
            } else {
                Err(KernelError::Value(format!("the given {what} mask has {} values, expected {len} (or none)", mask.len())))
            }
        };
        let per_layer = |what: &str, masks: &[Vec<f32>], len: usize| {
            if !masks.is_empty() && masks.len() != sizes.layers {
                return Err(KernelError::Value(format!("{} given {what} masks, expected {} (or none)", masks.len(), sizes.layers)));
            }
            masks.iter().enumerate().try_for_each(|(l, m)| check(format!("{what}[{l}]"), m, len))
        };
        check("embedding".into(), &m.embedding, sizes.vocab)?;
        check("input".into(), &m.input, layout.batch * sizes.embed)?;
        per_layer("recurrent", &m.recurrent, sizes.w_hh)?;
        let steps = if locked { 1 } else { layout.steps };
        per_layer("hidden", &m.hidden, steps * layout.batch * sizes.hidden)?;
        let hidden = if locked { m.hidden.clone() } else { m.hidden.iter().map(|h| layout.pack(h, sizes.hidden)).collect() };
        Ok(PassMasks { embedding: m.embedding.clone(), input: m.input.clone(), hidden, locked, recurrent: m.recurrent.clone() })
    }

    /// The `DropoutMasks` form: per-position hidden masks unpacked to `[T, B, H]` (0 at
    /// padding).
    pub fn into_masks(self, layout: &SeqLayout, hidden: usize) -> DropoutMasks {
        let per_position = |m: Vec<f32>| if self.locked { m } else { layout.unpack(&m, hidden, 0.0) };
        DropoutMasks {
            embedding: self.embedding,
            input: self.input,
            hidden: self.hidden.into_iter().map(per_position).collect(),
            recurrent: self.recurrent,
        }
    }
}

/// `table` (`[rows, width]`) with row `r` multiplied by `factors[r]`.
pub fn scale_rows(table: &[f32], width: usize, factors: &[f32], cancel: Cancel) -> Result<Vec<f32>> {
    let mut out = Vec::with_capacity(table.len());
    let mut meter = cancel.meter();
    for (row, &f) in table.chunks_exact(width).zip(factors) {
        out.extend(row.iter().map(|v| v * f));
        meter.add(FRESH_WRITE_WORK * width)?;
    }
    Ok(out)
}

/// A per-sequence mask (`[B, width]`, batch order) repeated at every step of each
/// sequence, in the packed layout (`[rows, width]`).
pub fn locked_rows(layout: &SeqLayout, mask: &[f32], width: usize, cancel: Cancel) -> Result<Vec<f32>> {
    let mut out = Vec::with_capacity(layout.rows() * width);
    let mut meter = cancel.meter();
    for &bs in &layout.batch_sizes {
        for &b in &layout.order[..bs] {
            out.extend_from_slice(&mask[b * width..(b + 1) * width]);
        }
        meter.add(FRESH_WRITE_WORK * bs * width)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locked_rows_repeat_each_sequence_mask_at_its_steps() {
        let layout = SeqLayout::new(3, &[1, 3, 2]).unwrap();
        let mask = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // [B=3, width=2]
        let rows = locked_rows(&layout, &mask, 2, Cancel::NEVER).unwrap();
        // Ranks by length: b=1 (3), b=2 (2), b=0 (1).
        let padded = layout.unpack(&rows, 2, 0.0);
        for t in 0..3 {
            for b in 0..3 {
                let got = &padded[(t * 3 + b) * 2..(t * 3 + b) * 2 + 2];
                let real = t < [1, 3, 2][b];
                let want = if real { [mask[2 * b], mask[2 * b + 1]] } else { [0.0, 0.0] };
                assert_eq!(got, want, "t={t} b={b}");
            }
        }
    }

    #[test]
    fn batch_masks_use_their_own_stream() {
        let d = Dropout { embedding: 0.5, weight: 0.5, ..Default::default() };
        let a = BatchMasks::draw(&d, 7, 64, 100, 2, Cancel::NEVER).unwrap();
        let mut plain = seeded_rng(7);
        let stream0 = dropout_mask16(64, 0.5, &mut plain, Cancel::NEVER).unwrap();
        assert_ne!(a.embedding.as_ref().unwrap(), &stream0);
        let mut one = seeded_rng(7);
        one.set_stream(1);
        assert_eq!(a.embedding.as_ref().unwrap(), &dropout_mask16(64, 0.5, &mut one, Cancel::NEVER).unwrap());
        let b = BatchMasks::draw(&d, 7, 64, 100, 2, Cancel::NEVER).unwrap();
        assert_eq!(a.embedding, b.embedding);
        assert_eq!(a.recurrent, b.recurrent);
        assert_ne!(a.recurrent[0], a.recurrent[1]);
        for m in a.recurrent.iter().chain(a.embedding.iter()) {
            assert!(m.iter().all(|&v| v == 0.0 || v == 2.0));
        }
    }

    #[test]
    fn given_masks_are_checked_and_per_position_ones_packed() {
        let layout = SeqLayout::new(3, &[1, 3, 2]).unwrap();
        let sizes = MaskSizes { vocab: 4, embed: 2, hidden: 2, w_hh: 8, layers: 1 };
        let padded: Vec<f32> = (0..18).map(|v| v as f32).collect(); // [T=3, B=3, H=2]
        let m = DropoutMasks { hidden: vec![padded.clone()], ..Default::default() };
        let given = PassMasks::given(&m, false, &layout, sizes).unwrap();
        assert_eq!(given.hidden[0], layout.pack(&padded, 2));
        let back = given.into_masks(&layout, 2).hidden.remove(0);
        assert_eq!(back, layout.unpack(&layout.pack(&padded, 2), 2, 0.0));
        let locked = DropoutMasks { hidden: vec![padded[..6].to_vec()], ..Default::default() };
        assert_eq!(PassMasks::given(&locked, true, &layout, sizes).unwrap().hidden, locked.hidden);
        assert!(PassMasks::given(&m, true, &layout, sizes).unwrap_err().to_string().contains("hidden[0]"));
        let bad_input = DropoutMasks { input: vec![1.0; 5], ..Default::default() };
        assert!(PassMasks::given(&bad_input, false, &layout, sizes).unwrap_err().to_string().contains("input"));
        let two_layers = DropoutMasks { recurrent: vec![vec![1.0; 8]; 2], ..Default::default() };
        assert!(PassMasks::given(&two_layers, false, &layout, sizes).is_err());
    }

    #[test]
    fn check_names_the_bad_probability() {
        let bad = Dropout { weight: 1.0, ..Default::default() };
        assert!(bad.check().unwrap_err().to_string().contains("weight drop"));
        assert!(Dropout { input: f32::NAN, ..Default::default() }.check().is_err());
        assert!(Dropout::hidden(0.5).check().is_ok());
        assert!(!Dropout { locked: true, ..Default::default() }.active());
    }
}
