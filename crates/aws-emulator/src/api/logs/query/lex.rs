//! The Logs Insights lexer: tokens with their character offsets, so errors can point at
//! the token they are about.

use super::{Cmp, QueryError};

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
    let chars: Vec<char> = src.chars().collect();
    let mut out: Vec<Spanned> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let tok = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '#' => {
                // A comment runs to the end of the line.
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '(' | ')' | ',' | '*' | '|' => {
                i += 1;
                match c {
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    ',' => Tok::Comma,
                    '*' => Tok::Star,
                    _ => Tok::Pipe,
                }
            }
            '"' | '\'' | '`' | '/' => {
                let quote = c;
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(err(
                                format!("unterminated `{quote}`"),
                                start,
                                chars.len().saturating_sub(1),
                            ));
                        }
                        Some(&ch) if ch == quote => break,
                        Some('\\') if chars.get(i + 1).is_some() => {
                            let next = chars[i + 1];
                            // Regexes keep their escapes; strings unescape.
                            if quote == '/' && next != '/' {
                                s.push('\\');
                            }
                            s.push(next);
                            i += 2;
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                i += 1;
                match quote {
                    '/' => Tok::Regex(s),
                    '`' => Tok::Ident(s),
                    _ => Tok::Str(s),
                }
            }
            '=' | '!' | '<' | '>' => {
                let next = chars.get(i + 1).copied();
                let (tok, len) = match (c, next) {
                    ('=', Some('~')) => (Tok::Match, 2),
                    ('=', Some('=')) => (Tok::Op(Cmp::Eq), 2),
                    ('=', _) => (Tok::Op(Cmp::Eq), 1),
                    ('!', Some('=')) => (Tok::Op(Cmp::Ne), 2),
                    ('<', Some('=')) => (Tok::Op(Cmp::Le), 2),
                    ('<', _) => (Tok::Op(Cmp::Lt), 1),
                    ('>', Some('=')) => (Tok::Op(Cmp::Ge), 2),
                    ('>', _) => (Tok::Op(Cmp::Gt), 1),
                    _ => return Err(err(format!("unsupported token `{c}`"), i, i)),
                };
                i += len;
                tok
            }
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                i += 1;
                while chars
                    .get(i)
                    .is_some_and(|d| d.is_ascii_alphanumeric() || *d == '.')
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                match text.parse() {
                    Ok(n) => Tok::Num(n),
                    // `5m` inside bin() is an identifier-like duration.
                    Err(_) => Tok::Ident(text),
                }
            }
            c if c.is_alphanumeric() || c == '@' || c == '_' || c == '$' => {
                while chars.get(i).is_some_and(|d| {
                    d.is_alphanumeric() || matches!(d, '@' | '_' | '.' | '$' | '-')
                }) {
                    i += 1;
                }
                Tok::Ident(chars[start..i].iter().collect())
            }
            _ => {
                i += 1;
                Tok::Other
            }
        };
        out.push(Spanned {
            tok,
            start,
            end: i.saturating_sub(1),
            text: chars[start..i].iter().collect(),
        });
    }
    Ok(out)
}
