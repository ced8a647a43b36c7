//! The sampler: reproducibility, greedy decoding, prefixes, banned ids, and that draws
//! follow the softmax distribution.

mod common;

use charrnn_core::cell::CellKind;
use charrnn_core::{Cancel, Hook};
use charrnn_core::model::Batch;
use charrnn_core::rng::seeded_rng;
use std::sync::Arc;

use charrnn_core::ngram::{Mixture, NGramTable};
use charrnn_core::sampler::{beam_search, sample, DrawRule, DrawScratch, SampleOptions, Stepper};
use common::{run, OwnedParams, Rng};

fn options(seed: u64) -> SampleOptions {
    SampleOptions {
        n: 16,
        start_id: 1,
        end_id: 2,
        max_steps: 12,
        temperature: 1.0,
        top_k: 0,
        top_p: 1.0,
        prefix: vec![],
        seed,
        banned: vec![0, 1],
        categories: None,
        constraint: None,
        mixture: None,
    }
}

fn model(kind: CellKind) -> OwnedParams {
    OwnedParams::random(kind, 9, 4, 8, 2, &mut Rng::new(7))
}

#[test]
fn the_same_seed_gives_the_same_samples_and_another_seed_differs() {
    for kind in [CellKind::Lstm, CellKind::Rnn, CellKind::Gru] {
        let p = model(kind);
        let a = sample(&p.view(), &options(5), Cancel::NEVER).unwrap();
        assert_eq!(a, sample(&p.view(), &options(5), Cancel::NEVER).unwrap());
        assert_ne!(a, sample(&p.view(), &options(6), Cancel::NEVER).unwrap());
        assert!(a.iter().flatten().all(|&id| id >= 3), "banned or end ids in {a:?}");
        assert!(a.iter().all(|s| s.len() <= 12));
    }
}

/// top-k = 1 always takes the most likely next id: the result must equal a greedy decode
/// computed with the training forward pass, whatever the seed.
#[test]
fn top_k_one_is_greedy_decoding_of_the_training_forward_pass() {
    let p = model(CellKind::Lstm);
    let view = p.view();
    let mut opts = options(1);
    opts.top_k = 1;
    opts.n = 3;
    opts.banned = vec![0, 1, 2]; // never end: decode all 12 steps
    opts.prefix = vec![4, 5];
    let got = sample(&view, &opts, Cancel::NEVER).unwrap();
    opts.seed = 99;
    assert_eq!(got, sample(&view, &opts, Cancel::NEVER).unwrap());

    let mut seq: Vec<i32> = vec![1, 4, 5];
    let mut greedy = Vec::new();
    for _ in 0..12 {
        // Loss of every candidate next id = -log p(candidate | seq): the argmin is the argmax.
        let mut best = (f64::INFINITY, 0);
        for cand in 3..9 {
            let mut targets: Vec<i32> = seq[1..].to_vec();
            targets.push(cand);
            let out = run(
                &view,
                &Batch { steps: seq.len(), batch: 1, ids: &seq, targets: &targets, lengths: &[seq.len() as i64] },
                None,
                None,
                false,
            );
            if out.loss_sum < best.0 {
                best = (out.loss_sum, cand);
            }
        }
        greedy.push(best.1 as u32);
        seq.push(best.1);
    }
    for s in &got {
        assert_eq!(s, &greedy);
    }
}

#[test]
fn draws_follow_the_tempered_softmax() {
    let logits = [0.0f32, 1.0, 2.0, -1.0];
    let mut rng = seeded_rng(3);
    let mut scratch = DrawScratch::default();
    for (temperature, top_k) in [(1.0f32, 0usize), (0.5, 0), (2.0, 2)] {
        let rule = DrawRule::new(4, temperature, top_k, &[]).unwrap();
        let mut counts = [0usize; 4];
        let n = 40_000;
        for _ in 0..n {
            counts[rule.draw(&logits, &mut rng, &mut scratch)] += 1;
        }
        let kept: Vec<usize> = if top_k == 2 { vec![1, 2] } else { vec![0, 1, 2, 3] };
        let z: f64 = kept.iter().map(|&i| (f64::from(logits[i]) / f64::from(temperature)).exp()).sum();
        for i in 0..4 {
            let p = if kept.contains(&i) { (f64::from(logits[i]) / f64::from(temperature)).exp() / z } else { 0.0 };
            let freq = counts[i] as f64 / n as f64;
            // 5 standard deviations of a binomial proportion.
            let sd = (p * (1.0 - p) / n as f64).sqrt();
            assert!((freq - p).abs() <= 5.0 * sd + 1e-9, "T={temperature} k={top_k} id {i}: {freq} vs {p}");
        }
    }
}

#[test]
fn invalid_sampling_options_are_errors_not_panics() {
    let p = model(CellKind::Gru);
    let view = p.view();
    for bad in [
        SampleOptions { temperature: 0.0, ..options(0) },
        SampleOptions { temperature: f32::NAN, ..options(0) },
        SampleOptions { start_id: 9, ..options(0) },
        SampleOptions { prefix: vec![3, 40], ..options(0) },
        SampleOptions { banned: (0..9).collect(), ..options(0) },
    ] {
        assert!(sample(&view, &bad, Cancel::NEVER).is_err(), "{bad:?}");
    }
}

/// Text generation in chunks (state and logits carried between calls) gives exactly the
/// text of one long call, and feeding a prime gives the logits of the training forward pass.
#[test]
fn text_generation_in_chunks_equals_one_call_and_feed_matches_the_forward_pass() {
    use charrnn_core::sampler::{continue_text, feed, StepState, Stepper};
    for kind in [CellKind::Lstm, CellKind::Rnn, CellKind::Gru] {
        let p = model(kind);
        let view = p.view();
        let rule = DrawRule::new(9, 0.8, 0, &[0]).unwrap();
        let prime = vec![vec![1usize, 4, 5, 6], vec![3, 3, 7, 8]];
        let mut s1 = StepState::zeros(&view, 2, None);
        let mut l1 = feed(&mut Stepper::new(&view), &mut s1, &prime, Cancel::NEVER).unwrap();
        // The logits after the prime are those the training pass scores the next id with.
        for (row, seq) in prime.iter().enumerate() {
            let ids: Vec<i32> = seq.iter().map(|&v| v as i32).collect();
            for cand in [2i32, 5] {
                let mut targets = ids[1..].to_vec();
                targets.push(cand);
                let one = |t: &[i32]| run(&view, &Batch { steps: 4, batch: 1, ids: &ids, targets: t, lengths: &[4] }, None, None, false);
                let z = &l1[row * 9..(row + 1) * 9];
                let lse = z.iter().map(|&v| f64::from(v).exp()).sum::<f64>().ln();
                let last_nll = lse - f64::from(z[cand as usize]);
                let prefix_only = one(&targets).loss_sum - last_nll;
                let check = run(&view, &Batch { steps: 3, batch: 1, ids: &ids[..3], targets: &ids[1..], lengths: &[3] }, None, None, false);
                assert!((prefix_only - check.loss_sum).abs() < 1e-4, "{kind:?}");
            }
        }
        let mut rng1 = seeded_rng(11);
        let whole = continue_text(&mut Stepper::new(&view), &mut s1, &mut l1, &rule, &mut rng1, 30, Cancel::NEVER).unwrap();
        let mut s2 = StepState::zeros(&view, 2, None);
        let mut l2 = feed(&mut Stepper::new(&view), &mut s2, &prime, Cancel::NEVER).unwrap();
        let mut rng2 = seeded_rng(11);
        let mut parts = vec![Vec::new(), Vec::new()];
        for n in [7, 13, 10] {
            for (acc, chunk) in parts.iter_mut().zip(continue_text(&mut Stepper::new(&view), &mut s2, &mut l2, &rule, &mut rng2, n, Cancel::NEVER).unwrap()) {
                acc.extend(chunk);
            }
        }
        assert_eq!(whole, parts, "{kind:?}");
        assert!(whole.iter().flatten().all(|&id| id != 0));
    }
}

#[test]
fn nucleus_keeps_the_smallest_set_of_likely_ids_reaching_the_mass() {
    // Probabilities of softmax([0, 1, 2, -1]): 0.087, 0.237, 0.644, 0.032.
    let logits = [0.0f32, 1.0, 2.0, -1.0];
    let mut rng = seeded_rng(4);
    let mut scratch = DrawScratch::default();
    let rule = DrawRule::new(4, 1.0, 0, &[]).unwrap().with_top_p(0.8).unwrap();
    let mut seen = [0usize; 4];
    for _ in 0..5000 {
        seen[rule.draw(&logits, &mut rng, &mut scratch)] += 1;
    }
    assert!(seen[0] == 0 && seen[3] == 0 && seen[1] > 0 && seen[2] > seen[1], "{seen:?}");
    let greedy = DrawRule::new(4, 1.0, 0, &[]).unwrap().with_top_p(0.5).unwrap();
    assert!((0..100).all(|_| greedy.draw(&logits, &mut rng, &mut scratch) == 2));
    assert!(DrawRule::new(4, 1.0, 0, &[]).unwrap().with_top_p(0.0).is_err());
}

/// Beam search against brute force: every name of up to 3 characters scored by the
/// training forward pass; the beam's best completions are the best of those.
#[test]
fn beam_search_finds_the_most_likely_completions() {
    use charrnn_core::sampler::{beam_search, Stepper};
    let p = OwnedParams::random(CellKind::Lstm, 5, 3, 6, 1, &mut Rng::new(21));
    let view = p.view();
    let score = |seq: &[i32]| -> f64 {
        // log p(seq + end | start, prefix 3)
        let mut ids = vec![1, 3];
        ids.extend_from_slice(seq);
        let mut targets = ids[1..].to_vec();
        targets.push(2);
        let full = run(&view, &Batch { steps: ids.len(), batch: 1, ids: &ids, targets: &targets, lengths: &[ids.len() as i64] }, None, None, false);
        let head = run(&view, &Batch { steps: 1, batch: 1, ids: &[1], targets: &[3], lengths: &[1] }, None, None, false);
        -(full.loss_sum - head.loss_sum)
    };
    let mut all: Vec<(f64, Vec<u32>)> = Vec::new();
    for len in 0..=2 {
        let mut seq = vec![3i32; len];
        loop {
            all.push((score(&seq), seq.iter().map(|&v| v as u32).collect()));
            let mut i = 0;
            while i < len && seq[i] == 4 {
                seq[i] = 3;
                i += 1;
            }
            if i == len {
                break;
            }
            seq[i] += 1;
        }
    }
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    // With max_steps 3 the search sees exactly these candidates (ids 3 and 4, up to 2 + end).
    let got = beam_search(&mut Stepper::new(&view), 1, 2, &[3], 7, 3, &[0, 1], None, None, Cancel::NEVER).unwrap();
    assert_eq!(got.len(), 7);
    for (h, (lp, ids)) in got.iter().zip(&all) {
        assert!((h.log_prob - lp).abs() < 1e-4, "{h:?} vs {ids:?} {lp}");
    }
    assert!(got.windows(2).all(|w| w[0].log_prob >= w[1].log_prob));
}

#[test]
fn a_cancel_hook_stops_sampling_with_interrupted() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let p = model(CellKind::Lstm);
    let calls = AtomicUsize::new(0);
    let ask = || {
        calls.fetch_add(1, Ordering::SeqCst);
        true
    };
    let mut opts = options(0);
    opts.banned = vec![0, 1, 2];
    let hook = Hook::new(&ask);
    let err = sample(&p.view(), &opts, hook.cancel()).unwrap_err();
    assert_eq!(err, charrnn_core::KernelError::Interrupted);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "asked once, at the start");
}

/// Large batches are stepped on several threads (split by rows): the samples must not
/// depend on the number of threads.
#[test]
fn batched_sampling_is_the_same_on_one_and_several_threads() {
    use charrnn_core::parallel::set_num_threads;
    for kind in [CellKind::Lstm, CellKind::Gru, CellKind::Rnn] {
        let p = model(kind);
        let mut opts = options(3);
        opts.n = 300;
        set_num_threads(1);
        let one = sample(&p.view(), &opts, Cancel::NEVER).unwrap();
        set_num_threads(3);
        let three = sample(&p.view(), &opts, Cancel::NEVER).unwrap();
        set_num_threads(0);
        assert_eq!(one, three, "{kind:?}");
    }
}

#[test]
fn a_constraint_holds_for_every_sample_and_one_that_allows_everything_changes_nothing() {
    use charrnn_core::constraint::Constraint;
    use std::sync::Arc;
    // Ids 3..9 stand for the characters a..f.
    let chars: Vec<Option<char>> = [None, None, None].into_iter().chain("abcdef".chars().map(Some)).collect();
    let text = |ids: &[u32]| ids.iter().map(|&i| chars[i as usize].unwrap()).collect::<String>();
    for kind in [CellKind::Lstm, CellKind::Rnn, CellKind::Gru] {
        let p = model(kind);
        let c = Constraint::new(&chars, 2, &[".*b", "a.*"], 3, 6).unwrap();
        let opts = SampleOptions { n: 200, constraint: Some(Arc::new(c)), ..options(3) };
        for s in sample(&p.view(), &opts, Cancel::NEVER).unwrap() {
            let t = text(&s);
            assert!(t.starts_with('a') && t.ends_with('b') && (3..=6).contains(&t.len()), "{t}");
        }
        // A constraint every string up to the step limit meets: the same draws as without one,
        // for the rows that ended before the limit.
        let free = sample(&p.view(), &SampleOptions { max_steps: 40, ..options(3) }, Cancel::NEVER).unwrap();
        let any = Constraint::new(&chars, 2, &[".*"], 0, 39).unwrap();
        let opts = SampleOptions { max_steps: 40, constraint: Some(Arc::new(any)), ..options(3) };
        let constrained = sample(&p.view(), &opts, Cancel::NEVER).unwrap();
        assert!(free.iter().all(|s| s.len() < 39), "the check needs rows that ended by themselves");
        assert_eq!(free, constrained);
    }
}

#[test]
fn a_constraint_longer_than_the_step_limit_or_a_prefix_it_refuses_is_an_error() {
    use charrnn_core::constraint::Constraint;
    use std::sync::Arc;
    let chars: Vec<Option<char>> = [None, None, None].into_iter().chain("abcdef".chars().map(Some)).collect();
    let p = model(CellKind::Lstm);
    let c = Arc::new(Constraint::new(&chars, 2, &["a.*"], 0, 20).unwrap());
    let long = SampleOptions { max_steps: 12, constraint: Some(c.clone()), ..options(0) };
    assert!(sample(&p.view(), &long, Cancel::NEVER).is_err(), "20 characters cannot fit in 12 steps");
    let bad_prefix = SampleOptions { max_steps: 30, prefix: vec![4], constraint: Some(c.clone()), ..options(0) };
    assert!(sample(&p.view(), &bad_prefix, Cancel::NEVER).is_err(), "a prefix 'b' cannot start a.*");
    let ok = SampleOptions { max_steps: 30, prefix: vec![3], constraint: Some(c), ..options(0) };
    assert!(sample(&p.view(), &ok, Cancel::NEVER).unwrap().iter().all(|s| s.len() <= 19));
}

#[test]
fn constrained_draws_report_the_log_mass_the_constraint_left() {
    use charrnn_core::constraint::Constraint;
    use charrnn_core::sampler::{sample_weighted, Stepper};
    use std::sync::Arc;
    let chars: Vec<Option<char>> = [None, None, None].into_iter().chain("abcdef".chars().map(Some)).collect();
    let p = model(CellKind::Gru);
    let mp = p.view();
    // The first character must be 'a': Z_1 = softmax(first logits)['a'] over the allowed ids.
    let c = Constraint::new(&chars, 2, &["a.*"], 0, 11).unwrap();
    let opts = SampleOptions { n: 4, constraint: Some(Arc::new(c)), ..options(9) };
    let (drawn, log_w) = sample_weighted(&mut Stepper::new(&mp), &opts, Cancel::NEVER).unwrap();
    let free = sample_weighted(&mut Stepper::new(&mp), &options(9), Cancel::NEVER).unwrap().1;
    assert!(free.iter().all(|&w| w == 0.0), "no constraint, no weight");
    // Recompute log Z_1 from the logits after the start id (ids 0, 1 banned).
    let mut s = Stepper::new(&mp);
    let mut state = s.zero_state(1, None);
    s.step(&mut state, &[1], Cancel::NEVER).unwrap();
    let z = &s.logits[..9];
    let allowed: Vec<f64> = (2..9).map(|i| f64::from(z[i]).exp()).collect();
    let log_z1 = (allowed[1] / allowed.iter().sum::<f64>()).ln();
    for (ids, w) in drawn.iter().zip(&log_w) {
        assert_eq!(ids[0], 3, "starts with 'a'");
        // Later steps allow everything (Z_t = 1), except the last, where only the end is left.
        assert!((w - log_z1).abs() < 1e-6 || ids.len() == 11, "{w} vs {log_z1}");
    }
}

/// A unigram over the 9 ids that puts all its mass on id 5 (and some on the end id 2).
fn only_five(weights: Vec<f64>) -> Arc<Mixture> {
    let mut base = vec![0.0; 9];
    base[5] = 1.0;
    let table = NGramTable::new(9, base, vec![(vec![2, 5], vec![0.25, 0.75], vec![0.0])]).unwrap();
    Arc::new(Mixture::new(table, weights).unwrap())
}

#[test]
fn a_mixture_with_weight_one_samples_the_network_and_weight_zero_the_counts() {
    let p = model(CellKind::Lstm);
    let plain = sample(&p.view(), &options(4), Cancel::NEVER).unwrap();
    let ones = SampleOptions { mixture: Some(only_five(vec![1.0; 3])), ..options(4) };
    assert_eq!(sample(&p.view(), &ones, Cancel::NEVER).unwrap(), plain);
    // Weight 0 from position 2 on: after two network draws only 5 or the end can follow.
    let zeros = SampleOptions { n: 64, mixture: Some(only_five(vec![1.0, 1.0, 0.0])), ..options(4) };
    let drawn = sample(&p.view(), &zeros, Cancel::NEVER).unwrap();
    assert!(drawn.iter().all(|s| s.iter().skip(2).all(|&id| id == 5)), "{drawn:?}");
    assert!(drawn.iter().any(|s| s.len() > 2));
    // Beam search scores with the mixture: with weight 0 everywhere, the counts' two best.
    let mixture = only_five(vec![0.0]);
    let best = beam_search(&mut Stepper::new(&p.view()), 1, 2, &[], 2, 5, &[0, 1], None, Some(&mixture), Cancel::NEVER).unwrap();
    assert_eq!(best.iter().map(|h| h.ids.clone()).collect::<Vec<_>>(), vec![vec![], vec![5]]);
    assert!((best[0].log_prob - 0.25f64.ln()).abs() < 1e-9);
    assert!((best[1].log_prob - (0.75f64.ln() + 0.25f64.ln())).abs() < 1e-9);
}
