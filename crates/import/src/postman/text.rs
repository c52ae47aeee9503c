//! Names and text: scenario variable names, environment variable names, secret-looking
//! names, TOML quoting, percent-decoding.

use std::fmt::Write as _;

/// Whether a variable or header name looks like it holds a secret.
pub fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "token",
        "secret",
        "password",
        "passwd",
        "pwd",
        "key",
        "auth",
        "credential",
        "cookie",
        "session",
        "private",
        "signature",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// A Postman variable name as a scenario variable name: characters outside
/// `A-Za-z0-9_.-` become `_`.
pub fn var_name(name: &str) -> String {
    let out: String = name
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() { "_".into() } else { out }
}

/// An environment variable name for a secret: `apiKey` -> `API_KEY`, `x-api-key` ->
/// `X_API_KEY`.
pub fn env_name(name: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() && prev_lower {
            out.push('_');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_uppercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_matches('_').to_string();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        format!("POSTMAN_{out}")
    } else {
        out
    }
}

/// A TOML basic string.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML key: bare when it can be, else quoted.
pub fn key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        quote(k)
    }
}

/// One line of a TOML comment (line breaks folded, long text cut).
pub fn comment(s: &str) -> String {
    let one: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one.chars().count() > 300 {
        format!("{}…", one.chars().take(300).collect::<String>())
    } else {
        one
    }
}

/// Decodes `%XX` escapes (invalid ones are kept as written); `+` stays `+`.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// A script line as it may be echoed: string literals masked when the line mentions a
/// secret-looking name (a script may hold a literal token).
pub fn echo_line(line: &str) -> String {
    if !secret_name(line) {
        return line.to_string();
    }
    let mut out = String::new();
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => {
                quote = None;
                out.push_str("***");
                out.push(c);
            }
            Some(_) => {}
            None => {
                if matches!(c, '"' | '\'' | '`') {
                    quote = Some(c);
                }
                out.push(c);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(env_name("apiKey"), "API_KEY");
        assert_eq!(env_name("x-api-key"), "X_API_KEY");
        assert_eq!(env_name("2fa"), "POSTMAN_2FA");
        assert_eq!(var_name("base Url"), "base_Url");
        assert!(secret_name("authToken") && secret_name("API_KEY") && !secret_name("baseUrl"));
        assert_eq!(key("Content-Type"), "Content-Type");
        assert_eq!(key("a.b"), "\"a.b\"");
        assert_eq!(quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(percent_decode("a%20b%zz%2"), "a b%zz%2");
        assert_eq!(
            echo_line("pm.environment.set(\"token\", \"abc\")"),
            "pm.environment.set(\"***\", \"***\")"
        );
    }
}
