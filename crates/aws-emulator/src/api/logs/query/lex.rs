//! The Logs Insights lexer: tokens with their character offsets, so errors can point at
//! the token they are about.

use super::{Cmp, QueryError};
use crate::api::shared::scan::{Escapes, Scanner};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Ident(String),
    Str(String),
    Regex(String),
    Num(f64),
    Op(Cmp),
    Match,
    LParen,
    RParen,
    Comma,
    Star,
    Pipe,
    /// Punctuation the subset has no use for; the parser names it.
    Other,
}

#[derive(Debug, Clone)]
pub(super) struct Spanned {
    pub(super) tok: Tok,
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) text: String,
}

pub(super) fn err(message: impl Into<String>, start: usize, end: usize) -> QueryError {
    QueryError {
        message: message.into(),
        start,
        end,
    }
}

pub(super) fn lex(src: &str) -> Result<Vec<Spanned>, QueryError> {
    let mut s = Scanner::new(src);
    let mut out: Vec<Spanned> = Vec::new();
    loop {
        s.skip_whitespace();
        let start = s.pos();
        let Some(c) = s.peek() else {
            return Ok(out);
        };
        let tok = match c {
            '#' => {
                // A comment runs to the end of the line.
                s.skip_while(|c| c != '\n');
                continue;
            }
            '"' | '\'' | '`' | '/' => {
                // Regexes keep their escapes; strings unescape.
                let escapes = if c == '/' {
                    Escapes::KeepUnlessQuote
                } else {
                    Escapes::Unescape
                };
                let text = s
                    .quoted(escapes)
                    .ok_or_else(|| err(format!("unterminated `{c}`"), start, s.last()))?;
                match c {
                    '/' => Tok::Regex(text),
                    '`' => Tok::Ident(text),
                    _ => Tok::Str(text),
                }
            }
            c if c.is_ascii_digit()
                || (c == '-' && s.peek_at(1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                s.bump();
                s.skip_while(|d| d.is_ascii_alphanumeric() || d == '.');
                let text = s.since(start);
                match text.parse() {
                    Ok(n) => Tok::Num(n),
                    // `5m` inside bin() is an identifier-like duration.
                    Err(_) => Tok::Ident(text),
                }
            }
            c if c.is_alphanumeric() || c == '@' || c == '_' || c == '$' => {
                Tok::Ident(s.take_while(|d| {
                    d.is_alphanumeric() || matches!(d, '@' | '_' | '.' | '$' | '-')
                }))
            }
            _ => {
                s.bump();
                match c {
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    ',' => Tok::Comma,
                    '*' => Tok::Star,
                    '|' => Tok::Pipe,
                    '=' if s.eat('~') => Tok::Match,
                    '=' => {
                        s.eat('=');
                        Tok::Op(Cmp::Eq)
                    }
                    '!' if s.eat('=') => Tok::Op(Cmp::Ne),
                    '!' => return Err(err(format!("unsupported token `{c}`"), start, start)),
                    '<' if s.eat('=') => Tok::Op(Cmp::Le),
                    '<' => Tok::Op(Cmp::Lt),
                    '>' if s.eat('=') => Tok::Op(Cmp::Ge),
                    '>' => Tok::Op(Cmp::Gt),
                    _ => Tok::Other,
                }
            }
        };
        out.push(Spanned {
            tok,
            start,
            end: s.last(),
            text: s.since(start),
        });
    }
}
