//! JMeter JTL XML: `<httpSample>`/`<sample>` elements under `<testResults>`, stream-parsed.
//! Nested samples are sub-results (redirects, embedded resources: part of their parent's
//! time) unless the parent is a transaction controller, which is left out of the request
//! statistics while its children count.

use std::collections::HashMap;
use std::path::Path;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::file_read::FileRead;
use crate::jmeter_csv::{is_transaction_parent, thread_group};
use crate::sample::{Sample, trace_from_header_block};
use crate::{ImportError, JtlTimestamp};

/// A sample element being read.
#[derive(Default)]
struct Open {
    tag: String,
    attrs: HashMap<String, String>,
    line: u64,
    header: String,
    method: String,
    children: Vec<Sample>,
}

/// Which child element's text is being collected.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Capture {
    None,
    Header,
    Method,
}

/// Line numbers of byte offsets met in increasing order (counted once, not from the start
/// for every sample).
struct Lines<'a> {
    text: &'a [u8],
    pos: usize,
    line: u64,
}

impl Lines<'_> {
    #[allow(clippy::naive_bytecount)] // No extra crate for a count done once per byte.
    fn at(&mut self, pos: u64) -> u64 {
        let pos = usize::try_from(pos)
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        if pos < self.pos {
            self.pos = 0;
            self.line = 1;
        }
        self.line += self.text[self.pos..pos]
            .iter()
            .filter(|b| **b == b'\n')
            .count() as u64;
        self.pos = pos;
        self.line
    }
}

fn open(e: &BytesStart<'_>, line: u64) -> Open {
    let mut attrs = HashMap::new();
    for a in e.attributes().flatten() {
        let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
        let value = a
            .unescape_value()
            .map(std::borrow::Cow::into_owned)
            .unwrap_or_default();
        attrs.insert(key, value);
    }
    Open {
        tag: String::from_utf8_lossy(e.name().as_ref()).into_owned(),
        attrs,
        line,
        ..Open::default()
    }
}

fn is_sample(name: &[u8]) -> bool {
    name == b"httpSample" || name == b"sample"
}

/// Reads a JTL XML file.
pub fn read(path: &Path, text: &str, basis: JtlTimestamp) -> Result<FileRead, ImportError> {
    let mut reader = Reader::from_str(text);
    let mut out = FileRead::new(
        "jtl-xml",
        match basis {
            JtlTimestamp::Start => "JMeter JTL XML: ts = sample start, epoch milliseconds",
            JtlTimestamp::End => {
                "JMeter JTL XML: ts = sample end (start = ts - t), epoch milliseconds"
            }
        },
    );
    let mut stack: Vec<Open> = Vec::new();
    let mut lines = Lines {
        text: text.as_bytes(),
        pos: 0,
        line: 1,
    };
    let mut capture = Capture::None;
    let mut root_seen = false;
    let mut parents = 0u64;
    loop {
        let pos = reader.buffer_position();
        let event = match reader.read_event() {
            Ok(e) => e,
            Err(e) => {
                let line = lines.at(pos);
                if !root_seen {
                    return Err(ImportError::at(path, line, "xml", format!("not XML: {e}")));
                }
                out.skip(path, line, "xml", &format!("the XML breaks off here (torn file?): {e}; the samples before it were imported"));
                break;
            }
        };
        match event {
            Event::Start(e) | Event::Empty(e) if !root_seen => {
                if e.name().as_ref() != b"testResults" {
                    return Err(ImportError::at(
                        path,
                        lines.at(pos),
                        String::from_utf8_lossy(e.name().as_ref()).into_owned(),
                        "the root element is not <testResults>: is this a JMeter JTL XML file?",
                    ));
                }
                root_seen = true;
            }
            Event::Start(e) if is_sample(e.name().as_ref()) => {
                stack.push(open(&e, lines.at(pos)));
            }
            Event::Empty(e) if is_sample(e.name().as_ref()) => {
                let o = open(&e, lines.at(pos));
                close(path, o, basis, &mut stack, &mut out, &mut parents);
            }
            Event::Start(e) if !stack.is_empty() => {
                capture = match e.name().as_ref() {
                    b"responseHeader" => Capture::Header,
                    b"method" => Capture::Method,
                    _ => Capture::None,
                };
            }
            Event::Text(t) if capture != Capture::None => {
                if let (Some(top), Ok(t)) = (stack.last_mut(), t.xml_content()) {
                    match capture {
                        Capture::Header => top.header.push_str(&t),
                        Capture::Method => top.method.push_str(t.trim()),
                        Capture::None => {}
                    }
                }
            }
            Event::End(e) if is_sample(e.name().as_ref()) => {
                capture = Capture::None;
                if let Some(o) = stack.pop() {
                    close(path, o, basis, &mut stack, &mut out, &mut parents);
                }
            }
            Event::End(_) => capture = Capture::None,
            Event::Eof => {
                if let Some(o) = stack.first() {
                    out.skip(
                        path,
                        o.line,
                        &o.tag,
                        "sample not closed: the file ends inside it (torn file?)",
                    );
                }
                break;
            }
            _ => {}
        }
    }
    if !root_seen {
        return Err(ImportError::file(
            path,
            "no <testResults> element: is this a JMeter JTL XML file?",
        ));
    }
    if parents > 0 {
        out.notes.push(format!(
            "{parents} transaction-controller parent sample(s) left out of the request statistics"
        ));
    }
    out.require_some(path, "JTL samples")
}

/// A sample element has ended: emit it (or, for a transaction controller, its children)
/// to its parent or the output.
fn close(
    path: &Path,
    o: Open,
    basis: JtlTimestamp,
    stack: &mut [Open],
    out: &mut FileRead,
    parents: &mut u64,
) {
    let attr = |k: &str| o.attrs.get(k).map_or("", String::as_str);
    let transaction = is_transaction_parent(attr("dt"), attr("rm"))
        || (o.tag == "sample" && !o.children.is_empty() && attr("dt").is_empty());
    let emitted: Vec<Sample> = if transaction {
        *parents += 1;
        o.children
    } else {
        match sample_of(&o, basis) {
            Ok(s) => vec![s],
            Err(field) => {
                out.skip(path, o.line, field, "missing or not a number");
                Vec::new()
            }
        }
    };
    match stack.last_mut() {
        // A sub-result inside an ordinary sample is part of it; inside a transaction it
        // is one of its requests (decided when the parent closes).
        Some(parent) => parent.children.extend(emitted),
        None => out.samples.extend(emitted),
    }
}

fn sample_of(o: &Open, basis: JtlTimestamp) -> Result<Sample, &'static str> {
    let attr = |k: &str| o.attrs.get(k).map_or("", String::as_str);
    let ts: i64 = attr("ts").trim().parse().map_err(|_| "ts")?;
    let t: i64 = attr("t").trim().parse().map_err(|_| "t")?;
    let start_ms = match basis {
        JtlTimestamp::Start => ts,
        JtlTimestamp::End => ts - t,
    };
    let mut s = Sample::new(attr("lb"), start_ms * 1_000_000, (start_ms + t) * 1_000_000);
    let status = attr("rc").trim().parse::<u16>().unwrap_or(0);
    let success = o.attrs.get("s").is_none_or(|v| v == "true");
    s.outcome(status, success, &format!("{} {}", attr("rc"), attr("rm")));
    let thread = attr("tn");
    s.group = thread_group(thread)
        .map(str::to_string)
        .or_else(|| (!thread.is_empty()).then(|| thread.to_string()));
    s.flow = s.group.clone().unwrap_or_default();
    s.actor = thread
        .rsplit_once('-')
        .and_then(|(_, n)| n.trim().parse().ok());
    s.bytes = attr("by").trim().parse().unwrap_or(0);
    s.trace = trace_from_header_block(&o.header);
    s.request_id = crate::sample::request_id_from_header_block(&o.header);
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_str(text: &str) -> Result<FileRead, ImportError> {
        read(Path::new("t.xml"), text, JtlTimestamp::Start)
    }

    #[test]
    fn nested_samples_transactions_and_headers() {
        let text = r#"<?xml version="1.0" encoding="UTF-8"?>
<testResults version="1.2">
<httpSample t="120" lt="100" ts="1700000000000" s="true" lb="GET /a" rc="200" rm="OK" tn="Shop 1-1" dt="text" by="10">
  <httpSample t="20" ts="1700000000000" s="true" lb="GET /a-0" rc="302" rm="Found" tn="Shop 1-1" dt="text"/>
  <responseHeader class="java.lang.String">HTTP/1.1 200 OK
X-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1
x-amzn-RequestId: c8ba2a7e-4f0b
</responseHeader>
</httpSample>
<sample t="300" ts="1700000001000" s="false" lb="Checkout" rc="500" rm="Number of samples in transaction : 2, number of failing samples : 1" tn="Shop 1-2" dt="">
  <httpSample t="100" ts="1700000001000" s="true" lb="GET /cart" rc="200" rm="OK" tn="Shop 1-2" dt="text"/>
  <httpSample t="200" ts="1700000001100" s="false" lb="POST /buy" rc="500" rm="Error" tn="Shop 1-2" dt="text"/>
</sample>
</testResults>
"#;
        let r = read_str(text).unwrap();
        let names: Vec<String> = (0..r.samples.len())
            .map(|i| r.samples.get(i).endpoint)
            .collect();
        assert_eq!(names, ["GET /a", "GET /cart", "POST /buy"]);
        assert_eq!(
            r.samples.get(0).trace,
            Some(("1-5759e988-bd862e3fe1be46a994272793".into(), true))
        );
        assert_eq!(
            r.samples.get(0).request_id,
            Some((
                "c8ba2a7e-4f0b".into(),
                stormwatch_model::request_ids::RequestIdKind::Amzn
            ))
        );
        assert_eq!(r.samples.get(1).request_id, None);
        assert_eq!(r.samples.get(2).status, 500);
        assert!(r.notes[0].contains("1 transaction-controller"));
    }

    #[test]
    fn torn_and_foreign_files() {
        let torn = "<testResults version=\"1.2\">\n<httpSample t=\"1\" ts=\"1700000000000\" s=\"true\" lb=\"a\" rc=\"200\"/>\n<httpSample t=\"1\" ts=\"17000";
        let r = read_str(torn).unwrap();
        assert_eq!(r.samples.len(), 1);
        assert_eq!(r.skipped, 1);
        assert!(
            r.skipped_examples[0].starts_with("t.xml:3:"),
            "{:?}",
            r.skipped_examples
        );
        let e = read_str("<html><body/></html>").unwrap_err().to_string();
        assert!(
            e.contains("t.xml:1: html: the root element is not <testResults>"),
            "{e}"
        );
        let e = read_str("<testResults version=\"1.2\">\n<httpSample t=\"x\" ts=\"1\" lb=\"a\"/>\n</testResults>\n").unwrap_err().to_string();
        assert!(e.contains("t.xml:2: t: missing or not a number"), "{e}");
    }
}
