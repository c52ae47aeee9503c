//! Checked steps: what one request of a flow sends, expects, extracts and waits for.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::duration::parse_duration;
use crate::scenario::{RawExtract, RawPoll, RawStep, RawThink};
use crate::template::{Names, Part, Template};

/// One request of a flow, ready to send.
#[derive(Clone, Debug)]
pub struct Step {
    /// Endpoint name used for grouping.
    pub endpoint: String,
    /// HTTP method.
    pub method: reqwest::Method,
    /// Path template.
    pub path: Template,
    /// Query parameters.
    pub query: Vec<(String, Template)>,
    /// Headers the step sends: after [`Step::merge_headers`], the target's defaults with the
    /// step's own taking precedence, names lowercased, without the ones the client writes
    /// itself (`host`, `content-length`, the trace headers).
    pub headers: Vec<(String, Template)>,
    /// JSON body.
    pub body: Option<BodyTemplate>,
    /// Accepted statuses; empty means any 2xx or 3xx.
    pub expect: Vec<u16>,
    /// Extraction rules.
    pub extract: Vec<Extraction>,
    /// Pause after the step.
    pub think: Option<Think>,
    /// Repeat until a state is reached.
    pub poll: Option<Poll>,
    /// Always ask for this step's requests to be traced, whatever the sampling.
    pub always_trace: bool,
}

impl Step {
    /// Whether an extraction reads a response header (otherwise the client need not keep
    /// them).
    pub fn reads_headers(&self) -> bool {
        self.extract
            .iter()
            .any(|e| matches!(e.source, Source::Header(_)))
    }

    /// Whether the response body is read by a poll or an extraction (otherwise it is only
    /// counted, not kept).
    pub fn reads_body(&self) -> bool {
        self.poll.is_some()
            || self
                .extract
                .iter()
                .any(|e| matches!(e.source, Source::Json(_) | Source::Regex(_)))
    }

    /// Resolves the headers sent once, when the plan is built, instead of per request:
    /// `defaults` (the target's) unless the step sets the same name (case-insensitive), then
    /// the step's; `content-type: application/json` for a JSON body unless one is set. The
    /// client's own headers are dropped: `host` and `content-length` it computes,
    /// `x-amzn-trace-id` (and `traceparent` when `traceparent` is on) carry the request's
    /// trace ids.
    pub fn merge_headers(&mut self, defaults: &[(String, Template)], traceparent: bool) {
        let own = std::mem::take(&mut self.headers);
        let mut merged: Vec<(String, Template)> = Vec::new();
        for (name, value) in defaults.iter().chain(&own) {
            let name = name.to_ascii_lowercase();
            merged.retain(|(n, _)| *n != name);
            merged.push((name, value.clone()));
        }
        merged.retain(|(n, _)| match n.as_str() {
            "host" | "content-length" | "x-amzn-trace-id" => false,
            "traceparent" => !traceparent,
            _ => true,
        });
        if self.body.is_some() && !merged.iter().any(|(n, _)| n == "content-type") {
            merged.push(("content-type".into(), Template::literal("application/json")));
        }
        self.headers = merged;
    }

    /// Whether `status` counts as success for this step.
    pub fn accepts(&self, status: u16) -> bool {
        if self.expect.is_empty() {
            (200..400).contains(&status)
        } else {
            self.expect.contains(&status)
        }
    }
}

/// A JSON body whose strings are templates.
#[derive(Clone, Debug)]
pub enum BodyTemplate {
    /// An object, keys in file order.
    Object(Vec<(String, BodyTemplate)>),
    /// An array.
    Array(Vec<BodyTemplate>),
    /// A string template; one lone numeric generator renders as a JSON number.
    Text(Template),
    /// A number, boolean or other fixed value.
    Fixed(serde_json::Value),
}

impl BodyTemplate {
    fn parse(v: &toml::Value, names: &Names<'_>) -> Result<Self, String> {
        Ok(match v {
            toml::Value::Table(t) => Self::Object(
                t.iter()
                    .map(|(k, v)| Ok((k.clone(), Self::parse(v, names)?)))
                    .collect::<Result<_, String>>()?,
            ),
            toml::Value::Array(a) => Self::Array(
                a.iter()
                    .map(|v| Self::parse(v, names))
                    .collect::<Result<_, _>>()?,
            ),
            toml::Value::String(s) => Self::Text(Template::parse(s, names)?),
            other => {
                Self::Fixed(serde_json::to_value(other).map_err(|e| format!("body value: {e}"))?)
            }
        })
    }

    /// Renders the body into JSON.
    pub fn render(&self, ctx: &crate::template::RenderContext<'_>) -> serde_json::Value {
        match self {
            Self::Object(fields) => serde_json::Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.render(ctx)))
                    .collect(),
            ),
            Self::Array(items) => {
                serde_json::Value::Array(items.iter().map(|v| v.render(ctx)).collect())
            }
            Self::Text(t) => {
                let text = t.render(ctx);
                let numeric = matches!(
                    t.parts(),
                    [Part::RandomInt(..) | Part::RandomFloat(..) | Part::NowMs]
                );
                if numeric && let Ok(n) = serde_json::from_str::<serde_json::Number>(&text) {
                    return serde_json::Value::Number(n);
                }
                serde_json::Value::String(text)
            }
            Self::Fixed(v) => v.clone(),
        }
    }
}

/// Where an extracted value comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A JSON pointer into the body.
    Json(String),
    /// A response header.
    Header(String),
    /// A regex over the body (first group, else the whole match).
    Regex(regex::Regex),
}

/// One extraction rule.
#[derive(Clone, Debug)]
pub struct Extraction {
    /// Variable to set.
    pub var: String,
    /// Where from.
    pub source: Source,
}

/// Pause after a step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Think {
    /// Fixed.
    Constant(Duration),
    /// Uniform in `[min, max]`.
    Uniform(Duration, Duration),
    /// Exponential with this mean.
    Exponential(Duration),
}

impl Think {
    /// Draws one pause.
    pub fn sample(self) -> Duration {
        match self {
            Self::Constant(d) => d,
            Self::Uniform(a, b) => a + b.saturating_sub(a).mul_f64(fastrand::f64()),
            Self::Exponential(mean) => {
                // Inverse transform; 1 - u keeps ln away from 0.
                let u = 1.0 - fastrand::f64();
                mean.mul_f64(-u.ln()).min(mean * 20)
            }
        }
    }
}

/// A poll: repeat the request until `field` is one of `until`, or `timeout`.
#[derive(Clone, Debug)]
pub struct Poll {
    /// Pause between polls.
    pub every: Duration,
    /// Give up after.
    pub timeout: Duration,
    /// JSON pointer of the state field.
    pub field: String,
    /// Final states.
    pub until: Vec<String>,
}

/// A step error: the field (relative to the step) and the message.
pub type StepError = (String, String);

/// Checks a raw step. `extracted` holds every name extracted anywhere in the flow.
pub fn check_step(raw: &RawStep, names: &Names<'_>) -> Result<Step, (Option<usize>, StepError)> {
    let at = |span: std::ops::Range<usize>, field: &str, msg: String| {
        (Some(span.start), (field.to_string(), msg))
    };
    let method_text = raw.method.as_ref().map_or("GET", |m| m.get_ref().as_str());
    let method =
        reqwest::Method::from_bytes(method_text.to_ascii_uppercase().as_bytes()).map_err(|_| {
            let span = raw.method.as_ref().map_or(0..0, toml::Spanned::span);
            at(
                span,
                "method",
                format!("`{method_text}` is not an HTTP method"),
            )
        })?;
    let path =
        Template::parse(raw.path.get_ref(), names).map_err(|m| at(raw.path.span(), "path", m))?;
    if !raw.path.get_ref().starts_with('/') {
        return Err(at(raw.path.span(), "path", "must start with `/`".into()));
    }
    let mut query = Vec::new();
    for (k, v) in &raw.query {
        let t = Template::parse(v.get_ref(), names)
            .map_err(|m| at(v.span(), &format!("query.{k}"), m))?;
        query.push((k.clone(), t));
    }
    let mut headers = Vec::new();
    for (k, v) in &raw.headers {
        reqwest::header::HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
            at(
                v.span(),
                &format!("headers.{k}"),
                "not a header name".into(),
            )
        })?;
        let t = Template::parse(v.get_ref(), names)
            .and_then(|t| names.check_header_value(&t).map(|()| t))
            .map_err(|m| at(v.span(), &format!("headers.{k}"), m))?;
        headers.push((k.clone(), t));
    }
    let body = match &raw.body {
        Some(b) => {
            Some(BodyTemplate::parse(b.get_ref(), names).map_err(|m| at(b.span(), "body", m))?)
        }
        None => None,
    };
    let mut extract = Vec::new();
    for e in &raw.extract {
        extract.push(check_extract(e.get_ref()).map_err(|m| at(e.span(), "extract", m))?);
    }
    let think = match &raw.think {
        Some(t) => Some(check_think(t.get_ref()).map_err(|m| at(t.span(), "think", m))?),
        None => None,
    };
    let poll = match &raw.poll {
        Some(p) => Some(check_poll(p.get_ref()).map_err(|m| at(p.span(), "poll", m))?),
        None => None,
    };
    let endpoint = raw.endpoint.clone().unwrap_or_else(|| {
        format!(
            "{} {}",
            method.as_str(),
            Template::shape(raw.path.get_ref())
        )
    });
    Ok(Step {
        endpoint,
        method,
        path,
        query,
        headers,
        body,
        expect: raw.expect.clone(),
        extract,
        think,
        poll,
        always_trace: raw.trace,
    })
}

/// Names a step extracts.
pub fn extracted_names(raw: &RawStep, into: &mut BTreeSet<String>) {
    for e in &raw.extract {
        into.insert(e.get_ref().var.clone());
    }
}

fn check_extract(raw: &RawExtract) -> Result<Extraction, String> {
    let source = match (&raw.json, &raw.header, &raw.regex) {
        (Some(p), None, None) => {
            if !(p.is_empty() || p.starts_with('/')) {
                return Err(format!("json pointer `{p}` must start with `/`"));
            }
            Source::Json(p.clone())
        }
        (None, Some(h), None) => Source::Header(h.to_ascii_lowercase()),
        (None, None, Some(r)) => {
            Source::Regex(regex::Regex::new(r).map_err(|e| format!("bad regex: {e}"))?)
        }
        _ => return Err("give exactly one of `json`, `header`, `regex`".into()),
    };
    Ok(Extraction {
        var: raw.var.clone(),
        source,
    })
}

fn check_think(raw: &RawThink) -> Result<Think, String> {
    match (&raw.constant, &raw.uniform, &raw.exponential) {
        (Some(c), None, None) => Ok(Think::Constant(parse_duration(c)?)),
        (None, Some(u), None) => match u.as_slice() {
            [a, b] => {
                let (a, b) = (parse_duration(a)?, parse_duration(b)?);
                if a > b {
                    return Err("uniform: the first duration is above the second".into());
                }
                Ok(Think::Uniform(a, b))
            }
            _ => Err("uniform takes two durations, e.g. [\"50ms\", \"200ms\"]".into()),
        },
        (None, None, Some(m)) => Ok(Think::Exponential(parse_duration(m)?)),
        _ => Err("give exactly one of `constant`, `uniform`, `exponential`".into()),
    }
}

fn check_poll(raw: &RawPoll) -> Result<Poll, String> {
    let every = parse_duration(&raw.every).map_err(|m| format!("every: {m}"))?;
    let timeout = parse_duration(&raw.timeout).map_err(|m| format!("timeout: {m}"))?;
    if every.is_zero() {
        return Err("every: must be above zero".into());
    }
    if raw.until.is_empty() {
        return Err("until: name at least one final state".into());
    }
    if !raw.field.starts_with('/') {
        return Err(format!(
            "field: json pointer `{}` must start with `/`",
            raw.field
        ));
    }
    Ok(Poll {
        every,
        timeout,
        field: raw.field.clone(),
        until: raw.until.clone(),
    })
}
