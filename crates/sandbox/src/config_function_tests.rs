//! Tests of the `[functions.NAME]` fields: defaults, good values, and bad ones rejected
//! naming the file, line and field.

use std::path::Path;

use super::*;
use crate::config::Config;

/// A config whose function `f` has `fields` (one per line, from line 6 on).
fn with_fields(fields: &str) -> String {
    format!(
        "[api]\nkind = \"rest\"\n\n[functions.f]\ninit = \"fixed 100ms\"\n{fields}\n\n[[routes]]\nroute = \"GET /prod/items/{{id}}\"\nfunction = \"f\"\n"
    )
}

fn function(fields: &str) -> FunctionConfig {
    let c = Config::parse(Path::new("c.toml"), &with_fields(fields)).expect("config is valid");
    c.functions["f"].clone()
}

fn err(fields: &str) -> String {
    Config::parse(Path::new("c.toml"), &with_fields(fields))
        .expect_err("config must be rejected")
        .to_string()
}

#[test]
fn defaults_are_lambdas() {
    let f = function("");
    assert_eq!(f.runtime, "nodejs20.x");
    assert!(
        is_runtime(&f.runtime),
        "the default is a Lambda runtime identifier"
    );
    assert_eq!(f.architecture, Architecture::X86_64);
    assert_eq!(f.package_type, PackageType::Zip);
    assert_eq!(f.code_size, 1_048_576);
    assert!(!f.snapstart);
    assert!(f.tags.is_empty());
    let info = f.info("f");
    assert_eq!(info.timeout_secs, 3);
    assert_eq!(info.memory_mb, 512);
    assert_eq!(info.code_size_bytes, 1_048_576);
}

#[test]
fn good_values_are_kept() {
    let f = function(
        "runtime = \"java21\"\narchitecture = \"arm64\"\ncode_size = 52428800\nsnapstart = true\ntimeout = \"2.5s\"\nlog_format = \"json\"\ntags = { team = \"payments\", \"cost center\" = \"cc:42/a=b\" }",
    );
    assert_eq!(f.runtime, "java21");
    assert_eq!(f.architecture, Architecture::Arm64);
    assert_eq!(f.code_size, 52_428_800);
    assert!(f.snapstart);
    assert_eq!(f.tags["team"], "payments");
    assert_eq!(f.tags["cost center"], "cc:42/a=b");
    let info = f.info("f");
    assert_eq!(info.timeout_secs, 3, "2.5 s rounds up");
    assert!(info.snap_start);
    assert_eq!(info.log_format, lambda::LogFormat::Json);
    assert_eq!(info.tags, f.tags);
    let image = function("package_type = \"Image\"\ncode_size = 10737418240\ntimeout = \"100ms\"");
    assert_eq!(image.package_type, PackageType::Image);
    assert_eq!(image.code_size, 10 << 30);
    assert_eq!(image.info("f").timeout_secs, 1, "at least a second");
    for runtime in ["python3.12", "dotnet8", "java11", "python3.13"] {
        let f = function(&format!("runtime = \"{runtime}\"\nsnapstart = true"));
        assert!(f.snapstart, "{runtime}");
    }
    assert!(!function("snapstart = false").snapstart);
}

#[test]
fn bad_values_name_the_line_and_field() {
    let cases: [(&str, &str, &str); 12] = [
        (
            "runtime = \"node20\"",
            "c.toml:6: field `functions.f.runtime`",
            "not a Lambda runtime identifier",
        ),
        (
            "architecture = \"x86\"",
            "c.toml:6: field `functions.f.architecture`",
            "must be \"x86_64\" or \"arm64\", not `x86`",
        ),
        (
            "package_type = \"zip\"",
            "c.toml:6: field `functions.f.package_type`",
            "must be \"Zip\" or \"Image\"",
        ),
        (
            "code_size = 0",
            "c.toml:6: field `functions.f.code_size`",
            "must be in 1..=10737418240, not `0`",
        ),
        (
            "code_size = 10737418241",
            "c.toml:6: field `functions.f.code_size`",
            "10737418241",
        ),
        (
            "code_size = -1",
            "c.toml:6: field `functions.f.code_size`",
            "-1",
        ),
        (
            "runtime = \"python3.11\"\nsnapstart = true",
            "c.toml:7: field `functions.f.snapstart`",
            "not available for runtime `python3.11`",
        ),
        (
            "snapstart = true",
            "c.toml:6: field `functions.f.snapstart`",
            "not available for runtime `nodejs20.x`",
        ),
        (
            "runtime = \"java21\"\npackage_type = \"Image\"\nsnapstart = true",
            "c.toml:8: field `functions.f.snapstart`",
            "container images",
        ),
        (
            "runtime = \"java21\"\nprovisioned_concurrency = 2\nsnapstart = true",
            "c.toml:8: field `functions.f.snapstart`",
            "provisioned concurrency",
        ),
        (
            "snapstart = \"yes\"",
            "c.toml:6: field `functions.f.snapstart`",
            "expected a boolean",
        ),
        (
            "tags = { team = 7 }",
            "c.toml:6: field `functions.f.tags.team`",
            "expected a string",
        ),
    ];
    for (fields, location, message) in cases {
        let e = err(fields);
        assert!(e.starts_with(location), "{fields}: {e}");
        assert!(e.contains(message), "{fields}: {e}");
    }
}

#[test]
fn tags_follow_aws_rules_and_errors_point_at_the_tag() {
    let e = err("[functions.f.tags]\nteam = \"a\"\n\"aws:stack\" = \"b\"");
    assert!(
        e.starts_with("c.toml:8: field `functions.f.tags.\"aws:stack\"`: tag keys starting with `aws:` are reserved"),
        "{e}"
    );
    let e = err(&format!(
        "tags = {{ team = \"a\" }}\n[functions.g]\ntags = {{ team = \"{}\" }}",
        "v".repeat(257)
    ));
    assert!(
        e.starts_with(
            "c.toml:8: field `functions.g.tags.team`: a tag value is 0-256 characters, not 257"
        ),
        "{e}"
    );
    let e = err(&format!("tags = {{ \"{}\" = \"v\" }}", "k".repeat(129)));
    assert!(
        e.starts_with("c.toml:6: field `functions.f.tags.kkkk"),
        "{e}"
    );
    assert!(e.contains("1-128 characters, not 129"), "{e}");
    let e = err("tags = { \"a#b\" = \"v\" }");
    assert!(
        e.starts_with("c.toml:6: field `functions.f.tags.\"a#b\"`"),
        "{e}"
    );
    let many: Vec<String> = (0..51).map(|i| format!("k{i} = \"v\"")).collect();
    let e = err(&format!("[functions.f.tags]\n{}", many.join("\n")));
    assert!(
        e.starts_with("c.toml:6: field `functions.f.tags`: at most 50 tags per function, not 51"),
        "{e}"
    );
    let fifty: Vec<String> = (0..50).map(|i| format!("k{i} = \"v\"")).collect();
    let f = function(&format!("[functions.f.tags]\n{}", fifty.join("\n")));
    assert_eq!(f.tags.len(), 50);
}
