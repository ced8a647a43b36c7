//! The one named random generator: ChaCha8 seeded with a `u64` (`rand_chacha`), whose
//! stream is specified and the same on every machine. Nothing reads OS randomness.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// A uniform number in [0, 1) from the top 53 bits of the generator's next `u64`.
pub fn uniform(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

pub fn seeded_rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}
