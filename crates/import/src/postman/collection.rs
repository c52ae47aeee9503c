//! Postman Collection v2.0/v2.1 and environment JSON, read into the few shapes the converter
//! needs. Both versions' variants are accepted (v2.0's object-shaped auth parameters and
//! string headers, v2.1's arrays); anything of the wrong type is an error naming its JSON path.

use serde_json::Value;

use super::ConvertError;

/// A folder or the collection itself.
#[derive(Debug, Default)]
pub struct Folder {
    /// Name.
    pub name: String,
    /// Children in order.
    pub items: Vec<Item>,
    /// `auth`, when set here (else inherited).
    pub auth: Option<Auth>,
    /// Test and pre-request scripts.
    pub scripts: Vec<Script>,
}

/// A child of a folder.
#[derive(Debug)]
pub enum Item {
    /// A folder (`item` inside).
    Folder(Folder),
    /// A request.
    Request(Box<Request>),
}

/// A request item.
#[derive(Debug, Default)]
pub struct Request {
    /// The item's name.
    pub name: String,
    /// HTTP method (upper case).
    pub method: String,
    /// The URL.
    pub url: Url,
    /// Enabled headers.
    pub headers: Vec<(String, String)>,
    /// The body, when enabled.
    pub body: Option<Body>,
    /// `auth`, when set on the request (else inherited).
    pub auth: Option<Auth>,
    /// Test and pre-request scripts.
    pub scripts: Vec<Script>,
}

/// A request URL: the text before the query, enabled query parameters and path variables.
#[derive(Debug, Default)]
pub struct Url {
    /// Scheme, host and path as written (`{{baseUrl}}/users/:id`).
    pub base: String,
    /// Enabled query parameters.
    pub query: Vec<(String, String)>,
    /// `:name` path variables and their values.
    pub path_vars: Vec<(String, String)>,
}

/// A request body.
#[derive(Debug)]
pub enum Body {
    /// `raw`, with `options.raw.language` when given.
    Raw {
        /// The text.
        text: String,
        /// `json`, `text`, `xml`...
        language: Option<String>,
    },
    /// `urlencoded` (a form the scenario format cannot send).
    UrlEncoded,
    /// `graphql`: query and variables (a JSON text).
    GraphQl {
        /// The query.
        query: String,
        /// The variables, a JSON text.
        variables: String,
    },
    /// `formdata`, `file` or another mode the scenario format cannot send.
    Other(String),
}

/// An `auth` block: its type and parameters.
#[derive(Debug, Clone)]
pub struct Auth {
    /// `bearer`, `apikey`, `basic`, `awsv4`, `noauth`, `inherit`...
    pub kind: String,
    /// Parameters of that type (`token`, `key`, `value`, `in`...).
    pub params: Vec<(String, String)>,
}

impl Auth {
    /// A parameter's value.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// An event script.
#[derive(Debug)]
pub struct Script {
    /// `test` or `prerequest`.
    pub listen: String,
    /// Its source lines.
    pub lines: Vec<String>,
}

/// A variable of the collection or the environment.
#[derive(Debug)]
pub struct Variable {
    /// Name.
    pub name: String,
    /// Value as text.
    pub value: String,
    /// `type: "secret"`.
    pub secret: bool,
}

/// A whole collection: its root folder, variables and schema version.
#[derive(Debug)]
pub struct Collection {
    /// The collection as the root folder (its name is the collection's).
    pub root: Folder,
    /// `variable[]`.
    pub variables: Vec<Variable>,
    /// `v2.0.0` or `v2.1.0`.
    pub version: String,
}

type Res<T> = Result<T, ConvertError>;

/// Reads a collection's JSON.
pub fn read_collection(path: &std::path::Path, text: &str) -> Res<Collection> {
    let doc = parse_json(path, text)?;
    let shape = |at: &str, message: String| ConvertError::shape(path, at, message);
    let Value::Object(top) = &doc else {
        return Err(shape(
            "(top level)",
            "not a Postman collection: expected a JSON object".into(),
        ));
    };
    if top.contains_key("requests") && top.contains_key("order") {
        return Err(shape(
            "requests",
            "this is a Postman Collection v1 file, which is not read: export the collection \
             again as Collection v2.1 (Postman: Export, \"Collection v2.1\")"
                .into(),
        ));
    }
    if top.contains_key("values") && !top.contains_key("item") {
        return Err(shape(
            "values",
            "this is a Postman environment, not a collection: pass it with --environment".into(),
        ));
    }
    let info = top
        .get("info")
        .ok_or_else(|| shape("info", "not a Postman collection: no `info` object".into()))?;
    let schema = info.get("schema").and_then(Value::as_str).unwrap_or("");
    let version = if schema.contains("/v2.1") {
        "v2.1.0"
    } else if schema.contains("/v2.0") {
        "v2.0.0"
    } else if schema.contains("/v1") {
        return Err(shape(
            "info.schema",
            format!("`{schema}` is Collection v1, which is not read: export as Collection v2.1"),
        ));
    } else {
        return Err(shape(
            "info.schema",
            format!(
                "`{schema}` is not a Postman Collection v2.0 or v2.1 schema URL \
                 (https://schema.getpostman.com/json/collection/v2.1.0/collection.json)"
            ),
        ));
    };
    let name = info
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("collection")
        .to_string();
    let reader = Reader { path };
    let root = reader.folder(&doc, "", name)?;
    let variables = match top.get("variable") {
        Some(v) => reader.variables(v, "variable", "key", "disabled", false)?,
        None => Vec::new(),
    };
    Ok(Collection {
        root,
        variables,
        version: version.into(),
    })
}

/// Reads an environment's `values[]`.
pub fn read_environment(path: &std::path::Path, text: &str) -> Res<Vec<Variable>> {
    let doc = parse_json(path, text)?;
    if doc.get("info").is_some() && doc.get("item").is_some() {
        return Err(ConvertError::shape(
            path,
            "item",
            "this is a collection, not an environment".into(),
        ));
    }
    let values = doc.get("values").ok_or_else(|| {
        ConvertError::shape(
            path,
            "values",
            "not a Postman environment: no `values` array".into(),
        )
    })?;
    Reader { path }.variables(values, "values", "key", "enabled", true)
}

fn parse_json(path: &std::path::Path, text: &str) -> Res<Value> {
    serde_json::from_str(text).map_err(|e| ConvertError::Json {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })
}

/// Reads values, naming `path` and the JSON path of anything of the wrong type.
struct Reader<'a> {
    path: &'a std::path::Path,
}

impl Reader<'_> {
    fn err(&self, at: &str, message: impl Into<String>) -> ConvertError {
        ConvertError::shape(self.path, at, message.into())
    }

    /// A string field (absent: ""); numbers and booleans as their text.
    fn text(&self, v: Option<&Value>, at: &str) -> Res<String> {
        match v {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(Value::Bool(b)) => Ok(b.to_string()),
            Some(_) => Err(self.err(at, "expected a string")),
        }
    }

    fn array<'v>(&self, v: Option<&'v Value>, at: &str) -> Res<&'v [Value]> {
        match v {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(a)) => Ok(a),
            Some(_) => Err(self.err(at, "expected an array")),
        }
    }

    fn folder(&self, v: &Value, at: &str, name: String) -> Res<Folder> {
        let dot = if at.is_empty() { "" } else { "." };
        let item_at = format!("{at}{dot}item");
        let mut items = Vec::new();
        for (i, child) in self.array(v.get("item"), &item_at)?.iter().enumerate() {
            let cat = format!("{item_at}[{i}]");
            if !child.is_object() {
                return Err(self.err(&cat, "expected an item object"));
            }
            let cname = self.text(child.get("name"), &format!("{cat}.name"))?;
            if child.get("item").is_some() {
                items.push(Item::Folder(self.folder(child, &cat, cname)?));
            } else if let Some(req) = child.get("request") {
                items.push(Item::Request(Box::new(
                    self.request(child, req, &cat, cname)?,
                )));
            } else {
                return Err(self.err(&cat, "neither a folder (`item`) nor a request (`request`)"));
            }
        }
        Ok(Folder {
            name,
            items,
            auth: self.auth(v.get("auth"), &format!("{at}{dot}auth"))?,
            scripts: self.scripts(v.get("event"), &format!("{at}{dot}event"))?,
        })
    }

    fn request(&self, item: &Value, req: &Value, at: &str, name: String) -> Res<Request> {
        let rat = format!("{at}.request");
        // v2 allows a bare URL string as the request.
        if let Value::String(url) = req {
            return Ok(Request {
                name,
                method: "GET".into(),
                url: split_raw(url),
                scripts: self.scripts(item.get("event"), &format!("{at}.event"))?,
                ..Request::default()
            });
        }
        if !req.is_object() {
            return Err(self.err(&rat, "expected a request object or a URL string"));
        }
        let method = self.text(req.get("method"), &format!("{rat}.method"))?;
        let method = if method.is_empty() {
            "GET".into()
        } else {
            method.to_ascii_uppercase()
        };
        Ok(Request {
            name,
            method,
            url: self.url(req.get("url"), &format!("{rat}.url"))?,
            headers: self.headers(req.get("header"), &format!("{rat}.header"))?,
            body: self.body(req.get("body"), &format!("{rat}.body"))?,
            auth: self.auth(req.get("auth"), &format!("{rat}.auth"))?,
            scripts: self.scripts(item.get("event"), &format!("{at}.event"))?,
        })
    }

    fn url(&self, v: Option<&Value>, at: &str) -> Res<Url> {
        let Some(v) = v else {
            return Err(self.err(at, "the request has no URL"));
        };
        if let Value::String(s) = v {
            return Ok(split_raw(s));
        }
        if !v.is_object() {
            return Err(self.err(at, "expected a URL string or object"));
        }
        let raw = self.text(v.get("raw"), &format!("{at}.raw"))?;
        let mut url = if raw.is_empty() {
            self.url_from_parts(v, at)?
        } else {
            split_raw(&raw)
        };
        if v.get("query").is_some() {
            url.query = self.pairs(v.get("query"), &format!("{at}.query"), "key")?;
        }
        url.path_vars = self.pairs(v.get("variable"), &format!("{at}.variable"), "key")?;
        Ok(url)
    }

    /// A URL object without `raw`: protocol, host, port and path.
    fn url_from_parts(&self, v: &Value, at: &str) -> Res<Url> {
        let join = |key: &str, sep: &str| -> Res<String> {
            match v.get(key) {
                Some(Value::Array(parts)) => {
                    let mut out = Vec::new();
                    for (i, p) in parts.iter().enumerate() {
                        let pat = format!("{at}.{key}[{i}]");
                        out.push(match p {
                            Value::Object(_) => self.text(p.get("value"), &pat)?,
                            _ => self.text(Some(p), &pat)?,
                        });
                    }
                    Ok(out.join(sep))
                }
                other => self.text(other, &format!("{at}.{key}")),
            }
        };
        let host = join("host", ".")?;
        if host.is_empty() {
            return Err(self.err(&format!("{at}.host"), "the URL has no host"));
        }
        let protocol = self.text(v.get("protocol"), &format!("{at}.protocol"))?;
        let port = self.text(v.get("port"), &format!("{at}.port"))?;
        let path = join("path", "/")?;
        let mut base = String::new();
        if !protocol.is_empty() {
            base.push_str(&protocol);
            base.push_str("://");
        }
        base.push_str(&host);
        if !port.is_empty() {
            base.push(':');
            base.push_str(&port);
        }
        if !path.is_empty() {
            if !path.starts_with('/') {
                base.push('/');
            }
            base.push_str(&path);
        }
        Ok(Url {
            base,
            ..Url::default()
        })
    }

    /// `[{key, value, disabled}]` pairs, disabled ones left out.
    fn pairs(&self, v: Option<&Value>, at: &str, key: &str) -> Res<Vec<(String, String)>> {
        let mut out = Vec::new();
        for (i, p) in self.array(v, at)?.iter().enumerate() {
            let pat = format!("{at}[{i}]");
            if !p.is_object() {
                return Err(self.err(&pat, "expected an object with `key` and `value`"));
            }
            if p.get("disabled").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            let k = self.text(p.get(key), &format!("{pat}.{key}"))?;
            let val = self.text(p.get("value"), &format!("{pat}.value"))?;
            out.push((k, val));
        }
        Ok(out)
    }

    fn headers(&self, v: Option<&Value>, at: &str) -> Res<Vec<(String, String)>> {
        // v2.0 also allows "Name: value\nName: value".
        if let Some(Value::String(s)) = v {
            return Ok(s
                .lines()
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .filter(|(k, _)| !k.is_empty())
                .collect());
        }
        self.pairs(v, at, "key")
    }

    fn body(&self, v: Option<&Value>, at: &str) -> Res<Option<Body>> {
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return Ok(None);
        };
        if !v.is_object() {
            return Err(self.err(at, "expected a body object"));
        }
        if v.get("disabled").and_then(Value::as_bool) == Some(true) {
            return Ok(None);
        }
        let mode = self.text(v.get("mode"), &format!("{at}.mode"))?;
        Ok(Some(match mode.as_str() {
            "" => return Ok(None),
            "raw" => {
                let text = self.text(v.get("raw"), &format!("{at}.raw"))?;
                if text.trim().is_empty() {
                    return Ok(None);
                }
                let language = v
                    .pointer("/options/raw/language")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                Body::Raw { text, language }
            }
            "urlencoded" => Body::UrlEncoded,
            "graphql" => {
                let g = v.get("graphql");
                Body::GraphQl {
                    query: self.text(
                        g.and_then(|g| g.get("query")),
                        &format!("{at}.graphql.query"),
                    )?,
                    variables: self.text(
                        g.and_then(|g| g.get("variables")),
                        &format!("{at}.graphql.variables"),
                    )?,
                }
            }
            other => Body::Other(other.to_string()),
        }))
    }

    fn auth(&self, v: Option<&Value>, at: &str) -> Res<Option<Auth>> {
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return Ok(None);
        };
        let kind = self.text(v.get("type"), &format!("{at}.type"))?;
        if kind.is_empty() {
            return Err(self.err(&format!("{at}.type"), "an auth block needs a `type`"));
        }
        let mut params = Vec::new();
        let pat = format!("{at}.{kind}");
        match v.get(&kind) {
            // v2.1: [{key, value, type}]
            Some(Value::Array(list)) => {
                for (i, p) in list.iter().enumerate() {
                    let k = self.text(p.get("key"), &format!("{pat}[{i}].key"))?;
                    let val = self.text(p.get("value"), &format!("{pat}[{i}].value"))?;
                    params.push((k, val));
                }
            }
            // v2.0: {token: "..."}
            Some(Value::Object(map)) => {
                for (k, val) in map {
                    params.push((k.clone(), self.text(Some(val), &format!("{pat}.{k}"))?));
                }
            }
            None | Some(Value::Null) => {}
            Some(_) => return Err(self.err(&pat, "expected an array of parameters")),
        }
        Ok(Some(Auth { kind, params }))
    }

    fn scripts(&self, v: Option<&Value>, at: &str) -> Res<Vec<Script>> {
        let mut out = Vec::new();
        for (i, e) in self.array(v, at)?.iter().enumerate() {
            let eat = format!("{at}[{i}]");
            if e.get("disabled").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            let listen = self.text(e.get("listen"), &format!("{eat}.listen"))?;
            let exec = e.get("script").and_then(|s| s.get("exec"));
            let lines = match exec {
                Some(Value::String(s)) => s.lines().map(str::to_string).collect(),
                Some(Value::Array(list)) => {
                    let mut lines = Vec::new();
                    for (j, l) in list.iter().enumerate() {
                        let text = self.text(Some(l), &format!("{eat}.script.exec[{j}]"))?;
                        lines.extend(text.lines().map(str::to_string));
                    }
                    lines
                }
                None | Some(Value::Null) => Vec::new(),
                Some(_) => {
                    return Err(self.err(
                        &format!("{eat}.script.exec"),
                        "expected an array of lines or a string",
                    ));
                }
            };
            if lines.iter().any(|l| !l.trim().is_empty()) {
                out.push(Script { listen, lines });
            }
        }
        Ok(out)
    }

    /// Variables: `[{key, value, type, disabled|enabled}]`.
    fn variables(
        &self,
        v: &Value,
        at: &str,
        key: &str,
        flag: &str,
        flag_enables: bool,
    ) -> Res<Vec<Variable>> {
        let mut out = Vec::new();
        for (i, p) in self.array(Some(v), at)?.iter().enumerate() {
            let pat = format!("{at}[{i}]");
            if !p.is_object() {
                return Err(self.err(&pat, "expected an object with `key` and `value`"));
            }
            if let Some(f) = p.get(flag).and_then(Value::as_bool)
                && f != flag_enables
            {
                continue;
            }
            let mut name = self.text(p.get(key), &format!("{pat}.{key}"))?;
            if name.is_empty() {
                // v2.0 collection variables may use `id`.
                name = self.text(p.get("id"), &format!("{pat}.id"))?;
            }
            if name.is_empty() {
                return Err(self.err(&format!("{pat}.{key}"), "a variable needs a name"));
            }
            out.push(Variable {
                name,
                value: self.text(p.get("value"), &format!("{pat}.value"))?,
                secret: p.get("type").and_then(Value::as_str) == Some("secret"),
            });
        }
        Ok(out)
    }
}

/// Splits a raw URL into the part before `?` (and `#`) and its query pairs.
fn split_raw(raw: &str) -> Url {
    let raw = raw.trim();
    let raw = raw.split_once('#').map_or(raw, |(a, _)| a);
    let (base, query) = raw.split_once('?').unwrap_or((raw, ""));
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    Url {
        base: base.to_string(),
        query,
        path_vars: Vec::new(),
    }
}
