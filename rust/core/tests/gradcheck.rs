//! Every backward pass against central finite differences, on random small shapes with
//! sequences of uneven length (including an empty one) in unsorted order.

mod common;

use charrnn_core::cell::CellKind;
use charrnn_core::Cancel;
use charrnn_core::layer::{self, LayerWeights};
use charrnn_core::layout::SeqLayout;
use charrnn_core::model::Batch;
use common::{run, assert_grad_close, OwnedParams, Rng, EPS};

const CELLS: [CellKind; 3] = [CellKind::Lstm, CellKind::Rnn, CellKind::Gru];

/// A layer's inputs and the random weights `r_*` defining a scalar loss
/// `L = sum(r_out * out) + sum(r_h * h_n) + sum(r_c * c_n)` (out packed, states rank order).
struct LayerCase {
    kind: CellKind,
    layout: SeqLayout,
    input: usize,
    hidden: usize,
    /// w_ih, w_hh, b_ih, b_hh, x, h0, c0
    tensors: Vec<Vec<f32>>,
    r_out: Vec<f32>,
    r_h: Vec<f32>,
    r_c: Vec<f32>,
}

impl LayerCase {
    fn new(kind: CellKind, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let (input, hidden) = (3, 4);
        let layout = SeqLayout::new(5, &[3, 5, 0, 1, 5]).unwrap();
        let gh = kind.gates() * hidden;
        let (rows, b) = (layout.rows(), layout.batch);
        let c_len = if kind.has_cell_state() { b * hidden } else { 0 };
        let tensors = vec![
            rng.vec(gh * input, 0.7),
            rng.vec(gh * hidden, 0.7),
            rng.vec(gh, 0.5),
            rng.vec(gh, 0.5),
            rng.vec(rows * input, 1.0),
            rng.vec(b * hidden, 0.8),
            rng.vec(c_len, 0.8),
        ];
        let r_out = rng.vec(rows * hidden, 1.0);
        let r_h = rng.vec(b * hidden, 1.0);
        let r_c = rng.vec(c_len, 1.0);
        LayerCase { kind, layout, input, hidden, tensors, r_out, r_h, r_c }
    }

    fn weights<'a>(&self, t: &'a [Vec<f32>]) -> LayerWeights<'a> {
        LayerWeights {
            kind: self.kind,
            input: self.input,
            hidden: self.hidden,
            w_ih: &t[0],
            w_hh: &t[1],
            b_ih: &t[2],
            b_hh: &t[3],
        }
    }

    fn loss(&self, t: &[Vec<f32>]) -> f64 {
        let tape = layer::forward(&self.layout, &self.weights(t), &t[4], &t[5], &t[6], Cancel::NEVER).unwrap();
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum::<f64>();
        let h_n = self.layout.final_state(&tape.h, &t[5], self.hidden);
        let mut l = dot(&tape.h, &self.r_out) + dot(&h_n, &self.r_h);
        if self.kind.has_cell_state() {
            l += dot(&self.layout.final_state(&tape.aux, &t[6], self.hidden), &self.r_c);
        }
        l
    }
}

#[test]
fn layer_backward_matches_finite_differences_for_every_cell() {
    for (seed, kind) in CELLS.into_iter().enumerate() {
        let case = LayerCase::new(kind, 10 + seed as u64);
        let t = &case.tensors;
        let tape = layer::forward(&case.layout, &case.weights(t), &t[4], &t[5], &t[6], Cancel::NEVER).unwrap();
        let g = layer::backward(&case.layout, &case.weights(t), &t[4], &t[5], &t[6], &tape, &case.r_out, &case.r_h, &case.r_c, Cancel::NEVER).unwrap();
        let r = &g.recurrent;
        let analytic = [&g.w_ih, &r.w_hh, &r.b_ih, &r.b_hh, &g.x, &r.h0, &r.c0];
        let names = ["w_ih", "w_hh", "b_ih", "b_hh", "x", "h0", "c0"];
        for (k, grad) in analytic.iter().enumerate() {
            assert_eq!(grad.len(), t[k].len(), "{kind:?} {} gradient size", names[k]);
            for i in 0..t[k].len() {
                let mut plus = t.clone();
                plus[k][i] += EPS;
                let mut minus = t.clone();
                minus[k][i] -= EPS;
                let numeric = (case.loss(&plus) - case.loss(&minus)) / (2.0 * f64::from(EPS));
                assert_grad_close(&format!("{kind:?} {}[{i}]", names[k]), f64::from(grad[i]), numeric);
            }
        }
    }
}

/// Loss of the whole model on a fixed batch, as a function of its parameters.
fn model_loss(p: &OwnedParams, batch: &Batch, h0: Option<&[f32]>, c0: Option<&[f32]>) -> f64 {
    run(&p.view(), batch, h0, c0, false).loss_sum
}

#[test]
#[allow(clippy::needless_range_loop)] // (k, i) index the parameter to perturb in two copies
fn model_backward_matches_finite_differences_for_every_cell_and_two_layers() {
    for (seed, kind) in CELLS.into_iter().enumerate() {
        let mut rng = Rng::new(100 + seed as u64);
        let (vocab, steps, batch) = (6, 4, 3);
        let p = OwnedParams::random(kind, vocab, 3, 4, 2, &mut rng);
        let ids: Vec<i32> = (0..steps * batch).map(|_| rng.below(vocab) as i32).collect();
        let targets: Vec<i32> = (0..steps * batch).map(|_| rng.below(vocab) as i32).collect();
        let lengths = [2i64, 4, 1];
        let b = Batch { steps, batch, ids: &ids, targets: &targets, lengths: &lengths };
        let h0 = rng.vec(2 * batch * 4, 0.5);
        let c0 = kind.has_cell_state().then(|| rng.vec(2 * batch * 4, 0.5));
        let out = run(&p.view(), &b, Some(&h0), c0.as_deref(), true);
        let grads = out.grads.unwrap();
        for k in 0..p.data.len() {
            for i in 0..p.data[k].len() {
                let mut plus = OwnedParams { kind, data: p.data.clone(), shapes: p.shapes.clone() };
                plus.data[k][i] += EPS;
                let mut minus = OwnedParams { kind, data: p.data.clone(), shapes: p.shapes.clone() };
                minus.data[k][i] -= EPS;
                let numeric = (model_loss(&plus, &b, Some(&h0), c0.as_deref())
                    - model_loss(&minus, &b, Some(&h0), c0.as_deref()))
                    / (2.0 * f64::from(EPS));
                assert_grad_close(&format!("{kind:?} params[{k}][{i}]"), f64::from(grads[k][i]), numeric);
            }
        }
    }
}

#[test]
fn padded_positions_change_neither_loss_nor_gradients() {
    for (seed, kind) in CELLS.into_iter().enumerate() {
        let mut rng = Rng::new(200 + seed as u64);
        let (vocab, steps, batch) = (5, 5, 3);
        let p = OwnedParams::random(kind, vocab, 2, 3, 2, &mut rng);
        let lengths = [5i64, 2, 3];
        let mut ids: Vec<i32> = (0..steps * batch).map(|_| rng.below(vocab) as i32).collect();
        let mut targets: Vec<i32> = (0..steps * batch).map(|_| rng.below(vocab) as i32).collect();
        let pass = |ids: &[i32], targets: &[i32]| {
            run(&p.view(), &Batch { steps, batch, ids, targets, lengths: &lengths }, None, None, true)
        };
        let a = pass(&ids, &targets);
        for t in 0..steps {
            for b in 0..batch {
                if t as i64 >= lengths[b] {
                    ids[t * batch + b] = (ids[t * batch + b] + 1) % vocab as i32;
                    targets[t * batch + b] = (targets[t * batch + b] + 2) % vocab as i32;
                }
            }
        }
        let b = pass(&ids, &targets);
        assert_eq!(a.loss_sum, b.loss_sum);
        assert_eq!(a.seq_loss, b.seq_loss);
        assert_eq!(a.grads, b.grads);
        assert_eq!(a.h_n, b.h_n);
        assert_eq!(a.count, 10);
    }
}

/// Dropout (with a fixed seed the masks are fixed, so the loss is a smooth function of the
/// parameters) and a category embedding: their backward passes against finite differences,
/// with per-position dropout alone and with every dropout on (locked between layers, on the
/// input embedding, on the embedding rows and on the recurrent weights).
#[test]
fn dropout_and_category_embedding_gradients_match_finite_differences() {
    use charrnn_core::dropout::Dropout;
    use charrnn_core::model::{forward_backward, ModelParams, ParamRef, PassOptions};
    let every = Dropout { hidden: 0.3, locked: true, input: 0.3, embedding: 0.3, weight: 0.4 };
    for (seed, (kind, dropout)) in CELLS.into_iter().flat_map(|k| [(k, Dropout::hidden(0.3)), (k, every)]).enumerate() {
        let mut rng = Rng::new(500 + seed as u64);
        let (vocab, steps, batch, embed, cat_dim, hidden, n_cat) = (6, 4, 3, 3, 2, 4, 3);
        let mut p = OwnedParams::random(kind, vocab, embed, hidden, 2, &mut rng);
        // Layer 0 sees [char embedding, category embedding].
        p.shapes[1] = vec![kind.gates() * hidden, embed + cat_dim];
        p.data[1] = rng.vec(kind.gates() * hidden * (embed + cat_dim), 0.6);
        p.shapes.push(vec![n_cat, cat_dim]);
        p.data.push(rng.vec(n_cat * cat_dim, 0.8));
        let ids: Vec<i32> = (0..steps * batch).map(|_| rng.below(vocab) as i32).collect();
        let targets: Vec<i32> = (0..steps * batch).map(|_| rng.below(vocab) as i32).collect();
        let lengths = [3i64, 4, 2];
        let cats = [2i32, 0, 2];
        let b = Batch { steps, batch, ids: &ids, targets: &targets, lengths: &lengths };
        let loss = |data: &[Vec<f32>], grad: bool| {
            let n = data.len() - 1;
            let refs: Vec<ParamRef> = data[..n].iter().zip(&p.shapes).map(|(d, s)| ParamRef { data: d, shape: s }).collect();
            let cat = ParamRef { data: &data[n], shape: &p.shapes[n] };
            let mp = ModelParams::new(kind, &refs, Some(cat)).unwrap();
            let opts = PassOptions { compute_grad: grad, dropout, seed: 9, categories: Some(&cats), ..Default::default() };
            forward_backward(&mp, &b, &opts).unwrap()
        };
        let out = loss(&p.data, true);
        let grads = out.grads.unwrap();
        assert_eq!(grads.len(), p.data.len());
        for k in 0..p.data.len() {
            for i in 0..p.data[k].len() {
                let mut plus = p.data.clone();
                plus[k][i] += EPS;
                let mut minus = p.data.clone();
                minus[k][i] -= EPS;
                let numeric = (loss(&plus, false).loss_sum - loss(&minus, false).loss_sum) / (2.0 * f64::from(EPS));
                assert_grad_close(&format!("{kind:?} params[{k}][{i}]"), f64::from(grads[k][i]), numeric);
            }
        }
    }
}
