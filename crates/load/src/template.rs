//! Templates in paths, queries, headers and JSON bodies: `${name}` and generator calls.
//!
//! A template is parsed once, when the plan is checked, against the names it may use
//! (scenario variables, feeder columns, extracted variables), so an undefined name or a
//! bad call is a scenario error with a line number rather than a failed request.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One piece of a template.
#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    /// Literal text (scenario variables are resolved into literals when parsed).
    Lit(String),
    /// A variable extracted at run time (`${token}`).
    Var(String),
    /// A feeder column: feeder index and column index.
    Feeder(usize, usize),
    /// `${uuid}`: a random UUID v4.
    Uuid,
    /// `${now}`: RFC 3339 UTC time.
    Now,
    /// `${now_ms}`: Unix milliseconds.
    NowMs,
    /// `${random_int(a,b)}`: an integer in `[a, b]`.
    RandomInt(i64, i64),
    /// `${random_float(a,b)}`: a float in `[a, b)`.
    RandomFloat(f64, f64),
    /// `${random_choice(x,y,z)}`: one of the items.
    Choice(Vec<String>),
}

/// A parsed template.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

/// Names a template may refer to.
pub struct Names<'a> {
    /// Scenario variables with their (already resolved) values.
    pub variables: &'a BTreeMap<String, String>,
    /// Feeder name -> (index, column names).
    pub feeders: &'a [(String, Vec<String>)],
    /// Variables extracted somewhere in the flow.
    pub extracted: &'a BTreeSet<String>,
}

impl Names<'_> {
    /// Checks a header value template: what it renders to from the scenario's variables
    /// (literal text and `${env:…}` values) must not break the header line, or the header
    /// would be dropped or split on the wire.
    pub fn check_header_value(&self, t: &Template) -> Result<(), String> {
        let vars: HashMap<String, String> = self
            .variables
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let value = t.render(&RenderContext {
            vars: &vars,
            rows: &[],
        });
        if value.contains(['\r', '\n']) {
            return Err(
                "the value contains a line break (CR or LF), which cannot be sent in a \
                        header"
                    .into(),
            );
        }
        Ok(())
    }
}

/// What a template needs when it is rendered.
pub struct RenderContext<'a> {
    /// Extracted variables of the virtual user.
    pub vars: &'a HashMap<String, String>,
    /// The current row of each feeder (by feeder index).
    pub rows: &'a [&'a [String]],
}

impl Template {
    /// Parses `text`, resolving names against `names`.
    pub fn parse(text: &str, names: &Names<'_>) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("${") {
            if open > 0 {
                parts.push(Part::Lit(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find('}')
                .ok_or_else(|| format!("unclosed `${{` in `{text}`"))?;
            parts.push(parse_expr(after[..close].trim(), names)?);
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_string()));
        }
        Ok(Self { parts })
    }

    /// A template that is only literal text.
    pub fn literal(text: &str) -> Self {
        Self {
            parts: vec![Part::Lit(text.to_string())],
        }
    }

    /// The parts, for callers that render numbers specially.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// Renders the template.
    pub fn render(&self, ctx: &RenderContext<'_>) -> String {
        let mut out = String::new();
        self.render_into(ctx, &mut out);
        out
    }

    /// Renders the template at the end of `out`.
    pub fn render_into(&self, ctx: &RenderContext<'_>, out: &mut String) {
        for p in &self.parts {
            render_part(p, ctx, out);
        }
    }

    /// The template with `${...}` replaced by `:name`, for default endpoint names.
    pub fn shape(source: &str) -> String {
        let mut out = String::new();
        let mut rest = source;
        while let Some(open) = rest.find("${") {
            out.push_str(&rest[..open]);
            let after = &rest[open + 2..];
            let Some(close) = after.find('}') else {
                break;
            };
            let expr = after[..close].trim();
            let name = expr
                .split(['(', ':'])
                .next()
                .unwrap_or("param")
                .rsplit('.')
                .next()
                .unwrap_or("param");
            out.push(':');
            out.push_str(name);
            rest = &after[close + 1..];
        }
        out.push_str(rest);
        out
    }
}

fn render_part(p: &Part, ctx: &RenderContext<'_>, out: &mut String) {
    use std::fmt::Write;
    match p {
        Part::Lit(s) => out.push_str(s),
        Part::Var(name) => out.push_str(ctx.vars.get(name).map_or("", String::as_str)),
        Part::Feeder(f, c) => {
            if let Some(v) = ctx.rows.get(*f).and_then(|row| row.get(*c)) {
                out.push_str(v);
            }
        }
        Part::Uuid => {
            let a = fastrand::u128(..);
            let mut hex = format!("{a:032x}");
            // Version 4, RFC 4122 variant.
            hex.replace_range(12..13, "4");
            let variant = ["8", "9", "a", "b"][fastrand::usize(..4)];
            hex.replace_range(16..17, variant);
            let _ = write!(
                out,
                "{}-{}-{}-{}-{}",
                &hex[0..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..32]
            );
        }
        Part::Now => {
            out.push_str(&chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        }
        Part::NowMs => {
            let _ = write!(out, "{}", chrono::Utc::now().timestamp_millis());
        }
        Part::RandomInt(a, b) => {
            let _ = write!(out, "{}", fastrand::i64(*a..=*b));
        }
        Part::RandomFloat(a, b) => {
            let _ = write!(out, "{}", a + fastrand::f64() * (b - a));
        }
        Part::Choice(items) => out.push_str(&items[fastrand::usize(..items.len())]),
    }
}

fn parse_expr(expr: &str, names: &Names<'_>) -> Result<Part, String> {
    if let Some(name) = expr.strip_prefix("env:") {
        // `${env:NAME}` only belongs in [variables], where it is resolved once and kept
        // out of every file; anywhere else it would be too easy to log.
        return Err(format!(
            "`${{env:{name}}}` is only allowed in [variables]; define a variable and use `${{its_name}}`"
        ));
    }
    if let Some(open) = expr.find('(') {
        let func = &expr[..open];
        let args = expr[open + 1..]
            .strip_suffix(')')
            .ok_or_else(|| format!("`${{{expr}}}`: missing `)`"))?;
        let args: Vec<&str> = args.split(',').map(str::trim).collect();
        return match func {
            "random_int" => {
                let [a, b] = two(&args, expr)?;
                let (a, b): (i64, i64) = (num(a, expr)?, num(b, expr)?);
                if a > b {
                    return Err(format!(
                        "`${{{expr}}}`: the first bound is above the second"
                    ));
                }
                Ok(Part::RandomInt(a, b))
            }
            "random_float" => {
                let [a, b] = two(&args, expr)?;
                let (a, b): (f64, f64) = (num(a, expr)?, num(b, expr)?);
                if a > b {
                    return Err(format!(
                        "`${{{expr}}}`: the first bound is above the second"
                    ));
                }
                Ok(Part::RandomFloat(a, b))
            }
            "random_choice" => {
                if args.iter().any(|a| a.is_empty()) {
                    return Err(format!("`${{{expr}}}`: empty choice"));
                }
                Ok(Part::Choice(args.iter().map(ToString::to_string).collect()))
            }
            other => Err(format!(
                "unknown function `{other}` (use random_int, random_float, random_choice)"
            )),
        };
    }
    match expr {
        "uuid" => return Ok(Part::Uuid),
        "now" => return Ok(Part::Now),
        "now_ms" => return Ok(Part::NowMs),
        _ => {}
    }
    if let Some(v) = names.variables.get(expr) {
        return Ok(Part::Lit(v.clone()));
    }
    if names.extracted.contains(expr) {
        return Ok(Part::Var(expr.to_string()));
    }
    if let Some((feeder, column)) = expr.split_once('.')
        && let Some(fi) = names.feeders.iter().position(|(n, _)| n == feeder)
    {
        let ci = names.feeders[fi]
            .1
            .iter()
            .position(|c| c == column)
            .ok_or_else(|| format!("feeder `{feeder}` has no column `{column}`"))?;
        return Ok(Part::Feeder(fi, ci));
    }
    Err(format!(
        "undefined variable `{expr}` (not in [variables], not a feeder column, not extracted by any step of this flow)"
    ))
}

fn two<'a>(args: &[&'a str], expr: &str) -> Result<[&'a str; 2], String> {
    match args {
        [a, b] => Ok([a, b]),
        _ => Err(format!("`${{{expr}}}` takes two arguments")),
    }
}

fn num<T: std::str::FromStr>(s: &str, expr: &str) -> Result<T, String> {
    s.parse()
        .map_err(|_| format!("`${{{expr}}}`: `{s}` is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::type_complexity)]
    fn names() -> (
        BTreeMap<String, String>,
        Vec<(String, Vec<String>)>,
        BTreeSet<String>,
    ) {
        let vars = BTreeMap::from([("cat".to_string(), "books".to_string())]);
        let feeders = vec![("users".to_string(), vec!["email".to_string()])];
        let extracted = BTreeSet::from(["token".to_string()]);
        (vars, feeders, extracted)
    }

    #[test]
    #[allow(clippy::many_single_char_names)]
    fn renders_variables_feeders_extracted_and_generators() {
        let (v, f, e) = names();
        let n = Names {
            variables: &v,
            feeders: &f,
            extracted: &e,
        };
        let t =
            Template::parse("/c/${cat}/${users.email}/${token}/${random_int(3,3)}", &n).unwrap();
        let vars = HashMap::from([("token".to_string(), "T".to_string())]);
        let row = vec!["a@b".to_string()];
        let rows = [row.as_slice()];
        let ctx = RenderContext {
            vars: &vars,
            rows: &rows,
        };
        assert_eq!(t.render(&ctx), "/c/books/a@b/T/3");
        let u = Template::parse("${uuid}", &n).unwrap().render(&ctx);
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }

    #[test]
    fn rejects_undefined_names_and_bad_calls() {
        let (v, f, e) = names();
        let n = Names {
            variables: &v,
            feeders: &f,
            extracted: &e,
        };
        assert!(
            Template::parse("${nope}", &n)
                .unwrap_err()
                .contains("undefined variable")
        );
        assert!(Template::parse("${random_int(5,1)}", &n).is_err());
        assert!(Template::parse("${random_int(a,1)}", &n).is_err());
        assert!(Template::parse("${users.phone}", &n).is_err());
        assert!(Template::parse("${oops", &n).is_err());
        assert!(Template::parse("${env:X}", &n).is_err());
    }

    #[test]
    fn shape_names_placeholders() {
        assert_eq!(
            Template::shape("/products/${random_int(1,9)}/x/${users.id}"),
            "/products/:random_int/x/:id"
        );
    }
}
