//! `stormwatch convert postman`: a Postman Collection (v2.0 or v2.1) and optionally an
//! environment into a stormwatch scenario.
//!
//! Folders become flows (or, with [`FlowMode::Steps`], the steps of one flow), requests
//! steps; `{{var}}` becomes `${var}`; collection and environment variables become
//! `[variables]`, secret-looking ones (`type: "secret"`, or names with token, secret,
//! password, key, auth...) `${env:NAME}` references whose values are never copied; auth is
//! inherited as Postman does (bearer and API keys become headers or query parameters, basic
//! a header from an environment variable, `awsv4` is reported); the common test-script idioms
//! become `expect` and `extract`. Whatever is not converted is listed in
//! [`Conversion::not_converted`] by item name and written as a comment beside its step.

mod body;
mod collection;
mod emit;
mod request;
mod script;
mod text;
mod value;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use self::collection::{Auth, Folder, Item, Request, Script};
use self::request::{Ctx, Inherited, Step, Var};
use self::text::{comment, env_name, key, quote, secret_name, var_name};

/// Why a conversion failed; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("{}:{line}:{column}: not JSON: {message}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// serde_json's message.
        message: String,
    },
    /// The JSON is not a collection (or environment) of a version that is read.
    #[error("{}: {at}: {message}", path.display())]
    Shape {
        /// The file.
        path: PathBuf,
        /// JSON path of the offending value, e.g. `item[2].request.url`.
        at: String,
        /// What is wrong.
        message: String,
    },
}

impl ConvertError {
    fn shape(path: &Path, at: &str, message: String) -> Self {
        Self::Shape {
            path: path.to_path_buf(),
            at: at.to_string(),
            message,
        }
    }
}

/// How folders map onto flows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FlowMode {
    /// One flow per top-level folder (subfolders' requests are its steps, in order);
    /// requests at the top level make one flow named after the collection.
    #[default]
    Folders,
    /// One flow; every request a step, in collection order (Postman's runner order).
    Steps,
}

/// Conversion settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// Folders to flows or to steps.
    pub flows: FlowMode,
    /// Virtual users of the scenario's one closed phase.
    pub users: u32,
    /// Length of that phase, e.g. `1m`.
    pub duration: String,
}

/// The scenario and what went into it.
#[derive(Debug)]
pub struct Conversion {
    /// The scenario TOML.
    pub toml: String,
    /// Requests in the collection.
    pub requests: usize,
    /// Requests converted into steps.
    pub converted: usize,
    /// Flows written.
    pub flows: usize,
    /// `item name: what` for everything not converted.
    pub not_converted: Vec<String>,
    /// Environment variables the scenario reads, and what each must hold.
    pub environment: Vec<(String, String)>,
    /// Other remarks (variables without a value, variables set by scripts).
    pub notes: Vec<String>,
}

/// Converts `collection` (and `environment`'s values) into a scenario.
pub fn convert(
    collection: &Path,
    environment: Option<&Path>,
    opts: &Options,
) -> Result<Conversion, ConvertError> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|source| ConvertError::Io {
            path: p.to_path_buf(),
            source,
        })
    };
    let coll = collection::read_collection(collection, &read(collection)?)?;
    let env = match environment {
        Some(p) => collection::read_environment(p, &read(p)?)?,
        None => Vec::new(),
    };
    let mut ctx = Ctx::default();
    // Postman's precedence: the environment over the collection.
    for v in coll.variables.iter().chain(&env) {
        ctx.vars.insert(
            v.name.clone(),
            Var {
                value: v.value.clone(),
                secret: v.secret || secret_name(&v.name),
            },
        );
    }
    let mut walk = Walk {
        ctx: &mut ctx,
        steps: Vec::new(),
        groups: Vec::new(),
        requests: 0,
    };
    let root_name = coll.root.name.clone();
    walk.folder(
        &coll.root,
        &[],
        &Inherited {
            scripts: Vec::new(),
            auth: None,
        },
        None,
    );
    let Walk {
        steps,
        groups,
        requests,
        ..
    } = walk;
    if steps.is_empty() {
        let why = if requests == 0 {
            "the collection has no requests".to_string()
        } else {
            format!(
                "none of its {requests} request(s) could be converted: {}",
                ctx.not_converted.join("; ")
            )
        };
        return Err(ConvertError::shape(collection, "item", why));
    }
    let flows = match opts.flows {
        FlowMode::Steps => vec![emit::Flow {
            name: root_name.clone(),
            on_start: Vec::new(),
            steps: steps.iter().collect(),
        }],
        FlowMode::Folders => groups
            .iter()
            .enumerate()
            .filter_map(|(g, name)| {
                let in_group: Vec<&Step> = steps.iter().filter(|s| s.group == g).collect();
                (!in_group.is_empty()).then(|| emit::Flow {
                    name: name.clone(),
                    on_start: Vec::new(),
                    steps: in_group,
                })
            })
            .collect(),
    };
    let flows: Vec<emit::Flow<'_>> = flows
        .into_iter()
        .map(|f| with_producers(f, &steps))
        .collect();

    let mut notes = Vec::new();
    let mut out = String::new();
    let file = |p: &Path| {
        p.file_name().map_or_else(
            || p.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    };
    let _ = writeln!(
        out,
        "# Converted by `stormwatch convert postman` from {} (Postman Collection {}){}.",
        comment(&file(collection)),
        coll.version,
        environment.map_or(String::new(), |e| format!(
            " with environment {}",
            comment(&file(e))
        ))
    );
    let _ = writeln!(
        out,
        "# {} of {} request(s) converted; what was not is in comments beside the steps.\n",
        steps.len(),
        requests
    );
    out.push_str("[target]\n");
    match &ctx.target {
        Some(t) if !t.contains("{{") => {
            let _ = writeln!(out, "url = {}\n", quote(t));
        }
        other => {
            let written = other.clone().unwrap_or_default();
            let _ = writeln!(
                out,
                "# The collection's requests go to {}, which has no value in the collection or \
                 environment: pass `stormwatch run --target URL`.\nurl = \"http://localhost\"\n",
                comment(&written)
            );
            notes.push(format!(
                "the requests' base `{written}` has no value: the scenario's target is \
                 http://localhost; pass `stormwatch run --target URL`"
            ));
        }
    }
    let mut environment_vars = Vec::new();
    let used: BTreeSet<String> = flows
        .iter()
        .flat_map(|f| {
            f.steps
                .iter()
                .copied()
                .chain(f.on_start.iter().map(|(_, s)| *s))
        })
        .flat_map(|s| s.uses.iter().cloned())
        .collect();
    let extracted: BTreeSet<String> = steps
        .iter()
        .flat_map(|s| s.extract.iter().map(|(v, _)| v.clone()))
        .collect();
    let lines = variables(&ctx, &used, &extracted, &mut environment_vars, &mut notes);
    if !lines.is_empty() {
        out.push_str("[variables]\n");
        out.push_str(&lines);
        out.push('\n');
    }
    emit::flows(&mut out, &flows);
    let _ = writeln!(
        out,
        "# Postman's runner runs each request once per iteration; shape the load here.\n\
         [[phases]]\nname = \"run\"\nmodel = \"closed\"\nusers = {}\nduration = {}",
        opts.users,
        quote(&opts.duration)
    );
    Ok(Conversion {
        toml: out,
        requests,
        converted: steps.len(),
        flows: flows.len(),
        not_converted: ctx.not_converted,
        environment: environment_vars,
        notes,
    })
}

/// The `[variables]` lines for the names the steps use.
fn variables(
    ctx: &Ctx,
    used: &BTreeSet<String>,
    extracted: &BTreeSet<String>,
    environment: &mut Vec<(String, String)>,
    notes: &mut Vec<String>,
) -> String {
    let mut out = String::new();
    let by_name: BTreeMap<String, (&String, &Var)> = ctx
        .vars
        .iter()
        .map(|(n, v)| (var_name(n), (n, v)))
        .collect();
    let mut env_ref = |out: &mut String, name: &str, env: String, what: String| {
        let _ = writeln!(
            out,
            "{} = {}  # {}",
            key(name),
            quote(&format!("${{env:{env}}}")),
            comment(&what)
        );
        if !environment.iter().any(|(e, _)| *e == env) {
            environment.push((env, what));
        }
    };
    for name in used {
        if extracted.contains(name) {
            if by_name.contains_key(name) {
                notes.push(format!(
                    "`{name}` is set by a test script: it is extracted, not a fixed variable"
                ));
            }
            continue;
        }
        if let Some((env, what)) = ctx.made.get(name) {
            env_ref(&mut out, name, env.clone(), what.clone());
            continue;
        }
        if let Some(postman) = ctx.unknown_dynamic.get(name) {
            let _ = writeln!(
                out,
                "# Postman's dynamic variable {{{{{}}}}} has no equivalent: give a value.\n{} = \"\"",
                comment(postman),
                key(name)
            );
            notes.push(format!(
                "{{{{{postman}}}}} has no equivalent: `{name}` is empty"
            ));
            continue;
        }
        let Some((postman, var)) = by_name.get(name) else {
            if secret_name(name) {
                // A secret kept out of the export: the scenario reads it from the environment.
                let what = format!(
                    "Postman variable `{name}` (not defined in the collection or environment)"
                );
                env_ref(&mut out, name, env_name(name), what);
                continue;
            }
            let _ = writeln!(
                out,
                "# Not defined in the collection or environment: set it here or with --set {name}=VALUE.\n{} = \"\"",
                key(name)
            );
            notes.push(format!(
                "`{name}` is used but not defined: it is empty (set it with --set {name}=VALUE)"
            ));
            continue;
        };
        let what = format!("the value of Postman variable `{postman}`");
        if var.secret {
            env_ref(&mut out, name, env_name(postman), what);
            continue;
        }
        match ctx.resolve_static(&var.value) {
            Some(v) if !v.contains("${") => {
                let _ = writeln!(out, "{} = {}", key(name), quote(&v));
            }
            // Refers to a secret (or holds `${`, which would read as an env reference).
            _ => env_ref(&mut out, name, env_name(postman), what),
        }
    }
    out
}

/// Adds, as `on_start`, the steps of other flows that extract variables this flow uses
/// but never sets (a token fetched in the "Auth" folder and sent by the "Orders" one).
fn with_producers<'a>(mut flow: emit::Flow<'a>, all: &'a [Step]) -> emit::Flow<'a> {
    loop {
        let members: Vec<&Step> = flow
            .on_start
            .iter()
            .map(|(_, s)| *s)
            .chain(flow.steps.iter().copied())
            .collect();
        let set: BTreeSet<&String> = members
            .iter()
            .flat_map(|s| s.extract.iter().map(|(v, _)| v))
            .collect();
        let missing = members.iter().flat_map(|s| s.uses.iter()).find_map(|u| {
            if set.contains(u) {
                return None;
            }
            all.iter()
                .find(|s| s.extract.iter().any(|(v, _)| v == u))
                .map(|s| (u.clone(), s))
        });
        let Some((var, producer)) = missing else {
            return flow;
        };
        flow.on_start.push((
            format!("{}: sets `{var}`, which this flow uses", producer.title),
            producer,
        ));
        flow.on_start.sort_by_key(|(_, s)| {
            all.iter()
                .position(|a| std::ptr::eq(a, *s))
                .unwrap_or(usize::MAX)
        });
    }
}

/// Walks the tree in order, converting requests.
struct Walk<'c> {
    ctx: &'c mut Ctx,
    steps: Vec<Step>,
    /// Flow names by group index.
    groups: Vec<String>,
    requests: usize,
}

impl Walk<'_> {
    fn folder<'a>(
        &mut self,
        folder: &'a Folder,
        path: &[&'a str],
        parent: &Inherited<'a>,
        group: Option<usize>,
    ) {
        let owner = if path.is_empty() {
            format!("collection {}", folder.name)
        } else {
            format!("folder {}", path.join(" / "))
        };
        let here = inherit(parent, &folder.scripts, folder.auth.as_ref(), &owner);
        let mut root_group = None;
        for item in &folder.items {
            match item {
                Item::Folder(f) => {
                    let mut p = path.to_vec();
                    p.push(&f.name);
                    let g = group.unwrap_or_else(|| {
                        self.groups.push(f.name.clone());
                        self.groups.len() - 1
                    });
                    self.folder(f, &p, &here, Some(g));
                }
                Item::Request(r) => {
                    let g = group.unwrap_or_else(|| {
                        *root_group.get_or_insert_with(|| {
                            self.groups.push(folder.name.clone());
                            self.groups.len() - 1
                        })
                    });
                    self.request(r, path, &here, g);
                }
            }
        }
    }

    fn request(&mut self, r: &Request, path: &[&str], parent: &Inherited<'_>, group: usize) {
        self.requests += 1;
        let mut title: Vec<&str> = path.to_vec();
        title.push(&r.name);
        let title = title.join(" / ");
        let auth = match r.auth.as_ref().filter(|a| a.kind != "inherit") {
            Some(a) => Some((format!("request {title}"), a)),
            None => parent.auth.clone(),
        };
        let here = Inherited {
            scripts: parent.scripts.clone(),
            auth,
        };
        if let Some(step) = self.ctx.step(r, &title, group, &here) {
            self.steps.push(step);
        }
    }
}

/// The scripts and auth in force below a folder.
fn inherit<'a>(
    parent: &Inherited<'a>,
    scripts: &'a [Script],
    auth: Option<&'a Auth>,
    owner: &str,
) -> Inherited<'a> {
    let mut all = parent.scripts.clone();
    all.extend(scripts.iter().map(|s| (owner.to_string(), s)));
    Inherited {
        scripts: all,
        auth: match auth.filter(|a| a.kind != "inherit") {
            Some(a) => Some((owner.to_string(), a)),
            None => parent.auth.clone(),
        },
    }
}

#[cfg(test)]
mod tests;
