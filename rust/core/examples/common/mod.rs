//! What the profiling examples share: a random model of given sizes.

use charrnn_core::cell::CellKind;
use charrnn_core::rng::{seeded_rng, uniform};

/// Parameter arrays and shapes of a random model, in the list order of `ModelParams::new`.
pub fn random_params(kind: CellKind, vocab: usize, embed: usize, hidden: usize, layers: usize) -> (Vec<Vec<f32>>, Vec<Vec<usize>>) {
    let mut rng = seeded_rng(0);
    let mut rand = |n: usize| -> Vec<f32> { (0..n).map(|_| (uniform(&mut rng) as f32 - 0.5) * 0.2).collect() };
    let gh = kind.gates() * hidden;
    let mut shapes = vec![vec![vocab, embed]];
    for l in 0..layers {
        shapes.extend([vec![gh, if l == 0 { embed } else { hidden }], vec![gh, hidden], vec![gh], vec![gh]]);
    }
    shapes.extend([vec![vocab, hidden], vec![vocab]]);
    let data = shapes.iter().map(|s| rand(s.iter().product())).collect();
    (data, shapes)
}

/// The sizes every profiling example takes first on its command line.
pub struct Sizes {
    pub kind: CellKind,
    pub layers: usize,
    pub hidden: usize,
    pub steps: usize,
    pub batch: usize,
}

/// Argument `i` of the command line, or `default`.
pub fn arg(i: usize, default: &str) -> String {
    std::env::args().nth(i).unwrap_or_else(|| default.to_string())
}

/// `cell layers hidden steps batch` from arguments 1-5, with `defaults` for those missing.
pub fn sizes(defaults: [&str; 5]) -> Sizes {
    let n = |i: usize| -> usize { arg(i, defaults[i - 1]).parse().expect("a size") };
    Sizes { kind: CellKind::parse(&arg(1, defaults[0])).expect("a cell"), layers: n(2), hidden: n(3), steps: n(4), batch: n(5) }
}
