//! Property tests of the kernels' input validation: whatever shapes, ids, lengths and
//! options a caller passes, `ModelParams::new`, `forward_backward` and `sample` return
//! `Ok` or `Err` — they never panic (a panic in a test body fails the property).

use charrnn_core::cell::CellKind;
use charrnn_core::dropout::{Dropout, DropoutMasks};
use charrnn_core::model::{forward_backward, Batch, ModelParams, ParamRef, PassOptions};
use charrnn_core::sampler::{sample, SampleOptions};
use charrnn_core::Cancel;
use proptest::prelude::*;

/// Owned parameter arrays: (data, shape).
type Owned = Vec<(Vec<f32>, Vec<usize>)>;

fn refs(owned: &Owned) -> Vec<ParamRef<'_>> {
    owned.iter().map(|(d, s)| ParamRef { data: d, shape: s }).collect()
}

fn gates(kind: CellKind) -> usize {
    match kind {
        CellKind::Lstm => 4,
        CellKind::Rnn => 1,
        CellKind::Gru => 3,
    }
}

/// A well-formed model: vocab `v`, embedding `e`, hidden `h`, `l` layers, small values.
fn valid(kind: CellKind, v: usize, e: usize, h: usize, l: usize) -> Owned {
    let g = gates(kind) * h;
    let mut shapes = vec![vec![v, e]];
    for k in 0..l {
        shapes.push(vec![g, if k == 0 { e } else { h }]);
        shapes.push(vec![g, h]);
        shapes.push(vec![g]);
        shapes.push(vec![g]);
    }
    shapes.push(vec![v, h]);
    shapes.push(vec![v]);
    let mut x = 0.1f32;
    shapes
        .into_iter()
        .map(|s| {
            let n: usize = s.iter().product();
            let data = (0..n)
                .map(|_| {
                    x = (x * 7.31 + 0.17).fract();
                    x - 0.5
                })
                .collect();
            (data, s)
        })
        .collect()
}

fn kind_strategy() -> impl Strategy<Value = CellKind> {
    prop_oneof![Just(CellKind::Lstm), Just(CellKind::Rnn), Just(CellKind::Gru)]
}

/// A float that is sometimes NaN, infinite, zero, negative or huge.
fn odd_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => -2.0f32..2.0,
        1 => Just(f32::NAN),
        1 => Just(f32::INFINITY),
        1 => Just(f32::NEG_INFINITY),
        1 => Just(0.0f32),
        1 => Just(1.0f32),
        1 => Just(1e30f32),
    ]
}

/// A model list with random damage: a wrong dimension, data not matching its shape, a
/// missing or extra array, a NaN.
fn damaged_params() -> impl Strategy<Value = (CellKind, Owned)> {
    (
        kind_strategy(),
        1usize..6,
        1usize..4,
        1usize..5,
        1usize..3,
        prop::collection::vec((0usize..16, 0usize..3, 0usize..6, 0usize..4), 0..4),
    )
        .prop_map(|(kind, v, e, h, l, damage)| {
            let mut p = valid(kind, v, e, h, l);
            for (which, what, size, dim) in damage {
                if p.is_empty() {
                    break;
                }
                let i = which % p.len();
                match what {
                    0 => {
                        // change one dimension, keep data consistent with the new shape
                        let d = dim % p[i].1.len().max(1);
                        if let Some(x) = p[i].1.get_mut(d) {
                            *x = size;
                        }
                        let n: usize = p[i].1.iter().product();
                        p[i].0.resize(n, 0.25);
                    }
                    1 => {
                        // data that does not match the shape
                        p[i].0.resize(size, 0.5);
                    }
                    _ => {
                        if size % 2 == 0 {
                            p.remove(i);
                        } else if !p[i].0.is_empty() {
                            p[i].0[0] = f32::NAN;
                        }
                    }
                }
            }
            (kind, p)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn model_params_new_never_panics((kind, owned) in damaged_params()) {
        let r = refs(&owned);
        if let Ok(mp) = ModelParams::new(kind, &r, None) {
            // Whatever it accepts is consistent.
            prop_assert_eq!(mp.embedding.len(), mp.vocab * mp.embed);
            prop_assert_eq!(mp.fc_w.len(), mp.vocab * mp.hidden);
            prop_assert_eq!(mp.fc_b.len(), mp.vocab);
        }
    }

    #[test]
    fn model_params_new_never_panics_on_arbitrary_shapes(
        kind in kind_strategy(),
        arrays in prop::collection::vec((prop::collection::vec(0usize..6, 0..4), 0usize..40), 0..13),
        category in prop::option::of((prop::collection::vec(0usize..4, 0..3), 0usize..12)),
    ) {
        let owned: Owned = arrays.into_iter().map(|(shape, n)| (vec![0.5; n], shape)).collect();
        let cat = category.map(|(shape, n)| (vec![0.5f32; n], shape));
        let r = refs(&owned);
        let c = cat.as_ref().map(|(d, s)| ParamRef { data: d, shape: s });
        let _ = ModelParams::new(kind, &r, c);
    }

    #[test]
    fn forward_backward_never_panics(
        kind in kind_strategy(),
        (v, e, h, l) in (1usize..6, 1usize..4, 1usize..5, 1usize..3),
        steps in 0usize..6,
        batch in 0usize..5,
        ids in prop::collection::vec(-2i32..8, 0..32),
        targets in prop::collection::vec(-2i32..8, 0..32),
        lengths in prop::collection::vec(-2i64..8, 0..6),
        h0 in prop::option::of(prop::collection::vec(odd_f32(), 0..48)),
        c0 in prop::option::of(prop::collection::vec(odd_f32(), 0..48)),
        compute_grad in any::<bool>(),
        dropout in prop_oneof![Just(0.0f32), Just(0.5), Just(0.999), Just(1.0), Just(-0.1), Just(f32::NAN)],
        other in prop_oneof![Just(0.0f32), Just(0.5), Just(1.0), Just(f32::NAN)],
        which in 0usize..4,
        locked in any::<bool>(),
        categories in prop::option::of(prop::collection::vec(-1i32..3, 0..5)),
        seed in any::<u64>(),
        given in prop::option::of((0usize..3, 0usize..3, 0usize..4, 0usize..4)),
    ) {
        let owned = valid(kind, v, e, h, l);
        // Masks "already drawn", right or wrong: per mask none, its size (hidden: locked or
        // per position) or one value off; `layers` hidden masks (the model has `l`).
        let given = given.map(|(embedding, input, hidden, layers)| {
            let size = |k: usize, sizes: &[usize]| sizes.get(k).copied().unwrap_or(sizes[1] + 1);
            DropoutMasks {
                embedding: vec![2.0; size(embedding, &[0, v])],
                input: vec![2.0; size(input, &[0, batch * e])],
                hidden: vec![vec![2.0; size(hidden, &[0, batch * h, steps * batch * h])]; layers],
                recurrent: Vec::new(),
            }
        });
        let r = refs(&owned);
        let mp = ModelParams::new(kind, &r, None).expect("a valid model");
        let b = Batch { steps, batch, ids: &ids, targets: &targets, lengths: &lengths };
        let opts = PassOptions {
            h0: h0.as_deref(),
            c0: c0.as_deref(),
            compute_grad,
            dropout: {
                // One other dropout at a time gets an odd value.
                let mut d = Dropout { hidden: dropout, locked, ..Default::default() };
                *[&mut d.input, &mut d.embedding, &mut d.weight, &mut d.hidden][which] = other;
                d
            },
            seed,
            given: given.as_ref(),
            categories: categories.as_deref(),
            details: which == 0,
            cancel: Cancel::NEVER,
        };
        if let Ok(out) = forward_backward(&mp, &b, &opts) {
            prop_assert_eq!(out.seq_loss.len(), batch);
            prop_assert_eq!(out.h_n.len(), l * batch * h);
        }
    }

    #[test]
    fn sample_never_panics(
        kind in kind_strategy(),
        (v, e, h, l) in (1usize..7, 1usize..4, 1usize..5, 1usize..3),
        n in 0usize..6,
        start_id in 0usize..9,
        end_id in 0usize..9,
        max_steps in 0usize..10,
        temperature in odd_f32(),
        top_k in 0usize..9,
        top_p in odd_f32(),
        prefix in prop::collection::vec(0usize..9, 0..4),
        banned in prop::collection::vec(0usize..9, 0..9),
        categories in prop::option::of(prop::collection::vec(-1i32..3, 0..6)),
        seed in any::<u64>(),
    ) {
        let owned = valid(kind, v, e, h, l);
        let r = refs(&owned);
        let mp = ModelParams::new(kind, &r, None).expect("a valid model");
        let opts = SampleOptions {
            n, start_id, end_id, max_steps, temperature, top_k, top_p,
            prefix, seed, banned: banned.clone(), categories, constraint: None, mixture: None,
        };
        if let Ok(out) = sample(&mp, &opts, Cancel::NEVER) {
            prop_assert_eq!(out.len(), n);
            for seq in out {
                prop_assert!(seq.len() <= max_steps);
                prop_assert!(seq.iter().all(|&id| (id as usize) < v && id as usize != end_id && !banned.contains(&(id as usize))));
            }
        }
    }
}
