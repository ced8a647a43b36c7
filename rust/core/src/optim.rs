//! Adam with global gradient-norm clipping, fused into one pass over each parameter (the
//! Python loop would make ~10 passes with a temporary array each).

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
    /// One fused Adam update of a parameter array with its gradient and moments.
    pub fn adam_update_slice(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], scale: f32, b1: f32, b2: f32, step_size: f32, inv_sqrt_c2: f32, eps: f32) {
        for (((pi, &gi), mi), vi) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            let gs = gi * scale;
            *mi = b1 * *mi + (1.0 - b1) * gs;
            *vi = b2 * *vi + (1.0 - b2) * gs * gs;
            *pi -= step_size * *mi / ((*vi).sqrt() * inv_sqrt_c2 + eps);
        }
    }
}

/// Updates every parameter in place. `factor` is the clip factor (see `clip_factor`).
pub fn adam_update(params: &mut [&mut [f32]], grads: &[&[f32]], m: &mut [&mut [f32]], v: &mut [&mut [f32]], s: &AdamStep, factor: f32) -> Result<()> {
    if grads.len() != params.len() || m.len() != params.len() || v.len() != params.len() {
        return Err(KernelError::Value("params, grads and both moments must be lists of the same length".into()));
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
        adam_update_slice(params[i], grads[i], m[i], v[i], scale, s.beta1, s.beta2, step_size, inv_sqrt_c2, s.eps);
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
        adam_update(&mut [&mut p[..]], &[&g[..]], &mut [&mut m[..]], &mut [&mut v[..]], &s, factor).unwrap();
        for (i, (&p0, &g0)) in [0.5f64, -1.0, 2.0].iter().zip(&[0.1f64, -0.3, 0.05]).enumerate() {
            let gs = g0 * 2.0 * f64::from(factor);
            let (mm, vv) = (0.1 * gs, 0.001 * gs * gs);
            let want = p0 - 0.01 * (mm / 0.1) / ((vv / 0.001).sqrt() + 1e-8);
            assert!((f64::from(p[i]) - want).abs() < 1e-6, "{i}: {} vs {want}", p[i]);
        }
        assert_eq!(clip_factor(0.3, Some(0.5)), 1.0);
        assert_eq!(clip_factor(3.0, None), 1.0);
    }
}
