//! Human tables by default, JSON with `--json`.

use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use serde::Serialize;

/// How results are printed.
pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints `value` as JSON, or `human()` as text.
    pub fn emit<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        if self.json {
            match serde_json::to_string_pretty(value) {
                Ok(s) => println!("{s}"),
                Err(e) => eprintln!("stagectl: cannot encode JSON: {e}"),
            }
        } else {
            print!("{}", human());
        }
    }
}

/// A table with a header row.
pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY);
    t.set_header(header.to_vec());
    for r in rows {
        t.add_row(r);
    }
    format!("{t}\n")
}

/// `key: value` lines, aligned.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let w = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    pairs
        .iter()
        .map(|(k, v)| format!("{k:<w$}  {v}\n"))
        .collect()
}
