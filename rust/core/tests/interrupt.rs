//! Cancellation: every phase of a long call polls the hook in proportion to its work (a
//! phase that did not would show as far fewer polls than its work implies), the number of
//! polls per unit of work is bounded (polling costs nothing), and a hook that says stop
//! makes the call return `Interrupted` at its next poll, on one thread and on two.
//! (Its own test binary: the thread count is process-wide, so the tests take turns.)

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use charrnn_core::cancel::POLL_WORK;
use charrnn_core::model::{forward_backward, Batch, PassOptions};
use charrnn_core::parallel::set_num_threads;
use charrnn_core::sampler::{beam_search, feed, sample, SampleOptions, Stepper};
use charrnn_core::{CellKind, Hook, KernelError, Result};
use common::{OwnedParams, Rng};

/// Held by each test: the thread count is process-wide.
static THREADS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `f(threads, kind)` for one and two threads and every cell (holding `THREADS`).
fn for_each_thread_count_and_cell(mut f: impl FnMut(usize, CellKind)) {
    let _turn = THREADS.lock().unwrap_or_else(|e| e.into_inner());
    for threads in [1, 2] {
        set_num_threads(threads);
        for kind in [CellKind::Lstm, CellKind::Gru, CellKind::Rnn] {
            f(threads, kind);
        }
    }
    set_num_threads(0);
}

/// Runs `call` with a hook that counts its calls and says stop at call `stop_at` (never
/// when `None`); returns the call's result and the number of calls.
fn polled<T>(stop_at: Option<usize>, call: impl FnOnce(charrnn_core::Cancel) -> Result<T>) -> (Result<T>, usize) {
    let calls = AtomicUsize::new(0);
    let ask = || {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        stop_at.is_some_and(|s| n >= s)
    };
    let hook = Hook::new(&ask);
    let out = call(hook.cancel());
    (out, calls.load(Ordering::SeqCst))
}

struct Case {
    kind: CellKind,
    vocab: usize,
    hidden: usize,
    layers: usize,
    steps: usize,
    batch: usize,
}

impl Case {
    /// Multiply-adds of the phases of a forward/backward pass, estimated from the sizes:
    /// (recurrences, input projections and their gradients, output layer and its gradients).
    fn work(&self) -> (usize, usize, usize) {
        let (rows, h, gh) = (self.steps * self.batch, self.hidden, self.kind.gates() * self.hidden);
        let recurrence = 2 * self.layers * rows * gh * h;
        let projections = 3 * (self.layers - 1) * rows * gh * h;
        let output = 3 * rows * self.vocab * h + 4 * rows * self.vocab;
        (recurrence, projections, output)
    }

    fn run(&self, stop_at: Option<usize>) -> (Result<f64>, usize) {
        let p = OwnedParams::random(self.kind, self.vocab, 8, self.hidden, self.layers, &mut Rng::new(3));
        let n = self.steps * self.batch;
        let ids: Vec<i32> = (0..n).map(|i| (i * 7 % self.vocab) as i32).collect();
        let lengths = vec![self.steps as i64; self.batch];
        let b = Batch { steps: self.steps, batch: self.batch, ids: &ids, targets: &ids, lengths: &lengths };
        let view = p.view();
        polled(stop_at, |cancel| {
            forward_backward(&view, &b, &PassOptions { compute_grad: true, cancel, ..Default::default() }).map(|o| o.loss_sum)
        })
    }
}

/// Each case makes one phase dominate: the recurrence (few long sequences), the input
/// projections of the upper layers and their gradients (many short ones), the output
/// layer, softmax and their gradients (a large vocabulary).
fn cases(kind: CellKind) -> Vec<(&'static str, Case)> {
    vec![
        ("recurrence", Case { kind, vocab: 8, hidden: 96, layers: 1, steps: 1500, batch: 4 }),
        ("projections", Case { kind, vocab: 8, hidden: 64, layers: 3, steps: 20, batch: 150 }),
        ("output", Case { kind, vocab: 3000, hidden: 16, layers: 1, steps: 50, batch: 64 }),
    ]
}

#[test]
fn every_phase_of_a_pass_polls_in_proportion_to_its_work_and_stops_when_told() {
    for_each_thread_count_and_cell(|threads, kind| {
    for (what, case) in cases(kind) {
        let (rec, proj, out) = case.work();
        let dominant = match what {
            "recurrence" => rec,
            "projections" => proj,
            _ => out,
        };
        let total = rec + proj + out;
        let (full, polls) = case.run(None);
        full.unwrap();
        let tag = format!("{kind:?} {what} x{threads}");
        // At least one poll per 4 * POLL_WORK of the dominant phase's work...
        assert!(polls as u64 >= dominant as u64 / (4 * POLL_WORK), "{tag}: {polls} polls for {dominant} multiply-adds");
        // ...and at most one per POLL_WORK / 4 of all the work, plus the phase boundaries.
        assert!((polls as u64) <= 4 * total as u64 / POLL_WORK + 16 * case.layers as u64 + 32, "{tag}: {polls} polls for {total}");
        // Told to stop at the first, middle or last poll: Interrupted, and no more
        // questions once it has said stop (the other thread's group stops too).
        for stop_at in [1, polls.div_ceil(2), polls] {
            let (r, calls) = case.run(Some(stop_at));
            assert_eq!(r, Err(KernelError::Interrupted), "{tag}: stop at {stop_at} of {polls}");
            assert!(calls >= stop_at && calls < stop_at + threads, "{tag}: {calls} calls after a stop at {stop_at}");
        }
    }
    });
}

#[test]
fn sampling_beam_search_and_feed_poll_in_proportion_to_their_work_and_stop_when_told() {
    for_each_thread_count_and_cell(|threads, kind| {
    let (vocab, hidden, layers) = (12, 64, 2);
    let p = OwnedParams::random(kind, vocab, 8, hidden, layers, &mut Rng::new(5));
    let view = p.view();
    let gh = kind.gates() * hidden;
    let row_work = layers * gh * hidden + (layers - 1) * gh * hidden + vocab * hidden;
    let tag = format!("{kind:?} x{threads}");
    let opts = SampleOptions {
        n: 64,
        start_id: 1,
        end_id: 2,
        max_steps: 200,
        temperature: 1.0,
        top_k: 0,
        top_p: 1.0,
        prefix: vec![3, 4],
        seed: 9,
        banned: vec![0, 1, 2], // the end id is banned: every row runs all steps
        categories: None,
        constraint: None,
        mixture: None,
    };
    let work = opts.n * (opts.max_steps + opts.prefix.len()) * row_work;
    let (full, polls) = polled(None, |c| sample(&view, &opts, c));
    let full = full.unwrap();
    assert!(polls as u64 >= work as u64 / (2 * POLL_WORK), "{tag}: sample polled {polls} times for {work}");
    assert!(polls as u64 <= 2 * work as u64 / POLL_WORK + 4, "{tag}: sample polled {polls} times for {work}");
    for stop_at in [1, polls.div_ceil(2), polls] {
        let (r, calls) = polled(Some(stop_at), |c| sample(&view, &opts, c));
        assert_eq!(r, Err(KernelError::Interrupted), "{tag}: sample stopped at {stop_at}");
        assert!(calls < stop_at + threads, "{tag}: {calls} calls after a stop at {stop_at}");
    }
    assert_eq!(polled(None, |c| sample(&view, &opts, c)).0.unwrap(), full, "{tag}: polling changes no sample");

    // feed: 128 streams of 100 ids.
    let ids: Vec<Vec<usize>> = (0..128).map(|r| (0..100).map(|t| (r + t) % vocab).collect()).collect();
    let work = 128 * 100 * row_work;
    let mut stepper = Stepper::new(&view);
    let (out, polls) = polled(None, |c| feed(&mut stepper, &mut stepper_state(&view, 128), &ids, c));
    out.unwrap();
    assert!(polls as u64 >= work as u64 / (2 * POLL_WORK) && polls as u64 <= 2 * work as u64 / POLL_WORK + 4, "{tag}: feed polled {polls} for {work}");
    let (r, _) = polled(Some(2), |c| feed(&mut stepper, &mut stepper_state(&view, 128), &ids, c));
    assert_eq!(r, Err(KernelError::Interrupted), "{tag}: feed");

    // beam search: a wide beam over many steps.
    let (r, polls) = polled(None, |c| beam_search(&mut stepper, 1, 2, &[3], 50, 100, &[0, 2], None, None, c));
    r.unwrap();
    assert!(polls >= 2, "{tag}: beam search polled {polls} times");
    let (r, calls) = polled(Some(2), |c| beam_search(&mut stepper, 1, 2, &[3], 50, 100, &[0, 2], None, None, c));
    assert_eq!((r, calls), (Err(KernelError::Interrupted), 2), "{tag}: beam search");
    });
}

fn stepper_state(view: &charrnn_core::model::ModelParams, rows: usize) -> charrnn_core::sampler::StepState {
    Stepper::new(view).zero_state(rows, None)
}

