//! Forward passes against cases worked out by hand, and the properties that tie the
//! packed layout to the meaning of a batch.

mod common;

use charrnn_core::cell::CellKind;
use charrnn_core::Cancel;
use charrnn_core::layer::{self, LayerWeights};
use charrnn_core::layout::SeqLayout;
use charrnn_core::model::Batch;
use common::{run, OwnedParams, Rng};

/// One unit, one input, the sequence x = (1, -1), zero initial state.
fn one_unit(kind: CellKind, w_ih: &[f32], w_hh: &[f32], b_ih: &[f32], b_hh: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let layout = SeqLayout::full(2, 1);
    let w = LayerWeights { kind, input: 1, hidden: 1, w_ih, w_hh, b_ih, b_hh };
    let c0 = if kind.has_cell_state() { vec![0.0] } else { vec![] };
    let tape = layer::forward(&layout, &w, &[1.0, -1.0], &[0.0], &c0, Cancel::NEVER).unwrap();
    (tape.h, tape.aux)
}

fn close(a: f32, b: f64) -> bool {
    (f64::from(a) - b).abs() < 1e-6
}

#[test]
fn lstm_forward_matches_a_hand_computed_case() {
    // Step 1: pre-activations i = 0.5 + 0.1 = 0.6, f = -0.5, g = 1.0, o = 0.25 - 0.1 = 0.15;
    // c1 = σ(0.6)·tanh(1) = 0.491728, h1 = σ(0.15)·tanh(c1) = 0.244846.
    let (h, c) = one_unit(CellKind::Lstm, &[0.5, -0.5, 1.0, 0.25], &[0.1, 0.2, -0.3, 0.4], &[0.0; 4], &[0.1, 0.0, 0.0, -0.1]);
    assert!(close(h[0], 0.24484599866828824) && close(c[0], 0.4917280695775515), "{h:?} {c:?}");
    assert!(close(h[1], -0.004503965658650058) && close(c[1], -0.010299471170715224), "{h:?} {c:?}");
}

#[test]
fn rnn_forward_matches_a_hand_computed_case() {
    // h1 = tanh(0.5·1 + 0.1 + 0.2) = tanh(0.8) = 0.664037; h2 = tanh(-0.5 + 0.3 - 0.7·h1).
    let (h, _) = one_unit(CellKind::Rnn, &[0.5], &[-0.7], &[0.1], &[0.2]);
    assert!(close(h[0], 0.6640367702678491) && close(h[1], -0.5815659587601513), "{h:?}");
}

#[test]
fn gru_forward_matches_a_hand_computed_case() {
    let (h, _) = one_unit(CellKind::Gru, &[0.3, -0.2, 0.9], &[0.5, 0.4, -0.6], &[0.1, 0.0, 0.05], &[0.0, 0.2, -0.1]);
    assert!(close(h[0], 0.3557292723613717) && close(h[1], -0.055826555922485005), "{h:?}");
}

/// The final state of each sequence in a padded batch equals the state after running
/// that sequence alone, and its loss is the same as alone.
#[test]
fn batched_sequences_of_uneven_length_equal_running_each_alone() {
    for (seed, kind) in [CellKind::Lstm, CellKind::Rnn, CellKind::Gru].into_iter().enumerate() {
        let mut rng = Rng::new(300 + seed as u64);
        let (vocab, steps, batch, hid) = (7, 6, 4, 5);
        let p = OwnedParams::random(kind, vocab, 3, hid, 2, &mut rng);
        let ids: Vec<i32> = (0..steps * batch).map(|_| rng.below(vocab) as i32).collect();
        let targets: Vec<i32> = (0..steps * batch).map(|_| rng.below(vocab) as i32).collect();
        let lengths = [3i64, 6, 1, 4];
        let all = run(&p.view(), &Batch { steps, batch, ids: &ids, targets: &targets, lengths: &lengths }, None, None, false);
        for b in 0..batch {
            let len = lengths[b] as usize;
            let one_ids: Vec<i32> = (0..len).map(|t| ids[t * batch + b]).collect();
            let one_tg: Vec<i32> = (0..len).map(|t| targets[t * batch + b]).collect();
            let alone = run(
                &p.view(),
                &Batch { steps: len, batch: 1, ids: &one_ids, targets: &one_tg, lengths: &[len as i64] },
                None,
                None,
                false,
            );
            assert!((alone.loss_sum - all.seq_loss[b]).abs() < 1e-5, "{kind:?} seq {b}");
            for l in 0..2 {
                for j in 0..hid {
                    let batched = all.h_n[(l * batch + b) * hid + j];
                    assert!((batched - alone.h_n[l * hid + j]).abs() < 1e-5, "{kind:?} h_n layer {l} seq {b}");
                }
            }
        }
    }
}

/// Running a long sequence in chunks, carrying the final state into the next call, gives
/// the same loss as one call over the whole sequence (the basis of truncated BPTT).
#[test]
fn carrying_the_state_across_chunks_equals_one_long_call() {
    for (seed, kind) in [CellKind::Lstm, CellKind::Rnn, CellKind::Gru].into_iter().enumerate() {
        let mut rng = Rng::new(400 + seed as u64);
        let (vocab, steps, batch) = (5, 12, 2);
        let p = OwnedParams::random(kind, vocab, 3, 4, 2, &mut rng);
        let ids: Vec<i32> = (0..steps * batch).map(|_| rng.below(vocab) as i32).collect();
        let targets: Vec<i32> = (0..steps * batch).map(|_| rng.below(vocab) as i32).collect();
        let full = run(
            &p.view(),
            &Batch { steps, batch, ids: &ids, targets: &targets, lengths: &[12, 12] },
            None,
            None,
            false,
        );
        let (mut h, mut c): (Option<Vec<f32>>, Option<Vec<f32>>) = (None, None);
        let mut total = 0.0;
        for chunk in 0..3 {
            let span = chunk * 4 * batch..(chunk + 1) * 4 * batch;
            let out = run(
                &p.view(),
                &Batch { steps: 4, batch, ids: &ids[span.clone()], targets: &targets[span], lengths: &[4, 4] },
                h.as_deref(),
                c.as_deref(),
                false,
            );
            total += out.loss_sum;
            h = Some(out.h_n);
            c = out.c_n;
        }
        assert!((total - full.loss_sum).abs() < 1e-4, "{kind:?}: {total} vs {}", full.loss_sum);
        assert_eq!(h.unwrap().len(), full.h_n.len());
    }
}
