//! Parser for the subset of the Logs Insights query language the sandbox runs: `fields`,
//! `display`, `filter` (comparisons, `like`/`not like`/`=~` with `/regex/` or a quoted
//! substring, `ispresent()`, `not`, `and`/`or`, parentheses), `parse` (glob with `*` or a
//! regex with named groups), `stats count(*)/count(f)/sum/avg/min/max/pct(f, N) [as name]
//! [by bin(N{ms,s,m,h,d}) | field, ...]`, `sort f [asc|desc], ...` and `limit N`, joined by
//! `|`. Anything else is a [`QueryError`] naming the token and its character offsets, which
//! StartQuery returns as `MalformedQueryException`.

mod lex;

use lex::{Spanned, Tok, err, lex};
use regex::Regex;

use crate::api::shared::scan::Tokens;

/// A syntax error with the offending character range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// What is wrong, naming the token.
    pub message: String,
    /// First character offset.
    pub start: usize,
    /// Last character offset (inclusive).
    pub end: usize,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `=` or `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A field reference.
    Field(String),
    /// A number literal.
    Num(f64),
    /// A string literal.
    Str(String),
}

/// How `like` matches.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// `/regex/`.
    Regex(Regex),
    /// `"substring"`.
    Substring(String),
}

/// A filter condition.
#[derive(Debug, Clone)]
pub enum Cond {
    /// Both.
    And(Box<Cond>, Box<Cond>),
    /// Either.
    Or(Box<Cond>, Box<Cond>),
    /// Negation.
    Not(Box<Cond>),
    /// `a OP b`.
    Compare(Operand, Cmp, Operand),
    /// `field like ...`.
    Like(String, Matcher),
    /// `ispresent(field)`.
    IsPresent(String),
}

/// An aggregate function.
#[derive(Debug, Clone, PartialEq)]
pub enum AggFn {
    /// `count(*)`.
    CountAll,
    /// `count(field)`: events where the field is present.
    Count(String),
    /// `sum(field)`.
    Sum(String),
    /// `avg(field)`.
    Avg(String),
    /// `min(field)`.
    Min(String),
    /// `max(field)`.
    Max(String),
    /// `pct(field, N)`.
    Pct(String, f64),
}

/// One `stats` output column.
#[derive(Debug, Clone, PartialEq)]
pub struct Agg {
    /// The function.
    pub func: AggFn,
    /// The column name: the alias, or the expression as written.
    pub name: String,
}

/// One `by` key.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupKey {
    /// `bin(period)`: the period in milliseconds and the column name.
    Bin(u64, String),
    /// A field, and the column name.
    Field(String, String),
}

/// How `parse` extracts fields.
#[derive(Debug, Clone)]
pub struct ParseSpec {
    /// The source field (`@message` when omitted).
    pub field: String,
    /// Compiled pattern; captures in order (glob) or by name (regex).
    pub regex: Regex,
    /// Output field names, in capture order.
    pub names: Vec<String>,
}

/// One pipeline stage.
#[derive(Debug, Clone)]
pub enum Command {
    /// `fields a, b` / `display a, b`: the output columns.
    Fields(Vec<String>),
    /// `filter cond`.
    Filter(Cond),
    /// `parse`.
    Parse(ParseSpec),
    /// `stats`.
    Stats(Vec<Agg>, Vec<GroupKey>),
    /// `sort` keys, true = descending.
    Sort(Vec<(String, bool)>),
    /// `limit N`.
    Limit(usize),
}

struct Parser<'a> {
    toks: Tokens<'a, Spanned>,
    /// Offset of the end of the stage, for errors at its end.
    end: usize,
}

impl<'a> Parser<'a> {
    fn next(&mut self) -> Result<&'a Spanned, QueryError> {
        self.toks
            .next()
            .ok_or_else(|| err("unexpected end of query", self.end, self.end))
    }

    /// Takes the next token if it is `tok`.
    fn eat(&mut self, tok: &Tok) -> bool {
        self.toks.eat_if(|t| &t.tok == tok)
    }

    fn unexpected(t: &Spanned) -> QueryError {
        err(format!("unexpected token `{}`", t.text), t.start, t.end)
    }

    /// Takes the next token if it is the keyword `word`, in any case.
    fn keyword(&mut self, word: &str) -> bool {
        self.toks
            .eat_if(|t| matches!(&t.tok, Tok::Ident(w) if w.eq_ignore_ascii_case(word)))
    }

    fn expect(&mut self, tok: &Tok) -> Result<(), QueryError> {
        let t = self.next()?;
        if &t.tok == tok {
            Ok(())
        } else {
            Err(Self::unexpected(t))
        }
    }

    fn field(&mut self) -> Result<String, QueryError> {
        let t = self.next()?;
        match &t.tok {
            Tok::Ident(name) if !is_reserved(name) => Ok(name.clone()),
            _ => Err(err(
                format!("expected a field name, found `{}`", t.text),
                t.start,
                t.end,
            )),
        }
    }

    fn field_list(&mut self) -> Result<Vec<String>, QueryError> {
        let mut names = vec![self.field()?];
        while self.eat(&Tok::Comma) {
            names.push(self.field()?);
        }
        Ok(names)
    }

    fn or(&mut self, depth: usize) -> Result<Cond, QueryError> {
        let mut left = self.and(depth)?;
        while self.keyword("or") {
            left = Cond::Or(Box::new(left), Box::new(self.and(depth)?));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize) -> Result<Cond, QueryError> {
        let mut left = self.unary(depth)?;
        while self.keyword("and") {
            left = Cond::And(Box::new(left), Box::new(self.unary(depth)?));
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize) -> Result<Cond, QueryError> {
        if depth > 64 {
            return Err(err("condition nested too deeply", self.end, self.end));
        }
        if self.keyword("not") {
            return Ok(Cond::Not(Box::new(self.unary(depth + 1)?)));
        }
        if self.eat(&Tok::LParen) {
            let inner = self.or(depth + 1)?;
            self.expect(&Tok::RParen)?;
            return Ok(inner);
        }
        if self.keyword("ispresent") {
            self.expect(&Tok::LParen)?;
            let f = self.field()?;
            self.expect(&Tok::RParen)?;
            return Ok(Cond::IsPresent(f));
        }
        let left = self.operand()?;
        let t = self.next()?.clone();
        match &t.tok {
            Tok::Op(op) => Ok(Cond::Compare(left, *op, self.operand()?)),
            Tok::Match => Ok(Cond::Like(field_of(&left, &t)?, self.matcher()?)),
            Tok::Ident(w) if w.eq_ignore_ascii_case("like") => {
                Ok(Cond::Like(field_of(&left, &t)?, self.matcher()?))
            }
            Tok::Ident(w) if w.eq_ignore_ascii_case("not") && self.keyword("like") => {
                let f = field_of(&left, &t)?;
                Ok(Cond::Not(Box::new(Cond::Like(f, self.matcher()?))))
            }
            _ => Err(err(
                format!("unsupported operator `{}` in filter", t.text),
                t.start,
                t.end,
            )),
        }
    }

    fn operand(&mut self) -> Result<Operand, QueryError> {
        let t = self.next()?;
        match &t.tok {
            Tok::Num(n) => Ok(Operand::Num(*n)),
            Tok::Str(s) => Ok(Operand::Str(s.clone())),
            Tok::Ident(name) if !is_reserved(name) => {
                if self.toks.peek().is_some_and(|n| n.tok == Tok::LParen) {
                    return Err(err(
                        format!("unsupported function `{name}`"),
                        t.start,
                        t.end,
                    ));
                }
                Ok(Operand::Field(name.clone()))
            }
            _ => Err(Self::unexpected(t)),
        }
    }

    fn matcher(&mut self) -> Result<Matcher, QueryError> {
        let t = self.next()?;
        match &t.tok {
            Tok::Regex(re) => Regex::new(re)
                .map(Matcher::Regex)
                .map_err(|e| err(format!("invalid regex: {e}"), t.start, t.end)),
            Tok::Str(s) => Ok(Matcher::Substring(s.clone())),
            _ => Err(err(
                format!("expected /regex/ or a string, found `{}`", t.text),
                t.start,
                t.end,
            )),
        }
    }

    fn stats(&mut self) -> Result<Command, QueryError> {
        let mut aggs = Vec::new();
        loop {
            aggs.push(self.agg()?);
            if !self.eat(&Tok::Comma) {
                break;
            }
        }
        let mut by = Vec::new();
        if self.keyword("by") {
            loop {
                by.push(self.group_key()?);
                if !self.eat(&Tok::Comma) {
                    break;
                }
            }
        }
        Ok(Command::Stats(aggs, by))
    }

    fn alias(&mut self) -> Result<Option<String>, QueryError> {
        if self.keyword("as") {
            return self.field().map(Some);
        }
        Ok(None)
    }

    fn source_text(&self, from: usize) -> String {
        let mut s = String::new();
        for t in self.toks.since(from) {
            if t.tok == Tok::Comma {
                s.push_str(", ");
            } else {
                s.push_str(&t.text);
            }
        }
        s
    }

    fn agg(&mut self) -> Result<Agg, QueryError> {
        let from = self.toks.pos();
        let t = self.next()?.clone();
        let Tok::Ident(name) = &t.tok else {
            return Err(Self::unexpected(&t));
        };
        let lower = name.to_ascii_lowercase();
        self.expect(&Tok::LParen)?;
        let func = match lower.as_str() {
            "count" if self.eat(&Tok::Star) => AggFn::CountAll,
            "count" => AggFn::Count(self.field()?),
            "sum" => AggFn::Sum(self.field()?),
            "avg" => AggFn::Avg(self.field()?),
            "min" => AggFn::Min(self.field()?),
            "max" => AggFn::Max(self.field()?),
            "pct" | "percentile" => {
                let f = self.field()?;
                self.expect(&Tok::Comma)?;
                let t = self.next()?;
                match t.tok {
                    Tok::Num(n) if (0.0..=100.0).contains(&n) => AggFn::Pct(f, n),
                    _ => return Err(err("pct() needs a percentile 0..100", t.start, t.end)),
                }
            }
            _ => {
                return Err(err(
                    format!("unsupported stats function `{name}`"),
                    t.start,
                    t.end,
                ));
            }
        };
        if let Some(t) = self.toks.peek()
            && t.tok != Tok::RParen
        {
            return Err(err(
                format!("unsupported expression `{}` in {name}()", t.text),
                t.start,
                t.end,
            ));
        }
        self.expect(&Tok::RParen)?;
        let written = self.source_text(from);
        let name = self.alias()?.unwrap_or(written);
        Ok(Agg { func, name })
    }

    fn group_key(&mut self) -> Result<GroupKey, QueryError> {
        let from = self.toks.pos();
        if self.keyword("bin") {
            self.expect(&Tok::LParen)?;
            let t = self.next()?.clone();
            let period = match &t.tok {
                Tok::Ident(s) => parse_period(s),
                _ => None,
            }
            .ok_or_else(|| err(format!("invalid bin period `{}`", t.text), t.start, t.end))?;
            self.expect(&Tok::RParen)?;
            let written = self.source_text(from);
            return Ok(GroupKey::Bin(period, self.alias()?.unwrap_or(written)));
        }
        let f = self.field()?;
        let name = self.alias()?.unwrap_or_else(|| f.clone());
        Ok(GroupKey::Field(f, name))
    }

    fn parse_command(&mut self) -> Result<Command, QueryError> {
        // `parse [field] "glob" as a, b` or `parse [field] /(?<a>..)/`.
        let field = match self.toks.peek().map(|t| &t.tok) {
            Some(Tok::Ident(_)) => self.field()?,
            _ => "@message".to_owned(),
        };
        let t = self.next()?.clone();
        match &t.tok {
            Tok::Str(glob) => {
                let stars = glob.matches('*').count();
                if stars == 0 {
                    return Err(err("parse pattern has no `*`", t.start, t.end));
                }
                if !self.keyword("as") {
                    return Err(err("parse with a glob pattern needs `as`", t.start, t.end));
                }
                let names = self.field_list()?;
                if names.len() != stars {
                    return Err(err(
                        format!("parse pattern has {stars} `*` but {} names", names.len()),
                        t.start,
                        t.end,
                    ));
                }
                let mut re = String::new();
                let parts: Vec<&str> = glob.split('*').collect();
                for (i, part) in parts.iter().enumerate() {
                    re.push_str(&regex::escape(part));
                    if i + 1 < parts.len() {
                        re.push_str(if i + 2 == parts.len() && parts[i + 1].is_empty() {
                            "(.*)"
                        } else {
                            "(.*?)"
                        });
                    }
                }
                let regex = Regex::new(&re).map_err(|e| err(e.to_string(), t.start, t.end))?;
                Ok(Command::Parse(ParseSpec {
                    field,
                    regex,
                    names,
                }))
            }
            Tok::Regex(re) => {
                let regex = Regex::new(re)
                    .map_err(|e| err(format!("invalid regex: {e}"), t.start, t.end))?;
                let names: Vec<String> =
                    regex.capture_names().flatten().map(str::to_owned).collect();
                if names.is_empty() {
                    return Err(err(
                        "parse regex needs named groups (?<name>...)",
                        t.start,
                        t.end,
                    ));
                }
                Ok(Command::Parse(ParseSpec {
                    field,
                    regex,
                    names,
                }))
            }
            _ => Err(err(
                format!("expected a parse pattern, found `{}`", t.text),
                t.start,
                t.end,
            )),
        }
    }

    fn command(&mut self) -> Result<Command, QueryError> {
        let t = self.next()?.clone();
        let Tok::Ident(word) = &t.tok else {
            return Err(Self::unexpected(&t));
        };
        let cmd = match word.to_ascii_lowercase().as_str() {
            "fields" | "display" => Command::Fields(self.field_list()?),
            "filter" => Command::Filter(self.or(0)?),
            "parse" => self.parse_command()?,
            "stats" => self.stats()?,
            "sort" => {
                let mut keys = Vec::new();
                loop {
                    let f = self.field()?;
                    let desc = self.keyword("desc");
                    if !desc {
                        self.keyword("asc");
                    }
                    keys.push((f, desc));
                    if !self.eat(&Tok::Comma) {
                        break;
                    }
                }
                Command::Sort(keys)
            }
            "limit" => {
                let t = self.next()?;
                match t.tok {
                    Tok::Num(n) if n >= 1.0 && n.fract() == 0.0 && n <= 10_000.0 => {
                        Command::Limit(n as usize)
                    }
                    _ => return Err(err("limit needs an integer 1..10000", t.start, t.end)),
                }
            }
            _ => {
                return Err(err(format!("unsupported command `{word}`"), t.start, t.end));
            }
        };
        if let Some(t) = self.toks.peek() {
            return Err(Self::unexpected(t));
        }
        Ok(cmd)
    }
}

fn is_reserved(word: &str) -> bool {
    ["and", "or", "not", "like", "as", "by", "asc", "desc"]
        .iter()
        .any(|k| word.eq_ignore_ascii_case(k))
}

fn field_of(op: &Operand, at: &Spanned) -> Result<String, QueryError> {
    match op {
        Operand::Field(f) => Ok(f.clone()),
        _ => Err(err("like needs a field on its left", at.start, at.end)),
    }
}

/// `5m` → 300,000 ms. Units: ms, s, m, h, d.
pub fn parse_period(s: &str) -> Option<u64> {
    let digits = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(digits);
    let n: u64 = n.parse().ok()?;
    let unit_ms = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    (n > 0).then(|| n.saturating_mul(unit_ms))
}

/// Parses a whole query into its pipeline.
pub fn parse(src: &str) -> Result<Vec<Command>, QueryError> {
    let toks = lex(src)?;
    let mut commands = Vec::new();
    for stage in toks.split(|t| t.tok == Tok::Pipe) {
        let end = stage
            .last()
            .map_or(src.chars().count().saturating_sub(1), |t| t.end);
        if stage.is_empty() {
            return Err(err("empty command between `|`", end, end));
        }
        let mut p = Parser {
            toks: Tokens::new(stage),
            end,
        };
        commands.push(p.command()?);
    }
    Ok(commands)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_cold_start_query() {
        let q = parse(
            r#"filter @type = "REPORT" and ispresent(@initDuration)
               | stats count(*), avg(@initDuration), pct(@initDuration, 99) as p99 by bin(1m)"#,
        )
        .unwrap();
        assert_eq!(q.len(), 2);
        let Command::Stats(aggs, by) = &q[1] else {
            panic!("{q:?}")
        };
        assert_eq!(aggs[0].name, "count(*)");
        assert_eq!(aggs[1].name, "avg(@initDuration)");
        assert_eq!(aggs[2].name, "p99");
        assert_eq!(by[0], GroupKey::Bin(60_000, "bin(1m)".into()));
    }

    #[test]
    fn parses_fields_sort_limit_parse_and_like() {
        let q = parse(
            "fields @timestamp, @message | parse @message \"Duration: * ms\" as d | filter @message like /Init/ or d > 5 | sort @timestamp desc | limit 20",
        )
        .unwrap();
        assert_eq!(q.len(), 5);
        assert!(matches!(&q[3], Command::Sort(k) if k[0] == ("@timestamp".to_owned(), true)));
        assert!(matches!(q[4], Command::Limit(20)));
    }

    #[test]
    fn unsupported_syntax_names_the_token_and_its_place() {
        let e = parse("fields @message | dedup @requestId").unwrap_err();
        assert!(e.message.contains("dedup"), "{e:?}");
        assert_eq!(e.start, 18);
        let e = parse("stats median(@duration)").unwrap_err();
        assert!(e.message.contains("median"));
        let e = parse("filter @duration in [1, 2]").unwrap_err();
        assert!(e.message.contains("in"), "{e:?}");
        assert!(parse("filter (").is_err());
        assert!(parse("stats count(*) by bin(5x)").is_err());
        assert!(parse("fields @a |").is_err());
        assert!(parse(&format!("filter {}", "(".repeat(5000))).is_err());
    }
}
