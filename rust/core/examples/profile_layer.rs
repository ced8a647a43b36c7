//! Times one layer's forward and backward passes with 1 and 2 threads, interleaved:
//! `cargo run --release -p charrnn-core --example profile_layer -- lstm 128 50 50`.
use charrnn_core::cell::CellKind;
use charrnn_core::Cancel;
use charrnn_core::layer::{self, LayerWeights};
use charrnn_core::layout::SeqLayout;
use charrnn_core::parallel::set_num_threads;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let kind = CellKind::parse(&args[1]).unwrap();
    let hid: usize = args[2].parse().unwrap();
    let steps: usize = args[3].parse().unwrap();
    let batch: usize = args[4].parse().unwrap();
    let gh = kind.gates() * hid;
    let v = |n: usize| -> Vec<f32> { (0..n).map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.2).collect() };
    let (w_ih, w_hh, b_ih, b_hh) = (v(gh * hid), v(gh * hid), v(gh), v(gh));
    let w = LayerWeights { kind, input: hid, hidden: hid, w_ih: &w_ih, w_hh: &w_hh, b_ih: &b_ih, b_hh: &b_hh };
    let layout = SeqLayout::full(steps, batch);
    let x = v(layout.rows() * hid);
    let h0 = vec![0.0; batch * hid];
    let c0 = if kind.has_cell_state() { h0.clone() } else { vec![] };
    let d_out = v(layout.rows() * hid);
    let mut best = [[f64::INFINITY; 3]; 2];
    for _round in 0..8 {
        for (ti, threads) in [1usize, 2].into_iter().enumerate() {
            set_num_threads(threads);
            let t = Instant::now();
            let tape = layer::forward(&layout, &w, &x, &h0, &c0, Cancel::NEVER).unwrap();
            let f = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let _ = layer::backward(&layout, &w, &x, &h0, &c0, &tape, &d_out, &h0, &c0, Cancel::NEVER).unwrap();
            let b = t.elapsed().as_secs_f64();
            let gates = vec![0.1f32; layout.rows() * gh];
            let t = Instant::now();
            let _ = layer::forward_projected(&layout, &w, gates, &h0, &c0, Cancel::NEVER).unwrap();
            let r = t.elapsed().as_secs_f64();
            best[ti][2] = best[ti][2].min(r);
            best[ti][0] = best[ti][0].min(f);
            best[ti][1] = best[ti][1].min(b);
        }
    }
    for (ti, threads) in [1, 2].into_iter().enumerate() {
        println!(
            "threads {threads}: forward {:.2} ms (recurrence alone {:.2} ms), backward {:.2} ms",
            best[ti][0] * 1e3,
            best[ti][2] * 1e3,
            best[ti][1] * 1e3
        );
    }
}
