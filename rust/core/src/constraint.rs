//! Constraints on what the sampler draws, applied while drawing, not by rejection.
//!
//! A constraint is a set of regular expressions that the whole drawn string must match
//! (all of them: "ends in -ская" and "contains р" are two patterns), plus a length range in
//! characters. It is compiled once into an automaton over the model's vocabulary:
//!
//! 1. each pattern becomes an anchored DFA over UTF-8 bytes (`regex-automata`);
//! 2. their product is explored from the start over the vocabulary's characters (a step
//!    on a character is a step on each of its bytes in every DFA), giving at most
//!    [`MAX_STATES`] product states, each accepting when every DFA accepts at the end of
//!    input;
//! 3. for every state and every number `r` of characters still to come, whether an
//!    accepting state can be reached in exactly `r` characters (`reach`, a bitset per
//!    state, computed backwards from the accepting states up to the longest length).
//!
//! While sampling, a row in state `s` that has drawn `len` characters may draw character
//! `c` only if the state after `c` can still end accepted within the length range, and the
//! end marker only if `s` accepts and `len` is in the range ([`Constraint::allowed`]). The
//! sampler then draws from the model's distribution renormalised over the allowed ids, step
//! by step. Every finished string meets the constraint and no row can get stuck; but this is
//! *local* renormalisation: a string's probability is the model's divided, at each step, by
//! the mass left allowed — not the model's distribution conditioned on the constraint (that
//! would need, for every prefix, the probability that the model's continuation meets it).
//! Prefixes whose continuations the model finds unlikely are over-drawn. See the Python
//! documentation of constrained sampling for the measured size of this bias.

use std::collections::HashMap;

use regex_automata::dfa::{dense, Automaton, StartKind};
use regex_automata::util::{primitives::StateID, start};
use regex_automata::{Anchored, MatchKind};

use crate::error::{KernelError, Result};

/// The most product states a constraint may have (each costs one row of `vocab` transitions).
pub const MAX_STATES: usize = 100_000;
/// The longest string length a constraint can reason about.
pub const MAX_LEN: usize = 1024;

const DEAD: u32 = u32::MAX;

/// A compiled constraint: the product automaton over the vocabulary (see the module docs).
#[derive(Debug, Clone)]
pub struct Constraint {
    vocab: usize,
    end_id: usize,
    /// `next[s * vocab + id]`: the state after drawing `id` in state `s`, or `DEAD`.
    next: Vec<u32>,
    accepting: Vec<bool>,
    /// `reach[s * words + r / 64]` bit `r % 64`: an accepting state is `r` characters away.
    reach: Vec<u64>,
    words: usize,
    min_len: usize,
    max_len: usize,
}

/// Where a row is: its automaton state and how many characters it has drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub state: u32,
    pub len: usize,
}

impl Constraint {
    /// Compiles `patterns` (every one must match the whole string) and the length range
    /// `min_len..=max_len` (characters) over a vocabulary whose id `i` stands for the
    /// character `chars[i]` (`None` for the markers, which are never drawn as text; the
    /// end marker `end_id` finishes a string).
    pub fn new(chars: &[Option<char>], end_id: usize, patterns: &[&str], min_len: usize, max_len: usize) -> Result<Self> {
        let vocab = chars.len();
        if end_id >= vocab {
            return Err(KernelError::Value(format!("end id {end_id} is outside 0..{vocab} (the vocabulary)")));
        }
        if max_len > MAX_LEN {
            return Err(KernelError::Value(format!("a constrained length of {max_len} is more than the {MAX_LEN} supported")));
        }
        if min_len > max_len {
            return Err(KernelError::Value(format!("min_len {min_len} is more than max_len {max_len}")));
        }
        let dfas = patterns.iter().map(|p| build_dfa(p)).collect::<Result<Vec<_>>>()?;
        let starts = dfas
            .iter()
            .map(|d| d.start_state(&start::Config::new().anchored(Anchored::Yes)))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| KernelError::Value(format!("the constraint cannot start: {e}")))?;
        let mut utf8: Vec<Vec<u8>> = Vec::with_capacity(vocab);
        for c in chars {
            utf8.push(c.map(|c| c.to_string().into_bytes()).unwrap_or_default());
        }

        // Explore the product automaton breadth first from the start.
        let mut ids: HashMap<Vec<StateID>, u32> = HashMap::new();
        let mut states: Vec<Vec<StateID>> = vec![starts.clone()];
        ids.insert(starts, 0);
        let mut next: Vec<u32> = Vec::new();
        let mut accepting = Vec::new();
        let mut s = 0;
        while s < states.len() {
            let current = states[s].clone();
            accepting.push(dfas.iter().zip(&current).all(|(d, &q)| d.is_match_state(d.next_eoi_state(q))));
            for bytes in &utf8 {
                if bytes.is_empty() {
                    next.push(DEAD);
                    continue;
                }
                let mut to = Vec::with_capacity(dfas.len());
                let mut dead = false;
                for (d, &q) in dfas.iter().zip(&current) {
                    let mut q = q;
                    for &b in bytes {
                        q = d.next_state(q, b);
                    }
                    if d.is_quit_state(q) {
                        return Err(KernelError::Value(
                            "the regular expression uses a feature the sampler cannot follow character by character (e.g. a Unicode word boundary)"
                                .into(),
                        ));
                    }
                    if d.is_dead_state(q) {
                        dead = true;
                        break;
                    }
                    to.push(q);
                }
                if dead {
                    next.push(DEAD);
                    continue;
                }
                let id = match ids.get(&to) {
                    Some(&id) => id,
                    None => {
                        if states.len() >= MAX_STATES {
                            return Err(KernelError::Value(format!(
                                "the constraint needs more than {MAX_STATES} automaton states: simplify the patterns"
                            )));
                        }
                        let id = states.len() as u32;
                        ids.insert(to.clone(), id);
                        states.push(to);
                        id
                    }
                };
                next.push(id);
            }
            s += 1;
        }

        // reach[s][r]: an accepting state is exactly r characters from s.
        let n = states.len();
        let words = (max_len + 1).div_ceil(64);
        let mut reach = vec![0u64; n * words];
        for (s, &acc) in accepting.iter().enumerate() {
            if acc {
                reach[s * words] |= 1;
            }
        }
        for r in 1..=max_len {
            let (w, bit) = ((r - 1) / 64, (r - 1) % 64);
            for s in 0..n {
                let ok = next[s * vocab..(s + 1) * vocab]
                    .iter()
                    .any(|&t| t != DEAD && reach[t as usize * words + w] >> bit & 1 == 1);
                if ok {
                    reach[s * words + r / 64] |= 1 << (r % 64);
                }
            }
        }
        let c = Constraint { vocab, end_id, next, accepting, reach, words, min_len, max_len };
        if !c.can_finish(0, 0, min_len, max_len) {
            return Err(KernelError::Value(format!(
                "no string of {min_len} to {max_len} characters made of the model's characters meets the constraint"
            )));
        }
        Ok(c)
    }

    /// The longest string (in characters) the constraint allows.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The number of product states.
    pub fn states(&self) -> usize {
        self.accepting.len()
    }

    /// Whether a row in `state` can end accepted after between `lo` and `hi` more characters.
    fn can_finish(&self, state: u32, len: usize, lo: usize, hi: usize) -> bool {
        if hi < len {
            return false;
        }
        let (lo, hi) = (lo.saturating_sub(len), (hi - len).min(self.max_len));
        if lo > hi {
            return false;
        }
        // Any bit lo..=hi of the state's bitset, a word at a time.
        let row = &self.reach[state as usize * self.words..(state as usize + 1) * self.words];
        (lo / 64..=hi / 64).any(|w| {
            let from = if w == lo / 64 { lo % 64 } else { 0 };
            let to = if w == hi / 64 { hi % 64 } else { 63 };
            let mask = (u64::MAX >> (63 - to)) & (u64::MAX << from);
            row[w] & mask != 0
        })
    }

    /// Where a row starts, before it has drawn anything.
    pub fn start(&self) -> Position {
        Position { state: 0, len: 0 }
    }

    /// The position after drawing `id`, or an error when `id` breaks the constraint (a
    /// prefix the constraint cannot extend).
    pub fn advance(&self, at: Position, id: usize) -> Result<Position> {
        let to = self.next.get(at.state as usize * self.vocab + id).copied().unwrap_or(DEAD);
        if to == DEAD || !self.can_finish(to, at.len + 1, self.min_len, self.max_len) {
            return Err(KernelError::Value("the prefix cannot be extended to a string that meets the constraint".into()));
        }
        Ok(Position { state: to, len: at.len + 1 })
    }

    /// `allowed[id]` for every id of the vocabulary at `at`: whether drawing it keeps the
    /// constraint satisfiable (the end marker: whether the string may end here).
    pub fn allowed(&self, at: Position, allowed: &mut [bool]) {
        let row = &self.next[at.state as usize * self.vocab..(at.state as usize + 1) * self.vocab];
        for (a, &to) in allowed.iter_mut().zip(row) {
            *a = to != DEAD && self.can_finish(to, at.len + 1, self.min_len, self.max_len);
        }
        allowed[self.end_id] = self.accepting[at.state as usize] && (self.min_len..=self.max_len).contains(&at.len);
    }

    /// Whether a whole string of ids (no markers) meets the constraint.
    pub fn accepts(&self, ids: &[usize]) -> bool {
        let mut at = self.start();
        for &id in ids {
            match self.next.get(at.state as usize * self.vocab + id) {
                Some(&to) if to != DEAD => at = Position { state: to, len: at.len + 1 },
                _ => return false,
            }
        }
        self.accepting[at.state as usize] && (self.min_len..=self.max_len).contains(&at.len)
    }
}

fn build_dfa(pattern: &str) -> Result<dense::DFA<Vec<u32>>> {
    dense::Builder::new()
        .configure(dense::Config::new().start_kind(StartKind::Anchored).match_kind(MatchKind::All))
        .build(&format!("(?:{pattern})"))
        .map_err(|e| {
            // The innermost cause says what is wrong (e.g. the parser's "unclosed group").
            let mut cause: &dyn std::error::Error = &e;
            while let Some(inner) = cause.source() {
                cause = inner;
            }
            let why = cause.to_string();
            KernelError::Value(format!("not a valid regular expression {pattern:?}: {why}"))
        })
}
