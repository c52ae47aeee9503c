//! Escaping and wording shared by the text formats. Every string that came from a user
//! (scenario, endpoint and phase names, URLs) passes through one of these before output.

/// Escapes text for XML and HTML element content and attribute values.
pub fn escape_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 forbids are dropped rather than breaking the file.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for a Markdown table cell or line: no raw HTML, no table breaks, no
/// accidental emphasis or links.
pub fn escape_markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '|' => out.push_str("\\|"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A share as a percentage with sensible precision (`0.4 %`, `12 %`).
pub fn percent(share: f64) -> String {
    let p = share * 100.0;
    if p == 0.0 {
        "0 %".into()
    } else if p < 1.0 {
        format!("{p:.2} %")
    } else if p < 10.0 {
        format!("{p:.1} %")
    } else {
        format!("{p:.0} %")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escaping_covers_markup_and_control_characters() {
        assert_eq!(
            escape_xml("<img src=x onerror=\"a\">&'\u{1}"),
            "&lt;img src=x onerror=&quot;a&quot;&gt;&amp;&apos;"
        );
    }

    #[test]
    fn markdown_escaping_neutralises_html_and_tables() {
        assert_eq!(
            escape_markdown("</script>|*x*"),
            "&lt;/script&gt;\\|\\*x\\*"
        );
    }

    #[test]
    fn percentages_keep_small_shares_visible() {
        assert_eq!(percent(0.0), "0 %");
        assert_eq!(percent(0.004), "0.40 %");
        assert_eq!(percent(0.054), "5.4 %");
        assert_eq!(percent(0.5), "50 %");
    }
}
