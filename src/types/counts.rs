//! [`MessageCounts`]: the token counts a conversation remembers for its messages, so that
//! estimating one more turn reads only the new messages.
//!
//! The estimator's shared cache already avoids *tokenising* a message twice, but finding
//! a message there means hashing its whole text: on an 80,000-token history that is
//! every byte of it again on every turn. A conversation that remembers its own counts,
//! by position, needs no content to find them: each remembered message is checked by
//! its shape (role and number of blocks — no block or text is read), and the history
//! as a whole by its first message, hashed in full, which catches the broker trimming
//! old turns or replacing them with a summary. The newest message is always counted
//! again (through the shared cache), so a retried or regenerated last turn is never
//! mistaken for the one it replaces.
//!
//! What the shape check cannot see is a message in the middle of the history edited in
//! place (its role and block count unchanged); such an edit keeps its old count until
//! the history is cut or forked by `clone`. (Checking block kinds and text lengths too
//! cost four times as much on an 80,000-token history: a cache miss per message.) Append-only conversations — how agents and the tool loop grow a
//! [`History`](crate::agent::History) — never do that.

use super::{Message, Role};
use std::sync::{Arc, Mutex, PoisonError};

/// How many tokenizer encodings a count is kept for (the estimator's `Encoding`s).
pub(crate) const SLOTS: usize = 2;

/// A count not yet taken in that encoding.
const UNKNOWN: u64 = u64::MAX;

/// Token counts of a conversation's messages, by position, shared between a
/// [`History`](crate::agent::History) and the requests it makes
/// (`RequestOptions::counts`); the estimator fills it in as it goes.
///
/// [`share`](Self::share) hands out the same memory; `clone` copies it, so a forked
/// conversation grows its own counts without disturbing the original's.
#[derive(Debug, Default)]
pub struct MessageCounts(Arc<Mutex<Memo>>);

#[derive(Debug, Default, Clone)]
pub(crate) struct Memo {
    /// The full content hash of the first message these counts were taken for.
    first: u64,
    entries: Vec<Remembered>,
}

#[derive(Debug, Clone, Copy)]
struct Remembered {
    shape: u64,
    /// Per encoding slot (the estimator's `Encoding::slot`), [`UNKNOWN`] until counted.
    tokens: [u64; SLOTS],
}

impl MessageCounts {
    /// An empty memory.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same memory, for a request that continues this conversation.
    pub fn share(&self) -> Self {
        MessageCounts(Arc::clone(&self.0))
    }

    /// How many messages have a remembered count.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether nothing is remembered yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Memo> {
        // A panic while the lock was held leaves at worst a count to be taken again.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clone for MessageCounts {
    fn clone(&self) -> Self {
        MessageCounts(Arc::new(Mutex::new(self.lock().fork())))
    }
}

/// Remembered counts are bookkeeping, not part of what a request asks.
impl PartialEq for MessageCounts {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Memo {
    /// A copy for a forked conversation, with room for the turns it will add (an exact
    /// copy would move all its entries again on its first new turn).
    fn fork(&self) -> Memo {
        let mut entries = Vec::with_capacity(self.entries.len() + self.entries.len() / 8 + 8);
        entries.extend_from_slice(&self.entries);
        Memo {
            first: self.first,
            entries,
        }
    }

    /// How many of `messages`, from the first, have a remembered count in `slot` under
    /// their own shape, and those counts' sum: one pass over the history's own array
    /// and the remembered entries, no message's blocks read.
    pub(crate) fn known_prefix(&self, messages: &[Message], slot: usize) -> (usize, u64) {
        let mut sum = 0;
        let mut known = 0;
        for (m, e) in messages.iter().zip(&self.entries) {
            let n = match e.tokens.get(slot) {
                Some(&n) if n != UNKNOWN && e.shape == shape(m) => n,
                _ => break,
            };
            sum += n;
            known += 1;
        }
        (known, sum)
    }

    /// Starts over when the history no longer begins with the message it began with
    /// (hash `first`): it was trimmed or summarised.
    pub(crate) fn begin(&mut self, first: u64) {
        if self.first != first {
            self.entries.clear();
            self.first = first;
        }
    }

    /// The remembered count of message `i` with shape `shape`, if any.
    pub(crate) fn get(&self, i: usize, shape: u64, slot: usize) -> Option<u64> {
        let e = self.entries.get(i)?;
        let n = *e.tokens.get(slot)?;
        (e.shape == shape && n != UNKNOWN).then_some(n)
    }

    /// Remembers message `i`'s count. A different shape at `i` means the history took
    /// another course from there: what followed is forgotten.
    pub(crate) fn put(&mut self, i: usize, shape: u64, slot: usize, n: u64) {
        if i > self.entries.len() {
            return;
        }
        if self.entries.get(i).is_none_or(|e| e.shape != shape) {
            self.entries.truncate(i);
            self.entries.push(Remembered {
                shape,
                tokens: [UNKNOWN; SLOTS],
            });
        }
        if let Some(t) = self.entries[i].tokens.get_mut(slot) {
            *t = n;
        }
    }
}

/// A message's shape: its role and how many blocks it has. Both sit in the history's
/// own array, so checking 2,000 messages touches no message's blocks or text.
pub(crate) fn shape(m: &Message) -> u64 {
    let mut h = Mix(u64::from(matches!(m.role, Role::User)));
    h.add(m.content.len() as u64);
    h.0
}

/// A few multiply-rotate steps: enough to tell shapes apart, far cheaper than hashing.
struct Mix(u64);

impl Mix {
    fn add(&mut self, x: u64) {
        self.0 = (self.0 ^ x)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29);
    }
}
