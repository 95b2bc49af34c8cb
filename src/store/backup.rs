//! Online backup and restore.
//!
//! A snapshot is consistent while writes go on: on the writer thread, between two groups, a
//! tap starts copying every change the writer applies (after it is in the tree); the tree is
//! then read from end to end; back on the writer thread the tap stops. The copy is the entries
//! read followed by the changes tapped, replayed in order: whatever the scan saw of a key that
//! changed meanwhile, the replay ends on its value when the tap stopped, so the copy is the
//! store exactly as it was at that moment: every write acknowledged before the backup started
//! is in it (it was applied before it was acknowledged).
//!
//! The file: a header (magic, format version, scimdesk's version), records (extra files such as
//! the webhook secrets' key, entries, changes), and a trailer with the counts and a SHA-256 of
//! every byte before it. A restore checks the whole file before it writes anything.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::{Error, Result, Store, keys};

const MAGIC: &[u8; 16] = b"scimdesk-backup\0";
const FORMAT: u32 = 1;
const FILE: u8 = b'f';
const ENTRY: u8 = b'e';
const CHANGE: u8 = b'c';
const END: u8 = b'z';

/// What a backup or restore moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BackupStats {
    pub entries: u64,
    /// Changes made while the backup read the store, replayed on top.
    pub changes: u64,
    pub files: u64,
    pub bytes: u64,
}

/// Keys that are never copied: redo intents are transient (the tap sees their changes), and
/// scratch values belong to the benchmark.
fn copied(key: &[u8]) -> bool {
    !matches!(
        keys::parse(key),
        Some(keys::Parsed::Intent | keys::Parsed::Scratch)
    )
}

/// Writes the backup format to `out`, hashing as it goes.
struct Writer<W: Write> {
    out: W,
    hash: Sha256,
    stats: BackupStats,
}

impl<W: Write> Writer<W> {
    fn new(out: W) -> Result<Writer<W>> {
        let mut w = Writer {
            out,
            hash: Sha256::new(),
            stats: BackupStats::default(),
        };
        w.put(MAGIC)?;
        w.put(&FORMAT.to_be_bytes())?;
        let version = env!("CARGO_PKG_VERSION").as_bytes();
        w.put(&(version.len() as u32).to_be_bytes())?;
        w.put(version)?;
        Ok(w)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.hash.update(bytes);
        self.stats.bytes += bytes.len() as u64;
        self.out.write_all(bytes).map_err(io)
    }

    fn field(&mut self, bytes: &[u8]) -> Result<()> {
        self.put(&(bytes.len() as u32).to_be_bytes())?;
        self.put(bytes)
    }

    fn file(&mut self, name: &str, data: &[u8]) -> Result<()> {
        self.put(&[FILE])?;
        self.field(name.as_bytes())?;
        self.field(data)?;
        self.stats.files += 1;
        Ok(())
    }

    fn entry(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.put(&[ENTRY])?;
        self.field(key)?;
        self.field(value)?;
        self.stats.entries += 1;
        Ok(())
    }

    fn change(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        self.put(&[CHANGE])?;
        self.field(key)?;
        match value {
            Some(v) => {
                self.put(&[1])?;
                self.field(v)?;
            }
            None => self.put(&[0])?,
        }
        self.stats.changes += 1;
        Ok(())
    }

    fn finish(mut self) -> Result<BackupStats> {
        self.put(&[END])?;
        let (entries, changes, files) = (self.stats.entries, self.stats.changes, self.stats.files);
        for n in [entries, changes, files] {
            self.put(&n.to_be_bytes())?;
        }
        let digest = self.hash.clone().finalize();
        self.out.write_all(&digest).map_err(io)?;
        self.out.flush().map_err(io)?;
        self.stats.bytes += digest.len() as u64;
        Ok(self.stats)
    }
}

fn io(e: std::io::Error) -> Error {
    Error::Io(e.to_string())
}

impl Store {
    /// Writes a consistent backup of the store, with `files` (name, bytes) beside it, to
    /// `out`; `progress(bytes)` is called as it goes. Blocking: call it from a blocking thread.
    pub fn backup(
        &self,
        files: &[(&str, Vec<u8>)],
        out: impl Write,
        mut progress: impl FnMut(u64),
    ) -> Result<BackupStats> {
        let mut w = Writer::new(out)?;
        for (name, data) in files {
            w.file(name, data)?;
        }
        let (to, tapped) = std::sync::mpsc::channel();
        let tap = self.inner.tap.clone();
        self.writer().between_groups_blocking(move |_| {
            tap.open(to);
            Ok(())
        })?;
        let mut scan = || -> Result<()> {
            let mut reported = 0;
            for item in self.tree().iter() {
                let (k, v) = item?;
                if copied(&k) {
                    w.entry(&k, &v)?;
                }
                if w.stats.bytes - reported > (8 << 20) {
                    reported = w.stats.bytes;
                    progress(reported);
                }
            }
            Ok(())
        };
        let scanned = scan();
        let tap = self.inner.tap.clone();
        let whole = self
            .writer()
            .between_groups_blocking(move |_| Ok(tap.close()))?;
        scanned?;
        if !whole {
            return Err(Error::Io(
                "a write failed while the backup ran, so the copy is not known to be consistent: try again".into(),
            ));
        }
        for batch in tapped.try_iter() {
            for (k, v) in batch {
                if copied(&k) {
                    w.change(&k, v.as_deref())?;
                }
            }
        }
        let stats = w.finish()?;
        progress(stats.bytes);
        Ok(stats)
    }
}

/// One record of a backup file.
enum Record {
    File(String, Vec<u8>),
    Entry(Vec<u8>, Vec<u8>),
    Change(Vec<u8>, Option<Vec<u8>>),
}

/// Reads a backup file's records, checking its structure; the checksum is checked at the end.
struct ReadBackup<R: Read> {
    input: R,
    hash: Sha256,
    seen: BackupStats,
    done: bool,
}

fn corrupt(why: impl Into<String>) -> Error {
    Error::Corrupt {
        key: "backup".into(),
        reason: why.into(),
    }
}

impl<R: Read> ReadBackup<R> {
    fn open(input: R) -> Result<ReadBackup<R>> {
        let mut r = ReadBackup {
            input,
            hash: Sha256::new(),
            seen: BackupStats::default(),
            done: false,
        };
        let magic = r.take(16)?;
        if magic != MAGIC {
            return Err(corrupt("not a scimdesk backup file"));
        }
        let format = r.u32()?;
        if format != FORMAT {
            return Err(corrupt(format!(
                "backup format {format}, this scimdesk reads format {FORMAT}"
            )));
        }
        let len = r.u32()? as usize;
        if len > 64 {
            return Err(corrupt("unreadable header"));
        }
        r.take(len)?;
        Ok(r)
    }

    fn take(&mut self, n: usize) -> Result<Vec<u8>> {
        let mut buf = vec![0; n];
        self.input
            .read_exact(&mut buf)
            .map_err(|_| corrupt("the file ends early (truncated?)"))?;
        self.hash.update(&buf);
        Ok(buf)
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes(b.try_into().expect("four bytes")))
    }

    fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        Ok(u64::from_be_bytes(b.try_into().expect("eight bytes")))
    }

    fn field(&mut self) -> Result<Vec<u8>> {
        let len = self.u32()? as usize;
        if len > 1 << 30 {
            return Err(corrupt("a record longer than 1 GiB"));
        }
        self.take(len)
    }

    /// The next record; None after the trailer, whose counts and checksum are checked.
    fn next(&mut self) -> Result<Option<Record>> {
        if self.done {
            return Ok(None);
        }
        let tag = self.take(1)?[0];
        let record = match tag {
            FILE => {
                let name =
                    String::from_utf8(self.field()?).map_err(|_| corrupt("bad file name"))?;
                self.seen.files += 1;
                Record::File(name, self.field()?)
            }
            ENTRY => {
                self.seen.entries += 1;
                Record::Entry(self.field()?, self.field()?)
            }
            CHANGE => {
                let key = self.field()?;
                let value = match self.take(1)?[0] {
                    0 => None,
                    1 => Some(self.field()?),
                    _ => return Err(corrupt("unreadable change")),
                };
                self.seen.changes += 1;
                Record::Change(key, value)
            }
            END => {
                let counts = [self.u64()?, self.u64()?, self.u64()?];
                let want = self.hash.clone().finalize();
                let mut got = [0u8; 32];
                self.input
                    .read_exact(&mut got)
                    .map_err(|_| corrupt("the file ends early (truncated?)"))?;
                if got[..] != want[..] {
                    return Err(corrupt("checksum mismatch: the file is damaged"));
                }
                if counts != [self.seen.entries, self.seen.changes, self.seen.files] {
                    return Err(corrupt("record counts do not match the trailer"));
                }
                let mut rest = [0u8; 1];
                if self.input.read(&mut rest).map_err(io)? != 0 {
                    return Err(corrupt("bytes after the end of the backup"));
                }
                self.done = true;
                return Ok(None);
            }
            _ => return Err(corrupt("unreadable record")),
        };
        Ok(Some(record))
    }
}

/// Checks a backup file from end to end (structure, counts, checksum) without using it.
pub fn verify_backup(path: &Path) -> Result<BackupStats> {
    let file =
        std::fs::File::open(path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
    let mut r = ReadBackup::open(BufReader::new(file))?;
    while r.next()?.is_some() {}
    Ok(r.seen)
}

/// Restores a backup file into `dir`, which must be empty or absent: checks the whole file
/// first, then writes the store and the extra files. On failure what was written is removed.
pub fn restore(path: &Path, dir: &Path) -> Result<BackupStats> {
    let empty = match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => return Err(Error::Io(format!("{}: {e}", dir.display()))),
    };
    if !empty {
        return Err(Error::Io(format!(
            "{} is not empty: restore only into an empty or new directory",
            dir.display()
        )));
    }
    let stats = verify_backup(path)?;
    let written = restore_checked(path, dir);
    if written.is_err() {
        // Leave the directory as it was found: empty.
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let p = e.path();
                let _ = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
            }
        }
    }
    written.map(|()| stats)
}

fn restore_checked(path: &Path, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io)?;
    let file = std::fs::File::open(path).map_err(io)?;
    let mut r = ReadBackup::open(BufReader::new(file))?;
    let db = sled::Config::new()
        .path(dir)
        .open()
        .map_err(|e| Error::Io(e.to_string()))?;
    let tree = db.open_tree(super::TREE)?;
    let mut files = Vec::new();
    while let Some(record) = r.next()? {
        match record {
            Record::File(name, data) => files.push((name, data)),
            Record::Entry(k, v) => {
                tree.insert(k, v)?;
            }
            Record::Change(k, Some(v)) => {
                tree.insert(k, v)?;
            }
            Record::Change(k, None) => {
                tree.remove(k)?;
            }
        }
    }
    db.flush()?;
    drop(tree);
    drop(db);
    for (name, data) in files {
        // Only plain names, written owner-only: these are secrets' keys.
        if name.contains('/') || name.starts_with('.') {
            return Err(corrupt(format!("unexpected file name {name:?}")));
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(dir.join(&name)).map_err(io)?;
        f.write_all(&data).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    Ok(())
}

/// A buffered file for a backup, created owner-only (a backup holds key digests, sealed
/// secrets and the key that opens them).
pub fn create_backup_file(path: &Path) -> Result<BufWriter<std::fs::File>> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .map(|f| BufWriter::with_capacity(1 << 20, f))
        .map_err(|e| Error::Io(format!("{}: {e}", path.display())))
}
