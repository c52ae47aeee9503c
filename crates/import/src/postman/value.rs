//! TOML values written inline (a converted JSON body, tables of headers and queries).

use super::text::{key, quote};

/// A TOML value written inline.
#[derive(Clone, Debug, PartialEq)]
pub enum Toml {
    /// A string.
    Str(String),
    /// A number as JSON wrote it.
    Num(String),
    /// A boolean.
    Bool(bool),
    /// An array.
    Array(Vec<Toml>),
    /// A table, keys in order.
    Table(Vec<(String, Toml)>),
}

impl Toml {
    /// The value on one line.
    pub fn inline(&self) -> String {
        match self {
            Self::Str(s) => quote(s),
            Self::Num(n) => n.clone(),
            Self::Bool(b) => b.to_string(),
            Self::Array(items) => {
                let inner: Vec<String> = items.iter().map(Self::inline).collect();
                format!("[{}]", inner.join(", "))
            }
            Self::Table(fields) => inline_table(
                &fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.inline()))
                    .collect::<Vec<_>>(),
            ),
        }
    }
}

/// `{ a = 1, "b c" = "x" }` from already written values.
pub fn inline_table(fields: &[(String, String)]) -> String {
    if fields.is_empty() {
        return "{}".into();
    }
    let inner: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{} = {v}", key(k)))
        .collect();
    format!("{{ {} }}", inner.join(", "))
}
