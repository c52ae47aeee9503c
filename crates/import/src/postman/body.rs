//! Request bodies: JSON (raw with a JSON language or content type, GraphQL) into a TOML
//! value whose strings are templates; other kinds are reported.

use std::collections::BTreeSet;

use serde_json::Value;

use super::collection::Body;
use super::request::Ctx;
use super::value::Toml;

impl Ctx {
    /// The body as TOML, or `None` (with a comment and a report line) when it cannot be.
    pub(super) fn body(
        &mut self,
        body: &Body,
        title: &str,
        headers: &[(String, String)],
        comments: &mut Vec<String>,
        uses: &mut BTreeSet<String>,
    ) -> Option<Toml> {
        let json_header = headers.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("content-type") && v.to_ascii_lowercase().contains("json")
        });
        let fail = |ctx: &mut Self, comments: &mut Vec<String>, what: String| {
            comments.push(format!("not converted: {what}"));
            ctx.report(title, &format!("{what} not converted"));
            None
        };
        match body {
            Body::Raw { text, language } => {
                let t = text.trim_start();
                let looks_json = t.starts_with('{') || t.starts_with('[');
                let json = language.as_deref() == Some("json")
                    || json_header
                    || (language.as_deref().is_none_or(|l| l == "text") && looks_json);
                if !json {
                    let lang = language.as_deref().unwrap_or("text");
                    return fail(
                        self,
                        comments,
                        format!("the raw {lang} body (the scenario sends JSON bodies only)"),
                    );
                }
                let (quoted, bare) = quote_bare_variables(text);
                let value: Value = match serde_json::from_str(&quoted) {
                    Ok(v) => v,
                    Err(e) => {
                        return fail(
                            self,
                            comments,
                            format!("the raw JSON body, which does not parse ({e})"),
                        );
                    }
                };
                if bare > 0 {
                    comments.push(format!(
                        "{bare} variable(s) written outside quotes in the JSON body are sent as strings"
                    ));
                }
                Some(self.json_value(&value, comments, uses))
            }
            Body::GraphQl { query, variables } => {
                let vars: Value = if variables.trim().is_empty() {
                    Value::Object(serde_json::Map::new())
                } else {
                    match serde_json::from_str(&quote_bare_variables(variables).0) {
                        Ok(v) => v,
                        Err(e) => {
                            return fail(
                                self,
                                comments,
                                format!("the GraphQL variables, which do not parse ({e})"),
                            );
                        }
                    }
                };
                let value = serde_json::json!({ "query": query, "variables": vars });
                Some(self.json_value(&value, comments, uses))
            }
            Body::UrlEncoded => fail(
                self,
                comments,
                "the urlencoded form body (the scenario sends JSON bodies only)".into(),
            ),
            Body::Other(mode) => fail(self, comments, format!("the {mode} body")),
        }
    }

    /// A JSON value as TOML, strings templated; `null`s left out (TOML has none).
    fn json_value(
        &mut self,
        v: &Value,
        comments: &mut Vec<String>,
        uses: &mut BTreeSet<String>,
    ) -> Toml {
        match v {
            Value::Null => Toml::Str(String::new()),
            Value::Bool(b) => Toml::Bool(*b),
            Value::Number(n) => Toml::Num(n.to_string()),
            Value::String(s) => Toml::Str(self.template(s, uses)),
            Value::Array(items) => {
                if items.iter().any(Value::is_null) {
                    comments.push(
                        "a null in a JSON array of the body is sent as \"\" (TOML has no null)"
                            .into(),
                    );
                }
                Toml::Array(
                    items
                        .iter()
                        .map(|i| self.json_value(i, comments, uses))
                        .collect(),
                )
            }
            Value::Object(map) => {
                let mut fields = Vec::new();
                // Sorted, whatever serde_json's map keeps (its order is a cargo feature).
                let mut sorted: Vec<(&String, &Value)> = map.iter().collect();
                sorted.sort_by_key(|(k, _)| *k);
                for (k, val) in sorted {
                    if val.is_null() {
                        comments.push(format!(
                            "body field `{k}` is null, which TOML cannot hold: left out"
                        ));
                        continue;
                    }
                    fields.push((k.clone(), self.json_value(val, comments, uses)));
                }
                Toml::Table(fields)
            }
        }
    }
}

/// Puts quotes around `{{x}}` written outside JSON strings (`{"n": {{count}}}`) so the text
/// parses; returns the text and how many were quoted.
fn quote_bare_variables(text: &str) -> (String, usize) {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut count = 0;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if !in_string
            && rest.starts_with("{{")
            && let Some(close) = rest.find("}}")
        {
            out.push('"');
            out.push_str(&rest[..close + 2]);
            out.push('"');
            count += 1;
            rest = &rest[close + 2..];
            continue;
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    (out, count)
}
