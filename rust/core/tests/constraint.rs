//! The constraint automaton against brute force: over a small alphabet, every string up to
//! a length is checked with `regex-automata`'s general-purpose engine (`meta::Regex`, a
//! different engine from the DFAs the constraint is built from), and every "allowed" mask
//! against the existence of an accepted completion.

use charrnn_core::constraint::{Constraint, Position};
use regex_automata::meta::Regex;

const ALPHABET: [char; 3] = ['a', 'b', 'в'];
const START: usize = 0;
const END: usize = 1;

fn chars() -> Vec<Option<char>> {
    let mut v = vec![None, None];
    v.extend(ALPHABET.iter().map(|&c| Some(c)));
    v
}

/// All strings over the alphabet (as vocabulary ids) of length 0..=max.
fn all_strings(max: usize) -> Vec<Vec<usize>> {
    let mut out = vec![vec![]];
    let mut layer = vec![vec![]];
    for _ in 0..max {
        let mut next = Vec::new();
        for s in &layer {
            for id in 2..2 + ALPHABET.len() {
                let mut t: Vec<usize> = s.clone();
                t.push(id);
                next.push(t);
            }
        }
        out.extend(next.iter().cloned());
        layer = next;
    }
    out
}

fn text(ids: &[usize]) -> String {
    ids.iter().map(|&i| ALPHABET[i - 2]).collect()
}

fn oracle(patterns: &[&str], min: usize, max: usize, s: &[usize]) -> bool {
    let t = text(s);
    let n = s.len();
    (min..=max).contains(&n) && patterns.iter().all(|p| Regex::new(&format!("^(?:{p})$")).unwrap().is_match(&t))
}

const CASES: &[(&[&str], usize, usize)] = &[
    (&["a.*"], 0, 6),
    (&[".*b"], 2, 5),
    (&["(ab)*"], 0, 6),
    (&[".*в.*", "a.*"], 1, 4),
    (&["[ab]*в"], 3, 3),
    (&["(aa)*"], 3, 6),
    (&[".*"], 0, 0),
    (&["a|bbbb"], 2, 6),
];

#[test]
fn accepts_exactly_the_strings_the_regex_engine_matches() {
    for &(patterns, min, max) in CASES {
        let c = Constraint::new(&chars(), END, patterns, min, max).unwrap();
        for s in all_strings(7) {
            assert_eq!(c.accepts(&s), oracle(patterns, min, max, &s), "{patterns:?} {min}..={max} on {:?}", text(&s));
        }
    }
}

#[test]
fn allows_an_id_exactly_when_some_accepted_string_continues_with_it() {
    let strings = all_strings(7);
    for &(patterns, min, max) in CASES {
        let c = Constraint::new(&chars(), END, patterns, min, max).unwrap();
        let accepted: Vec<&Vec<usize>> = strings.iter().filter(|s| oracle(patterns, min, max, s)).collect();
        // Walk every prefix of every string the constraint keeps alive.
        for prefix in strings.iter().filter(|s| s.len() <= max) {
            let mut at = c.start();
            let mut alive = true;
            for &id in prefix.iter() {
                match c.advance(at, id) {
                    Ok(p) => at = p,
                    Err(_) => {
                        alive = false;
                        break;
                    }
                }
            }
            let extendable = accepted.iter().any(|s| s.starts_with(prefix));
            assert_eq!(alive, extendable, "{patterns:?}: prefix {:?}", text(prefix));
            if !alive {
                continue;
            }
            let mut allowed = vec![false; 2 + ALPHABET.len()];
            c.allowed(at, &mut allowed);
            assert!(!allowed[START], "the start marker is never drawn");
            assert_eq!(allowed[END], accepted.contains(&prefix), "{patterns:?}: end after {:?}", text(prefix));
            for id in 2..2 + ALPHABET.len() {
                let want = accepted.iter().any(|s| s.len() > prefix.len() && s.starts_with(prefix) && s[prefix.len()] == id);
                assert_eq!(allowed[id], want, "{patterns:?}: {:?} then {}", text(prefix), ALPHABET[id - 2]);
            }
            assert!(allowed.iter().any(|&a| a), "a live row always has something to draw");
        }
    }
}

#[test]
fn a_constraint_no_string_meets_is_an_error_not_a_loop() {
    for (patterns, min, max) in [(&["a"][..], 2, 5), (&["x.*"][..], 0, 9), (&["a.*", "b.*"][..], 0, 9), (&[".*"][..], 4, 3)] {
        let err = Constraint::new(&chars(), END, patterns, min, max).unwrap_err();
        assert!(matches!(err, charrnn_core::KernelError::Value(_)), "{patterns:?}: {err:?}");
    }
}

#[test]
fn a_bad_or_exploding_pattern_is_an_error() {
    assert!(Constraint::new(&chars(), END, &["(a"], 0, 5).is_err());
    // The n-th character from the end must be 'a': 2^18 states, more than allowed.
    let err = Constraint::new(&chars(), END, &["[ab]*a[ab]{17}"], 0, 40).unwrap_err();
    assert!(err.to_string().contains("automaton states"), "{err}");
}

#[test]
fn a_dead_prefix_is_refused() {
    let c = Constraint::new(&chars(), END, &["a.*"], 0, 5).unwrap();
    assert!(c.advance(Position { state: 0, len: 0 }, 3).is_err(), "'b' cannot start a string of a.*");
    assert!(c.advance(c.start(), 2).is_ok());
}

#[test]
fn lengths_across_the_64_bit_words_of_the_length_sets() {
    let ab = |n: usize| -> Vec<usize> { (0..n).map(|i| 2 + i % 2).collect() };
    let c = Constraint::new(&chars(), END, &["(ab)*"], 60, 130).unwrap();
    for (n, want) in [(58, false), (60, true), (61, false), (64, true), (66, true), (128, true), (130, true), (132, false)] {
        assert_eq!(c.accepts(&ab(n)), want, "(ab)* of {n} characters");
    }
    let c = Constraint::new(&chars(), END, &["a*"], 63, 66).unwrap();
    let mut allowed = vec![false; 5];
    for (len, end, more) in [(62, false, true), (63, true, true), (65, true, true), (66, true, false)] {
        let at = (0..len).try_fold(c.start(), |at, _| c.advance(at, 2)).unwrap();
        c.allowed(at, &mut allowed);
        assert_eq!((allowed[END], allowed[2]), (end, more), "after {len} a's");
    }
}
