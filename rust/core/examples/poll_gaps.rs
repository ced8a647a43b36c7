//! The longest stretches between two polls of the cancellation hook in one
//! forward/backward pass: `cargo run --release -p charrnn-core --example poll_gaps --
//! lstm 2 256 6000 32 [threads]` (cell, layers, hidden, steps, batch).

mod common;

use charrnn_core::model::{forward_backward, Batch, ModelParams, ParamRef, PassOptions};
use charrnn_core::Hook;
use std::sync::Mutex;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let common::Sizes { kind, layers, hidden, steps, batch } = common::sizes(["lstm", "2", "256", "6000", "32"]);
    charrnn_core::parallel::set_num_threads(common::arg(6, "1").parse().unwrap());
    let (vocab, embed) = (8, 8);
    let (data, shapes) = common::random_params(kind, vocab, embed, hidden, layers);
    let refs: Vec<ParamRef> = data.iter().zip(&shapes).map(|(d, s)| ParamRef { data: d, shape: s }).collect();
    let params = ModelParams::new(kind, &refs, None).unwrap();
    let ids: Vec<i32> = (0..steps * batch).map(|i| (i * 7 % vocab) as i32).collect();
    let lengths = vec![steps as i64; batch];
    let b = Batch { steps, batch, ids: &ids, targets: &ids, lengths: &lengths };
    let times = Mutex::new(Vec::new());
    let start = Instant::now();
    let ask = || {
        times.lock().unwrap().push(start.elapsed().as_secs_f64());
        false
    };
    let hook = Hook::new(&ask);
    forward_backward(&params, &b, &PassOptions { compute_grad: true, cancel: hook.cancel(), ..Default::default() }).unwrap();
    let end = start.elapsed().as_secs_f64();
    let mut t = times.into_inner().unwrap();
    t.sort_by(f64::total_cmp);
    let mut gaps: Vec<(f64, f64)> = std::iter::once(0.0).chain(t.iter().copied()).zip(t.iter().copied().chain([end])).map(|(a, b)| (b - a, a)).collect();
    gaps.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!("{} polls in {end:.3} s; longest gaps (seconds, starting at):", t.len());
    for (g, at) in gaps.iter().take(6) {
        println!("  {g:.3} at {at:.3}");
    }
}
