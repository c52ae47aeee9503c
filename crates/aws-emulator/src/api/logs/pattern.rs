//! FilterLogEvents filter patterns for unstructured events: plain terms (all must appear),
//! quoted phrases (appear verbatim), `?term` (at least one of them must appear) and `-term`
//! (must not appear), case-sensitive as in CloudWatch Logs. JSON (`{ $.x = ... }`),
//! space-delimited (`[a, b]`) and regex (`%...%`) patterns are refused with a message naming
//! them rather than matched wrongly.

/// A parsed pattern.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pattern {
    all: Vec<String>,
    any: Vec<String>,
    none: Vec<String>,
}

/// Parses a filter pattern; an empty pattern matches every event.
pub fn parse(src: &str) -> Result<Pattern, String> {
    let trimmed = src.trim();
    if let Some(first) = trimmed.chars().next()
        && matches!(first, '{' | '[' | '%')
    {
        let kind = match first {
            '{' => "JSON",
            '[' => "space-delimited",
            _ => "regex",
        };
        return Err(format!(
            "unsupported {kind} filter pattern `{trimmed}` (the sandbox supports terms and quoted phrases)"
        ));
    }
    let chars: Vec<char> = trimmed.chars().collect();
    let mut p = Pattern::default();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let prefix = match chars[i] {
            '?' | '-' if chars.get(i + 1).is_some_and(|c| !c.is_whitespace()) => {
                i += 1;
                Some(chars[i - 1])
            }
            _ => None,
        };
        let term: String = if chars[i] == '"' {
            let start = i + 1;
            let Some(len) = chars[start..].iter().position(|c| *c == '"') else {
                return Err("unterminated quoted phrase in filter pattern".to_owned());
            };
            i = start + len + 1;
            chars[start..start + len].iter().collect()
        } else {
            let start = i;
            while i < chars.len() && !chars[i].is_whitespace() {
                i += 1;
            }
            chars[start..i].iter().collect()
        };
        if term.is_empty() {
            continue;
        }
        match prefix {
            Some('?') => p.any.push(term),
            Some(_) => p.none.push(term),
            None => p.all.push(term),
        }
    }
    Ok(p)
}

impl Pattern {
    /// Whether a message matches.
    pub fn matches(&self, message: &str) -> bool {
        self.all.iter().all(|t| message.contains(t.as_str()))
            && !self.none.iter().any(|t| message.contains(t.as_str()))
            && (self.any.is_empty() || self.any.iter().any(|t| message.contains(t.as_str())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_phrases_any_and_none() {
        let m = |p: &str, msg: &str| parse(p).unwrap().matches(msg);
        let report = "REPORT RequestId: a\tDuration: 2 ms\tInit Duration: 100 ms";
        assert!(m("", report));
        assert!(m("REPORT Init", report));
        assert!(!m("REPORT Timeout", report));
        assert!(m("\"Init Duration\"", report));
        assert!(!m("\"Duration Init\"", report));
        assert!(m("?Timeout ?REPORT", report));
        assert!(!m("REPORT -Init", report));
        assert!(!m("report", report), "case-sensitive");
    }

    #[test]
    fn refuses_structured_patterns() {
        assert!(
            parse("{ $.level = \"ERROR\" }")
                .unwrap_err()
                .contains("JSON")
        );
        assert!(parse("[ip, user]").unwrap_err().contains("space-delimited"));
        assert!(parse("\"open").is_err());
    }
}
