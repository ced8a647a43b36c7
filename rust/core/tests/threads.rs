//! With several threads a batch's sequences are split into one group per thread
//! (`forward_backward_split`): the merged losses, gradients and final states must match a
//! one-thread pass up to rounding, and a given thread count must reproduce itself exactly.
//! With dropout the split pass must use the masks one thread draws. (Its own test binary:
//! the thread count is process-wide, so the passes here take turns, `Case::pass`.)

mod common;

use std::sync::Mutex;

use charrnn_core::dropout::Dropout;
use charrnn_core::model::{forward_backward, Batch, ForwardOutput, ModelParams, ParamRef, PassOptions};
use charrnn_core::parallel::set_num_threads;
use charrnn_core::CellKind;
use common::{OwnedParams, Rng};

const CELLS: [CellKind; 3] = [CellKind::Lstm, CellKind::Gru, CellKind::Rnn];

fn close(what: &str, a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{what}[{i}]: {x} vs {y}");
    }
}

/// A two-layer model (with a category embedding when `conditional`), a batch of 9
/// sequences of lengths 1..6 and initial states.
struct Case {
    kind: CellKind,
    p: OwnedParams,
    cat: Option<(Vec<usize>, Vec<f32>)>,
    ids: Vec<i32>,
    targets: Vec<i32>,
    h0: Vec<f32>,
    c0: Option<Vec<f32>>,
}

const STEPS: usize = 6;
const BATCH: usize = 9;
const LENGTHS: [i64; BATCH] = [6, 1, 4, 6, 2, 5, 3, 6, 1];
const CATS: [i32; BATCH] = [2, 0, 1, 1, 2, 0, 0, 2, 1];

impl Case {
    fn new(kind: CellKind, conditional: bool, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let (vocab, embed, cat_dim, hidden, n_cat, layers) = (7, 3, 2, 5, 3, 2);
        let mut p = OwnedParams::random(kind, vocab, embed, hidden, layers, &mut rng);
        let cat = conditional.then(|| {
            p.shapes[1] = vec![kind.gates() * hidden, embed + cat_dim];
            p.data[1] = rng.vec(kind.gates() * hidden * (embed + cat_dim), 0.6);
            (vec![n_cat, cat_dim], rng.vec(n_cat * cat_dim, 0.8))
        });
        let ids = (0..STEPS * BATCH).map(|_| rng.below(vocab) as i32).collect();
        let targets = (0..STEPS * BATCH).map(|_| rng.below(vocab) as i32).collect();
        let h0 = rng.vec(layers * BATCH * hidden, 0.5);
        let c0 = kind.has_cell_state().then(|| rng.vec(layers * BATCH * hidden, 0.5));
        Case { kind, p, cat, ids, targets, h0, c0 }
    }

    /// One pass with gradients from the case's states (and categories) on `threads`
    /// threads, the other options from `extra`.
    fn pass<'a>(&'a self, threads: usize, extra: PassOptions<'a>) -> ForwardOutput {
        static TURN: Mutex<()> = Mutex::new(());
        let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        set_num_threads(threads);
        let refs: Vec<ParamRef> = self.p.data.iter().zip(&self.p.shapes).map(|(d, s)| ParamRef { data: d, shape: s }).collect();
        let cat = self.cat.as_ref().map(|(s, d)| ParamRef { data: d, shape: s });
        let mp = ModelParams::new(self.kind, &refs, cat).unwrap();
        let b = Batch { steps: STEPS, batch: BATCH, ids: &self.ids, targets: &self.targets, lengths: &LENGTHS };
        let opts = PassOptions {
            h0: Some(&self.h0),
            c0: self.c0.as_deref(),
            compute_grad: true,
            categories: self.cat.is_some().then_some(&CATS[..]),
            ..extra
        };
        let out = forward_backward(&mp, &b, &opts).unwrap();
        set_num_threads(0);
        out
    }
}

/// `many` gives `one`'s loss, per-sequence losses, final states and gradients up to rounding.
fn assert_same_up_to_rounding(what: &str, one: &ForwardOutput, many: &ForwardOutput) {
    assert!((one.loss_sum - many.loss_sum).abs() < 1e-4, "{what}: loss {} vs {}", many.loss_sum, one.loss_sum);
    assert_eq!(one.count, many.count);
    for (s, (x, y)) in one.seq_loss.iter().zip(&many.seq_loss).enumerate() {
        assert!((x - y).abs() < 1e-5, "{what}: seq_loss[{s}] {x} vs {y}");
    }
    close(&format!("{what} h_n"), &many.h_n, &one.h_n);
    assert_eq!(one.c_n.is_some(), many.c_n.is_some());
    if let (Some(a), Some(b)) = (&many.c_n, &one.c_n) {
        close(&format!("{what} c_n"), a, b);
    }
    let (ga, gb) = (many.grads.as_ref().unwrap(), one.grads.as_ref().unwrap());
    assert_eq!(ga.len(), gb.len());
    for (k, (a, b)) in ga.iter().zip(gb).enumerate() {
        close(&format!("{what} grads[{k}]"), a, b);
    }
}

fn assert_bit_identical(what: &str, a: &ForwardOutput, b: &ForwardOutput) {
    assert_eq!(a.loss_sum, b.loss_sum, "{what}: loss not reproducible");
    assert_eq!(a.seq_loss, b.seq_loss, "{what}: seq_loss not reproducible");
    assert_eq!(a.h_n, b.h_n, "{what}: h_n not reproducible");
    assert_eq!(a.c_n, b.c_n, "{what}: c_n not reproducible");
    assert_eq!(a.grads, b.grads, "{what}: gradients not reproducible");
}

#[test]
fn split_batches_match_one_thread_for_every_cell_with_states_and_categories() {
    for (seed, kind) in CELLS.into_iter().enumerate() {
        let case = Case::new(kind, true, 900 + seed as u64);
        let one = case.pass(1, PassOptions::default());
        for threads in [2, 3, 4] {
            let many = case.pass(threads, PassOptions::default());
            assert_same_up_to_rounding(&format!("{kind:?} x{threads}"), &one, &many);
            assert_bit_identical(&format!("{kind:?} x{threads}"), &case.pass(threads, PassOptions::default()), &many);
        }
    }
}

/// Every dropout on, the hidden masks locked or per position: the groups of a split batch
/// get their share of the masks one thread draws, so the numbers are one thread's up to
/// rounding (with masks of their own they would differ by far more), and two runs on the
/// same thread count agree bit for bit.
#[test]
fn split_batches_with_every_dropout_use_the_masks_of_one_thread() {
    for (seed, (kind, conditional)) in CELLS.into_iter().flat_map(|k| [(k, true), (k, false)]).enumerate() {
        let case = Case::new(kind, conditional, 950 + seed as u64);
        for locked in [true, false] {
            let dropout = Dropout { hidden: 0.3, locked, input: 0.25, embedding: 0.2, weight: 0.3 };
            let tune = PassOptions { dropout, seed: 17, ..Default::default() };
            let one = case.pass(1, tune);
            let undropped = case.pass(1, PassOptions::default());
            assert!((one.loss_sum - undropped.loss_sum).abs() > 1e-2, "{kind:?}: the dropouts changed nothing");
            for threads in [2, 3] {
                let what = format!("{kind:?} categories={conditional} locked={locked} x{threads}");
                let many = case.pass(threads, tune);
                assert_ne!(many.grads, one.grads, "{what}: the pass was not split (its sums would differ by rounding)");
                assert_same_up_to_rounding(&what, &one, &many);
                assert_bit_identical(&what, &case.pass(threads, tune), &many);
            }
        }
    }
}

/// A pass given the masks another pass drew (as `details` returns them) draws none and
/// gives that pass's numbers exactly, locked or not; an empty mask is no dropout.
#[test]
fn a_pass_given_the_masks_of_another_reproduces_it() {
    for (seed, kind) in CELLS.into_iter().enumerate() {
        let case = Case::new(kind, true, 980 + seed as u64);
        for locked in [true, false] {
            let dropout = Dropout { hidden: 0.3, locked, input: 0.25, embedding: 0.2, weight: 0.3 };
            let drawn = case.pass(1, PassOptions { dropout, seed: 23, details: true, ..Default::default() });
            let masks = drawn.masks.clone().unwrap();
            assert_eq!(masks.hidden.len(), 2);
            assert_eq!(masks.hidden[0].len(), if locked { BATCH * 5 } else { STEPS * BATCH * 5 });
            let given = PassOptions { dropout: Dropout { locked, ..Default::default() }, seed: 99, given: Some(&masks), ..Default::default() };
            let given = case.pass(1, given);
            assert_bit_identical(&format!("{kind:?} locked={locked}"), &drawn, &given);
            let none = charrnn_core::dropout::DropoutMasks::default();
            let plain = case.pass(1, PassOptions { dropout, given: Some(&none), ..Default::default() });
            assert_bit_identical(&format!("{kind:?} no masks"), &case.pass(1, PassOptions::default()), &plain);
        }
    }
}
