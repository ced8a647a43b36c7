//! Adam with global gradient-norm clipping and decoupled weight decay (AdamW), fused into
//! one pass over each parameter (the Python loop would make ~10 passes with a temporary
//! array each); and the exponential moving average of the weights.

use crate::dispatch;
use crate::error::{KernelError, Result};

/// The scalars of one Adam step.
#[derive(Debug, Clone, Copy)]
pub struct AdamStep {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    /// 1-based step number (for the bias corrections).
    pub step: u64,
    /// Multiplies every gradient first (e.g. `1 / characters` to turn a summed loss into
    /// a mean), and the clipping factor after it.
    pub grad_scale: f32,
}

/// The factor each weight is multiplied by before the Adam step under decoupled weight
/// decay `wd` at learning rate `lr`: `1 - lr * wd` (Loshchilov & Hutter; PyTorch's
/// `AdamW` computes it in double precision too). `wd = 0` gives exactly 1.
pub fn decay_keep(lr: f32, wd: f32) -> f32 {
    (1.0 - f64::from(lr) * f64::from(wd)) as f32
}

/// The global L2 norm of all gradients, times `scale` (accumulated in f64).
pub fn global_norm(grads: &[&[f32]], scale: f32) -> f64 {
    let sum: f64 = grads
        .iter()
        .map(|g| {
            let mut acc = [0.0f64; 8];
            let chunks = g.chunks_exact(8);
            let rest = chunks.remainder();
            for c in chunks {
                for (a, &v) in acc.iter_mut().zip(c) {
                    *a += f64::from(v) * f64::from(v);
                }
            }
            acc.iter().sum::<f64>() + rest.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>()
        })
        .sum();
    sum.sqrt() * f64::from(scale)
}

/// The factor that brings a gradient of norm `norm` down to `max_norm` (1 when it is
/// already within, or clipping is off).
pub fn clip_factor(norm: f64, max_norm: Option<f64>) -> f32 {
    match max_norm {
        Some(max) if norm > max => (max / (norm + 1e-6)) as f32,
        _ => 1.0,
    }
}

dispatch! {
    /// One fused AdamW update of a parameter array with its gradient and moments: the
    /// weight is first multiplied by `keep` (decoupled weight decay, see [`decay_keep`];
    /// 1: plain Adam, and then bit-for-bit the update without it), then takes the Adam step.
    pub fn adam_update_slice(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], scale: f32, b1: f32, b2: f32, step_size: f32, inv_sqrt_c2: f32, eps: f32, keep: f32) {
        for (((pi, &gi), mi), vi) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            let gs = gi * scale;
            *mi = b1 * *mi + (1.0 - b1) * gs;
            *vi = b2 * *vi + (1.0 - b2) * gs * gs;
            *pi = *pi * keep - step_size * *mi / ((*vi).sqrt() * inv_sqrt_c2 + eps);
        }
    }
}

/// Updates every parameter in place. `factor` is the clip factor (see `clip_factor`);
/// `weight_decay[i]` is array `i`'s decoupled weight decay (empty: none for any array).
pub fn adam_update(
    params: &mut [&mut [f32]],
    grads: &[&[f32]],
    m: &mut [&mut [f32]],
    v: &mut [&mut [f32]],
    s: &AdamStep,
    factor: f32,
    weight_decay: &[f32],
) -> Result<()> {
    if grads.len() != params.len() || m.len() != params.len() || v.len() != params.len() {
        return Err(KernelError::Value("params, grads and both moments must be lists of the same length".into()));
    }
    if !weight_decay.is_empty() && weight_decay.len() != params.len() {
        return Err(KernelError::Value(format!(
            "weight_decay must give one value per parameter ({}), got {}",
            params.len(),
            weight_decay.len()
        )));
    }
    if let Some(bad) = weight_decay.iter().find(|wd| !(wd.is_finite() && **wd >= 0.0)) {
        return Err(KernelError::Value(format!("weight decay must be a finite number >= 0, got {bad}")));
    }
    for i in 0..params.len() {
        let n = params[i].len();
        if grads[i].len() != n || m[i].len() != n || v[i].len() != n {
            return Err(KernelError::Value(format!("params[{i}]: the gradient and moments must have its size ({n})")));
        }
    }
    if s.step == 0 {
        return Err(KernelError::Value("the Adam step number starts at 1".into()));
    }
    let c1 = 1.0 - f64::from(s.beta1).powf(s.step as f64);
    let c2 = 1.0 - f64::from(s.beta2).powf(s.step as f64);
    let step_size = (f64::from(s.lr) / c1) as f32;
    let inv_sqrt_c2 = (1.0 / c2.sqrt()) as f32;
    let scale = s.grad_scale * factor;
    for i in 0..params.len() {
        let keep = decay_keep(s.lr, weight_decay.get(i).copied().unwrap_or(0.0));
        adam_update_slice(params[i], grads[i], m[i], v[i], scale, s.beta1, s.beta2, step_size, inv_sqrt_c2, s.eps, keep);
    }
    Ok(())
}

dispatch! {
    /// `avg = decay * avg + (1 - decay) * p`, element-wise; `rest` is `1 - decay`, computed
    /// once by the caller (see [`ema_update`]).
    pub fn ema_update_slice(avg: &mut [f32], p: &[f32], decay: f32, rest: f32) {
        for (a, &x) in avg.iter_mut().zip(p) {
            *a = decay * *a + rest * x;
        }
    }
}

/// One step of the exponential moving average of the weights: for every array,
/// `avg[i] = decay * avg[i] + (1 - decay) * params[i]`, element-wise (`0 <= decay <= 1`).
pub fn ema_update(avg: &mut [&mut [f32]], params: &[&[f32]], decay: f32) -> Result<()> {
    if avg.len() != params.len() {
        return Err(KernelError::Value(format!(
            "the average has {} arrays and the parameters {}: they must pair up",
            avg.len(),
            params.len()
        )));
    }
    if !(0.0..=1.0).contains(&decay) {
        return Err(KernelError::Value(format!("the EMA decay must be in [0, 1], got {decay}")));
    }
    for (i, (a, p)) in avg.iter().zip(params).enumerate() {
        if a.len() != p.len() {
            return Err(KernelError::Value(format!("average[{i}] has {} values, params[{i}] {}", a.len(), p.len())));
        }
    }
    let rest = (1.0 - f64::from(decay)) as f32;
    for (a, p) in avg.iter_mut().zip(params) {
        ema_update_slice(a, p, decay, rest);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fused_adam_matches_the_textbook_update_in_f64() {
        let mut p = [0.5f32, -1.0, 2.0];
        let g = vec![0.1f32, -0.3, 0.05];
        let (mut m, mut v) = (vec![0.0f32; 3], vec![0.0f32; 3]);
        let s = AdamStep { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 1, grad_scale: 2.0 };
        let norm = global_norm(&[&g], s.grad_scale);
        assert!((norm - 2.0 * (0.01f64 + 0.09 + 0.0025).sqrt()).abs() < 1e-6);
        let factor = clip_factor(norm, Some(0.5));
        adam_update(&mut [&mut p[..]], &[&g[..]], &mut [&mut m[..]], &mut [&mut v[..]], &s, factor, &[]).unwrap();
        for (i, (&p0, &g0)) in [0.5f64, -1.0, 2.0].iter().zip(&[0.1f64, -0.3, 0.05]).enumerate() {
            let gs = g0 * 2.0 * f64::from(factor);
            let (mm, vv) = (0.1 * gs, 0.001 * gs * gs);
            let want = p0 - 0.01 * (mm / 0.1) / ((vv / 0.001).sqrt() + 1e-8);
            assert!((f64::from(p[i]) - want).abs() < 1e-6, "{i}: {} vs {want}", p[i]);
        }
        assert_eq!(clip_factor(0.3, Some(0.5)), 1.0);
        assert_eq!(clip_factor(3.0, None), 1.0);
    }

    fn one_adamw_step(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], s: &AdamStep, wd: &[f32]) {
        adam_update(&mut [p], &[g], &mut [m], &mut [v], s, 1.0, wd).unwrap();
    }

    #[test]
    fn adamw_decays_the_weight_by_one_minus_lr_wd_before_the_adam_step() {
        let s = AdamStep { lr: 0.05, beta1: 0.9, beta2: 0.99, eps: 1e-8, step: 1, grad_scale: 1.0 };
        let (p0, g) = ([0.5f64, -1.0, 2.0, 0.0], [0.2f32, -0.1, 0.0, 0.3]);
        let mut want: Vec<f64> = p0.to_vec();
        let (mut mm, mut vv) = ([0.0f64; 4], [0.0f64; 4]);
        let mut p: Vec<f32> = p0.iter().map(|&x| x as f32).collect();
        let (mut m, mut v) = (vec![0.0f32; 4], vec![0.0f32; 4]);
        for t in 1..=5u64 {
            one_adamw_step(&mut p, &g, &mut m, &mut v, &AdamStep { step: t, ..s }, &[0.1]);
            let (c1, c2) = (1.0 - 0.9f64.powi(t as i32), 1.0 - 0.99f64.powi(t as i32));
            for i in 0..4 {
                let gi = f64::from(g[i]);
                mm[i] = 0.9 * mm[i] + 0.1 * gi;
                vv[i] = 0.99 * vv[i] + 0.01 * gi * gi;
                want[i] = want[i] * (1.0 - 0.05 * 0.1) - 0.05 / c1 * mm[i] / ((vv[i] / c2).sqrt() + 1e-8);
            }
        }
        for i in 0..4 {
            assert!((f64::from(p[i]) - want[i]).abs() < 1e-5, "{i}: {} vs {}", p[i], want[i]);
        }
        // With no gradient at all a weight only decays: 2 * (1 - 0.005)^5.
        assert!((f64::from(p[2]) - 2.0 * 0.995f64.powi(5)).abs() < 1e-5);
    }

    #[test]
    fn zero_weight_decay_is_bit_for_bit_plain_adam_and_each_array_has_its_own() {
        let s = AdamStep { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 3, grad_scale: 0.5 };
        let g = [0.3f32, -0.7, 1e-4];
        let (m0, v0) = ([0.01f32, -0.02, 0.0], [1e-4f32, 2e-4, 1e-9]);
        // Plain Adam, written out in f32 the way the kernel computes it.
        let c1 = (f64::from(s.lr) / (1.0 - f64::from(s.beta1).powf(3.0))) as f32;
        let inv = (1.0 / (1.0 - f64::from(s.beta2).powf(3.0)).sqrt()) as f32;
        let plain: Vec<f32> = (0..3)
            .map(|i| {
                let gs = g[i] * s.grad_scale;
                let mi = s.beta1 * m0[i] + (1.0 - s.beta1) * gs;
                let vi = s.beta2 * v0[i] + (1.0 - s.beta2) * gs * gs;
                0.25f32 - c1 * mi / (vi.sqrt() * inv + s.eps)
            })
            .collect();
        let run = |wd: &[f32]| {
            let (mut a, mut b) = ([0.25f32; 3], [0.25f32; 3]);
            let (mut ma, mut va, mut mb, mut vb) = (m0, v0, m0, v0);
            adam_update(&mut [&mut a[..], &mut b[..]], &[&g[..], &g[..]], &mut [&mut ma[..], &mut mb[..]], &mut [&mut va[..], &mut vb[..]], &s, 1.0, wd).unwrap();
            (a, b)
        };
        let (a, b) = run(&[]);
        assert_eq!((a.map(f32::to_bits), b.map(f32::to_bits)), (plain_bits(&plain), plain_bits(&plain)));
        let (a, b) = run(&[0.0, 0.0]);
        assert_eq!((a.map(f32::to_bits), b.map(f32::to_bits)), (plain_bits(&plain), plain_bits(&plain)));
        let (a, b) = run(&[0.0, 2.0]); // only the second array decays
        assert_eq!(a.map(f32::to_bits), plain_bits(&plain));
        let keep = decay_keep(s.lr, 2.0);
        for i in 0..3 {
            assert_eq!(b[i], 0.25f32 * keep - (0.25f32 - plain[i]), "{i}");
        }
        let mut p = [1.0f32];
        let err = adam_update(&mut [&mut p[..]], &[&[1.0f32][..]], &mut [&mut [0.0f32][..]], &mut [&mut [0.0f32][..]], &s, 1.0, &[0.1, 0.1]);
        assert!(err.is_err(), "a decay list of the wrong length is refused");
        let err = adam_update(&mut [&mut p[..]], &[&[1.0f32][..]], &mut [&mut [0.0f32][..]], &mut [&mut [0.0f32][..]], &s, 1.0, &[-0.1]);
        assert!(err.is_err(), "a negative decay is refused");
        assert_eq!(p, [1.0], "a refused call changes nothing");
    }

    fn plain_bits(p: &[f32]) -> [u32; 3] {
        [p[0].to_bits(), p[1].to_bits(), p[2].to_bits()]
    }

    #[test]
    fn ema_is_the_weighted_average_of_the_weights_seen() {
        let n = 37; // longer than a vector and not a multiple of one
        let mut avg: Vec<f32> = (0..n).map(|i| i as f32 * 0.1).collect();
        let mut want: Vec<f64> = avg.iter().map(|&x| f64::from(x)).collect();
        let mut small = [1.0f32, -1.0];
        for t in 0..4 {
            let p: Vec<f32> = (0..n).map(|i| ((i * 7 + t * 3) % 11) as f32 - 5.0).collect();
            ema_update(&mut [&mut avg[..], &mut small[..]], &[&p[..], &[3.0f32, 3.0][..]], 0.9).unwrap();
            for (w, &x) in want.iter_mut().zip(&p) {
                *w = 0.9 * *w + 0.1 * f64::from(x);
            }
        }
        for i in 0..n {
            assert!((f64::from(avg[i]) - want[i]).abs() < 1e-5, "{i}: {} vs {}", avg[i], want[i]);
        }
        let w = 0.9f64.powi(4);
        assert!((f64::from(small[0]) - (w + 3.0 * (1.0 - w))).abs() < 1e-6);
        // decay 1 keeps the average, 0 copies the weights.
        let before = avg.clone();
        ema_update(&mut [&mut avg[..]], &[&vec![9.0f32; n][..]], 1.0).unwrap();
        assert_eq!(avg, before);
        ema_update(&mut [&mut avg[..]], &[&vec![9.0f32; n][..]], 0.0).unwrap();
        assert_eq!(avg, vec![9.0f32; n]);
        assert!(ema_update(&mut [&mut avg[..]], &[&[1.0f32][..]], 0.5).is_err(), "sizes must match");
        assert!(ema_update(&mut [&mut avg[..]], &[], 0.5).is_err(), "lists must pair up");
        assert!(ema_update(&mut [&mut avg[..]], &[&vec![1.0f32; n][..]], 1.5).is_err(), "decay above 1");
        assert!(ema_update(&mut [&mut avg[..]], &[&vec![1.0f32; n][..]], f32::NAN).is_err(), "NaN decay");
        assert_eq!(avg, vec![9.0f32; n], "refused calls change nothing");
    }
}
