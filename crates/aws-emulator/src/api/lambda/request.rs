//! Reading a Lambda control-plane request: percent-decoded path segments and query
//! parameters, and the function names Lambda accepts — a name, a full ARN or a partial ARN,
//! each optionally with a version or alias (`my-function:live`).

/// `%XX`-decodes `s` (a path segment or a query value; `+` stays `+`, as the SDKs encode a
/// space `%20`). `None` when an escape is malformed or the result is not UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The path's segments after the leading `/`, decoded; `None` when one does not decode.
pub(crate) fn path_segments(path: &str) -> Option<Vec<String>> {
    path.strip_prefix('/')
        .unwrap_or(path)
        .split('/')
        .map(percent_decode)
        .collect()
}

/// The decoded value of the first query parameter called `name` (an empty string for a
/// parameter without `=`); `None` when absent or undecodable.
pub(crate) fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
        .find(|(k, _)| percent_decode(k).as_deref() == Some(name))
        .and_then(|(_, v)| percent_decode(v))
}

/// A function as a request names it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct FunctionRef<'a> {
    /// The function's name.
    pub(crate) name: &'a str,
    /// Version or alias appended to the name, if any.
    pub(crate) qualifier: Option<&'a str>,
    /// The region of a full ARN.
    pub(crate) region: Option<&'a str>,
    /// The account of a full or partial ARN.
    pub(crate) account: Option<&'a str>,
}

/// The pattern Lambda checks `FunctionName` against (GetFunctionConfiguration), for the
/// message of a name that does not match it.
pub(crate) const FUNCTION_NAME_PATTERN: &str = r"(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?";

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn valid_qualifier(s: &str) -> bool {
    s == "$LATEST"
        || (!s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')))
}

fn valid_region(s: &str) -> bool {
    let mut parts = s.split('-');
    let (Some(area), Some(last)) = (parts.next(), parts.next_back()) else {
        return false;
    };
    let middle: Vec<&str> = parts.collect();
    area.len() == 2
        && area.bytes().all(|b| b.is_ascii_lowercase())
        && last.len() == 1
        && last.bytes().all(|b| b.is_ascii_digit())
        && !middle.is_empty()
        && middle
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
}

fn valid_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Parses `FunctionName` in any of Lambda's forms: `my-function`, `my-function:live`,
/// `123456789012:function:my-function[:live]`,
/// `arn:aws:lambda:us-east-1:123456789012:function:my-function[:live]`. `None` when it
/// is none of them (Lambda answers that with a `ValidationException`); a name-only form is
/// at most 64 characters and a full ARN at most 170.
pub(crate) fn parse_function_name(s: &str) -> Option<FunctionRef<'_>> {
    let parts: Vec<&str> = s.split(':').collect();
    let (name, qualifier, region, account) = match parts.as_slice() {
        [name] => (*name, None, None, None),
        [name, q] => (*name, Some(*q), None, None),
        [account, "function", name] => (*name, None, None, Some(*account)),
        [account, "function", name, q] => (*name, Some(*q), None, Some(*account)),
        [
            "arn",
            partition,
            "lambda",
            region,
            account,
            "function",
            name,
            rest @ ..,
        ] if partition.starts_with("aws") && rest.len() <= 1 => {
            (*name, rest.first().copied(), Some(*region), Some(*account))
        }
        _ => return None,
    };
    let ok = valid_name(name)
        && qualifier.is_none_or(valid_qualifier)
        && region.is_none_or(valid_region)
        && account.is_none_or(valid_account)
        && if region.is_some() {
            s.len() <= 170
        } else {
            name.len() <= 64
        };
    ok.then_some(FunctionRef {
        name,
        qualifier,
        region,
        account,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_paths_and_queries() {
        assert_eq!(
            percent_decode("arn%3Aaws%3Alambda%3Aus-east-1").as_deref(),
            Some("arn:aws:lambda:us-east-1")
        );
        assert_eq!(percent_decode("a+b%20c").as_deref(), Some("a+b c"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%ff"), None, "not UTF-8");
        assert_eq!(
            path_segments("/2017-03-31/tags/arn%3Aaws").unwrap(),
            ["2017-03-31", "tags", "arn:aws"]
        );
        let q = "MaxItems=50&Marker=lf1-f%2D1&List";
        assert_eq!(query_param(q, "MaxItems").as_deref(), Some("50"));
        assert_eq!(query_param(q, "Marker").as_deref(), Some("lf1-f-1"));
        assert_eq!(query_param(q, "List").as_deref(), Some(""));
        assert_eq!(query_param(q, "Qualifier"), None);
        assert_eq!(query_param("", "Marker"), None);
    }

    #[test]
    fn function_names_in_every_form() {
        let f = |name, qualifier, region, account| FunctionRef {
            name,
            qualifier,
            region,
            account,
        };
        assert_eq!(
            parse_function_name("checkout"),
            Some(f("checkout", None, None, None))
        );
        assert_eq!(
            parse_function_name("checkout:live"),
            Some(f("checkout", Some("live"), None, None))
        );
        assert_eq!(
            parse_function_name("123456789012:function:checkout:$LATEST"),
            Some(f("checkout", Some("$LATEST"), None, Some("123456789012")))
        );
        assert_eq!(
            parse_function_name("arn:aws:lambda:eu-west-1:123456789012:function:checkout"),
            Some(f("checkout", None, Some("eu-west-1"), Some("123456789012")))
        );
        assert_eq!(
            parse_function_name("arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:c:7"),
            Some(f(
                "c",
                Some("7"),
                Some("us-gov-west-1"),
                Some("123456789012")
            ))
        );
        for bad in [
            "",
            "a/b",
            "a:b:c",
            "a:",
            "arn:aws:lambda:us-east-1:123456789012:function:",
            "arn:aws:lambda:useast1:123456789012:function:f",
            "arn:aws:s3:us-east-1:123456789012:function:f",
            "arn:aws:lambda:us-east-1:1234:function:f",
            "arn:aws:lambda:us-east-1:123456789012:function:f:1:2",
            "12345678901x:function:f",
            "f:li/ve",
        ] {
            assert_eq!(parse_function_name(bad), None, "{bad}");
        }
        assert!(parse_function_name(&"f".repeat(64)).is_some());
        assert!(parse_function_name(&"f".repeat(65)).is_none());
    }
}
