//! The HTML report in a real headless browser (Debian `chromium`, which `scripts/test`
//! installs when missing; `STORMWATCH_CHROMIUM` points elsewhere): it renders, its charts and
//! tables are in the DOM, and endpoint names that are HTML or script show up as text and run
//! nothing. Load only goes to the test server on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use assert_cmd::Command;

use crate::util::server;

const IMG: &str = "<img src=x onerror=alert(1)>";
const SCRIPT: &str = "</script><script>alert(1)</script>";

fn chromium() -> PathBuf {
    if let Ok(p) = std::env::var("STORMWATCH_CHROMIUM") {
        return PathBuf::from(p);
    }
    for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "no chromium found: run scripts/test (it installs Debian's chromium) or set \
         STORMWATCH_CHROMIUM to a Chromium binary"
    );
}

fn headless(args: &[&str], page: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = StdCommand::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--window-size=1280,2400",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A run whose two endpoints are named with HTML and a script, rendered to report.html.
fn hostile_report(tmp: &Path) -> PathBuf {
    let (url, _count) = server();
    let scenario = tmp.join("hostile.toml");
    let text = format!(
        "[target]\nurl = \"{url}\"\n\n\
         [[flows]]\nname = \"a\"\n[[flows.steps]]\npath = \"/a\"\nendpoint = {IMG:?}\n\n\
         [[flows]]\nname = \"b\"\n[[flows.steps]]\npath = \"/b\"\nendpoint = {SCRIPT:?}\n\n\
         [[phases]]\nname = \"warm\"\nmodel = \"open\"\nrate = 40\nduration = \"1s\"\n",
    );
    std::fs::write(&scenario, text).unwrap();
    let out = Command::cargo_bin("stormwatch")
        .unwrap()
        .args(["--quiet", "run"])
        .arg(&scenario)
        .arg("--out")
        .arg(tmp.join("runs"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = String::from_utf8(out.stdout).unwrap();
    let run = run.lines().last().unwrap();
    let out = Command::cargo_bin("stormwatch")
        .unwrap()
        .args(["report", run, "--format", "html"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
}

#[test]
fn the_report_renders_in_chromium_and_hostile_names_stay_text() {
    let tmp = tempfile::tempdir().unwrap();
    let page = hostile_report(tmp.path());
    let dom = headless(&["--dump-dom"], &page);

    // It rendered: the verdict, the phase table and inline SVG charts are in the DOM.
    assert!(dom.contains("warm"), "phase name missing");
    assert!(
        dom.matches("<svg").count() >= 2,
        "charts missing from the DOM"
    );
    assert!(dom.contains("<table"), "tables missing from the DOM");

    // Both names are shown as text (the DOM serializer escapes text nodes)...
    assert!(
        dom.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "img name not shown as text"
    );
    assert!(
        dom.contains("&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"),
        "script name not shown as text"
    );
    // ...and neither became an element: no image with a handler, no injected script.
    assert!(
        !dom.contains("<img src=\"x\""),
        "the img name became an element"
    );
    assert!(
        !dom.contains("onerror=\"alert(1)\""),
        "a handler attribute was created"
    );
    assert!(
        !dom.contains("<script>alert(1)</script>"),
        "the script name became a script"
    );

    // A screenshot of the page is not blank: many distinct colours.
    let shot = tmp.path().join("shot.png");
    headless(&[&format!("--screenshot={}", shot.display())], &page);
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let pixels = &buf[..info.buffer_size()];
    let step = info.color_type.samples();
    let colours: std::collections::HashSet<&[u8]> = pixels.chunks(step).collect();
    assert!(
        colours.len() > 50,
        "screenshot looks blank: {} colours",
        colours.len()
    );
}
