//! JUnit XML: one test case per scenario threshold, so CI systems show which limit broke.
//!
//! A run without thresholds still yields one test case (`run completed`) that fails when the
//! run was aborted or cut short, so a CI job never passes on an empty suite by accident.

use std::fmt::Write as _;

use stormwatch_model::AnalysisReport;
use stormwatch_model::RunStatus;

use crate::Artifact;
use crate::text::escape_xml;

pub fn render(report: &AnalysisReport) -> Artifact {
    struct Case {
        name: String,
        failure: Option<String>,
    }
    let mut cases: Vec<Case> = report
        .thresholds
        .iter()
        .map(|t| Case {
            name: t.name.clone(),
            failure: (!t.passed).then(|| {
                format!(
                    "{} was {}, limit {}",
                    t.metric,
                    t.observed.as_deref().unwrap_or("not measured (no data)"),
                    t.limit
                )
            }),
        })
        .collect();
    cases.push(Case {
        name: "run completed".into(),
        failure: (report.run.status != RunStatus::Completed)
            .then(|| format!("run status is {}", report.run.status)),
    });
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let suite = escape_xml(&format!("stormwatch {}", report.run.scenario));
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"stormwatch\" tests=\"{}\" failures=\"{failures}\">",
        cases.len()
    );
    let _ = writeln!(
        xml,
        "  <testsuite name=\"{suite}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">",
        cases.len()
    );
    let _ = writeln!(
        xml,
        "    <properties><property name=\"run_id\" value=\"{}\"/></properties>",
        escape_xml(&report.run.run_id)
    );
    for case in &cases {
        let name = escape_xml(&case.name);
        match &case.failure {
            None => {
                let _ = writeln!(xml, "    <testcase classname=\"{suite}\" name=\"{name}\"/>");
            }
            Some(message) => {
                let message = escape_xml(message);
                let _ = writeln!(xml, "    <testcase classname=\"{suite}\" name=\"{name}\">");
                let _ = writeln!(
                    xml,
                    "      <failure message=\"{message}\" type=\"threshold\">{message}</failure>"
                );
                let _ = writeln!(xml, "    </testcase>");
            }
        }
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    Artifact {
        name: "junit.xml".into(),
        bytes: xml.into_bytes(),
    }
}
