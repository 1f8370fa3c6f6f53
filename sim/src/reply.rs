//! Deterministic answers: a hash of the answer-shaping fields picks the reply's length
//! and words, so identical requests get identical text.

use serde_json::Value;

/// Words that are one token each (with their leading space) in cl100k and o200k, so a
/// reply of `n` words is `n` output tokens.
const WORDS: &[&str] = &[
    "the", "model", "answer", "is", "a", "simple", "plan", "for", "each", "step", "we", "can",
    "see", "that", "this", "data", "will", "work", "with", "more", "time", "and", "less", "risk",
    "so", "it", "should", "be", "fine", "now", "here", "are", "some", "notes", "on", "what", "to",
    "do", "next", "first", "then", "check", "result", "again",
];

/// FNV-1a, 64-bit: stable across Rust versions and platforms.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Hash of the fields that shape the answer (serde_json maps are key-sorted, so the
/// serialisation is canonical).
pub fn shaping_hash(body: &Value, fields: &[&str]) -> u64 {
    let picked: serde_json::Map<String, Value> = fields
        .iter()
        .filter_map(|f| body.get(*f).map(|v| ((*f).to_string(), v.clone())))
        .collect();
    fnv1a(Value::Object(picked).to_string().as_bytes())
}

/// A generated reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub text: String,
    pub output_tokens: u64,
    pub end: End,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    Natural,
    MaxTokens,
    Stop(String),
    /// A server-tool turn paused (Anthropic `pause_turn`), to be continued.
    Paused,
}

fn next(state: &mut u64) -> u64 {
    // splitmix64
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A reply of 5–200 words chosen by `hash`, cut at `max_tokens` and at the first stop
/// sequence found.
pub fn generate(hash: u64, max_tokens: u64, stops: &[String]) -> Reply {
    let mut state = hash;
    let wanted = 5 + next(&mut state) % 196;
    let n = wanted.min(max_tokens.max(1));
    let words: Vec<&str> = (0..n)
        .map(|_| WORDS[(next(&mut state) % WORDS.len() as u64) as usize])
        .collect();
    let mut text = words.join(" ");
    if let Some(first) = text.get(..1) {
        text = first.to_uppercase() + &text[1..];
    }
    let mut end = if wanted > n {
        End::MaxTokens
    } else {
        End::Natural
    };
    let cut = stops
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()).map(|i| (i, s.clone())))
        .min_by_key(|(i, _)| *i);
    let mut output_tokens = n;
    if let Some((i, stop)) = cut {
        text.truncate(i);
        output_tokens = (text.split_whitespace().count() as u64).max(1);
        end = End::Stop(stop);
    }
    Reply {
        text,
        output_tokens,
        end,
    }
}

/// `len` lowercase hex digits from `rng`-like `seed` material.
pub fn hex_id(seed: u64, len: usize) -> String {
    let mut state = seed;
    let mut s = String::with_capacity(len + 16);
    while s.len() < len {
        s.push_str(&format!("{:016x}", next(&mut state)));
    }
    s.truncate(len);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_hashes_give_identical_replies() {
        assert_eq!(generate(42, 1000, &[]), generate(42, 1000, &[]));
    }

    #[test]
    fn never_exceeds_max_tokens() {
        for h in 0..200 {
            let r = generate(h, 7, &[]);
            assert!(r.output_tokens <= 7);
            assert_eq!(r.text.split_whitespace().count() as u64, r.output_tokens);
        }
    }

    #[test]
    fn words_are_single_tokens() {
        let bpe = tiktoken_rs::cl100k_base_singleton();
        let o200k = tiktoken_rs::o200k_base_singleton();
        for w in WORDS {
            let spaced = format!(" {w}");
            assert_eq!(bpe.count_ordinary(&spaced), 1, "{w}");
            assert_eq!(o200k.count_ordinary(&spaced), 1, "{w}");
        }
    }

    #[test]
    fn stops_at_a_stop_sequence() {
        let r = generate(3, 1000, &[]);
        let word = r
            .text
            .split_whitespace()
            .nth(2)
            .unwrap_or("the")
            .to_string();
        let cut = generate(3, 1000, &[format!(" {word}")]);
        assert_eq!(cut.end, End::Stop(format!(" {word}")));
        assert!(cut.text.len() < r.text.len());
    }
}
