//! A small seeded mutation fuzzer for the parsers' tests (feature `fuzz`, used from
//! dev-dependencies only): it mutates a corpus of valid inputs — flipped and inserted bytes,
//! cuts, repeated and swapped slices, spliced corpus entries and tokens from a dictionary —
//! and feeds each to a check that must not panic. Errors are fine; a panic fails with the
//! input that caused it and the seed that reproduces it.
//!
//! Runs are bounded by an iteration count, so a test takes the same time on any machine.
//! `STORMWATCH_FUZZ_ITERATIONS` raises it for a longer run and `STORMWATCH_FUZZ_SEED` picks
//! another sequence (see docs/failure-behaviour.md).

use std::panic::{AssertUnwindSafe, catch_unwind};

/// How many inputs a target gets by default.
pub const DEFAULT_ITERATIONS: usize = 2_000;

/// One mutation of `input`, using `corpus` and `dictionary` as material.
pub fn mutate(
    input: &[u8],
    corpus: &[Vec<u8>],
    dictionary: &[&str],
    rng: &mut fastrand::Rng,
) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.usize(1..=4) {
        let len = out.len();
        match rng.u8(0..7) {
            0 if len > 0 => {
                let i = rng.usize(..len);
                out[i] ^= 1 << rng.u8(0..8);
            }
            1 => {
                let i = rng.usize(..=len);
                out.insert(i, rng.u8(..));
            }
            2 if len > 0 => out.truncate(rng.usize(..len)),
            3 if len > 1 => {
                // Repeat a slice (huge numbers, deep nesting, long lines).
                let a = rng.usize(..len);
                let b = rng.usize(a..=len.min(a + 64));
                let copy = out[a..b].to_vec();
                for _ in 0..rng.usize(1..=8) {
                    let at = rng.usize(a..=out.len());
                    out.splice(at..at, copy.iter().copied());
                }
            }
            4 if !dictionary.is_empty() => {
                let token = dictionary[rng.usize(..dictionary.len())].as_bytes();
                let i = rng.usize(..=len);
                out.splice(i..i, token.iter().copied());
            }
            5 if !corpus.is_empty() => {
                // Splice part of another corpus entry in.
                let other = &corpus[rng.usize(..corpus.len())];
                if !other.is_empty() {
                    let a = rng.usize(..other.len());
                    let b = rng.usize(a..=other.len());
                    let i = rng.usize(..=len);
                    out.splice(i..i, other[a..b].iter().copied());
                }
            }
            6 if len > 1 => {
                let (a, b) = (rng.usize(..len), rng.usize(..len));
                out.swap(a, b);
            }
            _ => out.push(b'\n'),
        }
    }
    out
}

/// Feeds `check` every corpus entry, then mutations of them; panics (failing the test)
/// with the input and the reproducing seed when `check` panics.
pub fn run(target: &str, corpus: &[Vec<u8>], dictionary: &[&str], mut check: impl FnMut(&[u8])) {
    let env = |name: &str| std::env::var(name).ok();
    let iterations = env("STORMWATCH_FUZZ_ITERATIONS")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(DEFAULT_ITERATIONS);
    let seed = env("STORMWATCH_FUZZ_SEED")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0x5709_3A7C);
    let mut rng = fastrand::Rng::with_seed(seed);
    assert!(!corpus.is_empty(), "{target}: empty corpus");
    let inputs = corpus.iter().cloned().chain((0..iterations).map(|_| {
        let base = &corpus[rng.usize(..corpus.len())];
        mutate(base, corpus, dictionary, &mut rng)
    }));
    for (i, input) in inputs.enumerate() {
        if catch_unwind(AssertUnwindSafe(|| check(&input))).is_err() {
            let shown = String::from_utf8_lossy(&input[..input.len().min(2_000)]).into_owned();
            panic!("{target}: input #{i} panicked (STORMWATCH_FUZZ_SEED={seed}):\n{shown:?}");
        }
    }
}

/// Every file of `dir` (relative to the workspace root, as a test's
/// `CARGO_MANIFEST_DIR/../..`), read whole: a committed corpus.
pub fn corpus_dir(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_mutations() {
        let corpus = vec![b"a = 1\n".to_vec(), b"[t]\nb = \"x\"\n".to_vec()];
        let make = || {
            let mut rng = fastrand::Rng::with_seed(7);
            (0..50)
                .map(|_| mutate(&corpus[0], &corpus, &["inf", "{"], &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(make(), make());
        assert!(make().iter().any(|m| m != &corpus[0]));
    }

    #[test]
    #[should_panic(expected = "panicked (STORMWATCH_FUZZ_SEED=")]
    fn a_panicking_check_names_the_input() {
        run("demo", &[b"ok".to_vec()], &[], |input| {
            assert!(input == b"ok", "boom");
        });
    }
}
