//! cl100k counts of ASCII text without a regex engine: the same split and the same byte
//! pair merges as tiktoken, so the same count, at a fraction of the cost.
//!
//! tiktoken splits text into pieces with a pattern whose look-ahead (`\s+(?!\S)`) needs a
//! backtracking engine (fancy-regex), which costs more than everything else a request's
//! preparation does (about 30,000 instructions for a one-line prompt). On ASCII text the
//! pattern's classes are simple byte tests, so its alternatives are written out here as
//! code, in the pattern's order and with its possessive and greedy semantics; each piece
//! is then one table look-up, or tiktoken's merge loop when it is not a token itself.
//!
//! Anything else — text with a non-ASCII byte, or a piece of 100 bytes or more (where
//! tiktoken switches to another merge algorithm) — returns `None`, and the caller counts
//! with tiktoken itself. The tests compare both on arbitrary ASCII and on this
//! repository's own sources.

use std::collections::HashMap;
use std::sync::OnceLock;

/// Tokens in cl100k_base's ordinary vocabulary (ranks 0..100,256).
const CL100K_ORDINARY: u32 = 100_256;

/// The pieces tiktoken merges with its quadratic loop; longer ones use another algorithm.
const MAX_PIECE: usize = 100;

/// The cl100k token count of `text`, or `None` when `text` is not ASCII or has a piece
/// this module leaves to tiktoken.
pub(super) fn count_cl100k(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if !b.is_ascii() {
        return None;
    }
    let ranks = ranks();
    let mut total = 0u64;
    let mut i = 0;
    while i < b.len() {
        let end = next_piece(b, i);
        let piece = &b[i..end];
        if piece.len() >= MAX_PIECE {
            return None;
        }
        total += if ranks.contains_key(piece) {
            1
        } else {
            merged_len(piece, ranks) as u64
        };
        i = end;
    }
    Some(total)
}

/// Keyed by short byte strings from a fixed table: a fast, non-keyed hash is all it needs.
type Ranks = HashMap<Box<[u8]>, u32, rustc_hash::FxBuildHasher>;

/// cl100k's ASCII tokens and their ranks: the only ones merging an ASCII piece can meet
/// (every part of it is ASCII). Built once, from tiktoken's own table.
fn ranks() -> &'static Ranks {
    static RANKS: OnceLock<Ranks> = OnceLock::new();
    RANKS.get_or_init(|| {
        let bpe = tiktoken_rs::cl100k_base_singleton();
        (0..CL100K_ORDINARY)
            .filter_map(|rank| {
                let bytes = bpe.decode_bytes(&[rank]).ok()?;
                (!bytes.is_empty() && bytes.is_ascii()).then(|| (bytes.into_boxed_slice(), rank))
            })
            .collect()
    })
}

fn is_letter(c: u8) -> bool {
    c.is_ascii_alphabetic()
}

fn is_digit(c: u8) -> bool {
    c.is_ascii_digit()
}

/// `\s` on ASCII: tab, line feed, vertical tab, form feed, carriage return, space.
fn is_space(c: u8) -> bool {
    matches!(c, b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | b' ')
}

fn is_newline(c: u8) -> bool {
    c == b'\r' || c == b'\n'
}

/// `[^\s\p{L}\p{N}]` on ASCII.
fn is_other(c: u8) -> bool {
    !is_space(c) && !is_letter(c) && !is_digit(c)
}

/// The end of the piece that starts at `i` (`i < b.len()`), by cl100k's pattern
/// `'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s`,
/// whose first matching alternative wins.
fn next_piece(b: &[u8], i: usize) -> usize {
    let n = b.len();
    let c = b[i];
    let at = |j: usize| b.get(j).copied();
    // '(?i:[sdmt]|ll|ve|re)
    if c == b'\'' {
        let d = at(i + 1).map(|d| d.to_ascii_lowercase());
        let e = at(i + 2).map(|e| e.to_ascii_lowercase());
        match (d, e) {
            (Some(b's' | b'd' | b'm' | b't'), _) => return i + 2,
            (Some(b'l'), Some(b'l')) | (Some(b'v'), Some(b'e')) | (Some(b'r'), Some(b'e')) => {
                return i + 3
            }
            _ => {}
        }
    }
    // [^\r\n\p{L}\p{N}]?+\p{L}++
    let start = if is_newline(c) || is_letter(c) || is_digit(c) {
        i
    } else {
        i + 1
    };
    if at(start).is_some_and(is_letter) {
        return run(b, start, is_letter);
    }
    // \p{N}{1,3}+
    if is_digit(c) {
        return run(b, i, is_digit).min(i + 3);
    }
    // ` ?[^\s\p{L}\p{N}]++[\r\n]*+`: the space is optional, and given back when no
    // other character follows it.
    let start = if c == b' ' { i + 1 } else { i };
    if at(start).is_some_and(is_other) {
        let end = run(b, start, is_other);
        return run(b, end, is_newline);
    }
    // Only whitespace is left: every other byte matched above.
    let end = run(b, i, is_space);
    // \s++$
    if end == n {
        return n;
    }
    // \s*[\r\n]: up to the run's last line break.
    if let Some(last) = b[i..end].iter().rposition(|&c| is_newline(c)) {
        return i + last + 1;
    }
    // \s+(?!\S): the run but its last character, which stays before the non-space.
    if end - i >= 2 {
        return end - 1;
    }
    // \s
    i + 1
}

/// The end of the run of bytes from `i` on that satisfy `f`.
fn run(b: &[u8], i: usize, f: impl Fn(u8) -> bool) -> usize {
    i + b[i..].iter().take_while(|&&c| f(c)).count()
}

/// How many tokens tiktoken's byte pair merge makes of `piece` (2 ≤ len < 100): the
/// pair of adjacent parts whose joined bytes have the lowest rank is merged, the
/// leftmost on a tie, until no joined pair is a token.
fn merged_len(piece: &[u8], ranks: &Ranks) -> usize {
    let rank = |bytes: &[u8]| ranks.get(bytes).copied().unwrap_or(u32::MAX);
    // Each part's start, and the rank of it joined with the next part.
    let mut parts: Vec<(usize, u32)> = Vec::with_capacity(piece.len() + 1);
    for i in 0..piece.len().saturating_sub(1) {
        parts.push((i, rank(&piece[i..i + 2])));
    }
    parts.push((piece.len().saturating_sub(1), u32::MAX));
    parts.push((piece.len(), u32::MAX));
    // The rank of parts `i` and `i + 1` joined once `i + 1` has merged with `i + 2`.
    let joined = |parts: &[(usize, u32)], i: usize| {
        if i + 3 < parts.len() {
            rank(&piece[parts[i].0..parts[i + 3].0])
        } else {
            u32::MAX
        }
    };
    while let Some((i, _)) = parts[..parts.len() - 1]
        .iter()
        .enumerate()
        .filter(|(_, p)| p.1 != u32::MAX)
        .min_by_key(|(i, p)| (p.1, *i))
    {
        if i > 0 {
            parts[i - 1].1 = joined(&parts, i - 1);
        }
        parts[i].1 = joined(&parts, i);
        parts.remove(i + 1);
    }
    parts.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::TestRunner;

    fn tiktoken(text: &str) -> u64 {
        tiktoken_rs::cl100k_base_singleton().count_ordinary(text) as u64
    }

    fn same(text: &str) {
        if let Some(n) = count_cl100k(text) {
            assert_eq!(n, tiktoken(text), "{text:?}");
        }
    }

    #[test]
    fn counts_like_tiktoken_on_the_patterns_corners() {
        for text in [
            "question number 12345 about rate limits",
            "Hello, world!\n\n  indented   words\t\ttabs \r\n done  ",
            "it's we'll they've you're I'D ISN'T 'sam 'll 'l ''' x'",
            "$$money 100% !!!\n\n\n?? a.b.c (x) [y] {z} ",
            "   \n  \n   leading and trailing   ",
            " \x0b\x0c\x00\x7f\x01 control",
            "1234567890 12 1 a1b2c3 3.14159",
            "",
            " ",
            "\n",
        ] {
            assert_eq!(count_cl100k(text), Some(tiktoken(text)), "{text:?}");
        }
    }

    #[test]
    fn counts_like_tiktoken_on_every_string_of_three_from_a_small_alphabet() {
        let alphabet = [
            b'a', b'B', b's', b'l', b'1', b' ', b'\n', b'\r', b'\t', b'\'', b'!',
        ];
        for x in alphabet {
            for y in alphabet {
                for z in alphabet {
                    let text = String::from_utf8(vec![x, y, z]).unwrap();
                    assert_eq!(count_cl100k(&text), Some(tiktoken(&text)), "{text:?}");
                }
            }
        }
    }

    #[test]
    fn counts_like_tiktoken_on_this_repositorys_sources() {
        for source in [
            include_str!("../../README.md"),
            include_str!("../broker/admission.rs"),
            include_str!("../tokens.rs"),
            include_str!("../../BENCHMARKS.md"),
        ] {
            same(source);
            for part in source.split("\n\n") {
                same(part);
            }
        }
    }

    #[test]
    fn leaves_other_text_to_tiktoken() {
        assert_eq!(count_cl100k("naïve"), None);
        assert_eq!(count_cl100k(&"a".repeat(MAX_PIECE)), None);
        assert_eq!(count_cl100k(&" ".repeat(150)), None);
    }

    #[test]
    fn counts_like_tiktoken_on_arbitrary_ascii() {
        // Bytes weighted towards the pattern's corners: spaces of every kind, line
        // breaks, apostrophes and the letters of contractions, digits, punctuation.
        let byte = prop_oneof![
            4 => proptest::sample::select(b"sdmtlvreSDMTLVRE".to_vec()),
            3 => proptest::sample::select(b" \t\n\r\x0b\x0c".to_vec()),
            2 => proptest::sample::select(b"'!.,$(\x00\x7f".to_vec()),
            2 => proptest::sample::select(b"0123456789".to_vec()),
            2 => 0u8..0x80,
        ];
        let mut runner = TestRunner::new(crate::types::test_seed::config());
        runner
            .run(&proptest::collection::vec(byte, 0..120), |bytes| {
                let text = String::from_utf8(bytes).expect("ASCII");
                if let Some(n) = count_cl100k(&text) {
                    prop_assert_eq!(n, tiktoken(&text), "{:?}", text);
                }
                Ok(())
            })
            .unwrap();
    }
}
