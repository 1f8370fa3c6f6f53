//! Layering a config file over the built-in defaults, on the parsed TOML tables before
//! they become raw structs: a table in the file merges into the default table of the same
//! path key by key (recursively); any other value (a number, a string, an array such as a
//! ladder or `[[sim.faults]]`) replaces the default's.
//!
//! One exception keeps a model's limit style coherent: a model table that sets `tpm`
//! drops the default's `itpm` / `otpm`, and one that sets `itpm` or `otpm` drops the
//! default's `tpm` (otherwise a switch of style would read as both styles at once).

use toml::{Table, Value};

/// Merges `over` into `base` (see the module doc).
pub(super) fn overlay(base: &mut Table, over: Table) {
    merge(base, over, &mut Vec::new());
}

fn merge(base: &mut Table, over: Table, path: &mut Vec<String>) {
    if path.len() == 2 && path[0] == "models" {
        let sets = |k: &str| over.contains_key(k);
        if sets("tpm") {
            base.remove("itpm");
            base.remove("otpm");
        }
        if sets("itpm") || sets("otpm") {
            base.remove("tpm");
        }
    }
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(b)), Value::Table(o)) => {
                path.push(key);
                merge(b, o, path);
                path.pop();
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn tables_merge_key_by_key_and_other_values_replace() {
        let mut base = table(
            "[models.a]\nrpm = 1\nitpm = 2\n[models.b]\nrpm = 3\n[ladders]\nl = [\"a\", \"b\"]\nk = [\"b\"]\n",
        );
        overlay(
            &mut base,
            table("[models.a]\nitpm = 20\n[models.c]\nrpm = 5\n[ladders]\nl = [\"c\"]\n"),
        );
        let expected = table(
            "[models.a]\nrpm = 1\nitpm = 20\n[models.b]\nrpm = 3\n[models.c]\nrpm = 5\n[ladders]\nl = [\"c\"]\nk = [\"b\"]\n",
        );
        assert_eq!(base, expected);
    }

    #[test]
    fn switching_a_models_limit_style_drops_the_other_style() {
        let mut base =
            table("[models.a]\nrpm = 1\nitpm = 2\notpm = 3\n[models.b]\nrpm = 1\ntpm = 9\n");
        overlay(
            &mut base,
            table("[models.a]\ntpm = 5\n[models.b]\notpm = 4\n"),
        );
        assert_eq!(
            base,
            table("[models.a]\nrpm = 1\ntpm = 5\n[models.b]\nrpm = 1\notpm = 4\n")
        );
    }

    #[test]
    fn arrays_of_tables_replace_the_defaults() {
        let mut base = table("[[sim.faults]]\nstatus = 529\nrate = 0.1\n");
        overlay(
            &mut base,
            table("[[sim.faults]]\nstatus = 500\nrate = 0.2\n"),
        );
        assert_eq!(base, table("[[sim.faults]]\nstatus = 500\nrate = 0.2\n"));
    }
}
