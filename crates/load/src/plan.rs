//! The checked plan: a scenario file turned into values the engine can run without
//! further checks. Every error names the file, the line and the field.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use stormwatch_model::parse::line_of;
use stormwatch_model::{AwsResources, ThresholdSpec};

use crate::duration::parse_duration;
use crate::error::LoadError;
use crate::phase::{PhasePlan, check_phase};
use crate::redact::redact_scenario;
use crate::scenario::RawScenario;
use crate::step::{Step, check_step, extracted_names};
use crate::template::{Names, Template};
use crate::threshold::parse_check;
use crate::trace::{BUDGET_FLOOR, DEFAULT_BUDGET_PER_SEC, Sampling};

/// A scenario checked and ready to run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Scenario file as given.
    pub path: PathBuf,
    /// SHA-256 hex of the file's bytes.
    pub sha256: String,
    /// The file's text with literal secrets redacted.
    pub redacted: String,
    /// Base URL (no trailing `/`).
    pub target: String,
    /// The base URL parsed once; requests only replace its path and query.
    pub base_url: reqwest::Url,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Response bytes read at most.
    pub body_limit: usize,
    /// Grace period for in-flight requests at the end or on abort.
    pub grace: Duration,
    /// Cap on concurrent requests.
    pub connections: Option<usize>,
    /// Which requests ask to be traced.
    pub sampling: Sampling,
    /// Send W3C `traceparent` too.
    pub traceparent: bool,
    /// AWS resources behind the target.
    pub aws: Option<AwsResources>,
    /// Feeder rows, per feeder.
    pub feeders: Vec<Vec<Vec<String>>>,
    /// Each feeder's file as the scenario names it (relative to the scenario's folder).
    pub feeder_files: Vec<PathBuf>,
    /// Flows.
    pub flows: Vec<Flow>,
    /// Phases in order.
    pub phases: Vec<PhasePlan>,
    /// Thresholds.
    pub thresholds: Vec<ThresholdSpec>,
    /// SigV4 signing of every request (`[target] auth`); credentials are set before a run.
    pub sigv4: Option<std::sync::Arc<crate::SigV4>>,
}

/// A flow.
#[derive(Clone, Debug)]
pub struct Flow {
    /// Name.
    pub name: String,
    /// Relative weight.
    pub weight: u32,
    /// Steps once per virtual user.
    pub on_start: Vec<Step>,
    /// Steps per iteration.
    pub steps: Vec<Step>,
}

impl Plan {
    /// Reads and checks a scenario file. `overrides` are `--set key=value` pairs for
    /// `[variables]`; `target` replaces `[target].url`.
    pub fn load(
        path: &Path,
        overrides: &[String],
        target: Option<&str>,
    ) -> Result<Self, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let mut plan = Self::parse(path, &text, overrides, target, &|n| std::env::var(n).ok())?;
        plan.sha256 = hex(&Sha256::digest(&bytes));
        Ok(plan)
    }

    /// Checks scenario `text` (read from `path`); `env` looks up `${env:NAME}`.
    pub fn parse(
        path: &Path,
        text: &str,
        overrides: &[String],
        target: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, LoadError> {
        let err = |offset: Option<usize>, field: &str, message: String| LoadError::Scenario {
            path: path.to_path_buf(),
            line: offset.map_or(0, |o| line_of(text, o)),
            field: field.to_string(),
            message,
        };
        let raw: RawScenario = toml::from_str(text).map_err(|e| {
            let msg = e.message().to_string();
            err(e.span().map(|s| s.start), "toml", msg)
        })?;

        let mut variables = BTreeMap::new();
        for (k, v) in &raw.variables {
            let value = resolve_variable(v.get_ref(), env)
                .map_err(|m| err(Some(v.span().start), &format!("variables.{k}"), m))?;
            variables.insert(k.clone(), value);
        }
        for o in overrides {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| LoadError::BadOverride(o.clone()))?;
            variables.insert(k.trim().to_string(), v.to_string());
        }

        let base = path.parent().unwrap_or(Path::new("."));
        let mut feeder_names = Vec::new();
        let mut feeders = Vec::new();
        let mut feeder_files = Vec::new();
        for (i, f) in raw.feeders.iter().enumerate() {
            let field = format!("feeders[{i}].path");
            let (cols, rows) = read_feeder(&base.join(&f.get_ref().path))
                .map_err(|m| err(Some(f.span().start), &field, m))?;
            feeder_names.push((f.get_ref().name.clone(), cols));
            feeders.push(rows);
            feeder_files.push(PathBuf::from(&f.get_ref().path));
        }

        let url = target.map_or_else(|| raw.target.url.get_ref().clone(), str::to_string);
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(err(
                Some(raw.target.url.span().start),
                "target.url",
                format!("`{url}` must start with http:// or https://"),
            ));
        }
        let base_url = reqwest::Url::parse(&url).map_err(|e| {
            err(
                Some(raw.target.url.span().start),
                "target.url",
                format!("`{url}` is not a URL: {e}"),
            )
        })?;
        let empty = BTreeSet::new();
        let global = Names {
            variables: &variables,
            feeders: &feeder_names,
            extracted: &empty,
        };
        let mut headers = Vec::new();
        for (k, v) in &raw.target.headers {
            reqwest::header::HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                err(
                    Some(v.span().start),
                    &format!("target.headers.{k}"),
                    "not a header name".into(),
                )
            })?;
            let t = Template::parse(v.get_ref(), &global)
                .and_then(|t| global.check_header_value(&t).map(|()| t))
                .map_err(|m| err(Some(v.span().start), &format!("target.headers.{k}"), m))?;
            headers.push((k.clone(), t));
        }
        let sigv4 = crate::sigv4::check_auth(&raw, &base_url, &err)?;
        let dur = |v: &Option<toml::Spanned<String>>, field: &str, default: Duration| {
            v.as_ref().map_or(Ok(default), |s| {
                parse_duration(s.get_ref()).map_err(|m| err(Some(s.span().start), field, m))
            })
        };
        let timeout = dur(
            &raw.target.timeout,
            "target.timeout",
            Duration::from_secs(30),
        )?;
        let grace = dur(&raw.target.grace, "target.grace", Duration::from_secs(5))?;

        let connections = match &raw.target.connections {
            Some(c) => Some(
                usize::try_from(*c.get_ref())
                    .ok()
                    .filter(|v| *v > 0)
                    .ok_or_else(|| {
                        err(
                            Some(c.span().start),
                            "target.connections",
                            "must be 1 or more".into(),
                        )
                    })?,
            ),
            None => None,
        };
        let aws = raw.aws.filter(|a| !a.is_empty() || a.region.is_some());
        let sampling = match (&raw.trace.sampling, &raw.trace.budget) {
            (Some(_), Some(b)) => {
                return Err(err(
                    Some(b.span().start),
                    "trace.budget",
                    "set either `sampling` (a fixed share) or `budget` (traced requests per second), not both".into(),
                ));
            }
            (Some(s), None) => {
                let v = *s.get_ref();
                if !(0.0..=1.0).contains(&v) {
                    return Err(err(
                        Some(s.span().start),
                        "trace.sampling",
                        "must be between 0.0 and 1.0".into(),
                    ));
                }
                Sampling::Fixed(v)
            }
            (None, Some(b)) => {
                let v = *b.get_ref();
                if !(v.is_finite() && v > 0.0 && v <= 100_000.0) {
                    return Err(err(
                        Some(b.span().start),
                        "trace.budget",
                        "must be a number of traced requests per second, above 0 and at most 100000".into(),
                    ));
                }
                Sampling::Budget {
                    per_sec: v,
                    floor: BUDGET_FLOOR,
                }
            }
            // Traces are for decomposition and evidence: a budget keeps them affordable.
            (None, None) if aws.is_some() => Sampling::Budget {
                per_sec: DEFAULT_BUDGET_PER_SEC,
                floor: BUDGET_FLOOR,
            },
            (None, None) => Sampling::Fixed(0.0),
        };

        if raw.flows.is_empty() {
            return Err(err(None, "flows", "define at least one [[flows]]".into()));
        }
        let mut flows = Vec::new();
        for (fi, f) in raw.flows.iter().enumerate() {
            let rf = f.get_ref();
            let mut extracted = BTreeSet::new();
            for s in rf.on_start.iter().chain(&rf.steps) {
                extracted_names(s.get_ref(), &mut extracted);
            }
            let names = Names {
                variables: &variables,
                feeders: &feeder_names,
                extracted: &extracted,
            };
            let weight = rf.weight.as_ref().map_or(Ok(1), |w| {
                u32::try_from(*w.get_ref()).map_err(|_| {
                    err(
                        Some(w.span().start),
                        &format!("flows[{fi}].weight"),
                        "must be 0 or more".into(),
                    )
                })
            })?;
            if rf.steps.is_empty() {
                return Err(err(
                    Some(f.span().start),
                    &format!("flows[{fi}].steps"),
                    "a flow needs at least one step".into(),
                ));
            }
            let check = |list: &[toml::Spanned<crate::scenario::RawStep>], kind: &str| {
                list.iter()
                    .enumerate()
                    .map(|(si, s)| {
                        check_step(s.get_ref(), &names).map_err(|(off, (field, m))| {
                            err(
                                Some(off.filter(|o| *o > 0).unwrap_or(s.span().start)),
                                &format!("flows[{fi}].{kind}[{si}].{field}"),
                                m,
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            };
            let mut on_start = check(&rf.on_start, "on_start")?;
            let mut steps = check(&rf.steps, "steps")?;
            for step in on_start.iter_mut().chain(&mut steps) {
                step.merge_headers(&headers, raw.trace.traceparent);
            }
            flows.push(Flow {
                name: rf.name.clone(),
                weight,
                on_start,
                steps,
            });
        }
        if flows.iter().all(|f| f.weight == 0) {
            return Err(err(None, "flows", "every flow has weight 0".into()));
        }

        if raw.phases.is_empty() {
            return Err(err(None, "phases", "define at least one [[phases]]".into()));
        }
        let mut phases = Vec::new();
        for (i, p) in raw.phases.iter().enumerate() {
            phases.push(check_phase(p.get_ref(), p.span().start, i, &err)?);
        }

        let mut thresholds = Vec::new();
        for (i, t) in raw.thresholds.iter().enumerate() {
            let rt = t.get_ref();
            if let Some(p) = &rt.phase
                && !phases.iter().any(|ph| &ph.name == p.get_ref())
            {
                return Err(err(
                    Some(p.span().start),
                    &format!("thresholds[{i}].phase"),
                    format!("no phase named `{}`", p.get_ref()),
                ));
            }
            let (metric, comparison, limit) = parse_check(rt.check.get_ref()).map_err(|m| {
                err(
                    Some(rt.check.span().start),
                    &format!("thresholds[{i}].check"),
                    m,
                )
            })?;
            thresholds.push(ThresholdSpec {
                phase: rt.phase.as_ref().map(|p| p.get_ref().clone()),
                endpoint: rt.endpoint.clone(),
                metric,
                comparison,
                limit,
            });
        }

        Ok(Self {
            path: path.to_path_buf(),
            sha256: hex(&Sha256::digest(text.as_bytes())),
            redacted: redact_scenario(text),
            target: url.trim_end_matches('/').to_string(),
            base_url,
            timeout,
            body_limit: usize::try_from(raw.target.body_limit.unwrap_or(1 << 20))
                .unwrap_or(usize::MAX),
            grace,
            connections,
            sampling,
            traceparent: raw.trace.traceparent,
            aws,
            feeders,
            feeder_files,
            flows,
            phases,
            thresholds,
            sigv4,
        })
    }

    /// Total planned length of the run.
    pub fn total_duration(&self) -> Duration {
        self.phases.iter().map(|p| p.duration).sum()
    }
}

/// Resolves a `[variables]` value: literal text and `${env:NAME}` references.
fn resolve_variable(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find("${") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("unclosed `${{` in `{text}`"))?;
        let expr = &after[..close];
        let name = expr
            .strip_prefix("env:")
            .ok_or_else(|| format!("`${{{expr}}}`: variables may only use `${{env:NAME}}`"))?;
        out.push_str(
            &env(name).ok_or_else(|| format!("environment variable `{name}` is not set"))?,
        );
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn read_feeder(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>), String> {
    let mut reader =
        csv::Reader::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let cols: Vec<String> = reader
        .headers()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut rows = Vec::new();
    for r in reader.records() {
        let r = r.map_err(|e| format!("{}: {e}", path.display()))?;
        rows.push(r.iter().map(ToString::to_string).collect());
    }
    if rows.is_empty() {
        return Err(format!("{}: no data rows", path.display()));
    }
    Ok((cols, rows))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"[target]
url = "http://127.0.0.1:1"
headers = { Authorization = "Bearer ${api_key}" }

[variables]
api_key = "${env:API_KEY}"
category = "books"

[aws]
region = "eu-west-1"
functions = ["store-products"]
api = { kind = "rest", name = "store", stage = "prod" }

[[flows]]
name = "browse"
weight = 3
[[flows.steps]]
path = "/prod/products/${random_int(1,100)}"
query = { cat = "${category}" }
think = { uniform = ["10ms", "20ms"] }

[[phases]]
name = "warm"
model = "open"
from = 1
to = 10
duration = "2s"
max_in_flight = 5

[[phases]]
name = "users"
model = "closed"
users = 3
duration = "1s"

[[thresholds]]
phase = "warm"
check = "cold_start_share < 0.1"
"#;

    fn parse(text: &str) -> Result<Plan, LoadError> {
        Plan::parse(Path::new("s.toml"), text, &[], None, &|n| {
            (n == "API_KEY").then(|| "sekrit-value".to_string())
        })
    }

    fn error_at(text: &str) -> (usize, String, String) {
        match parse(text).unwrap_err() {
            LoadError::Scenario {
                line,
                field,
                message,
                ..
            } => (line, field, message),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn trace_sampling_is_a_fixed_share_or_a_budget_not_both() {
        let fixed = parse(&format!("{GOOD}\n[trace]\nsampling = 0.5\n")).unwrap();
        assert_eq!(fixed.sampling, Sampling::Fixed(0.5));
        let budget = parse(&format!("{GOOD}\n[trace]\nbudget = 5\n")).unwrap();
        assert_eq!(
            budget.sampling,
            Sampling::Budget {
                per_sec: 5.0,
                floor: 0.01
            }
        );
        let (_, field, message) =
            error_at(&format!("{GOOD}\n[trace]\nsampling = 0.5\nbudget = 5\n"));
        assert_eq!(field, "trace.budget");
        assert!(message.contains("not both"), "{message}");
        let (_, field, _) = error_at(&format!("{GOOD}\n[trace]\nbudget = 0\n"));
        assert_eq!(field, "trace.budget");
    }

    #[test]
    fn a_good_scenario_becomes_a_plan() {
        let p = parse(GOOD).unwrap();
        assert_eq!(p.phases.len(), 2);
        // `[aws]` without `[trace]`: traced on the default budget.
        assert_eq!(
            p.sampling,
            Sampling::Budget {
                per_sec: 20.0,
                floor: 0.01
            }
        );
        assert_eq!(p.aws.as_ref().unwrap().functions, vec!["store-products"]);
        assert_eq!(p.flows[0].weight, 3);
        assert_eq!(
            p.flows[0].steps[0].endpoint,
            "GET /prod/products/:random_int"
        );
        assert_eq!(
            p.thresholds[0].metric,
            stormwatch_model::ThresholdMetric::ColdStartShare
        );
        // The secret's value is nowhere in what gets written.
        assert!(!p.redacted.contains("sekrit"));
        assert_eq!(p.phases[0].expected_iterations(), Some(11.0));
    }

    #[test]
    fn each_step_carries_its_merged_headers() {
        let text = GOOD.replace(
            "headers = { Authorization = \"Bearer ${api_key}\" }",
            "headers = { Authorization = \"Bearer ${api_key}\", X-Team = \"a\", Host = \"h\", X-Amzn-Trace-Id = \"mine\" }",
        )
        .replace(
            "think = { uniform",
            "headers = { x-team = \"b\", traceparent = \"t\" }\nbody = { n = 1 }\nthink = { uniform",
        );
        let p = parse(&text).unwrap();
        let ctx_vars = std::collections::HashMap::new();
        let ctx = crate::template::RenderContext {
            vars: &ctx_vars,
            rows: &[],
        };
        let sent: Vec<(String, String)> = p.flows[0].steps[0]
            .headers
            .iter()
            .map(|(n, t)| (n.clone(), t.render(&ctx)))
            .collect();
        let pairs: Vec<(&str, &str)> = sent.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("authorization", "Bearer sekrit-value"),
                ("traceparent", "t"),
                ("x-team", "b"),
                ("content-type", "application/json"),
            ]
        );
        let (line, field, msg) = error_at(&GOOD.replace("Authorization =", "\"Bad Name\" ="));
        assert_eq!(
            (line, field.as_str()),
            (3, "target.headers.Bad Name"),
            "{msg}"
        );
    }

    #[test]
    fn a_line_break_in_a_header_value_is_refused_naming_the_header() {
        let (_, field, msg) = error_at(&GOOD.replace(
            "headers = { Authorization = \"Bearer ${api_key}\" }",
            "headers = { Authorization = \"Bearer x\\r\\nX-Injected: 1\" }",
        ));
        assert_eq!(field, "target.headers.Authorization", "{msg}");
        assert!(msg.contains("line break"), "{msg}");
        // From the environment too.
        let e = Plan::parse(Path::new("s.toml"), GOOD, &[], None, &|n| {
            (n == "API_KEY").then(|| "sekrit\nX-Injected: 1".to_string())
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("target.headers.Authorization") && e.contains("line break"),
            "{e}"
        );
        assert!(
            !e.contains("sekrit"),
            "the secret stays out of the message: {e}"
        );
    }

    #[test]
    fn extreme_numbers_are_refused_naming_the_field() {
        let cases = [
            (
                "users = 3",
                "users = 1000000000000",
                "phases[1].users",
                "at most",
            ),
            ("users = 3", "users = -2", "phases[1].users", "negative"),
            ("from = 1", "from = inf", "phases[0].from", "finite"),
            ("from = 1", "from = nan", "phases[0].from", "finite"),
            ("to = 10", "to = 1e300", "phases[0].to", "at most"),
            (
                "duration = \"2s\"",
                "duration = \"99999999999999999h\"",
                "phases[0].duration",
                "longer than",
            ),
            (
                "check = \"cold_start_share < 0.1\"",
                "check = \"p99 < NaN\"",
                "thresholds[0].check",
                "finite",
            ),
        ];
        for (from, to, want_field, want) in cases {
            let (_, field, msg) = error_at(&GOOD.replacen(from, to, 1));
            assert_eq!(field, want_field, "{to}: {msg}");
            assert!(msg.contains(want), "{to}: {msg}");
        }
        let (_, field, msg) = error_at(&GOOD.replacen(
            "model = \"open\"\nfrom = 1\nto = 10",
            "model = \"open\"\nrate = inf",
            1,
        ));
        assert_eq!(field, "phases[0].rate", "{msg}");
        assert!(msg.contains("finite"), "{msg}");
    }

    #[test]
    fn errors_name_line_and_field() {
        let (line, field, msg) = error_at(&GOOD.replace("weight = 3", "weight = 3\nwieght = 2"));
        assert_eq!((line, field.as_str()), (17, "toml"), "{msg}");
        assert!(msg.contains("wieght"), "{msg}");

        let (line, field, msg) = error_at(&GOOD.replace("${category}", "${categroy}"));
        assert_eq!((line, field.as_str()), (19, "flows[0].steps[0].query.cat"));
        assert!(msg.contains("undefined variable `categroy`"), "{msg}");

        let (line, field, _) = error_at(&GOOD.replace("random_int(1,100)", "random_int(1,)"));
        assert_eq!((line, field.as_str()), (18, "flows[0].steps[0].path"));

        let (line, field, msg) = error_at(&GOOD.replace("to = 10", "to = -10"));
        assert_eq!((line, field.as_str()), (26, "phases[0].to"), "{msg}");

        let (line, field, msg) = error_at(&GOOD.replace("duration = \"1s\"\n", ""));
        assert_eq!((line, field.as_str()), (30, "phases[1].duration"), "{msg}");
        assert!(msg.contains("no duration"));

        let (line, field, _) =
            error_at(&GOOD.replace("url = \"http://127.0.0.1:1\"", "url = \"x\" y"));
        assert_eq!((line, field.as_str()), (2, "toml"));

        let (line, field, msg) = error_at(&GOOD.replace("cold_start_share < 0.1", "p42 < 1"));
        assert_eq!((line, field.as_str()), (38, "thresholds[0].check"), "{msg}");

        let e = Plan::parse(Path::new("s.toml"), GOOD, &[], None, &|_| None).unwrap_err();
        assert!(
            e.to_string()
                .contains("s.toml:6: variables.api_key: environment variable `API_KEY` is not set"),
            "{e}"
        );
    }

    #[test]
    fn overrides_and_target_replace_scenario_values() {
        let p = Plan::parse(
            Path::new("s.toml"),
            GOOD,
            &["category=games".into()],
            Some("http://127.0.0.1:9/"),
            &|_| Some("k".into()),
        )
        .unwrap();
        assert_eq!(p.target, "http://127.0.0.1:9");
        let q = &p.flows[0].steps[0].query[0].1;
        assert_eq!(q.parts(), [crate::template::Part::Lit("games".into())]);
        assert!(
            Plan::parse(Path::new("s"), GOOD, &["nokey".into()], None, &|_| Some(
                "k".into()
            ))
            .is_err()
        );
    }
}
