//! GFLOP/s of the packed recurrent product and of the general GEMM on given shapes:
//! `cargo run --release -p charrnn-core --example profile_gemm -- M N K`.
use charrnn_core::gemm::matmul_abt;
use charrnn_core::packed_gemm::PackedMatrix;
use std::time::Instant;

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let (m, n, k) = (args[0], args[1], args[2]);
    let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
    let w: Vec<f32> = (0..n * k).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut c = vec![0.0f32; m * n];
    let packed = PackedMatrix::from_transposed(&w, n, k);
    let flops = 2.0 * (m * n * k) as f64;
    let reps = ((3e9 / flops) as usize).max(3);
    let t = Instant::now();
    for _ in 0..reps {
        packed.multiply(m, &a, &mut c, true);
    }
    let packed_rate = flops * reps as f64 / t.elapsed().as_secs_f64() / 1e9;
    charrnn_core::parallel::set_num_threads(std::env::var("THREADS").map(|v| v.parse().unwrap()).unwrap_or(1));
    let t = Instant::now();
    for _ in 0..reps {
        matmul_abt(m, n, k, &a, &w, 1.0, &mut c);
    }
    let general_rate = flops * reps as f64 / t.elapsed().as_secs_f64() / 1e9;
    println!("{m}x{n}x{k}: packed {packed_rate:.1} GFLOP/s, general (1 thread) {general_rate:.1} GFLOP/s");
}
