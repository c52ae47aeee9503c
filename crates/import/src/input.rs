//! Reading an input file once, as a stream: its SHA-256 is computed from the bytes the
//! parser reads (the rest is drained at the end), its first bytes are kept to choose the
//! variant of the format, and line-based formats are read a line at a time, so a file of
//! several gigabytes is never held in memory.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::ImportError;
use crate::file_read::FileRead;

/// How much of the start of a file is kept for sniffing.
const PREFIX: usize = 64 * 1024;

/// A reader that hashes what passes through it.
pub struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// A text file being imported: a buffered, hashing reader and its first bytes.
pub struct Input {
    path: PathBuf,
    reader: BufReader<Hashing<File>>,
    /// The first bytes (up to 64 KiB), as text up to the last whole character.
    prefix: String,
    /// Whether the file's last byte is a newline (a last line without one may be torn).
    ends_with_newline: bool,
}

impl Input {
    /// Opens `path`; an empty (or all-whitespace) or binary file is an error.
    pub fn open(path: &Path) -> Result<Self, ImportError> {
        let io = |source| ImportError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let mut last = [0u8; 1];
        if len > 0 {
            file.seek(SeekFrom::End(-1)).map_err(io)?;
            file.read_exact(&mut last).map_err(io)?;
            file.seek(SeekFrom::Start(0)).map_err(io)?;
        }
        let mut reader = BufReader::with_capacity(
            1 << 20,
            Hashing {
                inner: file,
                hasher: Sha256::new(),
            },
        );
        let head = reader.fill_buf().map_err(io)?;
        let head = &head[..head.len().min(PREFIX)];
        if head.iter().all(u8::is_ascii_whitespace) && head.len() as u64 == len {
            return Err(ImportError::file(path, "the file is empty"));
        }
        // A NUL or a bad byte in the first line is a binary file; a bad byte further on is
        // one bad line, which the parser skips and counts like any other.
        let first_line = head.iter().position(|b| *b == b'\n').unwrap_or(head.len());
        let bad = match std::str::from_utf8(head) {
            Ok(_) => None,
            // A character cut by the end of the prefix is fine.
            Err(e) if e.error_len().is_none() => None,
            Err(e) => Some(e.valid_up_to()),
        };
        if let Some(at) = head
            .iter()
            .position(|b| *b == 0)
            .or(bad.filter(|at| *at <= first_line))
        {
            return Err(ImportError::file(
                path,
                format!("not UTF-8 text (byte {at}): a binary file?"),
            ));
        }
        let prefix = String::from_utf8_lossy(head).into_owned();
        Ok(Self {
            path: path.to_path_buf(),
            reader,
            prefix,
            ends_with_newline: last[0] == b'\n',
        })
    }

    /// The first bytes of the file as text.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The reader, positioned at the start, with whether the file ends with a newline.
    pub fn stream(&mut self) -> Stream<&mut BufReader<Hashing<File>>> {
        Stream {
            reader: &mut self.reader,
            ends_with_newline: self.ends_with_newline,
        }
    }

    /// The whole file as text (for the formats that are one JSON or XML document).
    pub fn read_all(&mut self) -> Result<String, ImportError> {
        let mut text = String::new();
        self.reader.read_to_string(&mut text).map_err(|e| {
            ImportError::file(&self.path, format!("not UTF-8 text: a binary file? ({e})"))
        })?;
        Ok(text)
    }

    /// Reads what the parser left and returns the file's SHA-256 (hex).
    pub fn finish(self) -> Result<String, ImportError> {
        let mut hashing = self.reader.into_inner();
        io::copy(&mut hashing, &mut io::sink()).map_err(|source| ImportError::Io {
            path: self.path.clone(),
            source,
        })?;
        Ok(hex(&hashing.hasher.finalize()))
    }
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            use std::fmt::Write as _;
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A parser's input: a buffered reader and whether the file ends with a newline.
pub struct Stream<R> {
    /// The bytes.
    pub reader: R,
    /// Whether the last byte is a newline.
    pub ends_with_newline: bool,
}

#[cfg(test)]
impl<'a> Stream<&'a [u8]> {
    /// In-memory text (tests).
    pub fn text(text: &'a str) -> Self {
        Self {
            reader: text.as_bytes(),
            ends_with_newline: text.ends_with('\n'),
        }
    }
}

impl<R: BufRead> Stream<R> {
    /// The first line, without consuming it (it must fit the reader's buffer: it is
    /// truncated to what does).
    pub fn peek_first_line(&mut self) -> String {
        let buf = self.reader.fill_buf().unwrap_or_default();
        let end = buf.iter().position(|b| *b == b'\n').unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end])
            .trim_end_matches('\r')
            .to_string()
    }

    /// Calls `each` with every line (1-based number, text without the line end, whether it
    /// is a last line without a newline, which may be torn); a line that is not UTF-8 is
    /// skipped and counted in `out`.
    pub fn lines(
        mut self,
        path: &Path,
        out: &mut FileRead,
        mut each: impl FnMut(&mut FileRead, (u64, &str, bool)) -> Result<(), ImportError>,
    ) -> Result<(), ImportError> {
        let mut buf = Vec::with_capacity(4096);
        let mut n = 0u64;
        loop {
            buf.clear();
            let read =
                self.reader
                    .read_until(b'\n', &mut buf)
                    .map_err(|source| ImportError::Io {
                        path: path.to_path_buf(),
                        source,
                    })?;
            if read == 0 {
                return Ok(());
            }
            n += 1;
            let torn = buf.last() != Some(&b'\n');
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            match std::str::from_utf8(&buf) {
                Ok(line) => each(out, (n, line, torn))?,
                Err(e) if n == 1 => {
                    return Err(ImportError::at(
                        path,
                        1,
                        "line",
                        format!("not UTF-8 text (byte {}): a binary file?", e.valid_up_to()),
                    ));
                }
                Err(e) => out.skip(path, n, "line", &format!("not UTF-8 text ({e})")),
            }
        }
    }
}

/// A CSV file's header, its columns by name, its reader (positioned after the header) and
/// whether the file ends with a newline.
pub type CsvTable<R> = (Vec<String>, HashMap<String, usize>, csv::Reader<R>, bool);

/// Opens a CSV file by header name, checking the `required` columns.
pub fn csv_table<R: std::io::Read>(
    path: &Path,
    input: Stream<R>,
    required: &[&str],
    what: &str,
) -> Result<CsvTable<R>, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(input.reader);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| ImportError::at(path, 1, "header", e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    let col: HashMap<String, usize> = header
        .iter()
        .enumerate()
        .map(|(i, h)| (h.clone(), i))
        .collect();
    if let Some(missing) = required.iter().find(|r| !col.contains_key(**r)) {
        return Err(ImportError::at(
            path,
            1,
            *missing,
            format!("missing column: is this a {what} file?"),
        ));
    }
    Ok((header, col, reader, input.ends_with_newline))
}

/// Calls `each` with the complete rows of `reader` and their line numbers, one at a time;
/// unreadable or short rows (a torn last line among them) are skipped into `out`.
pub fn csv_rows<R: std::io::Read>(
    path: &Path,
    (header, reader, ends_with_newline): (&[String], csv::Reader<R>, bool),
    out: &mut FileRead,
    mut each: impl FnMut(&mut FileRead, u64, &csv::StringRecord) -> Result<(), ImportError>,
) -> Result<(), ImportError> {
    let mut records = reader.into_records();
    let mut next = records.next();
    while let Some(row) = next {
        next = records.next();
        let torn = next.is_none() && !ends_with_newline;
        match row {
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                out.skip(path, line, "line", &e.to_string());
            }
            Ok(r) if r.len() < header.len() => {
                let why = if torn {
                    "torn last line (fewer columns than the header)"
                } else {
                    "fewer columns than the header"
                };
                let line = r.position().map_or(0, csv::Position::line);
                out.skip(
                    path,
                    line,
                    header.get(r.len()).map_or("line", String::as_str),
                    why,
                );
            }
            Ok(r) => each(out, r.position().map_or(0, csv::Position::line), &r)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::{Format, Options, read};

    fn write(bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jtl");
        std::fs::write(&path, bytes).unwrap();
        (dir, path)
    }

    #[test]
    fn a_bad_byte_past_the_first_line_is_one_skipped_line_not_a_binary_file() {
        let (_d, path) = write(
            b"timeStamp,elapsed,label\n1700000000000,5,L\n1700000000001,5,\xff\xfeL\n1700000000002,5,M\n",
        );
        let r = read(Format::Jmeter, &[path], &Options::default()).unwrap();
        assert_eq!((r.samples.len(), r.source.skipped), (2, 1));
        assert!(
            r.source.notes.iter().any(|n| n.contains("t.jtl:3")),
            "{:?}",
            r.source.notes
        );
    }

    #[test]
    fn nul_bytes_or_a_bad_first_line_are_a_binary_file() {
        for bytes in [
            &b"\x00\x01\x02binary"[..],
            &b"time\xffStamp,elapsed\n1,2\n"[..],
        ] {
            let (_d, path) = write(bytes);
            let e = read(Format::Jmeter, &[path], &Options::default())
                .unwrap_err()
                .to_string();
            assert!(e.contains("t.jtl: not UTF-8 text (byte"), "{e}");
        }
    }
}
