//! Packed layout of a batch of variable-length sequences.
//!
//! A padded batch is time-major: `[T, B, ...]`, sequence `b` real for `t < lengths[b]`.
//! The kernels never touch padding. They work on a *packed* layout: sequences are ranked
//! by decreasing length (stable, ties keep batch order), so at step `t` the sequences that
//! are still running are ranks `0..batch_sizes[t]`, and their rows are stored contiguously
//! at `offsets[t]..offsets[t] + batch_sizes[t]`. The total number of rows is the number of
//! real positions, `rows()`. This is the same idea as PyTorch's `PackedSequence`.
//!
//! States (`h0`, `h_n`, ...) inside the kernels are `[B, H]` in *rank* order; `to_rank` and
//! `from_rank` convert from and to the caller's batch order.

use crate::cancel::{Cancel, FRESH_WRITE_WORK};
use crate::error::{KernelError, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct SeqLayout {
    /// Padded number of steps `T` of the caller's arrays.
    pub steps: usize,
    /// Batch size `B`.
    pub batch: usize,
    /// Length of each sequence, by rank (non-increasing).
    pub lengths: Vec<usize>,
    /// `order[rank]` is the caller's batch index of that rank.
    pub order: Vec<usize>,
    /// Number of running sequences at each step, for steps `0..max_len`.
    pub batch_sizes: Vec<usize>,
    /// First packed row of each step; `offsets[max_len]` is the total number of rows.
    pub offsets: Vec<usize>,
}

impl SeqLayout {
    /// Builds the layout of a padded `[steps, lengths.len()]` batch.
    pub fn new(steps: usize, lengths: &[i64]) -> Result<Self> {
        let batch = lengths.len();
        let mut lens = Vec::with_capacity(batch);
        for (b, &len) in lengths.iter().enumerate() {
            if len < 0 || len as usize > steps {
                return Err(KernelError::Value(format!(
                    "lengths[{b}] = {len} is outside 0..={steps} (the padded number of steps)"
                )));
            }
            lens.push(len as usize);
        }
        let mut order: Vec<usize> = (0..batch).collect();
        order.sort_by(|&a, &b| lens[b].cmp(&lens[a])); // stable: ties keep batch order
        let lengths: Vec<usize> = order.iter().map(|&b| lens[b]).collect();
        let max_len = lengths.first().copied().unwrap_or(0);
        let mut batch_sizes = vec![0usize; max_len];
        for &len in &lengths {
            for bs in batch_sizes.iter_mut().take(len) {
                *bs += 1;
            }
        }
        let mut offsets = Vec::with_capacity(max_len + 1);
        let mut acc = 0;
        for &bs in &batch_sizes {
            offsets.push(acc);
            acc += bs;
        }
        offsets.push(acc);
        Ok(SeqLayout { steps, batch, lengths, order, batch_sizes, offsets })
    }

    /// Every sequence runs for all `steps` steps (continuous text).
    pub fn full(steps: usize, batch: usize) -> Self {
        SeqLayout::new(steps, &vec![steps as i64; batch]).expect("full lengths are valid")
    }

    /// Number of steps actually computed (the longest sequence).
    pub fn max_len(&self) -> usize {
        self.batch_sizes.len()
    }

    /// Number of real positions (packed rows).
    pub fn rows(&self) -> usize {
        *self.offsets.last().unwrap()
    }

    /// Packed row of the last real step of each rank (`None` for an empty sequence).
    pub fn last_row(&self, rank: usize) -> Option<usize> {
        let len = self.lengths[rank];
        (len > 0).then(|| self.offsets[len - 1] + rank)
    }

    /// Packs a padded `[steps, batch, width]` array into `[rows, width]`.
    pub fn pack<T: Copy>(&self, padded: &[T], width: usize) -> Vec<T> {
        let mut out = Vec::with_capacity(self.rows() * width);
        for (t, &bs) in self.batch_sizes.iter().enumerate() {
            for &b in &self.order[..bs] {
                let start = (t * self.batch + b) * width;
                out.extend_from_slice(&padded[start..start + width]);
            }
        }
        out
    }

    /// Unpacks `[rows, width]` into a padded `[steps, batch, width]` array (padding = `fill`).
    pub fn unpack<T: Copy>(&self, packed: &[T], width: usize, fill: T) -> Vec<T> {
        let mut out = vec![fill; self.steps * self.batch * width];
        for (t, &bs) in self.batch_sizes.iter().enumerate() {
            for (rank, &b) in self.order[..bs].iter().enumerate() {
                let src = (self.offsets[t] + rank) * width;
                let dst = (t * self.batch + b) * width;
                out[dst..dst + width].copy_from_slice(&packed[src..src + width]);
            }
        }
        out
    }

    /// Reorders a `[batch, width]` state from batch order to rank order.
    pub fn to_rank(&self, state: &[f32], width: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.batch * width);
        for &b in &self.order {
            out.extend_from_slice(&state[b * width..(b + 1) * width]);
        }
        out
    }

    /// Reorders a `[batch, width]` state from rank order to batch order.
    pub fn from_rank(&self, state: &[f32], width: usize) -> Vec<f32> {
        let mut out = vec![0.0; self.batch * width];
        for (rank, &b) in self.order.iter().enumerate() {
            out[b * width..(b + 1) * width].copy_from_slice(&state[rank * width..(rank + 1) * width]);
        }
        out
    }

    /// The final state of every rank: the row of its last real step in `packed_h`, or its
    /// initial state when the sequence is empty. Rank order, `[batch, width]`.
    pub fn final_state(&self, packed_h: &[f32], initial: &[f32], width: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.batch * width);
        for rank in 0..self.batch {
            let src = match self.last_row(rank) {
                Some(row) => &packed_h[row * width..(row + 1) * width],
                None => &initial[rank * width..(rank + 1) * width],
            };
            out.extend_from_slice(src);
        }
        out
    }

    /// `[rows, width]` whose row for (t, rank) is the state *before* step t: `initial[rank]`
    /// at t = 0, the packed output of step t-1 afterwards. Used for recurrent weight gradients.
    /// A large copy: `cancel` is polled as it goes (see `cancel::repeat_row`).
    pub fn previous_states(&self, packed_h: &[f32], initial: &[f32], width: usize, cancel: Cancel) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(self.rows() * width);
        let mut meter = cancel.meter();
        for (t, &bs) in self.batch_sizes.iter().enumerate() {
            let src: &[f32] = if t == 0 {
                initial
            } else {
                &packed_h[self.offsets[t - 1] * width..]
            };
            out.extend_from_slice(&src[..bs * width]);
            meter.add(FRESH_WRITE_WORK * bs * width)?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_by_decreasing_length_and_packs_only_real_positions() {
        let layout = SeqLayout::new(4, &[2, 4, 0, 2]).unwrap();
        assert_eq!(layout.order, vec![1, 0, 3, 2]);
        assert_eq!(layout.lengths, vec![4, 2, 2, 0]);
        assert_eq!(layout.batch_sizes, vec![3, 3, 1, 1]);
        assert_eq!(layout.offsets, vec![0, 3, 6, 7, 8]);
        let padded: Vec<i32> = (0..16).collect(); // value = t * 4 + b
        let packed = layout.pack(&padded, 1);
        assert_eq!(packed, vec![1, 0, 3, 5, 4, 7, 9, 13]);
        let back = layout.unpack(&packed, 1, -1);
        assert_eq!(back, vec![0, 1, -1, 3, 4, 5, -1, 7, -1, 9, -1, -1, -1, 13, -1, -1]);
        assert_eq!(layout.last_row(0), Some(7));
        assert_eq!(layout.last_row(1), Some(4));
        assert_eq!(layout.last_row(3), None);
    }

    #[test]
    fn rejects_lengths_beyond_the_padded_steps() {
        assert!(SeqLayout::new(3, &[4]).is_err());
        assert!(SeqLayout::new(3, &[-1]).is_err());
    }

    #[test]
    fn rank_order_round_trips() {
        let layout = SeqLayout::new(3, &[1, 3, 2]).unwrap();
        let state: Vec<f32> = (0..6).map(|v| v as f32).collect();
        let ranked = layout.to_rank(&state, 2);
        assert_eq!(ranked, vec![2.0, 3.0, 4.0, 5.0, 0.0, 1.0]);
        assert_eq!(layout.from_rank(&ranked, 2), state);
    }
}
