//! Times `forward_backward` on a training-sized batch, for profiling the kernels:
//! `cargo run --release -p charrnn-core --example profile_step -- lstm 2 128 50 50 [iters]`
//! (cell, layers, hidden, seq-len, batch). Prints characters per second.

mod common;

use charrnn_core::model::{forward_backward, Batch, ModelParams, ParamRef, PassOptions};
use std::time::Instant;

// The same allocator as the Python extension, so the timings match what users get.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let common::Sizes { kind, layers, hidden, steps, batch } = common::sizes(["lstm", "2", "128", "50", "50"]);
    let iters: usize = common::arg(6, "20").parse().unwrap();
    if let Some(t) = std::env::args().nth(7) {
        charrnn_core::parallel::set_num_threads(t.parse().unwrap());
    }
    let (vocab, embed) = (65, 32);
    let (data, shapes) = common::random_params(kind, vocab, embed, hidden, layers);
    let refs: Vec<ParamRef> = data.iter().zip(&shapes).map(|(d, s)| ParamRef { data: d, shape: s }).collect();
    let params = ModelParams::new(kind, &refs, None).unwrap();
    let ids: Vec<i32> = (0..steps * batch).map(|i| (i * 7 % vocab) as i32).collect();
    let targets: Vec<i32> = (0..steps * batch).map(|i| (i * 11 % vocab) as i32).collect();
    let lengths = vec![steps as i64; batch];
    let b = Batch { steps, batch, ids: &ids, targets: &targets, lengths: &lengths };
    forward_backward(&params, &b, &PassOptions { compute_grad: true, ..Default::default() }).unwrap();
    // Best of 5 rounds: the machine is shared, the minimum is the least disturbed.
    let forward_only = std::env::var("FORWARD_ONLY").is_ok();
    let (mut dt, mut cpu) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..5 {
        let (t, c) = (Instant::now(), thread_cpu_seconds());
        for _ in 0..iters {
            forward_backward(&params, &b, &PassOptions { compute_grad: !forward_only, ..Default::default() }).unwrap();
        }
        dt = dt.min(t.elapsed().as_secs_f64() / iters as f64);
        cpu = cpu.min((thread_cpu_seconds() - c) / iters as f64);
    }
    // On-CPU time of the calling thread (Linux): less disturbed by other processes than the
    // wall clock, and the whole cost with one worker thread.
    println!("{:.0} chars/s ({:.2} ms per batch; calling thread on CPU {:.2} ms)", (steps * batch) as f64 / dt, dt * 1e3, cpu * 1e3);
}

/// Seconds the calling thread has spent on a CPU (`/proc/thread-self/schedstat`; NaN elsewhere).
fn thread_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse::<f64>().ok()))
        .map_or(f64::NAN, |ns| ns * 1e-9)
}
