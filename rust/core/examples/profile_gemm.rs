//! GFLOP/s of the two GEMM engines of `gemm` (the packed micro-kernel, packing and any
//! transpose included, and `matrixmultiply`) and of a pre-packed recurrent product, on
//! given shapes: `cargo run --release -p charrnn-core --example profile_gemm -- M N K [ta tb]`
//! (`ta`/`tb` = 1 for a transposed operand, as in `gemm::sgemm`; THREADS=n to thread).
use charrnn_core::gemm::{sgemm_general, sgemm_packed};
use charrnn_core::Cancel;
use charrnn_core::packed_gemm::PackedMatrix;
use std::time::Instant;

fn rate(flops: f64, mut f: impl FnMut()) -> f64 {
    f();
    let reps = ((3e9 / flops) as usize).max(3);
    let t = Instant::now();
    for _ in 0..reps {
        f();
    }
    flops * reps as f64 / t.elapsed().as_secs_f64() / 1e9
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let (m, n, k) = (args[0], args[1], args[2]);
    let (ta, tb) = (args.get(3) == Some(&1), args.get(4) == Some(&1));
    charrnn_core::parallel::set_num_threads(std::env::var("THREADS").map(|v| v.parse().unwrap()).unwrap_or(1));
    let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
    let b: Vec<f32> = (0..n * k).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut c = vec![0.0f32; m * n];
    let flops = 2.0 * (m * n * k) as f64;
    let packed = PackedMatrix::from_transposed(&b, n, k);
    let prepacked = rate(flops, || packed.multiply(m, &a, &mut c, true));
    let engine = rate(flops, || sgemm_packed(ta, tb, m, n, k, &a, &b, true, &mut c, Cancel::NEVER).unwrap());
    let general = rate(flops, || sgemm_general(ta, tb, m, n, k, 1.0, &a, &b, 1.0, &mut c, Cancel::NEVER).unwrap());
    println!(
        "{m}x{n}x{k} ta={} tb={}: packed engine {engine:.1} GFLOP/s, matrixmultiply {general:.1}, pre-packed A@W^T {prepacked:.1}",
        ta as u8, tb as u8
    );
}
