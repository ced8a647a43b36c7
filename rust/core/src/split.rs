//! Splitting a batch across the worker threads: the sequences are cut into one group per
//! thread of about equal total length (contiguous in batch order), each group's arrays
//! are cut out, and the groups' results are merged back in group order, so a given thread
//! count reproduces itself exactly.

use std::ops::Range;

use crate::cancel::Cancel;
use crate::dropout::{DropoutMasks, MaskSizes};
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

    /// Group `g`'s columns of a time-major `[steps, batch, width]` array.
    pub fn columns<T: Copy>(&self, src: &[T], steps: usize, width: usize, g: &Range<usize>) -> Vec<T> {
        let b = self.batch;
        (0..steps).flat_map(|t| src[(t * b + g.start) * width..(t * b + g.end) * width].iter().copied()).collect()
    }

    /// Group `g`'s rows of a `[layers, batch, width]` state.
    pub fn state_rows(&self, src: &[f32], layers: usize, width: usize, g: &Range<usize>) -> Vec<f32> {
        let b = self.batch;
        (0..layers).flat_map(|l| src[(l * b + g.start) * width..(l * b + g.end) * width].iter().copied()).collect()
    }

    /// Group `g`'s share of a batch's masks (`DropoutMasks` form): its rows of the
    /// per-sequence masks (input, and hidden when `locked`), its columns of the per-position
    /// ones (`[steps, batch, hidden]`). The per-batch masks (embedding rows, recurrent
    /// weights) are left out: the groups run with the dropped copies made once.
    pub fn masks(&self, m: &DropoutMasks, steps: usize, sizes: MaskSizes, locked: bool, g: &Range<usize>) -> DropoutMasks {
        let rows = |src: &[f32], width: usize| if src.is_empty() { Vec::new() } else { self.state_rows(src, 1, width, g) };
        let hidden = |h: &Vec<f32>| if locked { rows(h, sizes.hidden) } else { self.columns(h, steps, sizes.hidden, g) };
        DropoutMasks { input: rows(&m.input, sizes.embed), hidden: m.hidden.iter().map(hidden).collect(), ..Default::default() }
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
