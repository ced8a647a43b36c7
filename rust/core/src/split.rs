//! Splitting a batch across the worker threads: the sequences are cut into one group per
//! thread of about equal total length (contiguous in batch order), each group's arrays
//! are cut out, and the groups' results are merged back in group order, so a given thread
//! count reproduces itself exactly.

use std::ops::Range;

use crate::cancel::Cancel;
use crate::error::Result;
use crate::ops::add_into;

/// The groups of a batch of `batch` sequences: contiguous ranges of batch indices.
#[derive(Debug, Clone)]
pub struct Groups {
    pub batch: usize,
    pub ranges: Vec<Range<usize>>,
}

impl Groups {
    /// At most `parts` groups of about equal total length.
    pub fn balanced(lengths: &[i64], parts: usize) -> Self {
        let lengths: Vec<usize> = lengths.iter().map(|&l| l.max(0) as usize).collect();
        Groups { batch: lengths.len(), ranges: crate::parallel::balanced_ranges(&lengths, parts) }
    }

    /// Group `g`'s columns of a time-major `[steps, batch]` array.
    pub fn columns(&self, src: &[i32], steps: usize, g: &Range<usize>) -> Vec<i32> {
        let b = self.batch;
        (0..steps).flat_map(|t| src[t * b + g.start..t * b + g.end].iter().copied()).collect()
    }

    /// Group `g`'s rows of a `[layers, batch, width]` state.
    pub fn state_rows(&self, src: &[f32], layers: usize, width: usize, g: &Range<usize>) -> Vec<f32> {
        let b = self.batch;
        (0..layers).flat_map(|l| src[(l * b + g.start) * width..(l * b + g.end) * width].iter().copied()).collect()
    }

    /// The `[layers, batch, width]` state whose rows are the groups' `[layers, group, width]`
    /// states `parts`, in group order.
    pub fn merge_states(&self, parts: &[&[f32]], layers: usize, width: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(layers * self.batch * width);
        for l in 0..layers {
            for (p, g) in parts.iter().zip(&self.ranges) {
                out.extend_from_slice(&p[l * g.len() * width..(l + 1) * g.len() * width]);
            }
        }
        out
    }
}

/// The element-wise sum of the groups' gradient lists, added in group order (the first
/// list is the accumulator), polling `cancel` as it goes.
pub fn sum_in_order(parts: Vec<Vec<Vec<f32>>>, cancel: Cancel) -> Result<Vec<Vec<f32>>> {
    let mut parts = parts.into_iter();
    let mut total = parts.next().unwrap_or_default();
    let mut meter = cancel.meter();
    for g in parts {
        for (t, x) in total.iter_mut().zip(&g) {
            add_into(t, x);
            meter.add(t.len())?;
        }
    }
    Ok(total)
}
