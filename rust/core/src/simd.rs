//! Fast, vectorisable `exp`, `sigmoid` and `tanh`, and the CPU-feature dispatch that lets
//! the element-wise loops compile to AVX2/FMA code where the CPU has it (checked at run
//! time, so one build runs on any x86-64 machine).
//!
//! `exp` is the Cephes single-precision scheme: `e^x = 2^n * e^r` with `|r| <= ln2/2` and a
//! degree-6 polynomial for `e^r`; relative error below 2e-7 over the whole f32 range.
//! `sigmoid(x) = 1 / (1 + e^-x)`; `tanh(x) = 2 sigmoid(2x) - 1` (absolute error below 3e-7).

#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.3, 88.3);
    let n = (x * LOG2E + 0.5).floor();
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let e_r = p * r * r + r + 1.0;
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    e_r * scale
}

#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    2.0 / (1.0 + exp(-2.0 * x)) - 1.0
}

/// Eight-lane AVX2+FMA versions of `exp`, `sigmoid` and `tanh` for the gate kernels.
///
/// `exp` is the same Cephes scheme as the scalar one. The division in `sigmoid`/`tanh` is
/// replaced by `rcp` (12-bit estimate) plus one Newton step, which is within 2 ulp of the
/// true reciprocal and costs a quarter of a `vdivps` (the divisions were the bottleneck of
/// the LSTM step: five per element). NaN inputs give NaN outputs, as the scalar ones do.
///
/// # Safety
/// Every function requires a CPU with AVX2 and FMA (see [`has_avx2_fma`]).
#[cfg(target_arch = "x86_64")]
pub mod avx2 {
    use std::arch::x86_64::*;

    /// `e^x` per lane.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn exp(x: __m256) -> __m256 {
        // min/max return their second operand when either is NaN: NaN stays NaN.
        let x = _mm256_max_ps(_mm256_set1_ps(-87.3), _mm256_min_ps(_mm256_set1_ps(88.3), x));
        let n = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(std::f32::consts::LOG2_E), _mm256_set1_ps(0.5)));
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693_359_4), x);
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.121_944_4e-4), r);
        let mut p = _mm256_set1_ps(1.987_569_1e-4);
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.398_199_9e-3));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.333_452e-3));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.166_579_6e-2));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.666_666_5e-1));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.000_000_1e-1));
        let e_r = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(p, r), r, r), _mm256_set1_ps(1.0));
        let scale = _mm256_slli_epi32::<23>(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)));
        _mm256_mul_ps(e_r, _mm256_castsi256_ps(scale))
    }

    /// `1 / d` for `d >= 1`: reciprocal estimate refined by one Newton step.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn recip(d: __m256) -> __m256 {
        let y = _mm256_rcp_ps(d);
        // y + y (1 - d y): the residual is formed exactly by the FMA.
        _mm256_fmadd_ps(y, _mm256_fnmadd_ps(d, y, _mm256_set1_ps(1.0)), y)
    }

    /// `1 / (1 + e^-x)` per lane.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn sigmoid(x: __m256) -> __m256 {
        let e = exp(_mm256_sub_ps(_mm256_setzero_ps(), x));
        recip(_mm256_add_ps(_mm256_set1_ps(1.0), e))
    }

    /// `tanh(x) = 2 sigmoid(2x) - 1` per lane.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn tanh(x: __m256) -> __m256 {
        let e = exp(_mm256_mul_ps(_mm256_set1_ps(-2.0), x));
        let s = recip(_mm256_add_ps(_mm256_set1_ps(1.0), e));
        _mm256_fmsub_ps(_mm256_set1_ps(2.0), s, _mm256_set1_ps(1.0))
    }
}

/// Whether the AVX2 + FMA versions can run on this CPU (cached after the first call).
#[inline]
pub fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Defines `pub fn $name(args)` that runs `$body` compiled for AVX2+FMA when the CPU has
/// them and for the baseline target otherwise. The body must be safe code.
#[macro_export]
macro_rules! dispatch {
    ($(#[$meta:meta])* pub fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        pub fn $name($($arg: $ty),*) {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn fast($($arg: $ty),*) { body($($arg),*) }
                if $crate::simd::has_avx2_fma() {
                    // SAFETY: the CPU supports the features `fast` was compiled for.
                    return unsafe { fast($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_functions_match_the_standard_library() {
        let mut worst = (0.0f64, 0.0f64, 0.0f64);
        for i in -20_000..=20_000 {
            let x = i as f32 * 0.004;
            let e = f64::from(x).exp();
            worst.0 = worst.0.max(((f64::from(exp(x)) - e) / e).abs());
            worst.1 = worst.1.max((f64::from(sigmoid(x)) - 1.0 / (1.0 + (-f64::from(x)).exp())).abs());
            worst.2 = worst.2.max((f64::from(tanh(x)) - f64::from(x).tanh()).abs());
        }
        assert!(worst.0 < 3e-7, "exp relative error {}", worst.0);
        assert!(worst.1 < 2e-7, "sigmoid error {}", worst.1);
        assert!(worst.2 < 4e-7, "tanh error {}", worst.2);
        assert_eq!(exp(-200.0), exp(-87.3));
        assert!(exp(200.0).is_finite() && sigmoid(-200.0) >= 0.0 && tanh(200.0) == 1.0 && tanh(-200.0) == -1.0);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_functions_match_the_standard_library() {
        use std::arch::x86_64::*;
        if !has_avx2_fma() {
            return;
        }
        let lanes = |f: unsafe fn(__m256) -> __m256, x: f32| -> f32 {
            let mut out = [0.0f32; 8];
            // SAFETY: the CPU has AVX2 and FMA (checked above).
            unsafe { _mm256_storeu_ps(out.as_mut_ptr(), f(_mm256_set1_ps(x))) };
            out[0]
        };
        let mut worst = (0.0f64, 0.0f64, 0.0f64);
        for i in -21_000..=21_000 {
            let x = i as f32 * 0.004;
            let e = f64::from(x).exp();
            worst.0 = worst.0.max(((f64::from(lanes(avx2::exp, x)) - e) / e).abs());
            worst.1 = worst.1.max((f64::from(lanes(avx2::sigmoid, x)) - 1.0 / (1.0 + (-f64::from(x)).exp())).abs());
            worst.2 = worst.2.max((f64::from(lanes(avx2::tanh, x)) - f64::from(x).tanh()).abs());
        }
        assert!(worst.0 < 3e-7, "exp relative error {}", worst.0);
        assert!(worst.1 < 3e-7, "sigmoid error {}", worst.1);
        assert!(worst.2 < 6e-7, "tanh error {}", worst.2);
        for x in [-1e30f32, -200.0, -88.0, 88.0, 200.0, 1e30, f32::INFINITY, f32::NEG_INFINITY] {
            let (s, t) = (lanes(avx2::sigmoid, x), lanes(avx2::tanh, x));
            assert!((0.0..=1.0).contains(&s) && (-1.0..=1.0).contains(&t), "{x}: {s} {t}");
        }
        assert!(lanes(avx2::sigmoid, f32::NAN).is_nan() && lanes(avx2::tanh, f32::NAN).is_nan());
        // Saturated values are within an ulp or two of +-1 (not exactly 1, as the scalar ones).
        assert!((lanes(avx2::tanh, 200.0) - 1.0).abs() < 2e-7 && (lanes(avx2::tanh, -200.0) + 1.0).abs() < 2e-7);
    }
}
