//! Keeps secrets out of the run directory: literal credentials in the scenario copy.
//!
//! `${env:...}` references are kept as written (their values are never stored anywhere);
//! literal values of credential-like keys (Authorization, tokens, passwords, API keys)
//! are replaced by `<redacted>` before the text is copied into `manifest.json`.

use std::sync::LazyLock;

use regex::Regex;

static SECRET_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)("?[a-z0-9_-]*(authorization|token|password|secret|api[_-]?key|cookie)[a-z0-9_-]*"?\s*=\s*)"([^"]*)""#,
    )
    .expect("static regex")
});

/// The scenario text with literal credential values redacted.
pub fn redact_scenario(text: &str) -> String {
    SECRET_VALUE
        .replace_all(text, |c: &regex::Captures<'_>| {
            let value = &c[3];
            if value.contains("${") && !value.contains("Bearer ") && only_references(value) {
                c[0].to_string()
            } else {
                format!("{}\"<redacted>\"", &c[1])
            }
        })
        .into_owned()
}

/// Whether `value` is made of `${...}` references only (plus spaces or a scheme word).
fn only_references(value: &str) -> bool {
    let mut rest = value;
    let mut literal = String::new();
    while let Some(open) = rest.find("${") {
        literal.push_str(&rest[..open]);
        match rest[open..].find('}') {
            Some(close) => rest = &rest[open + close + 1..],
            None => return false,
        }
    }
    literal.push_str(rest);
    literal.trim().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_literal_credentials_and_keeps_references() {
        let text = "headers = { Authorization = \"Bearer abc.def\", Accept = \"json\" }\n\
                    api_key = \"${env:API_KEY}\"\npassword = \"hunter2\"\nx-token = \"Bearer ${token}\"\n";
        let out = redact_scenario(text);
        assert!(!out.contains("abc.def"), "{out}");
        assert!(!out.contains("hunter2"), "{out}");
        assert!(out.contains("${env:API_KEY}"), "{out}");
        assert!(out.contains("Accept = \"json\""), "{out}");
    }
}
