//! Where a setting is written: the line of a path (`models.sonnet.itpm`,
//! `ladders.claude[1]`, `sim.faults[0].status`) in a config file's text, from the TOML
//! parser's spans, so that an error found after the overlay can point at the line the
//! user wrote.

use std::ops::Range;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// The 1-based line of the byte offset `at` in `text`.
pub(super) fn line_at(text: &str, at: usize) -> usize {
    let end = at.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The line where `path` is written in `text`; when the path itself is not (a required
/// setting left out), the line of its nearest written ancestor (the model's table
/// header). `None` when nothing of the path is in the text.
pub(super) fn line_of(text: &str, path: &str) -> Option<usize> {
    let doc = DeTable::parse(text).ok()?;
    span_of(doc.get_ref(), path).map(|s| line_at(text, s.start))
}

fn span_of(root: &DeTable<'_>, path: &str) -> Option<Range<usize>> {
    let mut found = None;
    let mut table = root;
    let mut rest = path;
    loop {
        // The longest key that starts the rest of the path (names may contain dots).
        let Some((key, value)) = table
            .iter()
            .filter(|(k, _)| starts_segment(rest, k.get_ref()))
            .max_by_key(|(k, _)| k.get_ref().len())
        else {
            return found;
        };
        found = Some(key.span());
        rest = &rest[key.get_ref().len()..];
        let mut value: &Spanned<DeValue<'_>> = value;
        while let Some(after) = rest.strip_prefix('[') {
            let Some((index, tail)) = after.split_once(']') else {
                return found;
            };
            let item = index
                .parse::<usize>()
                .ok()
                .and_then(|i| value.get_ref().as_array()?.get(i));
            let Some(item) = item else {
                return found;
            };
            found = Some(item.span());
            value = item;
            rest = tail;
        }
        let Some(tail) = rest.strip_prefix('.') else {
            return found;
        };
        let Some(next) = value.get_ref().as_table() else {
            return found;
        };
        table = next;
        rest = tail;
    }
}

/// Whether `rest` is `key`, or `key` followed by `.` or `[`.
fn starts_segment(rest: &str, key: &str) -> bool {
    rest.strip_prefix(key)
        .is_some_and(|t| t.is_empty() || t.starts_with('.') || t.starts_with('['))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# a comment\n\
        [models.sonnet]\n\
        rpm = 5\n\
        itpm = 0\n\
        \n\
        [models.\"gpt-4.1\"]\n\
        tpm = 3\n\
        \n\
        [ladders]\n\
        claude = [\n  \"opus\",\n  \"ghost\",\n]\n\
        \n\
        [[sim.faults]]\n\
        rate = 0.1\n\
        [[sim.faults]]\n\
        status = 404\n";

    #[test]
    fn finds_the_line_of_a_key_an_item_and_a_dotted_name() {
        assert_eq!(line_of(TEXT, "models.sonnet.itpm"), Some(4));
        assert_eq!(line_of(TEXT, "models.sonnet"), Some(2));
        assert_eq!(line_of(TEXT, "models.gpt-4.1.tpm"), Some(7));
        assert_eq!(line_of(TEXT, "ladders.claude[1]"), Some(12));
        assert_eq!(line_of(TEXT, "sim.faults[1].status"), Some(18));
    }

    #[test]
    fn falls_back_to_the_nearest_written_ancestor() {
        assert_eq!(line_of(TEXT, "models.sonnet.otpm"), Some(2));
        assert_eq!(line_of(TEXT, "broker.max_attempts"), None);
    }

    #[test]
    fn counts_lines_from_one() {
        assert_eq!(line_at("a\nb\nc", 0), 1);
        assert_eq!(line_at("a\nb\nc", 2), 2);
        assert_eq!(line_at("a\nb\nc", 99), 3);
    }
}
