//! CloudWatch metric math, the subset stormwatch's queries use: numbers, query ids,
//! `+ - * /` with the usual precedence and parentheses, unary minus, arrays `[m1, m2]`,
//! `METRICS()` / `METRICS("part of id")`, and the functions `SUM`, `AVG`, `MAX`, `MIN`
//! (over an array: per timestamp; over one series: a scalar) and `FILL(x, number)`.
//!
//! Semantics as CloudWatch documents them: series combine per timestamp and a timestamp
//! missing from either operand is missing from the result (that is what FILL is for);
//! `FILL` fills every period of the query's grid; results that are not finite (x/0) are
//! dropped. Anything else is rejected with a message naming the token.

use std::collections::BTreeMap;

use crate::api::shared::scan::{Escapes, Scanner, Tokens};
use crate::metric_store::Grid;

/// A time series: period start → value.
pub type Series = BTreeMap<u64, f64>;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A number.
    Num(f64),
    /// Another query's id.
    Ref(String),
    /// `-x`.
    Neg(Box<Expr>),
    /// `a op b`.
    Bin(char, Box<Expr>, Box<Expr>),
    /// `[a, b, ...]`.
    List(Vec<Expr>),
    /// `METRICS()` or `METRICS("filter")`.
    Metrics(Option<String>),
    /// `SUM`, `AVG`, `MAX`, `MIN` or `FILL` with arguments.
    Call(Func, Vec<Expr>),
}

/// A supported function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    /// `SUM`.
    Sum,
    /// `AVG`.
    Avg,
    /// `MAX`.
    Max,
    /// `MIN`.
    Min,
    /// `FILL`.
    Fill,
}

/// A value during evaluation.
#[derive(Debug, Clone)]
pub enum Val {
    /// A number.
    Scalar(f64),
    /// One series.
    Series(Series),
    /// Several series.
    Array(Vec<Series>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Ident(String),
    Str(String),
    Sym(char),
}

fn tokenize(src: &str) -> Result<Vec<Tok>, String> {
    let mut s = Scanner::new(src);
    let mut out = Vec::new();
    loop {
        s.skip_while(|c| c.is_ascii_whitespace());
        let start = s.pos();
        let Some(c) = s.peek() else {
            return Ok(out);
        };
        out.push(match c {
            c if c.is_ascii_digit()
                || (c == '.' && s.peek_at(1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                s.skip_while(|d| d.is_ascii_digit() || d == '.');
                if s.eat('e') || s.eat('E') {
                    let _ = s.eat('+') || s.eat('-');
                    s.skip_while(|d| d.is_ascii_digit());
                }
                let text = s.since(start);
                Tok::Num(text.parse().map_err(|_| format!("bad number {text:?}"))?)
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                Tok::Ident(s.take_while(|d| d.is_ascii_alphanumeric() || d == '_'))
            }
            '"' | '\'' => Tok::Str(s.quoted(Escapes::None).ok_or("unterminated string")?),
            c if "+-*/()[],".contains(c) => {
                s.bump();
                Tok::Sym(c)
            }
            _ => {
                let rest: String = (0..12).map_while(|n| s.peek_at(n)).collect();
                return Err(format!("unexpected character at {rest:?}"));
            }
        });
    }
}

struct Parser<'a> {
    toks: Tokens<'a, Tok>,
    depth: usize,
}

impl Parser<'_> {
    fn expect(&mut self, c: char) -> Result<(), String> {
        match self.toks.next() {
            Some(Tok::Sym(s)) if *s == c => Ok(()),
            Some(t) => Err(format!("expected '{c}', found {}", show(t))),
            None => Err(format!("expected '{c}' at the end")),
        }
    }

    fn expr(&mut self) -> Result<Expr, String> {
        self.depth += 1;
        if self.depth > 64 {
            return Err("expression nests too deeply".into());
        }
        let mut lhs = self.term()?;
        while let Some(&Tok::Sym(op @ ('+' | '-'))) = self.toks.peek() {
            self.toks.next();
            lhs = Expr::Bin(op, Box::new(lhs), Box::new(self.term()?));
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn term(&mut self) -> Result<Expr, String> {
        let mut lhs = self.unary()?;
        while let Some(&Tok::Sym(op @ ('*' | '/'))) = self.toks.peek() {
            self.toks.next();
            lhs = Expr::Bin(op, Box::new(lhs), Box::new(self.unary()?));
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.toks.eat(&Tok::Sym('-')) {
            self.depth += 1;
            if self.depth > 64 {
                return Err("expression nests too deeply".into());
            }
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Neg(Box::new(inner)));
        }
        self.primary()
    }

    fn args(&mut self) -> Result<Vec<Expr>, String> {
        self.expect('(')?;
        let mut args = Vec::new();
        if self.toks.eat(&Tok::Sym(')')) {
            return Ok(args);
        }
        loop {
            args.push(self.expr()?);
            match self.toks.next() {
                Some(Tok::Sym(',')) => {}
                Some(Tok::Sym(')')) => return Ok(args),
                Some(t) => return Err(format!("expected ',' or ')', found {}", show(t))),
                None => return Err("missing ')'".into()),
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.toks.next() {
            Some(Tok::Num(n)) => Ok(Expr::Num(*n)),
            Some(Tok::Sym('(')) => {
                let e = self.expr()?;
                self.expect(')')?;
                Ok(e)
            }
            Some(Tok::Sym('[')) => {
                let mut items = vec![self.expr()?];
                loop {
                    match self.toks.next() {
                        Some(Tok::Sym(',')) => items.push(self.expr()?),
                        Some(Tok::Sym(']')) => return Ok(Expr::List(items)),
                        Some(t) => return Err(format!("expected ',' or ']', found {}", show(t))),
                        None => return Err("missing ']'".into()),
                    }
                }
            }
            Some(Tok::Ident(name)) if self.toks.peek() == Some(&Tok::Sym('(')) => {
                if name == "METRICS" {
                    self.toks.next();
                    let filter = match self.toks.next() {
                        Some(Tok::Sym(')')) => return Ok(Expr::Metrics(None)),
                        Some(Tok::Str(s)) => s.clone(),
                        Some(t) => {
                            return Err(format!("METRICS takes a string, found {}", show(t)));
                        }
                        None => return Err("missing ')'".into()),
                    };
                    self.expect(')')?;
                    return Ok(Expr::Metrics(Some(filter)));
                }
                let func = match name.as_str() {
                    "SUM" => Func::Sum,
                    "AVG" => Func::Avg,
                    "MAX" => Func::Max,
                    "MIN" => Func::Min,
                    "FILL" => Func::Fill,
                    _ => {
                        return Err(format!(
                            "unsupported function {name} (the sandbox supports SUM, AVG, MAX, MIN, FILL, METRICS)"
                        ));
                    }
                };
                let args = self.args()?;
                let want = if func == Func::Fill { 2 } else { 1 };
                if args.len() != want {
                    return Err(format!(
                        "{name} takes {want} argument(s), got {}",
                        args.len()
                    ));
                }
                Ok(Expr::Call(func, args))
            }
            Some(Tok::Ident(name)) => Ok(Expr::Ref(name.clone())),
            Some(t) => Err(format!("unexpected {}", show(t))),
            None => Err("unexpected end of expression".into()),
        }
    }
}

fn show(t: &Tok) -> String {
    match t {
        Tok::Num(n) => format!("number {n}"),
        Tok::Ident(s) => format!("{s:?}"),
        Tok::Str(s) => format!("string {s:?}"),
        Tok::Sym(c) => format!("'{c}'"),
    }
}

/// Parses an expression.
pub fn parse(s: &str) -> Result<Expr, String> {
    let toks = tokenize(s)?;
    let mut p = Parser {
        toks: Tokens::new(&toks),
        depth: 0,
    };
    let e = p.expr()?;
    match p.toks.next() {
        None => Ok(e),
        Some(t) => Err(format!("unexpected {} after the expression", show(t))),
    }
}

impl Expr {
    /// Ids this expression reads (`METRICS` reads every metric id passed in `metric_ids`).
    pub fn refs(&self, metric_ids: &[&str], out: &mut Vec<String>) {
        match self {
            Expr::Num(_) => {}
            Expr::Ref(id) => out.push(id.clone()),
            Expr::Neg(e) => e.refs(metric_ids, out),
            Expr::Bin(_, a, b) => {
                a.refs(metric_ids, out);
                b.refs(metric_ids, out);
            }
            Expr::List(items) | Expr::Call(_, items) => {
                for i in items {
                    i.refs(metric_ids, out);
                }
            }
            Expr::Metrics(filter) => out.extend(
                metric_ids
                    .iter()
                    .filter(|id| filter.as_ref().is_none_or(|f| id.contains(f.as_str())))
                    .map(|id| (*id).to_owned()),
            ),
        }
    }
}

/// What evaluation reads: other results, the metric ids (for METRICS) and the grid (FILL).
pub struct Env<'a> {
    /// Results of other queries by id.
    pub lookup: &'a dyn Fn(&str) -> Option<&'a Series>,
    /// Ids of MetricStat queries, in request order.
    pub metric_ids: &'a [&'a str],
    /// The query's period grid.
    pub grid: Grid,
}

fn binop(op: char, a: f64, b: f64) -> f64 {
    match op {
        '+' => a + b,
        '-' => a - b,
        '*' => a * b,
        _ => a / b,
    }
}

fn finite(s: Series) -> Series {
    s.into_iter().filter(|(_, v)| v.is_finite()).collect()
}

fn combine(op: char, a: Val, b: Val) -> Result<Val, String> {
    use Val::{Array, Scalar, Series as S};
    Ok(match (a, b) {
        (Scalar(x), Scalar(y)) => Scalar(binop(op, x, y)),
        (S(s), Scalar(y)) => S(finite(
            s.into_iter().map(|(t, v)| (t, binop(op, v, y))).collect(),
        )),
        (Scalar(x), S(s)) => S(finite(
            s.into_iter().map(|(t, v)| (t, binop(op, x, v))).collect(),
        )),
        (S(a), S(b)) => S(finite(
            a.iter()
                .filter_map(|(t, x)| b.get(t).map(|y| (*t, binop(op, *x, *y))))
                .collect(),
        )),
        (Array(items), other) => Array(
            items
                .into_iter()
                .map(|s| match combine(op, S(s), other.clone())? {
                    S(s) => Ok(s),
                    _ => Err("an array cannot be combined with an array".to_owned()),
                })
                .collect::<Result<_, _>>()?,
        ),
        (other @ (Scalar(_) | S(_)), Array(items)) => Array(
            items
                .into_iter()
                .map(|s| match combine(op, other.clone(), S(s))? {
                    S(s) => Ok(s),
                    _ => Err("an array cannot be combined with an array".to_owned()),
                })
                .collect::<Result<_, _>>()?,
        ),
    })
}

fn reduce(func: Func, values: impl Iterator<Item = f64>) -> Option<f64> {
    let (mut n, mut sum, mut min, mut max) = (0u64, 0.0, f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        n += 1;
        sum += v;
        min = min.min(v);
        max = max.max(v);
    }
    (n > 0).then(|| match func {
        Func::Sum => sum,
        Func::Avg => sum / n as f64,
        Func::Max => max,
        _ => min,
    })
}

/// Evaluates an expression.
pub fn eval(e: &Expr, env: &Env<'_>) -> Result<Val, String> {
    match e {
        Expr::Num(n) => Ok(Val::Scalar(*n)),
        Expr::Ref(id) => (env.lookup)(id)
            .map(|s| Val::Series(s.clone()))
            .ok_or_else(|| format!("unknown metric id {id:?}")),
        Expr::Neg(inner) => combine('*', Val::Scalar(-1.0), eval(inner, env)?),
        Expr::Bin(op, a, b) => combine(*op, eval(a, env)?, eval(b, env)?),
        Expr::List(items) => {
            let mut out = Vec::new();
            for i in items {
                match eval(i, env)? {
                    Val::Series(s) => out.push(s),
                    Val::Array(a) => out.extend(a),
                    Val::Scalar(_) => return Err("an array holds time series, not numbers".into()),
                }
            }
            Ok(Val::Array(out))
        }
        Expr::Metrics(filter) => Ok(Val::Array(
            env.metric_ids
                .iter()
                .filter(|id| filter.as_ref().is_none_or(|f| id.contains(f.as_str())))
                .filter_map(|id| (env.lookup)(id).cloned())
                .collect(),
        )),
        Expr::Call(Func::Fill, args) => {
            let Val::Scalar(fill) = eval(&args[1], env)? else {
                return Err(
                    "FILL's second argument must be a number (REPEAT and LINEAR are not supported)"
                        .into(),
                );
            };
            let fill_one = |mut s: Series| {
                let g = env.grid;
                let mut t = g.start;
                // Bounded: the grid is checked against the datapoint limit before evaluation.
                while t < g.end {
                    s.entry(t).or_insert(fill);
                    t += g.period.max(1);
                }
                s
            };
            match eval(&args[0], env)? {
                Val::Series(s) => Ok(Val::Series(fill_one(s))),
                Val::Array(a) => Ok(Val::Array(a.into_iter().map(fill_one).collect())),
                Val::Scalar(_) => Err("FILL's first argument must be a time series".into()),
            }
        }
        Expr::Call(func, args) => match eval(&args[0], env)? {
            Val::Scalar(x) => Ok(Val::Scalar(x)),
            Val::Series(s) => Ok(Val::Scalar(
                reduce(*func, s.values().copied()).unwrap_or(f64::NAN),
            )),
            Val::Array(items) => {
                let mut by_time: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
                for s in &items {
                    for (t, v) in s {
                        by_time.entry(*t).or_default().push(*v);
                    }
                }
                Ok(Val::Series(
                    by_time
                        .into_iter()
                        .filter_map(|(t, vs)| reduce(*func, vs.into_iter()).map(|v| (t, v)))
                        .collect(),
                ))
            }
        },
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp, reason = "values computed from exact inputs")]
mod tests {
    use super::*;

    fn series(points: &[(u64, f64)]) -> Series {
        points.iter().copied().collect()
    }

    fn run(expr: &str, data: &[(&str, Series)]) -> Result<Val, String> {
        let e = parse(expr)?;
        let lookup = |id: &str| data.iter().find(|(n, _)| *n == id).map(|(_, s)| s);
        let ids: Vec<&str> = data.iter().map(|(n, _)| *n).collect();
        let env = Env {
            lookup: &lookup,
            metric_ids: &ids,
            grid: Grid {
                start: 0,
                end: 240,
                period: 60,
            },
        };
        eval(&e, &env)
    }

    fn as_series(v: Val) -> Series {
        match v {
            Val::Series(s) => s,
            other => panic!("not a series: {other:?}"),
        }
    }

    #[test]
    fn arithmetic_precedence_and_missing_points() {
        let m1 = series(&[(0, 10.0), (60, 20.0), (120, 30.0)]);
        let m2 = series(&[(0, 2.0), (120, 0.0)]);
        let data = [("m1", m1), ("m2", m2)];
        let r = as_series(run("m1 + m2 * 2", &data).unwrap());
        assert_eq!(r, series(&[(0, 14.0), (120, 30.0)]));
        let r = as_series(run("100 * m2 / m1", &data).unwrap());
        assert_eq!(r, series(&[(0, 20.0), (120, 0.0)]));
        let r = as_series(run("m1 / m2", &data).unwrap());
        assert_eq!(r, series(&[(0, 5.0)]), "x/0 is dropped");
        let r = as_series(run("-(m1 - 5)", &data).unwrap());
        assert_eq!(r[&60], -15.0);
    }

    #[test]
    fn functions_over_arrays_and_series() {
        let m1 = series(&[(0, 10.0), (60, 20.0)]);
        let m2 = series(&[(0, 2.0), (120, 4.0)]);
        let data = [("m1", m1), ("m2", m2)];
        let r = as_series(run("SUM([m1, m2])", &data).unwrap());
        assert_eq!(r, series(&[(0, 12.0), (60, 20.0), (120, 4.0)]));
        let r = as_series(run("MAX(METRICS())", &data).unwrap());
        assert_eq!(r, series(&[(0, 10.0), (60, 20.0), (120, 4.0)]));
        let r = as_series(run("AVG(METRICS(\"2\"))", &data).unwrap());
        assert_eq!(r, series(&[(0, 2.0), (120, 4.0)]));
        assert!(matches!(run("AVG(m1)", &data).unwrap(), Val::Scalar(v) if v == 15.0));
        assert!(matches!(run("MIN(m2)", &data).unwrap(), Val::Scalar(v) if v == 2.0));
        let r = as_series(run("FILL(m2, 0)", &data).unwrap());
        assert_eq!(r, series(&[(0, 2.0), (60, 0.0), (120, 4.0), (180, 0.0)]));
        let r = as_series(run("m1 + FILL(m2, 0)", &data).unwrap());
        assert_eq!(r, series(&[(0, 12.0), (60, 20.0)]));
    }

    #[test]
    fn errors_name_the_problem() {
        let data = [("m1", series(&[(0, 1.0)]))];
        for (expr, needle) in [
            ("m1 +", "end of expression"),
            ("RATE(m1)", "unsupported function RATE"),
            ("FILL(m1, REPEAT)", "unknown metric id \"REPEAT\""),
            ("m9", "unknown metric id \"m9\""),
            ("(m1", "expected ')'"),
            ("m1 $ 2", "unexpected character"),
            ("SUM(m1, m1)", "takes 1 argument"),
        ] {
            let err = run(expr, &data).unwrap_err();
            assert!(err.contains(needle), "{expr}: {err}");
        }
        let deep = format!("{}m1{}", "(".repeat(500), ")".repeat(500));
        assert!(run(&deep, &data).unwrap_err().contains("deeply"));
    }
}
