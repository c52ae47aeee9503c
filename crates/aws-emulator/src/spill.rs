//! Spill files: where a store with a data directory puts what its memory budget cannot hold,
//! so the APIs keep answering for it instead of dropping it. A spill file is append-only,
//! written and read under the owning store's lock; a piece is found again by its
//! [`Piece`] (offset and length), which the store keeps in memory.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Where one spilled piece lies in its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    offset: u64,
    len: u32,
}

/// An append-only spill file. The first I/O error is kept and every later write refused,
/// so the store drops (and counts) instead of spilling into a broken file.
pub struct Spill {
    path: PathBuf,
    file: File,
    end: u64,
    failed: Option<String>,
}

impl Spill {
    /// Creates (truncates) the file at `path`.
    ///
    /// # Errors
    /// The file cannot be created.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        let file = File::options()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(path)?;
        Ok(Self {
            path: path.to_owned(),
            file,
            end: 0,
            failed: None,
        })
    }

    /// Appends `bytes`; `None` when the file failed (now or before) or the piece is larger
    /// than 4 GiB.
    pub fn write(&mut self, bytes: &[u8]) -> Option<Piece> {
        if self.failed.is_some() {
            return None;
        }
        let len = u32::try_from(bytes.len()).ok()?;
        let at = self.end;
        let written = self
            .file
            .seek(SeekFrom::Start(at))
            .and_then(|_| self.file.write_all(bytes));
        match written {
            Ok(()) => {
                self.end += u64::from(len);
                Some(Piece { offset: at, len })
            }
            Err(e) => {
                self.failed = Some(format!("{}: {e}", self.path.display()));
                None
            }
        }
    }

    /// Reads a piece back; `None` when the file cannot be read (the error is kept).
    pub fn read(&mut self, piece: Piece) -> Option<Vec<u8>> {
        let mut out = vec![0; piece.len as usize];
        let got = self
            .file
            .seek(SeekFrom::Start(piece.offset))
            .and_then(|_| self.file.read_exact(&mut out));
        match got {
            Ok(()) => Some(out),
            Err(e) => {
                self.failed
                    .get_or_insert_with(|| format!("{}: {e}", self.path.display()));
                None
            }
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.end
    }

    /// True when nothing was spilled.
    pub fn is_empty(&self) -> bool {
        self.end == 0
    }

    /// The first I/O error, naming the file.
    pub fn error(&self) -> Option<&str> {
        self.failed.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_read_back_in_any_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spill::create(&dir.path().join("x.bin")).unwrap();
        let a = s.write(b"hello").unwrap();
        let b = s.write(b"").unwrap();
        let c = s.write(&[7; 10_000]).unwrap();
        assert_eq!(s.read(c).unwrap(), vec![7; 10_000]);
        assert_eq!(s.read(a).unwrap(), b"hello");
        assert_eq!(s.read(b).unwrap(), b"");
        assert_eq!(s.len(), 10_005);
        assert!(s.error().is_none());
    }
}
