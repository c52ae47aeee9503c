//! The subset of X-Ray filter expressions GetTraceSummaries understands: `service("name")`,
//! `responsetime`/`duration`/`http.status` compared with a number, the flags `ok`, `fault`,
//! `error`, `throttle`, `annotation.KEY` compared with a string, number or boolean, `!`,
//! `AND`/`OR` (also `&&`/`||`) and parentheses. Anything else is an error naming the
//! unsupported token, which the API turns into `InvalidRequestException` — never a silent
//! "match everything".

use super::summary::{Annotation, Summary};
use crate::api::shared::scan::{Escapes, Scanner, Tokens};

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Both sides match.
    And(Box<Filter>, Box<Filter>),
    /// Either side matches.
    Or(Box<Filter>, Box<Filter>),
    /// The inner expression does not match.
    Not(Box<Filter>),
    /// The trace passed through a service with this name.
    Service(String),
    /// A numeric keyword compared with a number.
    Number(NumberKey, Cmp, f64),
    /// A boolean keyword, optionally compared (`fault = false`).
    Flag(FlagKey, bool),
    /// `annotation.KEY OP value`.
    Annotation(String, Cmp, Annotation),
}

/// Numeric keywords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberKey {
    /// Root segment duration, seconds.
    ResponseTime,
    /// Whole-trace duration, seconds.
    Duration,
    /// HTTP status of the root segment.
    HttpStatus,
}

/// Boolean keywords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagKey {
    /// 2xx, no flag set.
    Ok,
    /// 5xx.
    Fault,
    /// 4xx.
    Error,
    /// 429.
    Throttle,
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `=`
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

impl Cmp {
    fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            Cmp::Eq => ord == Equal,
            Cmp::Ne => ord != Equal,
            Cmp::Lt => ord == Less,
            Cmp::Le => ord != Greater,
            Cmp::Gt => ord == Greater,
            Cmp::Ge => ord != Less,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num(f64),
    Op(Cmp),
    LParen,
    RParen,
    Comma,
    And,
    Or,
    Bang,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Word(w) => w.clone(),
        Tok::Str(s) => format!("\"{s}\""),
        Tok::Num(n) => n.to_string(),
        Tok::Op(_) => "comparison operator".to_owned(),
        Tok::LParen => "(".to_owned(),
        Tok::RParen => ")".to_owned(),
        Tok::Comma => ",".to_owned(),
        Tok::And => "AND".to_owned(),
        Tok::Or => "OR".to_owned(),
        Tok::Bang => "!".to_owned(),
    }
}

fn lex(src: &str) -> Result<Vec<Tok>, String> {
    let mut s = Scanner::new(src);
    let mut out = Vec::new();
    loop {
        s.skip_whitespace();
        let start = s.pos();
        let Some(c) = s.peek() else {
            return Ok(out);
        };
        out.push(match c {
            '"' => s
                .quoted(Escapes::Unescape)
                .map(Tok::Str)
                .ok_or("unterminated string")?,
            c if c.is_ascii_digit()
                || (c == '-' && s.peek_at(1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                s.bump();
                s.skip_while(|d| d.is_ascii_digit() || d == '.');
                let text = s.since(start);
                Tok::Num(
                    text.parse()
                        .map_err(|_| format!("unsupported token `{text}`"))?,
                )
            }
            c if c.is_alphanumeric() || c == '_' || c == '.' => {
                let word =
                    s.take_while(|d| d.is_alphanumeric() || matches!(d, '_' | '.' | '-' | ':'));
                match word.as_str() {
                    "AND" | "and" => Tok::And,
                    "OR" | "or" => Tok::Or,
                    _ => Tok::Word(word),
                }
            }
            _ => {
                s.bump();
                match c {
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    ',' => Tok::Comma,
                    '&' if s.eat('&') => Tok::And,
                    '|' if s.eat('|') => Tok::Or,
                    '!' if s.eat('=') => Tok::Op(Cmp::Ne),
                    '!' => Tok::Bang,
                    '=' => Tok::Op(Cmp::Eq),
                    '<' if s.eat('=') => Tok::Op(Cmp::Le),
                    '<' => Tok::Op(Cmp::Lt),
                    '>' if s.eat('=') => Tok::Op(Cmp::Ge),
                    '>' => Tok::Op(Cmp::Gt),
                    other => return Err(format!("unsupported token `{other}`")),
                }
            }
        });
    }
}

struct Parser<'a> {
    toks: Tokens<'a, Tok>,
}

impl Parser<'_> {
    fn or(&mut self, depth: usize) -> Result<Filter, String> {
        let mut left = self.and(depth)?;
        while self.toks.eat(&Tok::Or) {
            let right = self.and(depth)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize) -> Result<Filter, String> {
        let mut left = self.unary(depth)?;
        while self.toks.eat(&Tok::And) {
            let right = self.unary(depth)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize) -> Result<Filter, String> {
        // Bounds recursion on hostile input such as 10,000 opening parentheses.
        if depth > 64 {
            return Err("expression nested too deeply".to_owned());
        }
        match self.toks.next() {
            Some(Tok::Bang) => Ok(Filter::Not(Box::new(self.unary(depth + 1)?))),
            Some(Tok::LParen) => {
                let inner = self.or(depth + 1)?;
                match self.toks.next() {
                    Some(Tok::RParen) => Ok(inner),
                    Some(t) => Err(format!("expected `)`, found `{}`", describe(t))),
                    None => Err("expected `)` at end of expression".to_owned()),
                }
            }
            Some(Tok::Word(w)) => self.atom(w),
            Some(t) => Err(format!("unexpected token `{}`", describe(t))),
            None => Err("unexpected end of expression".to_owned()),
        }
    }

    fn atom(&mut self, word: &str) -> Result<Filter, String> {
        let lower = word.to_ascii_lowercase();
        match lower.as_str() {
            "service" => {
                self.expect(&Tok::LParen, "(")?;
                let name = match self.toks.next() {
                    Some(Tok::Str(s)) => s.clone(),
                    Some(Tok::RParen) => {
                        return Err("unsupported expression `service()` without a name".into());
                    }
                    Some(t) => {
                        return Err(format!(
                            "unsupported service() argument `{}` (only a quoted name)",
                            describe(t)
                        ));
                    }
                    None => return Err("unexpected end of expression".to_owned()),
                };
                self.expect(&Tok::RParen, ")")?;
                Ok(Filter::Service(name))
            }
            "responsetime" | "duration" | "http.status" => {
                let key = match lower.as_str() {
                    "responsetime" => NumberKey::ResponseTime,
                    "duration" => NumberKey::Duration,
                    _ => NumberKey::HttpStatus,
                };
                let cmp = self.cmp(word)?;
                match self.toks.next() {
                    Some(Tok::Num(n)) => Ok(Filter::Number(key, cmp, *n)),
                    Some(t) => Err(format!("`{word}` needs a number, found `{}`", describe(t))),
                    None => Err(format!("`{word}` needs a number")),
                }
            }
            "ok" | "fault" | "error" | "throttle" => {
                let key = match lower.as_str() {
                    "ok" => FlagKey::Ok,
                    "fault" => FlagKey::Fault,
                    "error" => FlagKey::Error,
                    _ => FlagKey::Throttle,
                };
                if let Some(&Tok::Op(op)) = self.toks.peek() {
                    self.toks.next();
                    let value = match self.toks.next() {
                        Some(Tok::Word(w)) if w.eq_ignore_ascii_case("true") => true,
                        Some(Tok::Word(w)) if w.eq_ignore_ascii_case("false") => false,
                        _ => return Err(format!("`{word}` compares only with true or false")),
                    };
                    return match op {
                        Cmp::Eq => Ok(Filter::Flag(key, value)),
                        Cmp::Ne => Ok(Filter::Flag(key, !value)),
                        _ => Err(format!("`{word}` compares only with = or !=")),
                    };
                }
                Ok(Filter::Flag(key, true))
            }
            _ if lower.starts_with("annotation.") && word.len() > "annotation.".len() => {
                let key = word["annotation.".len()..].to_owned();
                let cmp = self.cmp(word)?;
                let value = match self.toks.next() {
                    Some(Tok::Str(s)) => Annotation::String(s.clone()),
                    Some(Tok::Num(n)) => Annotation::Number(*n),
                    Some(Tok::Word(w)) if w.eq_ignore_ascii_case("true") => Annotation::Bool(true),
                    Some(Tok::Word(w)) if w.eq_ignore_ascii_case("false") => {
                        Annotation::Bool(false)
                    }
                    Some(t) => {
                        return Err(format!(
                            "`{word}` needs a string, number or boolean, found `{}`",
                            describe(t)
                        ));
                    }
                    None => return Err(format!("`{word}` needs a value")),
                };
                Ok(Filter::Annotation(key, cmp, value))
            }
            _ => Err(format!("unsupported keyword `{word}`")),
        }
    }

    fn cmp(&mut self, after: &str) -> Result<Cmp, String> {
        match self.toks.next() {
            Some(Tok::Op(op)) => Ok(*op),
            Some(t) => Err(format!(
                "expected a comparison after `{after}`, found `{}`",
                describe(t)
            )),
            None => Err(format!("expected a comparison after `{after}`")),
        }
    }

    fn expect(&mut self, tok: &Tok, text: &str) -> Result<(), String> {
        match self.toks.next() {
            Some(t) if t == tok => Ok(()),
            Some(t) => Err(format!("expected `{text}`, found `{}`", describe(t))),
            None => Err(format!("expected `{text}` at end of expression")),
        }
    }
}

/// Parses a filter expression; the error names the unsupported or unexpected token.
pub fn parse(src: &str) -> Result<Filter, String> {
    let toks = lex(src)?;
    let mut p = Parser {
        toks: Tokens::new(&toks),
    };
    let f = p.or(0)?;
    match p.toks.next() {
        None => Ok(f),
        Some(t) => Err(format!("unexpected token `{}`", describe(t))),
    }
}

impl Filter {
    /// Whether a trace summary matches.
    pub fn matches(&self, s: &Summary) -> bool {
        match self {
            Filter::And(a, b) => a.matches(s) && b.matches(s),
            Filter::Or(a, b) => a.matches(s) || b.matches(s),
            Filter::Not(a) => !a.matches(s),
            Filter::Service(name) => s.services.iter().any(|svc| &svc.name == name),
            Filter::Number(key, cmp, n) => {
                let v = match key {
                    NumberKey::ResponseTime => Some(s.response_time),
                    NumberKey::Duration => Some(s.duration),
                    NumberKey::HttpStatus => s.http.status.map(f64::from),
                };
                v.and_then(|v| v.partial_cmp(n))
                    .is_some_and(|o| cmp.holds(o))
            }
            Filter::Flag(key, want) => {
                let v = match key {
                    FlagKey::Ok => !(s.has_fault || s.has_error || s.has_throttle),
                    FlagKey::Fault => s.has_fault,
                    FlagKey::Error => s.has_error,
                    FlagKey::Throttle => s.has_throttle,
                };
                v == *want
            }
            Filter::Annotation(key, cmp, want) => s.annotations.get(key).is_some_and(|values| {
                values
                    .iter()
                    .any(|v| compare(v, want).is_some_and(|o| cmp.holds(o)))
            }),
        }
    }
}

fn compare(have: &Annotation, want: &Annotation) -> Option<std::cmp::Ordering> {
    match (have, want) {
        (Annotation::String(a), Annotation::String(b)) => Some(a.cmp(b)),
        (Annotation::Number(a), Annotation::Number(b)) => a.partial_cmp(b),
        (Annotation::Bool(a), Annotation::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::xray::summary::{HttpInfo, ServiceRef};

    fn summary() -> Summary {
        Summary {
            id: "1-5f000000-000000000000000000000001".into(),
            start_time: 1.0,
            duration: 0.8,
            response_time: 0.5,
            has_fault: true,
            has_error: false,
            has_throttle: false,
            is_partial: false,
            http: HttpInfo {
                status: Some(502),
                ..HttpInfo::default()
            },
            services: vec![ServiceRef {
                name: "checkout".into(),
                kind: Some("AWS::Lambda::Function".into()),
            }],
            annotations: [("tenant".to_owned(), vec![Annotation::String("acme".into())])]
                .into_iter()
                .collect(),
        }
    }

    fn m(expr: &str) -> bool {
        parse(expr).unwrap().matches(&summary())
    }

    #[test]
    fn keywords_and_comparisons() {
        assert!(m(r#"service("checkout")"#));
        assert!(!m(r#"service("other")"#));
        assert!(m("responsetime > 0.4"));
        assert!(!m("responsetime > 0.5"));
        assert!(m("duration >= 0.8"));
        assert!(m("http.status = 502"));
        assert!(m("fault"));
        assert!(!m("error"));
        assert!(m("!throttle"));
        assert!(m("fault = true AND error = false"));
        assert!(m(r#"annotation.tenant = "acme""#));
        assert!(!m(r#"annotation.tenant != "acme""#));
        assert!(!m("annotation.missing = 1"));
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_regroup() {
        assert!(m("error AND throttle OR fault"));
        assert!(!m("error AND (throttle OR fault)"));
        assert!(m(
            r#"(service("x") || service("checkout")) && http.status >= 500"#
        ));
    }

    #[test]
    fn unsupported_syntax_names_the_token() {
        let e = parse(r#"edge("a", "b")"#).unwrap_err();
        assert!(e.contains("edge"), "{e}");
        let e = parse("http.url CONTAINS \"x\"").unwrap_err();
        assert!(e.contains("http.url"), "{e}");
        assert!(parse("fault AND").is_err());
        assert!(parse("(fault").is_err());
        assert!(parse(&"(".repeat(10_000)).is_err());
        assert!(parse("responsetime > \"x\"").is_err());
    }
}
