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
    p = p * r + 5e-1;
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

/// A vector of f32 lanes: the operations the vectorised kernels are written in, so that
/// one generic body serves AVX2 (8 lanes) and AVX-512 (16 lanes). Bodies generic over
/// `Lanes` must be `#[inline(always)]` and called from a function compiled with the
/// matching `#[target_feature]`, so that the intrinsics inline.
///
/// # Safety
/// Every method requires the CPU features of its implementation (see [`has_avx2_fma`],
/// [`has_avx512`]); loads and stores need `N` valid floats at the pointer.
#[cfg(target_arch = "x86_64")]
pub trait Lanes: Copy {
    const N: usize;
    /// # Safety
    /// The CPU features of the implementation; see [`Lanes`].
    unsafe fn load(p: *const f32) -> Self;
    /// # Safety
    /// The CPU features of the implementation; see [`Lanes`].
    unsafe fn store(self, p: *mut f32);
    /// # Safety
    /// The CPU features of the implementation; see [`Lanes`].
    unsafe fn splat(v: f32) -> Self;
    /// # Safety
    /// The CPU features of the implementation; see [`Lanes`].
    unsafe fn add(self, o: Self) -> Self;
    /// # Safety
    /// The CPU features of the implementation; see [`Lanes`].
    unsafe fn sub(self, o: Self) -> Self;
    /// # Safety
    /// The CPU features of the implementation; see [`Lanes`].
    unsafe fn mul(self, o: Self) -> Self;
    /// `self * b + c`, fused.
    /// # Safety
    /// The CPU features of the implementation; see [`Lanes`].
    unsafe fn fmadd(self, b: Self, c: Self) -> Self;
    /// `c - self * b`, fused.
    /// # Safety
    /// The CPU features of the implementation; see [`Lanes`].
    unsafe fn fnmadd(self, b: Self, c: Self) -> Self;
    /// `self * b - c`, fused.
    /// # Safety
    /// The CPU features of the implementation; see [`Lanes`].
    unsafe fn fmsub(self, b: Self, c: Self) -> Self;
    /// Clamps to `[lo, hi]`; NaN stays NaN.
    /// # Safety
    /// The CPU features of the implementation; see [`Lanes`].
    unsafe fn clamp(self, lo: f32, hi: f32) -> Self;
    /// # Safety
    /// The CPU features of the implementation; see [`Lanes`].
    unsafe fn floor(self) -> Self;
    /// `2^n` for integral `n` in the normal exponent range.
    /// # Safety
    /// The CPU features of the implementation; see [`Lanes`].
    unsafe fn pow2i(n: Self) -> Self;
    /// Reciprocal estimate (12 bits for AVX2, 14 for AVX-512).
    /// # Safety
    /// The CPU features of the implementation; see [`Lanes`].
    unsafe fn rcp(self) -> Self;
}

#[cfg(target_arch = "x86_64")]
pub use lanes::{F32x16, F32x8};

#[cfg(target_arch = "x86_64")]
mod lanes {
    use super::Lanes;
    use std::arch::x86_64::*;

    /// Eight lanes in an AVX2 register (needs AVX2 + FMA).
    #[derive(Clone, Copy)]
    pub struct F32x8(__m256);

    /// Sixteen lanes in an AVX-512 register (needs AVX-512F).
    #[derive(Clone, Copy)]
    pub struct F32x16(__m512);

    impl Lanes for F32x8 {
        const N: usize = 8;
        /// # Safety
        /// The CPU features of this implementation (see [`Lanes`]); loads and stores need `N` valid floats at the pointer.
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self { unsafe { F32x8(_mm256_loadu_ps(p)) } }
        /// # Safety
        /// The CPU features of this implementation (see [`Lanes`]); loads and stores need `N` valid floats at the pointer.
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) { unsafe { _mm256_storeu_ps(p, self.0) } }
        /// # Safety
        /// The CPU features of this implementation (see [`Lanes`]); loads and stores need `N` valid floats at the pointer.
        #[inline(always)]
        unsafe fn splat(v: f32) -> Self { unsafe { F32x8(_mm256_set1_ps(v)) } }
        /// # Safety
        /// The CPU features of this implementation (see [`Lanes`]); loads and stores need `N` valid floats at the pointer.
        #[inline(always)]
        unsafe fn add(self, o: Self) -> Self { unsafe { F32x8(_mm256_add_ps(self.0, o.0)) } }
        /// # Safety
        /// The CPU features of this implementation (see [`Lanes`]); loads and stores need `N` valid floats at the pointer.
        #[inline(always)]
        unsafe fn sub(self, o: Self) -> Self { unsafe { F32x8(_mm256_sub_ps(self.0, o.0)) } }
        /// # Safety
        /// The CPU features of this implementation (see [`Lanes`]); loads and stores need `N` valid floats at the pointer.
        #[inline(always)]
        unsafe fn mul(self, o: Self) -> Self { unsafe { F32x8(_mm256_mul_ps(self.0, o.0)) } }
        /// # Safety
        /// The CPU features of this implementation (see [`Lanes`]); loads and stores need `N` valid floats at the pointer.
        #[inline(always)]
        unsafe fn fmadd(self, b: Self, c: Self) -> Self { unsafe { F32x8(_mm256_fmadd_ps(self.0, b.0, c.0)) } }
        /// # Safety
        /// The CPU features of this implementation (see [`Lanes`]); loads and stores need `N` valid floats at the pointer.
        #[inline(always)]
        unsafe fn fnmadd(self, b: Self, c: Self) -> Self { unsafe { F32x8(_mm256_fnmadd_ps(self.0, b.0, c.0)) } }
        /// # Safety
        /// The CPU features of this implementation (see [`Lanes`]); loads and stores need `N` valid floats at the pointer.
        #[inline(always)]
        unsafe fn fmsub(self, b: Self, c: Self) -> Self { unsafe { F32x8(_mm256_fmsub_ps(self.0, b.0, c.0)) } }
        /// # Safety
        /// The CPU features of this implementation (see [`Lanes`]); loads and stores need `N` valid floats at the pointer.
        #[inline(always)]
        unsafe fn clamp(self, lo: f32, hi: f32) -> Self {
            unsafe {
                // min/max return their second operand when either is NaN: NaN stays NaN.
                F32x8(_mm256_max_ps(_mm256_set1_ps(lo), _mm256_min_ps(_mm256_set1_ps(hi), self.0)))
            }
        }
        /// # Safety
        /// The CPU features of this implementation (see [`Lanes`]); loads and stores need `N` valid floats at the pointer.
        #[inline(always)]
        unsafe fn floor(self) -> Self { unsafe { F32x8(_mm256_floor_ps(self.0)) } }
        /// # Safety
        /// The CPU features of this implementation (see [`Lanes`]); loads and stores need `N` valid floats at the pointer.
        #[inline(always)]
        unsafe fn pow2i(n: Self) -> Self {
            unsafe {
                let bits = _mm256_slli_epi32::<23>(_mm256_add_epi32(_mm256_cvtps_epi32(n.0), _mm256_set1_epi32(127)));
                F32x8(_mm256_castsi256_ps(bits))
            }
        }
        /// # Safety
        /// The CPU features of this implementation (see [`Lanes`]); loads and stores need `N` valid floats at the pointer.
        #[inline(always)]
        unsafe fn rcp(self) -> Self { unsafe { F32x8(_mm256_rcp_ps(self.0)) } }
    }

    impl Lanes for F32x16 {
        const N: usize = 16;
        /// # Safety
        /// The CPU features of this implementation (see [`Lanes`]); loads and stores need `N` valid floats at the pointer.
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self { unsafe { F32x16(_mm512_loadu_ps(p)) } }
        /// # Safety
        /// The CPU features of this implementation (see [`Lanes`]); loads and stores need `N` valid floats at the pointer.
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) { unsafe { _mm512_storeu_ps(p, self.0) } }
        /// # Safety
        /// The CPU features of this implementation (see [`Lanes`]); loads and stores need `N` valid floats at the pointer.
        #[inline(always)]
        unsafe fn splat(v: f32) -> Self { unsafe { F32x16(_mm512_set1_ps(v)) } }
        /// # Safety
        /// The CPU features of this implementation (see [`Lanes`]); loads and stores need `N` valid floats at the pointer.
        #[inline(always)]
        unsafe fn add(self, o: Self) -> Self { unsafe { F32x16(_mm512_add_ps(self.0, o.0)) } }
        /// # Safety
        /// The CPU features of this implementation (see [`Lanes`]); loads and stores need `N` valid floats at the pointer.
        #[inline(always)]
        unsafe fn sub(self, o: Self) -> Self { unsafe { F32x16(_mm512_sub_ps(self.0, o.0)) } }
        /// # Safety
        /// The CPU features of this implementation (see [`Lanes`]); loads and stores need `N` valid floats at the pointer.
        #[inline(always)]
        unsafe fn mul(self, o: Self) -> Self { unsafe { F32x16(_mm512_mul_ps(self.0, o.0)) } }
        /// # Safety
        /// The CPU features of this implementation (see [`Lanes`]); loads and stores need `N` valid floats at the pointer.
        #[inline(always)]
        unsafe fn fmadd(self, b: Self, c: Self) -> Self { unsafe { F32x16(_mm512_fmadd_ps(self.0, b.0, c.0)) } }
        /// # Safety
        /// The CPU features of this implementation (see [`Lanes`]); loads and stores need `N` valid floats at the pointer.
        #[inline(always)]
        unsafe fn fnmadd(self, b: Self, c: Self) -> Self { unsafe { F32x16(_mm512_fnmadd_ps(self.0, b.0, c.0)) } }
        /// # Safety
        /// The CPU features of this implementation (see [`Lanes`]); loads and stores need `N` valid floats at the pointer.
        #[inline(always)]
        unsafe fn fmsub(self, b: Self, c: Self) -> Self { unsafe { F32x16(_mm512_fmsub_ps(self.0, b.0, c.0)) } }
        /// # Safety
        /// The CPU features of this implementation (see [`Lanes`]); loads and stores need `N` valid floats at the pointer.
        #[inline(always)]
        unsafe fn clamp(self, lo: f32, hi: f32) -> Self {
            unsafe {
                F32x16(_mm512_max_ps(_mm512_set1_ps(lo), _mm512_min_ps(_mm512_set1_ps(hi), self.0)))
            }
        }
        /// # Safety
        /// The CPU features of this implementation (see [`Lanes`]); loads and stores need `N` valid floats at the pointer.
        #[inline(always)]
        unsafe fn floor(self) -> Self {
            unsafe {
                F32x16(_mm512_roundscale_ps::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(self.0))
            }
        }
        /// # Safety
        /// The CPU features of this implementation (see [`Lanes`]); loads and stores need `N` valid floats at the pointer.
        #[inline(always)]
        unsafe fn pow2i(n: Self) -> Self {
            unsafe {
                let bits = _mm512_slli_epi32::<23>(_mm512_add_epi32(_mm512_cvtps_epi32(n.0), _mm512_set1_epi32(127)));
                F32x16(_mm512_castsi512_ps(bits))
            }
        }
        /// # Safety
        /// The CPU features of this implementation (see [`Lanes`]); loads and stores need `N` valid floats at the pointer.
        #[inline(always)]
        unsafe fn rcp(self) -> Self { unsafe { F32x16(_mm512_rcp14_ps(self.0)) } }
    }
}

/// `exp`, `sigmoid` and `tanh` on [`Lanes`] for the gate kernels.
///
/// `exp` is the same Cephes scheme as the scalar one. The division in `sigmoid`/`tanh` is
/// replaced by the reciprocal estimate plus one Newton step, which is within 2 ulp of the
/// true reciprocal and costs a fraction of a `vdivps` (the divisions were the bottleneck
/// of the LSTM step: five per element). NaN inputs give NaN outputs, as the scalar ones do.
///
/// # Safety
/// The CPU must have the features of `L`.
#[cfg(target_arch = "x86_64")]
pub mod vector {
    use super::Lanes;

    /// `e^x` per lane.
    ///
    /// # Safety
    /// The CPU must have the features of `L`.
    #[inline(always)]
    pub unsafe fn exp<L: Lanes>(x: L) -> L {
        unsafe {
            let x = x.clamp(-87.3, 88.3);
            let n = x.fmadd(L::splat(std::f32::consts::LOG2_E), L::splat(0.5)).floor();
            let r = n.fnmadd(L::splat(0.693_359_4), x);
            let r = n.fnmadd(L::splat(-2.121_944_4e-4), r);
            let mut p = L::splat(1.987_569_1e-4);
            p = p.fmadd(r, L::splat(1.398_199_9e-3));
            p = p.fmadd(r, L::splat(8.333_452e-3));
            p = p.fmadd(r, L::splat(4.166_579_6e-2));
            p = p.fmadd(r, L::splat(1.666_666_5e-1));
            p = p.fmadd(r, L::splat(5e-1));
            let e_r = p.mul(r).fmadd(r, r).add(L::splat(1.0));
            e_r.mul(L::pow2i(n))
        }
    }

    /// `1 / d` for `d >= 1`: reciprocal estimate refined by one Newton step.
    ///
    /// # Safety
    /// The CPU must have the features of `L`.
    #[inline(always)]
    unsafe fn recip<L: Lanes>(d: L) -> L {
        unsafe {
            let y = d.rcp();
            // y + y (1 - d y): the residual is formed exactly by the FMA.
            y.fmadd(d.fnmadd(y, L::splat(1.0)), y)
        }
    }

    /// `1 / (1 + e^-x)` per lane.
    ///
    /// # Safety
    /// The CPU must have the features of `L`.
    #[inline(always)]
    pub unsafe fn sigmoid<L: Lanes>(x: L) -> L {
        unsafe {
            let e = exp(L::splat(0.0).sub(x));
            recip(L::splat(1.0).add(e))
        }
    }

    /// `tanh(x) = 2 sigmoid(2x) - 1` per lane.
    ///
    /// # Safety
    /// The CPU must have the features of `L`.
    #[inline(always)]
    pub unsafe fn tanh<L: Lanes>(x: L) -> L {
        unsafe {
            let e = exp(L::splat(-2.0).mul(x));
            let s = recip(L::splat(1.0).add(e));
            L::splat(2.0).fmsub(s, L::splat(1.0))
        }
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

/// Whether the AVX-512 (F) kernels can run on this CPU (cached after the first call).
#[inline]
pub fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vl") && std::env::var_os("CHARRNN_NO_AVX512").is_none())
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Defines `pub fn $name(args)` that runs `$body` compiled for AVX-512, or else AVX2+FMA,
/// when the CPU has them and for the baseline target otherwise. The body must be safe code;
/// Rust never contracts or reorders float operations, so every build computes the same.
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
                /// # Safety
                /// The CPU must support AVX-512F/VL, AVX2 and FMA (checked by the caller).
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn wide($($arg: $ty),*) { body($($arg),*) }
                if $crate::simd::has_avx512() {
                    // SAFETY: the CPU supports the features `wide` was compiled for.
                    return unsafe { wide($($arg),*) };
                }
                /// # Safety
                /// The CPU must support AVX2 and FMA (checked by the caller).
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
    fn check_lanes<L: Lanes>(run: unsafe fn(fn(L) -> L, f32) -> f32) {
        // Each call runs one function on a vector of x (see the callers' target features).
        fn f<L: Lanes>(which: usize) -> fn(L) -> L {
            match which {
                // SAFETY: only called through `run`, compiled with the features of L.
                0 => |v| unsafe { vector::exp(v) },
                1 => |v| unsafe { vector::sigmoid(v) },
                _ => |v| unsafe { vector::tanh(v) },
            }
        }
        let at = |which: usize, x: f32| -> f32 {
            // SAFETY: the callers check the CPU features of L first.
            unsafe { run(f::<L>(which), x) }
        };
        let mut worst = (0.0f64, 0.0f64, 0.0f64);
        for i in -21_000..=21_000 {
            let x = i as f32 * 0.004;
            let e = f64::from(x).exp();
            worst.0 = worst.0.max(((f64::from(at(0, x)) - e) / e).abs());
            worst.1 = worst.1.max((f64::from(at(1, x)) - 1.0 / (1.0 + (-f64::from(x)).exp())).abs());
            worst.2 = worst.2.max((f64::from(at(2, x)) - f64::from(x).tanh()).abs());
        }
        assert!(worst.0 < 3e-7, "{} lanes: exp relative error {}", L::N, worst.0);
        assert!(worst.1 < 3e-7, "{} lanes: sigmoid error {}", L::N, worst.1);
        assert!(worst.2 < 6e-7, "{} lanes: tanh error {}", L::N, worst.2);
        for x in [-1e30f32, -200.0, -88.0, 88.0, 200.0, 1e30, f32::INFINITY, f32::NEG_INFINITY] {
            let (s, t) = (at(1, x), at(2, x));
            assert!((0.0..=1.0).contains(&s) && (-1.0..=1.0).contains(&t), "{x}: {s} {t}");
        }
        assert!(at(1, f32::NAN).is_nan() && at(2, f32::NAN).is_nan());
        // Saturated values are within an ulp or two of +-1 (not exactly 1, as the scalar ones).
        assert!((at(2, 200.0) - 1.0).abs() < 2e-7 && (at(2, -200.0) + 1.0).abs() < 2e-7);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_functions_match_the_standard_library_at_both_widths() {
        /// Runs `f` on a vector of `x` and returns lane 5.
        ///
        /// # Safety
        /// The CPU must support AVX2 and FMA.
        #[target_feature(enable = "avx2,fma")]
        unsafe fn run8(f: fn(F32x8) -> F32x8, x: f32) -> f32 {
            unsafe {
                let mut out = [0.0f32; 8];
                f(F32x8::splat(x)).store(out.as_mut_ptr());
                out[5]
            }
        }
        /// # Safety
        /// The CPU must support AVX-512F.
        #[target_feature(enable = "avx512f")]
        unsafe fn run16(f: fn(F32x16) -> F32x16, x: f32) -> f32 {
            unsafe {
                let mut out = [0.0f32; 16];
                f(F32x16::splat(x)).store(out.as_mut_ptr());
                out[13]
            }
        }
        if has_avx2_fma() {
            check_lanes::<F32x8>(run8);
        }
        if has_avx512() {
            check_lanes::<F32x16>(run16);
        }
    }
}
