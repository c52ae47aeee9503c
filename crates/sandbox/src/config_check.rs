//! Checks shared by the config modules: where a key or value sits in the TOML source (so an
//! error serde raised, or one about a table's name, names the field and its line), AWS's
//! naming rules for functions, tables, streams and queues, and quoting values briefly in
//! messages.

use std::fmt::Write as _;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

pub(crate) use stormwatch_model::parse::brief;

/// Appends one key to a dotted path, quoted as TOML quotes it unless it is a bare key.
pub(crate) fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        path.push_str(key);
    } else {
        let _ = write!(path, "\"{}\"", brief(key));
    }
}

/// `prefix.key` (a table's name in a dotted field path), quoted when it is not a bare key.
pub(crate) fn key_path(prefix: &str, key: &str) -> String {
    let mut p = prefix.to_string();
    push_key(&mut p, key);
    p
}

/// The config document with the spans of its keys and values, for locating errors.
pub(crate) struct Doc<'a>(Option<Spanned<DeTable<'a>>>);

impl<'a> Doc<'a> {
    /// Parses `src`; a document that does not parse locates nothing.
    pub(crate) fn parse(src: &'a str) -> Self {
        Self(DeTable::parse(src).ok())
    }

    /// The dotted path (`functions.f.memory_mb`, `routes[2].handler`) of the innermost key or
    /// value at byte `offset`; a table header gives the table's path.
    pub(crate) fn path_at(&self, offset: usize) -> Option<String> {
        let root = self.0.as_ref()?;
        let mut best = (0, String::new());
        walk_table(root.get_ref(), offset, &mut Vec::new(), &mut best);
        (best.0 > 0).then_some(best.1)
    }

    /// The span of the key at `path`, e.g. `["functions", "f"]`.
    pub(crate) fn key_span(&self, path: &[&str]) -> Option<Range<usize>> {
        let mut table = self.0.as_ref()?.get_ref();
        let (last, parents) = path.split_last()?;
        for p in parents {
            table = table.get(*p)?.get_ref().as_table()?;
        }
        table.get_key_value(*last).map(|(k, _)| k.span())
    }
}

/// The deepest path found so far: (depth, dotted path).
type Best = (usize, String);

fn holds(span: &Range<usize>, offset: usize) -> bool {
    span.contains(&offset) || span.start == offset
}

fn consider(path: &[String], best: &mut Best) {
    if path.len() > best.0 {
        *best = (path.len(), path.concat());
    }
}

/// Depth-first over every key and value. A table opened by a header has only the header as
/// its span, so parents do not enclose their children: every node is visited.
fn walk_table(t: &DeTable<'_>, offset: usize, path: &mut Vec<String>, best: &mut Best) {
    for (k, item) in t {
        let mut seg = String::new();
        push_key(&mut seg, k.get_ref());
        if !path.is_empty() {
            seg.insert(0, '.');
        }
        path.push(seg);
        if holds(&k.span(), offset) || holds(&item.span(), offset) {
            consider(path, best);
        }
        walk_value(item.get_ref(), offset, path, best);
        path.pop();
    }
}

fn walk_value(v: &DeValue<'_>, offset: usize, path: &mut Vec<String>, best: &mut Best) {
    match v {
        DeValue::Table(t) => walk_table(t, offset, path, best),
        DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                path.push(format!("[{i}]"));
                if holds(&item.span(), offset) {
                    consider(path, best);
                }
                walk_value(item.get_ref(), offset, path, best);
                path.pop();
            }
        }
        _ => {}
    }
}

/// What a name in the config names; each follows the AWS service's naming rule.
#[derive(Clone, Copy, Debug)]
pub(crate) enum NameKind {
    /// Lambda: 1–64 characters of `A-Za-z0-9_-`.
    Function,
    /// DynamoDB: 3–255 characters of `A-Za-z0-9_.-`.
    Table,
    /// Kinesis: 1–128 characters of `A-Za-z0-9_.-`.
    Stream,
    /// SQS: 1–80 characters of `A-Za-z0-9_-`, a FIFO queue's ending in `.fifo`.
    Queue,
    /// API name or stage (labels): 1–128 characters, no control characters, no `/`.
    Label,
}

/// Checks `name` against the naming rule of `kind`; the error says the rule.
pub(crate) fn check_name(kind: NameKind, name: &str) -> Result<(), String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let dotted = |c: char| word(c) || c == '.';
    let (ok, rule) = match kind {
        NameKind::Function => (
            (1..=64).contains(&name.len()) && name.chars().all(word),
            "a Lambda function name is 1-64 characters of A-Z, a-z, 0-9, `_` and `-`",
        ),
        NameKind::Table => (
            (3..=255).contains(&name.len()) && name.chars().all(dotted),
            "a DynamoDB table name is 3-255 characters of A-Z, a-z, 0-9, `_`, `-` and `.`",
        ),
        NameKind::Stream => (
            (1..=128).contains(&name.len()) && name.chars().all(dotted),
            "a Kinesis stream name is 1-128 characters of A-Z, a-z, 0-9, `_`, `-` and `.`",
        ),
        NameKind::Queue => {
            let stem = name.strip_suffix(".fifo").unwrap_or(name);
            (
                (1..=80).contains(&name.len()) && !stem.is_empty() && stem.chars().all(word),
                "an SQS queue name is 1-80 characters of A-Z, a-z, 0-9, `_` and `-` (a FIFO queue's ending in `.fifo`)",
            )
        }
        NameKind::Label => (
            (1..=128).contains(&name.chars().count())
                && !name.chars().any(|c| c.is_control() || c == '/'),
            "must be 1-128 characters, without `/` or control characters",
        ),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("`{}`: {rule}", brief(name)))
    }
}

/// A serde message fit for a config error: the value quoted in `invalid type: floating point
/// `1000…0.0`, expected u32` is replaced with the value as `written` in the file (`1e300`),
/// and every quoted part is cut short.
pub(crate) fn serde_message(message: &str, written: Option<&str>) -> String {
    let message = message.trim();
    for prefix in ["invalid type: ", "invalid value: "] {
        if let (Some(rest), Some(w)) = (message.strip_prefix(prefix), written)
            && let Some((unexpected, expected)) = rest.rsplit_once(", expected ")
            && let Some(q) = unexpected.find(['`', '"'])
        {
            return format!(
                "{prefix}{}`{}`, expected {}",
                &unexpected[..q],
                brief(w.trim()),
                cut_quoted(expected)
            );
        }
    }
    cut_quoted(message)
}

/// `message` with every backticked part quoted briefly ([`brief`]).
fn cut_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(512));
    for (i, part) in message.split('`').enumerate() {
        if i > 0 {
            out.push('`');
        }
        if i % 2 == 1 {
            out.push_str(&brief(part));
        } else {
            out.push_str(part);
        }
    }
    out
}

/// The first backticked word of a serde message (`missing field `kind``).
pub(crate) fn quoted(message: &str) -> Option<&str> {
    message.split('`').nth(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_aws_rules() {
        assert!(check_name(NameKind::Function, "checkout-v2_x").is_ok());
        assert!(check_name(NameKind::Function, "../../../ESCAPED").is_err());
        assert!(check_name(NameKind::Function, "").is_err());
        assert!(check_name(NameKind::Function, &"f".repeat(65)).is_err());
        assert!(check_name(NameKind::Function, "a.b").is_err());
        assert!(check_name(NameKind::Table, "orders.v2").is_ok());
        assert!(check_name(NameKind::Table, "ab").is_err());
        assert!(check_name(NameKind::Table, "a/b/c").is_err());
        assert!(check_name(NameKind::Stream, "votes.v1").is_ok());
        assert!(check_name(NameKind::Stream, &"s".repeat(129)).is_err());
        assert!(check_name(NameKind::Queue, "jobs.fifo").is_ok());
        assert!(check_name(NameKind::Queue, "jobs.v2").is_err());
        assert!(check_name(NameKind::Queue, ".fifo").is_err());
        assert!(check_name(NameKind::Queue, &"q".repeat(81)).is_err());
        assert!(check_name(NameKind::Label, "$default").is_ok());
        assert!(check_name(NameKind::Label, "a/b").is_err());
        assert!(check_name(NameKind::Label, "a\nb").is_err());
    }

    #[test]
    fn long_values_are_cut() {
        let long = format!(
            "invalid type: floating point `1{}.0`, expected u32",
            "0".repeat(300)
        );
        let m = serde_message(&long, Some("1e300"));
        assert_eq!(m, "invalid type: floating point `1e300`, expected u32");
        let m = serde_message(&long, None);
        assert!(m.len() < 100, "{m}");
        assert_eq!(brief("a\nb"), "a\\nb");
    }
}
