//! Gatling's text `simulation.log` (tab-separated, 3.0 to 3.12). The binary log of 3.13 and
//! later is refused with a message saying which versions are read.

use std::io::{BufRead, Read};
use std::path::Path;

use crate::ImportError;
use crate::file_read::FileRead;
use crate::input::Stream;
use crate::sample::Sample;

/// Which versions this reader understands, for messages.
const VERSIONS: &str = "the text simulation.log of Gatling 3.0 to 3.12";

/// Refuses the binary `simulation.log` of Gatling 3.13 and later (read from its first bytes).
pub fn refuse_binary(path: &Path) -> Result<(), ImportError> {
    let mut head = Vec::with_capacity(4096);
    std::fs::File::open(path)
        .and_then(|f| f.take(4096).read_to_end(&mut head))
        .map_err(|source| ImportError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    // The binary log starts with the Run record's header byte 0; text logs start with `RUN`.
    let not_text = std::str::from_utf8(&head).is_err_and(|e| e.error_len().is_some());
    if head.first() == Some(&0) || not_text {
        return Err(ImportError::file(
            path,
            format!(
                "a binary simulation.log (Gatling 3.13 or later), which changes with every Gatling \
                 version; stormwatch reads {VERSIONS}"
            ),
        ));
    }
    Ok(())
}

fn is_ms(s: &str) -> bool {
    s.len() >= 10 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Reads a text `simulation.log`.
pub fn read(path: &Path, input: Stream<impl BufRead>) -> Result<FileRead, ImportError> {
    let mut out = FileRead::new(
        "gatling-log",
        "Gatling simulation.log: REQUEST start and end, epoch milliseconds",
    );
    let mut version = String::new();
    let mut any_record = false;
    input.lines(path, &mut out, |out, (n, line, torn)| {
        let f: Vec<&str> = line.split('\t').collect();
        match f[0] {
            "RUN" => {
                any_record = true;
                version = f.get(5).map_or_else(String::new, |v| v.trim().to_string());
            }
            "USER" | "GROUP" | "ERROR" | "ASSERTION" => any_record = true,
            "REQUEST" => {
                any_record = true;
                // 3.4.2+: REQUEST groups name start end status message;
                // 3.0-3.4.1: REQUEST user groups name start end status message.
                let at = if f.len() >= 6 && is_ms(f[3]) && is_ms(f[4]) {
                    2
                } else if f.len() >= 7 && is_ms(f[4]) && is_ms(f[5]) {
                    3
                } else {
                    let why = if torn {
                        "torn last line"
                    } else {
                        "start and end are not epoch milliseconds"
                    };
                    out.skip(path, n, "REQUEST", why);
                    return Ok(());
                };
                let (Ok(start), Ok(end)) = (f[at + 1].parse::<i64>(), f[at + 2].parse::<i64>())
                else {
                    out.skip(path, n, "REQUEST", "start or end out of range");
                    return Ok(());
                };
                let Some(status) = f.get(at + 3).map(|s| s.trim()) else {
                    out.skip(
                        path,
                        n,
                        "status",
                        if torn { "torn last line" } else { "missing" },
                    );
                    return Ok(());
                };
                if status != "OK" && status != "KO" {
                    out.skip(path, n, "status", "neither OK nor KO");
                    return Ok(());
                }
                let message = f.get(at + 4).map_or("", |m| m.trim());
                let mut s = Sample::new(f[at], start * 1_000_000, end * 1_000_000);
                // Gatling logs OK/KO, not the HTTP status: OK is taken as 200, KO as the
                // status its check message found (`…but actually found 503`), else 0.
                let code = if status == "OK" {
                    200
                } else {
                    found_status(message).unwrap_or(0)
                };
                s.outcome(code, status == "OK", message);
                s.flow = f[at - 1].to_string();
                if at == 3 {
                    s.actor = f[1].parse().ok();
                }
                out.samples.push(&s);
            }
            _ if n == 1 => {
                return Err(ImportError::at(
                    path,
                    1,
                    "record type",
                    format!(
                        "{:?} is not a Gatling record (RUN, USER, REQUEST...): is this a simulation.log?",
                        f[0]
                    ),
                ));
            }
            _ => out.skip(
                path,
                n,
                "record type",
                if torn {
                    "torn last line"
                } else {
                    "unknown record"
                },
            ),
        }
            Ok(())
    })?;
    if !any_record {
        return Err(ImportError::file(path, "holds no Gatling records"));
    }
    out.notes.push(
        "Gatling records OK/KO, not HTTP status codes: OK requests are counted as 200, KO as the \
         status their check message found, else 0"
            .into(),
    );
    if !version.is_empty() {
        out.time_basis = format!("{} (Gatling {version})", out.time_basis);
    }
    out.require_some(path, "REQUEST records")
}

/// The status in a check message such as `status.find.in(200,304), but actually found 503`.
fn found_status(message: &str) -> Option<u16> {
    let rest = &message[message.find("found ")? + 6..];
    rest.get(..3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_text_layouts_are_read() {
        let text = "RUN\tcom.example.Shop\tshop\t1700000000000\t \t3.9.5\n\
                    USER\tbuyers\tSTART\t1700000000001\n\
                    REQUEST\t\tget orders\t1700000000010\t1700000000110\tOK\t \n\
                    REQUEST\tcheckout\tpay\t1700000000200\t1700000000500\tKO\tstatus.find.in(200,304), but actually found 503\n\
                    REQUEST\t7\t\told layout\t1700000000600\t1700000000650\tOK\t \n";
        let r = read(Path::new("simulation.log"), Stream::text(text)).unwrap();
        assert_eq!(r.samples.len(), 3);
        assert_eq!(r.samples.get(1).status, 503);
        assert_eq!(r.samples.get(1).flow, "checkout");
        assert_eq!(r.samples.get(2).endpoint, "old layout");
        assert_eq!(r.samples.get(2).actor, Some(7));
        assert!(r.time_basis.contains("3.9.5"));
    }

    #[test]
    fn binary_foreign_and_torn_logs() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("simulation.log");
        std::fs::write(&bin, [0u8, 0, 0, 6, b'3', b'.', b'1', b'3']).unwrap();
        let e = refuse_binary(&bin).unwrap_err().to_string();
        assert!(
            e.contains("Gatling 3.13 or later") && e.contains("3.0 to 3.12"),
            "{e}"
        );
        let e = read(Path::new("s.log"), Stream::text("timeStamp,elapsed\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("s.log:1: record type"), "{e}");
        let torn = "RUN\tA\ta\t1700000000000\t \t3.9.5\nREQUEST\t\ta\t1700000000010\t1700000000110\tOK\t \nREQUEST\t\ta\t17000";
        let r = read(Path::new("s.log"), Stream::text(torn)).unwrap();
        assert_eq!((r.samples.len(), r.skipped), (1, 1));
        assert!(r.skipped_examples[0].contains("s.log:3: REQUEST: torn last line"));
    }
}
