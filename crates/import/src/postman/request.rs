//! One Postman request into one scenario step: URL (origin checked against the target, path,
//! query), headers, auth as inherited, body, and the test scripts' idioms.

use std::collections::{BTreeMap, BTreeSet};

use super::collection::{Auth, Request, Script};
use super::script::{self, ExtractFrom};
use super::text::{echo_line, env_name, percent_decode, secret_name, var_name};
use super::value::Toml;

/// A converted step.
#[derive(Clone, Debug)]
pub struct Step {
    /// `Folder / Request`, written as a comment above the step.
    pub title: String,
    /// Index of the top-level folder (or root request) it belongs to.
    pub group: usize,
    /// HTTP method.
    pub method: String,
    /// Path template.
    pub path: String,
    /// Query templates.
    pub query: Vec<(String, String)>,
    /// Header templates.
    pub headers: Vec<(String, String)>,
    /// The body as a TOML value.
    pub body: Option<Toml>,
    /// Accepted statuses.
    pub expect: Option<Vec<u16>>,
    /// Extractions.
    pub extract: Vec<(String, ExtractFrom)>,
    /// Comments: what was not converted.
    pub comments: Vec<String>,
    /// Variables the step's templates use.
    pub uses: BTreeSet<String>,
}

/// A variable of the collection or environment.
#[derive(Clone, Debug)]
pub struct Var {
    /// Value (`{{x}}` references inside kept).
    pub value: String,
    /// Secret: written as an `${env:…}` reference.
    pub secret: bool,
}

/// What the conversion knows and collects while it goes.
#[derive(Debug, Default)]
pub struct Ctx {
    /// Collection and environment variables by Postman name (the environment wins).
    pub vars: BTreeMap<String, Var>,
    /// Variables made for literal secrets (auth tokens, keys written into the collection):
    /// scenario name -> (environment variable, what it is).
    pub made: BTreeMap<String, (String, String)>,
    /// Dynamic variables (`{{$randomEmail}}`) with no scenario equivalent: name -> Postman's.
    pub unknown_dynamic: BTreeMap<String, String>,
    /// The scenario's target: origin as resolved (or as written when a variable could not
    /// be resolved).
    pub target: Option<String>,
    /// Report lines: item name and what was not converted.
    pub not_converted: Vec<String>,
}

/// The scripts and auth in force for a request, from the collection down.
pub struct Inherited<'a> {
    /// `(owner name, script)` of the collection's and folders' scripts.
    pub scripts: Vec<(String, &'a Script)>,
    /// The auth in force (nearest non-`inherit`).
    pub auth: Option<(String, &'a Auth)>,
}

impl Ctx {
    pub(super) fn report(&mut self, item: &str, what: &str) {
        let line = format!("{item}: {what}");
        if !self.not_converted.contains(&line) {
            self.not_converted.push(line);
        }
    }

    /// Postman `{{x}}` -> scenario `${x}`; records the names used.
    pub fn template(&mut self, text: &str, uses: &mut BTreeSet<String>) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            let Some(close) = rest[open + 2..].find("}}") else {
                break;
            };
            out.push_str(&rest[..open]);
            let name = rest[open + 2..open + 2 + close].trim();
            out.push_str("${");
            out.push_str(&self.reference(name, uses));
            out.push('}');
            rest = &rest[open + 2 + close + 2..];
        }
        out.push_str(rest);
        out
    }

    /// The scenario expression for Postman variable `name`.
    fn reference(&mut self, name: &str, uses: &mut BTreeSet<String>) -> String {
        if let Some(dynamic) = name.strip_prefix('$') {
            match dynamic {
                "guid" | "randomUUID" => return "uuid".into(),
                "isoTimestamp" => return "now".into(),
                "randomInt" => return "random_int(0,1000)".into(),
                "randomBoolean" => return "random_choice(true,false)".into(),
                _ => {
                    let v = var_name(dynamic);
                    self.unknown_dynamic.insert(v.clone(), name.to_string());
                    uses.insert(v.clone());
                    return v;
                }
            }
        }
        let v = var_name(name);
        uses.insert(v.clone());
        v
    }

    /// Resolves `{{x}}` in `text` from plain (non-secret) variables; `None` when one is
    /// secret or unknown.
    pub fn resolve_static(&self, text: &str) -> Option<String> {
        let mut cur = text.to_string();
        for _ in 0..8 {
            let Some(open) = cur.find("{{") else {
                return Some(cur);
            };
            let close = cur[open..].find("}}")? + open;
            let var = self.vars.get(cur[open + 2..close].trim())?;
            if var.secret {
                return None;
            }
            cur = format!("{}{}{}", &cur[..open], var.value, &cur[close + 2..]);
        }
        None
    }

    /// A variable for a literal secret found in the collection (an auth token, a key):
    /// its value is never copied, the scenario reads it from the environment.
    fn made_secret(&mut self, base: &str, what: &str) -> String {
        let base = var_name(base);
        let mut name = base.clone();
        let mut n = 2;
        while self.vars.contains_key(&name) || self.made.contains_key(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        self.made
            .insert(name.clone(), (env_name(&name), what.to_string()));
        name
    }

    /// A secret-bearing value: templated when it uses variables, else a made variable.
    fn secret_value(
        &mut self,
        value: &str,
        base: &str,
        what: &str,
        uses: &mut BTreeSet<String>,
    ) -> String {
        if value.contains("{{") {
            self.template(value, uses)
        } else {
            let v = self.made_secret(base, what);
            uses.insert(v.clone());
            format!("${{{v}}}")
        }
    }

    /// Converts one request, or says why it cannot be.
    pub fn step(
        &mut self,
        req: &Request,
        title: &str,
        group: usize,
        inherited: &Inherited<'_>,
    ) -> Option<Step> {
        let mut uses = BTreeSet::new();
        let mut comments = Vec::new();
        if !is_token(&req.method) {
            self.report(
                title,
                &format!(
                    "request not converted: `{}` is not an HTTP method",
                    req.method
                ),
            );
            return None;
        }
        let (origin, path) = match self.split_origin(&req.url.base) {
            Ok(split) => split,
            Err(why) => {
                self.report(title, &format!("request not converted: {why}"));
                return None;
            }
        };
        match &self.target {
            Some(t) if *t != origin => {
                self.report(
                    title,
                    &format!(
                        "request not converted: it goes to {origin}, the scenario's one target is {t}"
                    ),
                );
                return None;
            }
            Some(_) => {}
            None => self.target = Some(origin),
        }
        let mut path_t = String::new();
        for (i, seg) in path.split('/').enumerate() {
            if i > 0 {
                path_t.push('/');
            }
            match seg.strip_prefix(':') {
                Some(name) if !name.is_empty() => {
                    let value = req
                        .url
                        .path_vars
                        .iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.as_str())
                        .filter(|v| !v.is_empty());
                    // Without a value, `:id` reads the variable of that name.
                    let text = value.map_or_else(|| format!("{{{{{name}}}}}"), str::to_string);
                    path_t.push_str(&self.template(&text, &mut uses));
                }
                _ => path_t.push_str(&self.template(seg, &mut uses)),
            }
        }
        let mut query = Vec::new();
        for (k, v) in &req.url.query {
            let k = percent_decode(k);
            if k.contains("{{") {
                comments.push(format!(
                    "not converted: query parameter name `{k}` uses a variable"
                ));
                continue;
            }
            query.push((k, self.template(&percent_decode(v), &mut uses)));
        }
        let mut headers = Vec::new();
        for (k, v) in &req.headers {
            if !is_token(k) {
                comments.push(format!("not converted: header name `{k}`"));
                continue;
            }
            if v.contains(['\r', '\n']) {
                comments.push(format!(
                    "not converted: header `{k}`, whose value has a line break"
                ));
                continue;
            }
            let value = if secret_name(k) && !v.is_empty() {
                self.secret_value(
                    v,
                    &format!("header_{k}"),
                    &format!("the {k} header"),
                    &mut uses,
                )
            } else {
                self.template(v, &mut uses)
            };
            headers.push((k.clone(), value));
        }
        if let Some((owner, auth)) = &inherited.auth {
            self.auth(
                auth,
                owner,
                title,
                &mut headers,
                &mut query,
                &mut comments,
                &mut uses,
            );
        }
        // An API key's name comes from the auth block: the same rule as headers.
        headers.retain(|(k, _)| {
            let ok = is_token(k);
            if !ok {
                comments.push(format!("not converted: header name `{k}`"));
            }
            ok
        });
        let body = match &req.body {
            Some(b) => self.body(b, title, &headers, &mut comments, &mut uses),
            None => None,
        };
        let mut expect: Option<Vec<u16>> = None;
        let mut extract = Vec::new();
        let own = req.scripts.iter().map(|s| (title.to_string(), s));
        let all: Vec<(String, &Script)> = inherited.scripts.iter().cloned().chain(own).collect();
        for (owner, s) in all {
            let kind = if s.listen == "test" {
                "test"
            } else {
                "pre-request"
            };
            let unconverted = if s.listen == "test" {
                let c = script::convert_test(&s.lines);
                if let Some(codes) = c.expect {
                    expect = Some(match expect {
                        Some(prev) => codes.into_iter().filter(|x| prev.contains(x)).collect(),
                        None => codes,
                    });
                }
                for (var, from) in c.extract {
                    let var = var_name(&var);
                    extract.retain(|(v, _)| *v != var);
                    extract.push((var, from));
                }
                c.unconverted
            } else {
                script::statements_of(&s.lines)
            };
            for (line, text) in unconverted {
                let text = echo_line(&text);
                let from = if owner == title {
                    String::new()
                } else {
                    format!(" of {owner}")
                };
                comments.push(format!(
                    "not converted ({kind} script{from}, line {line}): {text}"
                ));
                self.report(
                    &owner,
                    &format!("{kind} script line {line} not converted: {text}"),
                );
            }
        }
        if expect.as_ref().is_some_and(Vec::is_empty) {
            comments
                .push("the status checks contradict each other: no status passes them all".into());
            self.report(title, "the status checks contradict each other");
        }
        Some(Step {
            title: title.to_string(),
            group,
            method: req.method.clone(),
            path: if path_t.starts_with('/') {
                path_t
            } else {
                format!("/{path_t}")
            },
            query,
            headers,
            body,
            expect,
            extract,
            comments,
            uses,
        })
    }

    /// `scheme://host[:port]` and the path of `base`, resolving variables in the origin.
    fn split_origin(&self, base: &str) -> Result<(String, String), String> {
        if base.is_empty() {
            return Err("the URL is empty".into());
        }
        let mut cur = base.to_string();
        // Resolve variables standing in the origin, one at a time (a base URL variable may
        // bring a path along).
        for _ in 0..8 {
            let after_scheme = cur.find("://").map_or(0, |i| i + 3);
            let origin_end = cur[after_scheme..]
                .find('/')
                .map_or(cur.len(), |i| after_scheme + i);
            // `{{baseUrl}}/x`: the variable holds the origin; its `/`s do not count.
            let origin_end = match cur[after_scheme..].find("{{") {
                Some(o) if after_scheme + o < origin_end => cur[after_scheme + o..]
                    .find("}}")
                    .map_or(origin_end, |c| (after_scheme + o + c + 2).max(origin_end)),
                _ => origin_end,
            };
            let origin = &cur[..origin_end];
            let Some(open) = origin.find("{{") else {
                break;
            };
            let Some(close) = origin[open..].find("}}").map(|c| c + open) else {
                break;
            };
            let Some(value) = self.resolve_static(&origin[open..close + 2]) else {
                // Not resolvable (secret or without a value): the origin stays as written.
                let path = cur[origin_end..].to_string();
                return Ok((cur[..origin_end].to_string(), path));
            };
            cur = format!(
                "{}{}{}",
                &cur[..open],
                value.trim_end_matches('/'),
                &cur[close + 2..]
            );
        }
        if !cur.contains("://") {
            // Postman's default scheme.
            cur = format!("http://{cur}");
        }
        let after_scheme = cur.find("://").map_or(0, |i| i + 3);
        let origin_end = cur[after_scheme..]
            .find('/')
            .map_or(cur.len(), |i| after_scheme + i);
        let (origin, path) = cur.split_at(origin_end);
        let scheme = &origin[..after_scheme.saturating_sub(3)];
        if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
            return Err(format!("`{scheme}://` is not HTTP"));
        }
        if origin.len() == after_scheme {
            return Err(format!("`{base}` has no host"));
        }
        Ok((origin.to_ascii_lowercase(), path.to_string()))
    }

    #[allow(clippy::too_many_arguments)]
    fn auth(
        &mut self,
        auth: &Auth,
        owner: &str,
        title: &str,
        headers: &mut Vec<(String, String)>,
        query: &mut Vec<(String, String)>,
        comments: &mut Vec<String>,
        uses: &mut BTreeSet<String>,
    ) {
        let has_authorization = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
        match auth.kind.as_str() {
            "noauth" | "inherit" => {}
            "bearer" => {
                let token = auth.param("token").unwrap_or("");
                let v = self.secret_value(
                    token,
                    "bearer_token",
                    &format!("the bearer token of {owner}"),
                    uses,
                );
                if !has_authorization {
                    headers.push(("Authorization".into(), format!("Bearer {v}")));
                }
            }
            "apikey" => {
                let name = auth
                    .param("key")
                    .filter(|k| !k.is_empty())
                    .unwrap_or("x-api-key");
                let value = auth.param("value").unwrap_or("");
                let v = self.secret_value(
                    value,
                    "api_key",
                    &format!("the API key of {owner} ({name})"),
                    uses,
                );
                if auth.param("in") == Some("query") {
                    query.push((name.to_string(), v));
                } else {
                    headers.push((name.to_string(), v));
                }
            }
            "basic" => {
                let v = self.made_secret(
                    "basic_credentials",
                    &format!(
                        "base64 of `username:password` for the basic auth of {owner} (the scenario cannot encode it)"
                    ),
                );
                uses.insert(v.clone());
                if !has_authorization {
                    headers.push(("Authorization".into(), format!("Basic ${{{v}}}")));
                }
            }
            "awsv4" => {
                let service = auth.param("service").unwrap_or("execute-api");
                let region = auth.param("region").unwrap_or("us-east-1");
                let service = if service.is_empty() || service.contains("{{") {
                    "execute-api"
                } else {
                    service
                };
                let region = if region.is_empty() || region.contains("{{") {
                    "REGION"
                } else {
                    region
                };
                let hint = format!(
                    "AWS Signature v4 auth (of {owner}) not converted: sign the requests with \
                     [target] auth = {{ sigv4 = {{ service = \"{service}\", region = \"{region}\" }} }}"
                );
                comments.push(hint.clone());
                self.report(title, &hint);
            }
            other => {
                let what = format!("auth type `{other}` (of {owner}) not converted");
                comments.push(what.clone());
                self.report(title, &what);
            }
        }
    }
}

/// An HTTP token (RFC 9110): what a method or a header name may be made of.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
