//! What the three expression lexers and parsers (Logs Insights queries, X-Ray filter
//! expressions, CloudWatch metric math) share: a `Scanner` over the characters of the source,
//! which knows character offsets and reads quoted strings, and a `Tokens` cursor over the
//! lexed tokens. Each language keeps its own token type, grammar and error messages.

/// How a backslash inside a quoted string reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Escapes {
    /// A backslash is an ordinary character (metric math).
    None,
    /// A backslash stands for the character after it, which is kept alone (`\"` → `"`).
    Unescape,
    /// The backslash is kept too unless it escapes the quote (`/a\/b\d/` → `a/b\d`, a regex).
    KeepUnlessQuote,
}

/// A cursor over the characters of a source text; offsets count characters, not bytes.
pub(crate) struct Scanner {
    chars: Vec<char>,
    pos: usize,
}

impl Scanner {
    pub(crate) fn new(src: &str) -> Self {
        Self {
            chars: src.chars().collect(),
            pos: 0,
        }
    }

    /// Offset of the next character.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Offset of the last character read: the inclusive end of what was just read.
    pub(crate) fn last(&self) -> usize {
        self.pos.saturating_sub(1)
    }

    pub(crate) fn peek(&self) -> Option<char> {
        self.peek_at(0)
    }

    /// The character `n` after the next one.
    pub(crate) fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.pos.saturating_add(n)).copied()
    }

    pub(crate) fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    /// Reads `c` if it is next.
    pub(crate) fn eat(&mut self, c: char) -> bool {
        let hit = self.peek() == Some(c);
        self.pos += usize::from(hit);
        hit
    }

    pub(crate) fn skip_while(&mut self, pred: impl Fn(char) -> bool) {
        while self.peek().is_some_and(&pred) {
            self.pos += 1;
        }
    }

    pub(crate) fn skip_whitespace(&mut self) {
        self.skip_while(char::is_whitespace);
    }

    pub(crate) fn take_while(&mut self, pred: impl Fn(char) -> bool) -> String {
        let from = self.pos;
        self.skip_while(pred);
        self.since(from)
    }

    /// The text from offset `from` up to the next character.
    pub(crate) fn since(&self, from: usize) -> String {
        self.chars
            .get(from..self.pos)
            .unwrap_or_default()
            .iter()
            .collect()
    }

    /// Reads a string quoted by the next character, up to the same character again, and
    /// returns what is between, unescaped as `escapes` says. `None` when the closing quote is
    /// missing; the scanner is then at the end.
    pub(crate) fn quoted(&mut self, escapes: Escapes) -> Option<String> {
        let quote = self.bump()?;
        let mut out = String::new();
        loop {
            let c = self.bump()?;
            match (c, self.peek()) {
                _ if c == quote => return Some(out),
                ('\\', Some(next)) if escapes != Escapes::None => {
                    if escapes == Escapes::KeepUnlessQuote && next != quote {
                        out.push('\\');
                    }
                    out.push(next);
                    self.pos += 1;
                }
                _ => out.push(c),
            }
        }
    }
}

/// A cursor over lexed tokens for a recursive-descent parser; iterating takes the next token.
pub(crate) struct Tokens<'a, T> {
    toks: &'a [T],
    pos: usize,
}

impl<'a, T> Tokens<'a, T> {
    pub(crate) fn new(toks: &'a [T]) -> Self {
        Self { toks, pos: 0 }
    }

    /// How many tokens have been taken.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn peek(&self) -> Option<&'a T> {
        self.toks.get(self.pos)
    }

    /// Takes the next token if `pred` holds for it.
    pub(crate) fn eat_if(&mut self, pred: impl FnOnce(&T) -> bool) -> bool {
        let hit = self.peek().is_some_and(pred);
        self.pos += usize::from(hit);
        hit
    }

    /// Takes the next token if it is `tok`.
    pub(crate) fn eat(&mut self, tok: &T) -> bool
    where
        T: PartialEq,
    {
        self.eat_if(|t| t == tok)
    }

    /// The tokens taken since position `from`.
    pub(crate) fn since(&self, from: usize) -> &'a [T] {
        self.toks.get(from..self.pos).unwrap_or_default()
    }
}

impl<'a, T> Iterator for Tokens<'a, T> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        let t = self.peek()?;
        self.pos += 1;
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_count_characters() {
        let mut s = Scanner::new("  é1 ab+");
        s.skip_whitespace();
        assert_eq!((s.pos(), s.peek(), s.peek_at(1)), (2, Some('é'), Some('1')));
        let start = s.pos();
        assert_eq!(s.take_while(char::is_alphanumeric), "é1");
        assert_eq!((start, s.last(), s.since(start).as_str()), (2, 3, "é1"));
        assert!(!s.eat('a'));
        assert!(s.eat(' ') && s.eat('a'));
        assert_eq!(
            (s.bump(), s.bump(), s.bump(), s.bump()),
            (Some('b'), Some('+'), None, None)
        );
        assert_eq!((s.pos(), s.last(), s.peek_at(usize::MAX)), (8, 7, None));
    }

    #[test]
    fn quoted_strings_escape_as_asked() {
        let src = r#""a\"b\d" rest"#;
        let read = |escapes| {
            let mut s = Scanner::new(src);
            (s.quoted(escapes), s.pos())
        };
        assert_eq!(read(Escapes::Unescape), (Some(r#"a"bd"#.to_owned()), 8));
        assert_eq!(
            read(Escapes::KeepUnlessQuote),
            (Some(r#"a"b\d"#.to_owned()), 8)
        );
        assert_eq!(read(Escapes::None), (Some(r"a\".to_owned()), 4));
        let mut s = Scanner::new(r"/a\/b\d/");
        assert_eq!(
            s.quoted(Escapes::KeepUnlessQuote).as_deref(),
            Some(r"a/b\d")
        );
    }

    #[test]
    fn an_unterminated_quote_reads_to_the_end() {
        for src in [r#""abc"#, r#""abc\""#, "\"abc\\", "'"] {
            let mut s = Scanner::new(src);
            assert_eq!(s.quoted(Escapes::Unescape), None, "{src}");
            assert_eq!((s.pos(), s.peek()), (src.chars().count(), None));
        }
        assert_eq!(Scanner::new("").quoted(Escapes::None), None);
    }

    #[test]
    fn tokens_peek_take_and_eat() {
        let toks = [1, 2, 3];
        let mut t = Tokens::new(&toks);
        assert!(!t.eat(&2));
        assert!(t.eat(&1));
        assert!(t.eat_if(|n| n % 2 == 0));
        assert_eq!((t.peek(), t.pos(), t.since(0)), (Some(&3), 2, &toks[..2]));
        assert_eq!((t.next(), t.next(), t.pos()), (Some(&3), None, 3));
    }
}
