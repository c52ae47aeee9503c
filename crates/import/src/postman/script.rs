//! The common Postman test-script idioms, recognised statement by statement: status checks
//! become a step's `expect`, saving a JSON field (or a header) to a variable becomes an
//! `extract`. Every other statement is returned, with its line, as not converted.
//!
//! Statements are split at `;`, `{`, `}` and line ends outside strings and brackets, so the
//! `pm.test("name", function () { ... });` wrapper falls apart into pieces that are
//! recognised and dropped. White space outside strings is folded before matching.

/// What a script converts to.
#[derive(Debug, Default, PartialEq)]
pub struct Converted {
    /// Accepted statuses (every status check must hold: their intersection).
    pub expect: Option<Vec<u16>>,
    /// `(variable, source)` extractions.
    pub extract: Vec<(String, ExtractFrom)>,
    /// `(1-based line, line text)` of statements not converted.
    pub unconverted: Vec<(usize, String)>,
}

/// Where an extracted value comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum ExtractFrom {
    /// A JSON pointer into the response body.
    Json(String),
    /// A response header.
    Header(String),
}

/// One statement and the line it starts on.
struct Statement {
    line: usize,
    text: String,
}

/// Converts a test script (`listen: "test"`). Pre-request scripts have no idioms: every
/// statement of theirs is not converted ([`statements_of`]).
pub fn convert_test(lines: &[String]) -> Converted {
    let mut out = Converted::default();
    // `const j = pm.response.json()` (or a sub-path of it): name -> pointer.
    let mut aliases: Vec<(String, String)> = Vec::new();
    let mut bad_lines = Vec::new();
    for st in split(lines) {
        let s = st.text.as_str();
        if is_structural(s) {
            continue;
        }
        if let Some(statuses) = status_check(s) {
            out.expect = Some(match out.expect.take() {
                Some(prev) => prev.into_iter().filter(|c| statuses.contains(c)).collect(),
                None => statuses,
            });
            continue;
        }
        if let Some((name, pointer)) = json_alias(s, &aliases) {
            aliases.retain(|(n, _)| *n != name);
            aliases.push((name, pointer));
            continue;
        }
        if let Some((var, from)) = variable_set(s, &aliases) {
            out.extract.retain(|(v, _)| *v != var);
            out.extract.push((var, from));
            continue;
        }
        bad_lines.push(st.line);
    }
    bad_lines.dedup();
    out.unconverted = bad_lines
        .into_iter()
        .map(|l| (l, lines[l - 1].trim().to_string()))
        .collect();
    out
}

/// Every statement of a script that is not structural, as `(line, text)` (for pre-request
/// scripts, none of which convert).
pub fn statements_of(lines: &[String]) -> Vec<(usize, String)> {
    let mut seen: Vec<usize> = split(lines)
        .into_iter()
        .filter(|s| !is_structural(&s.text))
        .map(|s| s.line)
        .collect();
    seen.dedup();
    seen.into_iter()
        .map(|l| (l, lines[l - 1].trim().to_string()))
        .collect()
}

/// Splits into statements, folding white space outside strings and dropping `//` comments.
fn split(lines: &[String]) -> Vec<Statement> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut cur_line = 1;
    // Bracket depth per `{}` block: a `;` or line end inside `(` or `[` does not split.
    let mut depth: Vec<u32> = vec![0];
    let mut quote: Option<char> = None;
    let flush = |cur: &mut String, line: usize, out: &mut Vec<Statement>| {
        let text = cur.trim().to_string();
        if !text.is_empty() {
            out.push(Statement { line, text });
        }
        cur.clear();
    };
    for (i, line) in lines.iter().enumerate() {
        let lineno = i + 1;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if cur.trim().is_empty() {
                cur_line = lineno;
            }
            if let Some(q) = quote {
                cur.push(c);
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                } else if c == q {
                    quote = None;
                }
                continue;
            }
            let d = depth.last_mut().expect("never empty");
            match c {
                '"' | '\'' | '`' => {
                    quote = Some(c);
                    cur.push(c);
                }
                '/' if chars.peek() == Some(&'/') => break,
                '(' | '[' => {
                    *d += 1;
                    cur.push(c);
                }
                ')' | ']' => {
                    *d = d.saturating_sub(1);
                    cur.push(c);
                }
                '{' => {
                    flush(&mut cur, cur_line, &mut out);
                    depth.push(0);
                }
                '}' => {
                    flush(&mut cur, cur_line, &mut out);
                    if depth.len() > 1 {
                        depth.pop();
                    }
                }
                ';' if *d == 0 => flush(&mut cur, cur_line, &mut out),
                c if c.is_whitespace() => {
                    if !cur.ends_with(' ') && !cur.is_empty() {
                        cur.push(' ');
                    }
                }
                _ => cur.push(c),
            }
        }
        // A line end ends a statement unless brackets are open or the next line continues
        // a chain (`.to.eql(...)`).
        let continues = lines
            .get(i + 1)
            .is_some_and(|n| n.trim_start().starts_with('.'));
        if quote.is_none() && *depth.last().expect("never empty") == 0 && !continues {
            flush(&mut cur, cur_line, &mut out);
        } else if !cur.ends_with(' ') && !cur.is_empty() {
            cur.push(' ');
        }
    }
    flush(&mut cur, cur_line, &mut out);
    for s in &mut out {
        s.text = tighten(&s.text);
    }
    out
}

/// Removes the spaces next to punctuation outside strings: `pm.expect( x ).to.eql( 200 )`
/// -> `pm.expect(x).to.eql(200)`, keeping `const j`.
fn tighten(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    let mut quote: Option<char> = None;
    let punct = |c: char| "().,[]=>;:".contains(c);
    for (i, &c) in chars.iter().enumerate() {
        if let Some(q) = quote {
            out.push(c);
            if c == q && chars.get(i.wrapping_sub(1)) != Some(&'\\') {
                quote = None;
            }
            continue;
        }
        if matches!(c, '"' | '\'' | '`') {
            quote = Some(c);
        }
        if c == ' ' {
            let prev = out.chars().last().unwrap_or('(');
            let next = chars.get(i + 1).copied().unwrap_or(')');
            if punct(prev) || punct(next) {
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// The pieces `pm.test("...", function () {` ... `});` leave behind, and lone punctuation.
fn is_structural(s: &str) -> bool {
    let s = s.trim_end_matches(';');
    if s.chars().all(|c| matches!(c, ')' | ',' | ' ')) {
        return true;
    }
    let Some(rest) = s.strip_prefix("pm.test(") else {
        return false;
    };
    let Some((_, after)) = string_literal(rest) else {
        return false;
    };
    matches!(
        after,
        ",function()" | ",function ()" | ",()=>" | ",async function()" | ",async()=>"
    )
}

/// A leading JS string literal: its content and what follows it.
fn string_literal(s: &str) -> Option<(String, &str)> {
    let q = s.chars().next().filter(|c| matches!(c, '"' | '\'' | '`'))?;
    let mut out = String::new();
    let mut chars = s[1..].char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            out.push(chars.next()?.1);
        } else if c == q {
            return Some((out, &s[1 + i + 1..]));
        } else {
            out.push(c);
        }
    }
    None
}

/// `pm.response.to.have.status(200)`, `pm.response.to.be.ok`,
/// `pm.expect(pm.response.code).to.eql(200)` (`equal`, `eq`, `be.equal`),
/// `pm.expect(pm.response.code).to.be.oneOf([200, 201])`.
fn status_check(s: &str) -> Option<Vec<u16>> {
    let s = s.trim_end_matches(';');
    if matches!(s, "pm.response.to.be.ok" | "pm.response.to.be.ok()") {
        return Some(vec![200]);
    }
    if let Some(arg) = call_arg(s, "pm.response.to.have.status(") {
        return arg.parse().ok().map(|c| vec![c]);
    }
    let rest = s
        .strip_prefix("pm.expect(pm.response.code)")
        .or_else(|| s.strip_prefix("pm.expect(pm.response.status)"))
        .or_else(|| s.strip_prefix("pm.expect(responseCode.code)"))?;
    for m in [
        ".to.eql(",
        ".to.equal(",
        ".to.eq(",
        ".to.be.eql(",
        ".to.be.equal(",
    ] {
        if let Some(arg) = call_arg(rest, m) {
            return arg.parse().ok().map(|c| vec![c]);
        }
    }
    let list = call_arg(rest, ".to.be.oneOf(")?;
    let inner = list.strip_prefix('[')?.strip_suffix(']')?;
    inner
        .split(',')
        .map(|c| c.trim().parse().ok())
        .collect::<Option<Vec<u16>>>()
        .filter(|v| !v.is_empty())
}

/// The argument text of `prefix...)` when `s` is exactly that call.
fn call_arg<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    s.strip_prefix(prefix)?.strip_suffix(')')
}

/// `const j = pm.response.json()` / `= JSON.parse(responseBody)`, optionally followed by a
/// path, or `= other_alias.path`: the alias and the JSON pointer it stands for.
fn json_alias(s: &str, aliases: &[(String, String)]) -> Option<(String, String)> {
    let s = s.trim_end_matches(';');
    let rest = ["const ", "let ", "var "]
        .iter()
        .find_map(|k| s.strip_prefix(k))
        .unwrap_or(s);
    let (name, value) = rest.split_once('=')?;
    if !is_ident(name) || value.starts_with('=') {
        return None;
    }
    let pointer = json_source(value, aliases)?;
    Some((name.to_string(), pointer))
}

/// `pm.response.json()PATH`, `JSON.parse(responseBody)PATH` or `alias PATH`: the pointer.
fn json_source(expr: &str, aliases: &[(String, String)]) -> Option<String> {
    for root in ["pm.response.json()", "JSON.parse(responseBody)"] {
        if let Some(path) = expr.strip_prefix(root) {
            return path_pointer(path, "");
        }
    }
    let end = expr.find(['.', '[']).unwrap_or(expr.len());
    let (name, path) = expr.split_at(end);
    let base = aliases.iter().rev().find(|(n, _)| n == name)?;
    path_pointer(path, &base.1)
}

/// `.a.b[0]["c d"]` -> `/a/b/0/c d` (JSON-pointer escaped) after `base`.
fn path_pointer(path: &str, base: &str) -> Option<String> {
    let mut out = base.to_string();
    let mut rest = path;
    while !rest.is_empty() {
        let seg;
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            seg = r[..end].to_string();
            if !is_ident(&seg) {
                return None;
            }
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let close = r.find(']')?;
            let inner = &r[..close];
            seg = if let Some((lit, "")) = string_literal(inner) {
                lit
            } else if inner.chars().all(|c| c.is_ascii_digit()) && !inner.is_empty() {
                inner.to_string()
            } else {
                return None;
            };
            rest = &r[close + 1..];
        } else {
            return None;
        }
        out.push('/');
        out.push_str(&seg.replace('~', "~0").replace('/', "~1"));
    }
    Some(out)
}

/// `pm.environment.set("x", SOURCE)` (also `collectionVariables`, `globals`, `variables`,
/// and the old `postman.setEnvironmentVariable`/`setGlobalVariable`), SOURCE a JSON path
/// or `pm.response.headers.get("Name")`.
fn variable_set(s: &str, aliases: &[(String, String)]) -> Option<(String, ExtractFrom)> {
    let s = s.trim_end_matches(';');
    let args = [
        "pm.environment.set(",
        "pm.collectionVariables.set(",
        "pm.globals.set(",
        "pm.variables.set(",
        "postman.setEnvironmentVariable(",
        "postman.setGlobalVariable(",
    ]
    .iter()
    .find_map(|p| call_arg(s, p))?;
    let (name, rest) = string_literal(args)?;
    let value = rest.strip_prefix(',')?;
    if let Some(h) = call_arg(value, "pm.response.headers.get(")
        .or_else(|| call_arg(value, "pm.response.headers.get("))
        .or_else(|| call_arg(value, "postman.getResponseHeader("))
    {
        let (header, "") = string_literal(h)? else {
            return None;
        };
        return Some((name, ExtractFrom::Header(header)));
    }
    Some((name, ExtractFrom::Json(json_source(value, aliases)?)))
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '$')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<String> {
        s.lines().map(str::to_string).collect()
    }

    #[test]
    fn status_idioms_become_expectations() {
        let c = convert_test(&lines(
            "pm.test(\"Status code is 200\", function () {\n    pm.response.to.have.status(200);\n});",
        ));
        assert_eq!(c.expect, Some(vec![200]));
        assert!(c.unconverted.is_empty(), "{c:?}");
        let c = convert_test(&lines(
            "pm.test('created', () => { pm.expect(pm.response.code).to.be.oneOf([201, 202]); });",
        ));
        assert_eq!(c.expect, Some(vec![201, 202]));
        let c = convert_test(&lines(
            "pm.expect(pm.response.code)\n  .to.eql(204);\npm.response.to.be.ok;",
        ));
        assert_eq!(
            c.expect,
            Some(vec![]),
            "204 and 200 at once: nothing passes"
        );
    }

    #[test]
    fn saving_json_fields_becomes_extractions() {
        let c = convert_test(&lines(
            "const j = pm.response.json();\n\
             pm.environment.set(\"id\", j.id);\n\
             pm.collectionVariables.set('first', pm.response.json().items[0][\"a/b\"]);\n\
             var d = j.data; pm.globals.set(\"token\", d.token)\n\
             pm.environment.set(\"rid\", pm.response.headers.get(\"x-amzn-RequestId\"));",
        ));
        assert_eq!(
            c.extract,
            vec![
                ("id".into(), ExtractFrom::Json("/id".into())),
                ("first".into(), ExtractFrom::Json("/items/0/a~1b".into())),
                ("token".into(), ExtractFrom::Json("/data/token".into())),
                ("rid".into(), ExtractFrom::Header("x-amzn-RequestId".into())),
            ]
        );
        assert!(c.unconverted.is_empty(), "{c:?}");
    }

    #[test]
    fn everything_else_is_reported_with_its_line() {
        let c = convert_test(&lines(
            "// a comment\npm.test(\"name\", function () {\n  pm.expect(pm.response.json().name).to.eql(\"x\");\n});\nconsole.log(\"done\")",
        ));
        assert_eq!(
            c.unconverted,
            vec![
                (
                    3,
                    "pm.expect(pm.response.json().name).to.eql(\"x\");".into()
                ),
                (5, "console.log(\"done\")".into())
            ]
        );
        assert_eq!(c.expect, None);
        assert_eq!(
            statements_of(&lines("pm.variables.set('ts', Date.now());\n\n")),
            vec![(1, "pm.variables.set('ts', Date.now());".into())]
        );
    }
}
