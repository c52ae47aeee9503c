//! The sandbox's data directory (`--data-dir DIR`): every Lambda log event, one JSON line
//! per event in `logs/<function>.jsonl` (`{"timestamp", "logStream", "message"}`, the shape
//! FilterLogEvents returns), and every segment document the platform emitted, one per line,
//! in `segments.jsonl`. Lines are written as they happen through buffers, so memory stays
//! flat however long the run; [`DataDir::flush`] (called at shutdown) reports the first
//! write error with its path. `spill/segments.bin` and `spill/logs.bin` hold what the
//! telemetry stores' memory budgets cannot (the APIs keep answering for it).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::SandboxError;
use stormwatch_aws_emulator::log_store::LogEvent;
use stormwatch_aws_emulator::spill::Spill;

struct Sink {
    path: PathBuf,
    out: Mutex<(BufWriter<File>, Option<std::io::Error>)>,
}

impl Sink {
    fn create(path: PathBuf) -> Result<Self, SandboxError> {
        let f = File::create(&path).map_err(|source| SandboxError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(Self {
            path,
            out: Mutex::new((BufWriter::new(f), None)),
        })
    }

    fn line(&self, line: &[u8]) {
        let mut g = self.out.lock().expect("data sink poisoned");
        if g.1.is_none()
            && let Err(e) = g.0.write_all(line).and_then(|()| g.0.write_all(b"\n"))
        {
            g.1 = Some(e);
        }
    }

    fn flush(&self) -> Result<(), SandboxError> {
        let mut g = self.out.lock().expect("data sink poisoned");
        let result = match g.1.take() {
            Some(e) => Err(e),
            None => g.0.flush(),
        };
        result.map_err(|source| SandboxError::Write {
            path: self.path.clone(),
            source,
        })
    }
}

/// The file name stem for `name`: characters outside `[A-Za-z0-9_.-]` become `_`, and `.` or
/// `..` (or nothing) give an empty stem, which is refused; so a name can never reach outside
/// its directory. Config names are already checked (Lambda's naming rule); this is defence in
/// depth.
fn file_stem(name: &str) -> String {
    let stem: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if stem == "." || stem == ".." {
        String::new()
    } else {
        stem
    }
}

/// Open files under the data directory.
pub struct DataDir {
    root: PathBuf,
    logs: HashMap<String, Sink>,
    segments: Sink,
}

impl DataDir {
    /// Creates `DIR/logs/<function>.jsonl` for each function and `DIR/segments.jsonl`.
    pub fn create<'a>(
        root: &Path,
        functions: impl Iterator<Item = &'a String>,
    ) -> Result<Self, SandboxError> {
        let logs_dir = root.join("logs");
        std::fs::create_dir_all(&logs_dir).map_err(|source| SandboxError::Write {
            path: logs_dir.clone(),
            source,
        })?;
        let mut logs = HashMap::new();
        let mut files = std::collections::HashSet::new();
        for f in functions {
            let stem = file_stem(f);
            let path = logs_dir.join(format!("{stem}.jsonl"));
            // Two names that sanitise alike (the config's naming rules prevent it) would
            // truncate each other's file.
            if stem.is_empty() || !files.insert(path.clone()) {
                return Err(SandboxError::Write {
                    path,
                    source: std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!("function name {f:?} makes no file name of its own"),
                    ),
                });
            }
            logs.insert(f.clone(), Sink::create(path)?);
        }
        Ok(Self {
            root: root.to_owned(),
            logs,
            segments: Sink::create(root.join("segments.jsonl"))?,
        })
    }

    /// Creates the spill file `spill/<name>.bin`.
    pub fn spill(&self, name: &str) -> Result<Spill, SandboxError> {
        let dir = self.root.join("spill");
        let path = dir.join(format!("{name}.bin"));
        std::fs::create_dir_all(&dir)
            .and_then(|()| Spill::create(&path))
            .map_err(|source| SandboxError::Write { path, source })
    }

    /// Appends one log event of `function`.
    pub fn log(&self, function: &str, event: &LogEvent) {
        if let Some(sink) = self.logs.get(function) {
            let line = serde_json::json!({
                "timestamp": event.timestamp_ms,
                "logStream": event.stream,
                "message": event.message,
            });
            sink.line(line.to_string().as_bytes());
        }
    }

    /// Appends one segment document.
    pub fn segment(&self, document: &str) {
        self.segments.line(document.as_bytes());
    }

    /// Flushes every file; the first error names its path.
    pub fn flush(&self) -> Result<(), SandboxError> {
        for sink in self.logs.values() {
            sink.flush()?;
        }
        self.segments.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_never_leave_the_directory() {
        assert_eq!(file_stem("checkout-v2_x"), "checkout-v2_x");
        assert_eq!(file_stem("../../../ESCAPED"), ".._.._.._ESCAPED");
        assert_eq!(file_stem("a/b\\c\0d"), "a_b_c_d");
        assert_eq!(file_stem(".."), "");
        assert_eq!(file_stem("."), "");
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        let names = ["../../../ESCAPED".to_string(), "ok".to_string()];
        let d = DataDir::create(&root, names.iter()).unwrap();
        d.flush().unwrap();
        let mut files: Vec<String> = std::fs::read_dir(root.join("logs"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(files, [".._.._.._ESCAPED.jsonl", "ok.jsonl"]);
        assert!(!dir.path().join("ESCAPED.jsonl").exists());
        let refused = DataDir::create(&root, [String::from("..")].iter());
        assert!(refused.is_err());
        let clash = DataDir::create(&root, ["a/b".to_string(), "a_b".to_string()].iter());
        assert!(clash.is_err());
    }
}
