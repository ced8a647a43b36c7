//! A character n-gram model's next-symbol distribution (interpolated Kneser-Ney, fitted in
//! Python by `charrnn.ngram`), and its mixture with the network's softmax for sampling.
//!
//! The tables are the fitted model's, order by order: the sorted `keys` of the k-grams
//! (`id of the context (k-1)-gram * V + last symbol`), each k-gram's interpolated share
//! `alpha`, and per context the mass `gamma` its discounts passed down. The distribution
//! after a history is built from order 1 up:
//!
//! ```text
//! P_0 = base (uniform over the outcomes)
//! P_k = gamma_k[context] * P_{k-1},  plus alpha of every k-gram seen after that context
//! ```
//!
//! stopping at the first context never seen or longer than the history: the same
//! operations, in the same order, as `NGram._next_probs`, so the result is bit-identical.

use std::sync::Arc;

use crate::error::{KernelError, Result};

/// The k-grams of one order.
#[derive(Debug, Clone)]
struct Order {
    /// Sorted, distinct: `context id * V + symbol`.
    keys: Vec<i64>,
    /// `alpha[i]`: what k-gram `i` adds to the probability of its last symbol.
    alpha: Vec<f64>,
    /// `gamma[c]`: the weight of the order below after context `c` (one per
    /// (k-1)-gram; order 1 has the one empty context).
    gamma: Vec<f64>,
}

/// A fitted n-gram model, as tables (see the module documentation).
#[derive(Debug, Clone)]
pub struct NGramTable {
    vocab: usize,
    base: Vec<f64>,
    orders: Vec<Order>,
}

impl NGramTable {
    /// Checks the tables against each other: `base` has `vocab` values, each order's keys
    /// are sorted and distinct and name a context of the order below and a symbol of the
    /// vocabulary, `alpha` has one value per key, `gamma` one per context; every
    /// probability is finite and non-negative.
    pub fn new(vocab: usize, base: Vec<f64>, orders: Vec<(Vec<i64>, Vec<f64>, Vec<f64>)>) -> Result<Self> {
        if vocab == 0 {
            return Err(KernelError::Value("an n-gram model needs a vocabulary of at least one id".into()));
        }
        if base.len() != vocab {
            return Err(KernelError::shape("n-gram base distribution", [vocab], [base.len()]));
        }
        if orders.is_empty() {
            return Err(KernelError::Value("an n-gram model needs at least one order".into()));
        }
        let probability = |x: &f64| x.is_finite() && *x >= 0.0;
        if !base.iter().all(probability) {
            return Err(KernelError::Value("the n-gram base distribution holds a negative or non-finite value".into()));
        }
        let mut contexts = 1usize; // order 1: the one empty context
        let mut checked = Vec::with_capacity(orders.len());
        for (k, (keys, alpha, gamma)) in orders.into_iter().enumerate() {
            let k = k + 1;
            if alpha.len() != keys.len() {
                return Err(KernelError::shape(format!("order-{k} alpha"), [keys.len()], [alpha.len()]));
            }
            if gamma.len() != contexts {
                return Err(KernelError::shape(format!("order-{k} gamma"), [contexts], [gamma.len()]));
            }
            let limit = i64::try_from(contexts as u128 * vocab as u128).unwrap_or(i64::MAX);
            if !keys.windows(2).all(|w| w[0] < w[1]) || keys.first().is_some_and(|&x| x < 0) || keys.last().is_some_and(|&x| x >= limit) {
                return Err(KernelError::Value(format!(
                    "the order-{k} n-gram keys must be sorted, distinct and in 0..{limit} ({contexts} contexts x {vocab} ids)"
                )));
            }
            if !alpha.iter().all(probability) || !gamma.iter().all(probability) {
                return Err(KernelError::Value(format!("the order-{k} n-gram weights hold a negative or non-finite value")));
            }
            contexts = keys.len();
            checked.push(Order { keys, alpha, gamma });
        }
        Ok(NGramTable { vocab, base, orders: checked })
    }

    /// The vocabulary size (ids `0..vocab`).
    pub fn vocab(&self) -> usize {
        self.vocab
    }

    /// n: the longest n-gram (each symbol is predicted from the `n - 1` before it).
    pub fn order(&self) -> usize {
        self.orders.len()
    }

    /// The id of the k-gram `prefix id * vocab + symbol` at order `k` (None: never seen).
    fn find(&self, k: usize, prefix: usize, symbol: usize) -> Option<usize> {
        self.orders[k - 1].keys.binary_search(&((prefix * self.vocab + symbol) as i64)).ok()
    }

    /// Where `history` (the start id first, then the symbols so far) stands in the tables.
    pub fn context(&self, history: &[usize]) -> Context {
        let mut context = Context { ids: vec![None; self.order() - 1] };
        for &s in &history[history.len().saturating_sub(self.order() - 1)..] {
            self.push(&mut context, s);
        }
        context
    }

    /// Moves `context` on by one symbol: the k-gram ending with `symbol` is the (k-1)-gram
    /// that ended before it followed by `symbol` (one binary search per order).
    pub fn push(&self, context: &mut Context, symbol: usize) {
        for k in (1..=context.ids.len()).rev() {
            context.ids[k - 1] = if k == 1 { self.find(1, 0, symbol) } else { context.ids[k - 2].and_then(|c| self.find(k, c, symbol)) };
        }
    }

    /// Writes into `out` (`vocab` values) the distribution of the next symbol after
    /// `history` (the start id first, then the symbols so far; only its last `n - 1` count).
    pub fn next_probs(&self, history: &[usize], out: &mut [f64]) -> Result<()> {
        if out.len() != self.vocab {
            return Err(KernelError::shape("n-gram distribution", [self.vocab], [out.len()]));
        }
        if let Some(bad) = history.iter().find(|&&s| s >= self.vocab) {
            return Err(KernelError::Value(format!("history contains id {bad}, outside 0..{} (the vocabulary)", self.vocab)));
        }
        self.probs_after(&self.context(history), out);
        Ok(())
    }

    /// The distribution of the next symbol in `context` (of this table, holding vocabulary
    /// ids), into a buffer of `vocab` values.
    pub(crate) fn probs_after(&self, context: &Context, out: &mut [f64]) {
        let v = self.vocab as i64;
        out.copy_from_slice(&self.base);
        let mut at = 0usize; // the context id of order k: order 1 has the one empty context
        for (k, order) in self.orders.iter().enumerate().map(|(i, o)| (i + 1, o)) {
            if k > 1 {
                // The (k-1)-gram of the last k-1 symbols; none when the history stops at
                // the start before it, or when it was never seen: every higher order only
                // passes P down.
                match context.ids[k - 2] {
                    Some(c) => at = c,
                    None => break,
                }
            }
            let g = order.gamma[at];
            for p in out.iter_mut() {
                *p *= g;
            }
            let lo = order.keys.partition_point(|&x| x < at as i64 * v);
            let hi = order.keys.partition_point(|&x| x < (at as i64 + 1) * v);
            for (key, alpha) in order.keys[lo..hi].iter().zip(&order.alpha[lo..hi]) {
                out[(key % v) as usize] += alpha;
            }
        }
    }
}

/// Where a history stands in an n-gram model's tables: per order k = 1 .. n-1 the id of
/// the k-gram its last k symbols make (None: never seen, or the history is shorter). It is
/// what the next symbol's distribution needs, and moves on one symbol at a time
/// (`NGramTable::push`).
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    ids: Vec<Option<usize>>,
}

/// An n-gram model mixed with a network: at position `t` of a name (0: its first character)
/// the next symbol has probability `w[t] * P_net + (1 - w[t]) * P_ngram`, positions from
/// `weights.len() - 1` on sharing the last weight.
#[derive(Debug, Clone)]
pub struct Mixture {
    pub ngram: Arc<NGramTable>,
    weights: Vec<f64>,
}

impl Mixture {
    /// `weights` (at least one, each in [0, 1]) on the network, one per position.
    pub fn new(ngram: impl Into<Arc<NGramTable>>, weights: Vec<f64>) -> Result<Self> {
        let ngram = ngram.into();
        if weights.is_empty() {
            return Err(KernelError::Value("a mixture needs at least one weight".into()));
        }
        if let Some(bad) = weights.iter().find(|w| !(0.0..=1.0).contains(*w)) {
            return Err(KernelError::Value(format!("mixture weights must be in [0, 1], got {bad}")));
        }
        Ok(Mixture { ngram, weights })
    }

    /// The weight on the network at `position`.
    pub fn weight(&self, position: usize) -> f64 {
        self.weights[position.min(self.weights.len() - 1)]
    }

    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// Checks that the mixture fits a network of `vocab` ids (with categories, or not).
    pub fn check_model(&self, vocab: usize, conditional: bool) -> Result<()> {
        if conditional {
            return Err(KernelError::Value("a mixture with an n-gram model takes a model without categories".into()));
        }
        if self.ngram.vocab != vocab {
            return Err(KernelError::Value(format!(
                "the mixture's n-gram has {} ids but the network's vocabulary has {vocab}",
                self.ngram.vocab
            )));
        }
        Ok(())
    }

    /// The natural logs of the mixed distribution at `position` in `context` (of this
    /// mixture's n-gram), from the network's `logits`, into `out` (as f32 logits:
    /// softmax(out) is the mixture); the n-gram's distribution goes through `scratch`.
    /// Returns false, touching nothing, when the weight there is 1: the network's logits
    /// are then the mixture's.
    pub(crate) fn mixed_logits(&self, logits: &[f32], context: &Context, position: usize, out: &mut Vec<f32>, scratch: &mut Vec<f64>) -> bool {
        let w = self.weight(position);
        if w == 1.0 {
            return false;
        }
        scratch.resize(self.ngram.vocab, 0.0);
        self.ngram.probs_after(context, scratch);
        out.clear();
        if w == 0.0 {
            out.extend(scratch.iter().map(|&p| p.ln() as f32));
            return true;
        }
        let max = logits.iter().copied().filter(|z| !z.is_nan()).fold(f32::NEG_INFINITY, f32::max);
        let total: f64 = logits.iter().filter(|z| !z.is_nan()).map(|&z| f64::from(z - max).exp()).sum();
        out.extend(logits.iter().zip(scratch.iter()).map(|(&z, &p)| {
            let net = if z.is_nan() { 0.0 } else { f64::from(z - max).exp() / total };
            (w * net + (1.0 - w) * p).ln() as f32
        }));
        true
    }

    /// The natural log of the mixed probability of every id at `position` in `context`,
    /// from the network's `logits`, into `out` (f64).
    pub(crate) fn mixed_log_probs(&self, logits: &[f32], context: &Context, position: usize, out: &mut Vec<f64>, scratch: &mut Vec<f64>) {
        let w = self.weight(position);
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let lse = f64::from(max) + logits.iter().map(|&x| f64::from(x - max).exp()).sum::<f64>().ln();
        out.clear();
        if w == 1.0 {
            out.extend(logits.iter().map(|&z| f64::from(z) - lse));
            return;
        }
        scratch.resize(self.ngram.vocab, 0.0);
        self.ngram.probs_after(context, scratch);
        out.extend(logits.iter().zip(scratch.iter()).map(|(&z, &p)| (w * (f64::from(z) - lse).exp() + (1.0 - w) * p).ln()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bigram over ids 0..4 (0: start, 3: end), fitted by hand on "1 2", "1 1":
    /// order 1 keys are the symbols, order 2 keys `context * 4 + symbol`.
    fn tiny() -> NGramTable {
        let base = vec![0.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0];
        // Order 1: symbols 0 (start, never an outcome), 1, 2, 3; one empty context.
        let o1 = (vec![0, 1, 2, 3], vec![0.0, 0.5, 0.2, 0.2], vec![0.1]);
        // Order 2: after 0 -> 1; after 1 -> 1, 2, 3; after 2 -> 3. Contexts are the ids 0..4 of order 1.
        let o2 = (vec![1, 4 + 1, 4 + 2, 4 + 3, 8 + 3], vec![0.6, 0.2, 0.2, 0.2, 0.5], vec![0.4, 0.4, 0.5, 1.0]);
        NGramTable::new(4, base, vec![o1, o2]).unwrap()
    }

    fn reference(t: &NGramTable, history: &[usize]) -> Vec<f64> {
        // The recursion written out for a bigram: P_1 = g1 * base + alpha1, then order 2.
        let mut p: Vec<f64> = t.base.iter().map(|b| b * t.orders[0].gamma[0]).collect();
        for (key, a) in t.orders[0].keys.iter().zip(&t.orders[0].alpha) {
            p[*key as usize] += a;
        }
        if let Some(&last) = history.last() {
            let g = t.orders[1].gamma[last];
            p.iter_mut().for_each(|x| *x *= g);
            for (key, a) in t.orders[1].keys.iter().zip(&t.orders[1].alpha) {
                if *key as usize / 4 == last {
                    p[*key as usize % 4] += a;
                }
            }
        }
        p
    }

    #[test]
    fn next_probs_follow_the_recursion_order_by_order() {
        let t = tiny();
        let mut out = vec![0.0; 4];
        for history in [&[][..], &[0], &[0, 1], &[0, 1, 2], &[0, 2, 1]] {
            t.next_probs(history, &mut out).unwrap();
            assert_eq!(out, reference(&t, history), "history {history:?}");
        }
    }

    #[test]
    fn a_context_moved_on_symbol_by_symbol_is_the_one_found_from_the_history() {
        let t = tiny();
        let history = [0, 1, 2, 1, 1, 3, 2, 2, 0, 1];
        let mut moving = t.context(&[]);
        for end in 1..=history.len() {
            t.push(&mut moving, history[end - 1]);
            assert_eq!(moving, t.context(&history[..end]), "after {:?}", &history[..end]);
        }
        assert_eq!(t.context(&[0, 1]).ids, vec![Some(1)]); // order 2's context: the unigram "1"
        assert_eq!(t.context(&[]).ids, vec![None]);
    }

    #[test]
    fn bad_tables_and_histories_are_errors_not_panics() {
        let base = vec![0.25; 4];
        assert!(NGramTable::new(4, vec![0.5; 3], vec![(vec![1], vec![0.5], vec![0.5])]).is_err());
        assert!(NGramTable::new(4, base.clone(), vec![]).is_err());
        assert!(NGramTable::new(4, base.clone(), vec![(vec![2, 1], vec![0.5, 0.5], vec![0.5])]).is_err());
        assert!(NGramTable::new(4, base.clone(), vec![(vec![4], vec![0.5], vec![0.5])]).is_err());
        assert!(NGramTable::new(4, base.clone(), vec![(vec![1], vec![0.5, 0.1], vec![0.5])]).is_err());
        assert!(NGramTable::new(4, base.clone(), vec![(vec![1], vec![f64::NAN], vec![0.5])]).is_err());
        assert!(NGramTable::new(4, base, vec![(vec![1], vec![0.5], vec![0.5, 0.5])]).is_err());
        let mut out = vec![0.0; 4];
        assert!(tiny().next_probs(&[0, 7], &mut out).is_err());
        assert!(tiny().next_probs(&[0], &mut [0.0; 3]).is_err());
        assert!(Mixture::new(tiny(), vec![]).is_err());
        assert!(Mixture::new(tiny(), vec![0.5, 1.5]).is_err());
        assert!(Mixture::new(tiny(), vec![f64::NAN]).is_err());
        assert!(Mixture::new(tiny(), vec![0.5]).unwrap().check_model(5, false).is_err());
        assert!(Mixture::new(tiny(), vec![0.5]).unwrap().check_model(4, true).is_err());
        assert!(Mixture::new(tiny(), vec![0.5]).unwrap().check_model(4, false).is_ok());
    }

    #[test]
    fn mixed_logits_mix_the_softmax_and_the_counts_by_position() {
        let m = Mixture::new(tiny(), vec![0.0, 0.25, 1.0]).unwrap();
        let logits = [0.0f32, 1.0, -1.0, 0.5];
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        let at = |h: &[usize]| m.ngram.context(h);
        assert!(!m.mixed_logits(&logits, &at(&[0, 1, 1]), 5, &mut out, &mut scratch), "weight 1: the network's own logits");
        assert!(m.mixed_logits(&logits, &at(&[0, 1]), 1, &mut out, &mut scratch));
        let z: f64 = logits.iter().map(|&x| f64::from(x).exp()).sum();
        let counts = reference(&tiny(), &[0, 1]);
        for (i, &x) in out.iter().enumerate() {
            let want = 0.25 * f64::from(logits[i]).exp() / z + 0.75 * counts[i];
            assert!((f64::from(x).exp() - want).abs() < 1e-6, "id {i}");
        }
        let mut lp = Vec::new();
        m.mixed_log_probs(&logits, &at(&[0, 1]), 1, &mut lp, &mut scratch);
        assert!((lp.iter().map(|x| x.exp()).sum::<f64>() - 1.0).abs() < 1e-12);
        m.mixed_log_probs(&logits, &at(&[0]), 0, &mut lp, &mut scratch);
        let counts = reference(&tiny(), &[0]);
        assert!(lp.iter().zip(&counts).all(|(a, b)| (a.exp() - b).abs() < 1e-15));
    }
}
