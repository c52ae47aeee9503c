//! Writes the scenario TOML: `[target]`, `[variables]`, `[[flows]]` with their steps (each
//! under a comment naming the Postman item and what of it was not converted) and one phase.

use std::fmt::Write as _;

use super::request::Step;
use super::script::ExtractFrom;
use super::text::{comment, quote};
use super::value::inline_table;

/// A flow to write.
pub struct Flow<'a> {
    /// Name.
    pub name: String,
    /// `(why, step)` run once per virtual user first.
    pub on_start: Vec<(String, &'a Step)>,
    /// Steps.
    pub steps: Vec<&'a Step>,
}

/// Appends `[[flows]]` tables.
pub fn flows(out: &mut String, flows: &[Flow<'_>]) {
    for f in flows {
        let _ = writeln!(out, "[[flows]]\nname = {}\n", quote(&f.name));
        for (why, s) in &f.on_start {
            let _ = writeln!(out, "[[flows.on_start]]\n# {}", comment(why));
            step(out, s);
        }
        for s in &f.steps {
            out.push_str("[[flows.steps]]\n");
            step(out, s);
        }
    }
}

fn step(out: &mut String, s: &Step) {
    let _ = writeln!(out, "# {}", comment(&s.title));
    for c in &s.comments {
        let _ = writeln!(out, "# {}", comment(c));
    }
    if s.method != "GET" {
        let _ = writeln!(out, "method = {}", quote(&s.method));
    }
    let _ = writeln!(out, "path = {}", quote(&s.path));
    let strings = |pairs: &[(String, String)]| {
        inline_table(
            &pairs
                .iter()
                .map(|(k, v)| (k.clone(), quote(v)))
                .collect::<Vec<_>>(),
        )
    };
    if !s.query.is_empty() {
        let _ = writeln!(out, "query = {}", strings(&dedup(&s.query, false)));
    }
    if !s.headers.is_empty() {
        let _ = writeln!(out, "headers = {}", strings(&dedup(&s.headers, true)));
    }
    if let Some(b) = &s.body {
        let _ = writeln!(out, "body = {}", b.inline());
    }
    if let Some(codes) = s.expect.as_ref().filter(|c| !c.is_empty()) {
        let list: Vec<String> = codes.iter().map(ToString::to_string).collect();
        let _ = writeln!(out, "expect = [{}]", list.join(", "));
    }
    if !s.extract.is_empty() {
        let rules: Vec<String> = s
            .extract
            .iter()
            .map(|(var, from)| {
                let (k, v) = match from {
                    ExtractFrom::Json(p) => ("json", p),
                    ExtractFrom::Header(h) => ("header", h),
                };
                inline_table(&[("var".into(), quote(var)), (k.into(), quote(v))])
            })
            .collect();
        let _ = writeln!(out, "extract = [{}]", rules.join(", "));
    }
    out.push('\n');
}

/// The last value of each name (a TOML table cannot repeat a key); header names
/// (`any_case`) compared without case.
fn dedup(pairs: &[(String, String)], any_case: bool) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in pairs {
        out.retain(|(n, _)| !(n == k || (any_case && n.eq_ignore_ascii_case(k))));
        out.push((k.clone(), v.clone()));
    }
    out
}
