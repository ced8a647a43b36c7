//! With several threads a batch's sequences are split into one group per thread
//! (`forward_backward_split`): the merged losses, gradients and final states must match a
//! one-thread pass up to rounding, and a given thread count must reproduce itself exactly.
//! (Its own test binary: the thread count is process-wide.)

mod common;

use charrnn_core::model::{forward_backward, Batch, ForwardOutput, ModelParams, ParamRef, PassOptions};
use charrnn_core::parallel::set_num_threads;
use charrnn_core::CellKind;
use common::{OwnedParams, Rng};

fn close(what: &str, a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{what}[{i}]: {x} vs {y}");
    }
}

#[test]
fn split_batches_match_one_thread_for_every_cell_with_states_and_categories() {
    for (seed, kind) in [CellKind::Lstm, CellKind::Gru, CellKind::Rnn].into_iter().enumerate() {
        let mut rng = Rng::new(900 + seed as u64);
        let (vocab, steps, batch, embed, cat_dim, hidden, n_cat, layers) = (7, 6, 9, 3, 2, 5, 3, 2);
        let mut p = OwnedParams::random(kind, vocab, embed, hidden, layers, &mut rng);
        p.shapes[1] = vec![kind.gates() * hidden, embed + cat_dim];
        p.data[1] = rng.vec(kind.gates() * hidden * (embed + cat_dim), 0.6);
        let cat = (vec![n_cat, cat_dim], rng.vec(n_cat * cat_dim, 0.8));
        let ids: Vec<i32> = (0..steps * batch).map(|_| rng.below(vocab) as i32).collect();
        let targets: Vec<i32> = (0..steps * batch).map(|_| rng.below(vocab) as i32).collect();
        let lengths = [6i64, 1, 4, 6, 2, 5, 3, 6, 1];
        let cats = [2i32, 0, 1, 1, 2, 0, 0, 2, 1];
        let h0 = rng.vec(layers * batch * hidden, 0.5);
        let c0 = kind.has_cell_state().then(|| rng.vec(layers * batch * hidden, 0.5));
        let b = Batch { steps, batch, ids: &ids, targets: &targets, lengths: &lengths };
        let pass = |threads: usize| -> ForwardOutput {
            set_num_threads(threads);
            let refs: Vec<ParamRef> = p.data.iter().zip(&p.shapes).map(|(d, s)| ParamRef { data: d, shape: s }).collect();
            let mp = ModelParams::new(kind, &refs, Some(ParamRef { data: &cat.1, shape: &cat.0 })).unwrap();
            let opts = PassOptions {
                h0: Some(&h0),
                c0: c0.as_deref(),
                compute_grad: true,
                categories: Some(&cats),
                ..Default::default()
            };
            forward_backward(&mp, &b, &opts).unwrap()
        };
        let one = pass(1);
        for threads in [2, 3, 4] {
            let many = pass(threads);
            assert!((one.loss_sum - many.loss_sum).abs() < 1e-4, "{kind:?} x{threads}: loss");
            assert_eq!(one.count, many.count);
            for (s, (x, y)) in one.seq_loss.iter().zip(&many.seq_loss).enumerate() {
                assert!((x - y).abs() < 1e-5, "{kind:?} x{threads}: seq_loss[{s}] {x} vs {y}");
            }
            close(&format!("{kind:?} x{threads} h_n"), &many.h_n, &one.h_n);
            assert_eq!(one.c_n.is_some(), many.c_n.is_some());
            if let (Some(a), Some(b)) = (&many.c_n, &one.c_n) {
                close(&format!("{kind:?} x{threads} c_n"), a, b);
            }
            let (ga, gb) = (many.grads.as_ref().unwrap(), one.grads.as_ref().unwrap());
            assert_eq!(ga.len(), gb.len());
            for (k, (a, b)) in ga.iter().zip(gb).enumerate() {
                close(&format!("{kind:?} x{threads} grads[{k}]"), a, b);
            }
            let again = pass(threads);
            assert_eq!(again.grads, many.grads, "{kind:?} x{threads}: not reproducible");
            assert_eq!(again.loss_sum, many.loss_sum);
        }
    }
    set_num_threads(0);
}
