//! Test-only fault injection: a [`Store`] that wraps any other and fails chosen calls, so the
//! fault suite (`tests/cli/faults.rs`) can make the real binary meet a failing share at every
//! step of a run. Armed by environment variables read once per process (like
//! [`crate::testhook`]); unset (always, outside tests), [`wrap`] hands the real target back
//! untouched and nothing else of this module runs.
//!
//! ```text
//! AZS_BACKUP_TEST_FAULT="op=write,nth=3,kind=full"       the 3rd write fails with ENOSPC
//! AZS_BACKUP_TEST_FAULT="op=any,nth=17,kind=reset"       the 17th target call of any kind
//! AZS_BACKUP_TEST_FAULT="op=open,nth=2..,kind=timeout"   every open from the 2nd on
//! AZS_BACKUP_TEST_FAULT="op=commit,kind=short"           every commit (no nth: every call)
//! AZS_BACKUP_TEST_FAULT="op=overwrite,nth=1,kind=denied,thread=other"
//! AZS_BACKUP_TEST_FAULT="write#3=full;open#1=reset"      short form, several rules
//! AZS_BACKUP_TEST_FAULT_COUNT=/tmp/calls                 record every call (see below)
//! ```
//!
//! **Rules.** Rules are separated by `;`. A rule is either `key=value` fields separated by `,`
//! (`op` required; `nth` = `N` (the Nth matching call, from 1), `N..` (that one and every later
//! one) or absent (every call); `kind` (default `io`); `thread` = `main` or `other` (only calls
//! made on the main thread, or on any other, e.g. the lock keep-alive thread) or absent), or the
//! short form `OP#N=KIND` / `OP=KIND`, several separated by `,`. Each rule counts the calls it
//! matches by itself, process-wide and across threads (atomics), so `nth` means the same for a
//! connection opened by the keep-alive thread as for the main one. A rule that does not parse
//! panics when the first target is opened (a typo must not silently test nothing).
//!
//! **Operations** (`op`): `create` ([`Store::create`]), `write`, `flush` and `commit` (of an
//! [`Upload`]), `rename`, `list`, `open` ([`Store::open`]) and `read` (each `read` call on what
//! it returned), `delete` (`remove_file` and `remove_dir`), `capacity` (the free-space query),
//! `stat`, `mkdir` (`mkdir_all`), `create_new`, `overwrite`; `any` matches all of them.
//! Composite trait methods (`read_all`, `write_all`, `remove_tree`, …) are not operations of
//! their own: they run the defaults above, so each of their calls counts.
//!
//! **Kinds** map to the errors the real targets produce, through [`StoreError::from_io`] with
//! the raw OS error (or the plain `io::Error` for the `Write`/`Read` calls of uploads and
//! readers): `denied` EACCES (access denied), `notfound` ENOENT (not found; `stat` then
//! answers `Ok(None)`, as both real targets do, and a `delete` removes the file and then says
//! ENOENT, as when someone else deleted it first), `full` ENOSPC (share full), `reset` ECONNRESET
//! and `timeout` ETIMEDOUT (unreachable), `io` EIO (a vague error, which backups explain by
//! probing the target), `busy` EBUSY (a file the server holds open for a dead session). `short` is a partial operation: a `write` accepts only part of the
//! buffer and a `read` fills only part of it (both legal: callers must loop), a `commit` finds
//! fewer bytes stored than written ([`StoreError::ShortWrite`], the temporary file is removed
//! and nothing is renamed), a `create_new` leaves the file holding half the data and then fails
//! with EIO (a write torn by a lost connection), an `overwrite` writes the first half of the new
//! data over the old and fails with EIO; elsewhere `short` is `io`. A failing call does nothing
//! else: the wrapped target is not called (except for `short` and a `notfound` delete, as
//! said).
//!
//! **Counting.** With `AZS_BACKUP_TEST_FAULT_COUNT=FILE`, every call appends one line to FILE,
//! at once (`O_APPEND`, one `write` per line, so the file survives a crash and several processes
//! or threads can share it): the operation's name, ` path=PATH` (the target path; an upload's
//! and a reader's own for `write`, `flush`, `commit` and `read`), then ` thread=other` when the
//! call was not made on the main thread, then ` fault=KIND` when this call was failed:
//!
//! ```text
//! create_new path=MASBackup/.lock
//! read path=MASBackup/.lock fault=reset
//! ```
//!
//! A test runs a command once with counting only, counts the lines per operation, then runs it
//! again for every index.

use super::{Capacity, Entry, Store, StoreError, Upload};
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// The fault rules.
pub const ENV: &str = "AZS_BACKUP_TEST_FAULT";
/// The file every call is recorded in.
pub const COUNT_ENV: &str = "AZS_BACKUP_TEST_FAULT_COUNT";

/// One kind of target call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Create,
    Write,
    Flush,
    Commit,
    Rename,
    List,
    Open,
    Read,
    Delete,
    Capacity,
    Stat,
    Mkdir,
    CreateNew,
    Overwrite,
}

impl Op {
    /// Every operation.
    pub const ALL: [Op; 14] = [
        Op::Create,
        Op::Write,
        Op::Flush,
        Op::Commit,
        Op::Rename,
        Op::List,
        Op::Open,
        Op::Read,
        Op::Delete,
        Op::Capacity,
        Op::Stat,
        Op::Mkdir,
        Op::CreateNew,
        Op::Overwrite,
    ];

    /// The name used in rules and in the count file.
    pub fn name(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Write => "write",
            Op::Flush => "flush",
            Op::Commit => "commit",
            Op::Rename => "rename",
            Op::List => "list",
            Op::Open => "open",
            Op::Read => "read",
            Op::Delete => "delete",
            Op::Capacity => "capacity",
            Op::Stat => "stat",
            Op::Mkdir => "mkdir",
            Op::CreateNew => "create_new",
            Op::Overwrite => "overwrite",
        }
    }

    /// The operation a rule names (also `mkdir_all`, `remove_file`, `remove_dir`).
    pub fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "mkdir_all" => Op::Mkdir,
            "remove_file" | "remove_dir" => Op::Delete,
            _ => *Op::ALL.iter().find(|o| o.name() == s)?,
        })
    }
}

/// How a call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Denied,
    NotFound,
    Full,
    Reset,
    Timeout,
    Io,
    Busy,
    Short,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 8] = [
        Kind::Denied,
        Kind::NotFound,
        Kind::Full,
        Kind::Reset,
        Kind::Timeout,
        Kind::Io,
        Kind::Busy,
        Kind::Short,
    ];

    /// The name used in rules and in the count file.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Denied => "denied",
            Kind::NotFound => "notfound",
            Kind::Full => "full",
            Kind::Reset => "reset",
            Kind::Timeout => "timeout",
            Kind::Io => "io",
            Kind::Busy => "busy",
            Kind::Short => "short",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.name() == s)
    }

    /// The error a real target's OS call would return (EIO for `short`).
    pub fn io_error(self) -> io::Error {
        io::Error::from_raw_os_error(match self {
            Kind::Denied => 13,
            Kind::NotFound => 2,
            Kind::Full => 28,
            Kind::Reset => 104,
            Kind::Timeout => 110,
            Kind::Io | Kind::Short => 5,
            Kind::Busy => 16,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Nth {
    Every,
    Exactly(u64),
    From(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Thread {
    Any,
    Main,
    Other,
}

#[derive(Debug)]
struct Rule {
    /// `None`: every operation.
    op: Option<Op>,
    nth: Nth,
    kind: Kind,
    thread: Thread,
    hits: AtomicU64,
}

struct Config {
    rules: Vec<Rule>,
    count: Option<Mutex<std::fs::File>>,
}

/// Parses the rules of [`ENV`].
fn parse_rules(spec: &str) -> Result<Vec<Rule>, String> {
    let mut rules = Vec::new();
    for part in spec.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        if part.starts_with("op=") || part.contains(",op=") {
            rules.push(parse_fields(part)?);
        } else {
            for short in part.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                rules.push(parse_short(short)?);
            }
        }
    }
    Ok(rules)
}

fn parse_op(s: &str) -> Result<Option<Op>, String> {
    if s == "any" {
        return Ok(None);
    }
    Op::parse(s)
        .map(Some)
        .ok_or_else(|| format!("unknown operation {s:?}"))
}

fn parse_kind(s: &str) -> Result<Kind, String> {
    Kind::parse(s).ok_or_else(|| format!("unknown kind {s:?}"))
}

fn parse_nth(s: &str) -> Result<Nth, String> {
    let num = |n: &str| match n.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("nth {s:?} is not a number from 1")),
    };
    match s.strip_suffix("..") {
        Some(n) => Ok(Nth::From(num(n)?)),
        None => Ok(Nth::Exactly(num(s)?)),
    }
}

fn parse_fields(part: &str) -> Result<Rule, String> {
    let (mut op, mut nth, mut kind, mut thread) = (None, Nth::Every, Kind::Io, Thread::Any);
    for field in part.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let (k, v) = field
            .split_once('=')
            .ok_or_else(|| format!("{field:?} is not KEY=VALUE"))?;
        match k.trim() {
            "op" => op = Some(parse_op(v.trim())?),
            "nth" => nth = parse_nth(v.trim())?,
            "kind" => kind = parse_kind(v.trim())?,
            "thread" => {
                thread = match v.trim() {
                    "main" => Thread::Main,
                    "other" => Thread::Other,
                    "any" => Thread::Any,
                    t => return Err(format!("thread {t:?} is not main, other or any")),
                }
            }
            other => return Err(format!("unknown field {other:?}")),
        }
    }
    Ok(Rule {
        op: op.ok_or_else(|| format!("{part:?} names no op"))?,
        nth,
        kind,
        thread,
        hits: AtomicU64::new(0),
    })
}

fn parse_short(rule: &str) -> Result<Rule, String> {
    let (lhs, kind) = rule
        .split_once('=')
        .ok_or_else(|| format!("{rule:?} is not OP#N=KIND"))?;
    let (op, nth) = match lhs.split_once('#') {
        Some((op, n)) => (op, parse_nth(n.trim())?),
        None => (lhs, Nth::Every),
    };
    Ok(Rule {
        op: parse_op(op.trim())?,
        nth,
        kind: parse_kind(kind.trim())?,
        thread: Thread::Any,
        hits: AtomicU64::new(0),
    })
}

fn config() -> Option<&'static Config> {
    static CONFIG: OnceLock<Option<Config>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let spec = std::env::var(ENV).ok().filter(|v| !v.trim().is_empty());
            let count = std::env::var_os(COUNT_ENV).filter(|v| !v.is_empty());
            if spec.is_none() && count.is_none() {
                return None;
            }
            let rules = match spec.as_deref().map(parse_rules) {
                None => Vec::new(),
                Some(Ok(r)) => r,
                Some(Err(e)) => panic!("{ENV}: {e}"),
            };
            let count = count.map(|path| {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .unwrap_or_else(|e| panic!("{COUNT_ENV}: {}: {e}", path.to_string_lossy()));
                Mutex::new(f)
            });
            Some(Config { rules, count })
        })
        .as_ref()
}

/// Whether fault injection (or counting) is armed in this process.
pub fn armed() -> bool {
    config().is_some()
}

/// `target` wrapped in a [`FaultyStore`] when [`ENV`] or [`COUNT_ENV`] is set, else `target`
/// itself.
pub fn wrap(target: Box<dyn Store>) -> Box<dyn Store> {
    if armed() {
        Box::new(FaultyStore { inner: target })
    } else {
        target
    }
}

/// Counts one call of `op` on `path` and returns how it should fail, if it should.
fn hit(op: Op, path: &str) -> Option<Kind> {
    let config = config()?;
    let main = std::thread::current().name() == Some("main");
    let mut fault = None;
    for r in &config.rules {
        let thread_ok = match r.thread {
            Thread::Any => true,
            Thread::Main => main,
            Thread::Other => !main,
        };
        if !thread_ok || r.op.is_some_and(|o| o != op) {
            continue;
        }
        let n = r.hits.fetch_add(1, Ordering::SeqCst) + 1;
        let fires = match r.nth {
            Nth::Every => true,
            Nth::Exactly(want) => n == want,
            Nth::From(from) => n >= from,
        };
        if fires && fault.is_none() {
            fault = Some(r.kind);
        }
    }
    if let Some(f) = &config.count {
        let mut line = format!("{} path={path}", op.name());
        if !main {
            line.push_str(" thread=other");
        }
        if let Some(k) = fault {
            line.push_str(" fault=");
            line.push_str(k.name());
        }
        line.push('\n');
        let file = f.lock().unwrap_or_else(|p| p.into_inner());
        let _ = (&*file).write_all(line.as_bytes());
    }
    fault
}

/// Half of `n` (at least 1 when `n` > 0): what a `short` write or read passes on.
fn half(n: usize) -> usize {
    if n <= 1 {
        n
    } else {
        n / 2
    }
}

/// A target whose calls fail as the rules of [`ENV`] say (see the module docs).
pub struct FaultyStore {
    inner: Box<dyn Store>,
}

impl FaultyStore {
    /// Wraps `inner` (whether or not the rules are armed: with none, it only counts, if asked).
    pub fn new(inner: Box<dyn Store>) -> FaultyStore {
        FaultyStore { inner }
    }

    fn fail(&self, op: &'static str, path: &str, kind: Kind) -> StoreError {
        StoreError::from_io(&self.inner.display(), op, path, kind.io_error())
    }

    /// Fails the call when a rule says so (plain failures; `short` is handled by the caller).
    fn check(&self, op: Op, label: &'static str, path: &str) -> Result<(), StoreError> {
        match hit(op, path) {
            Some(kind) => Err(self.fail(label, path, kind)),
            None => Ok(()),
        }
    }
}

impl Store for FaultyStore {
    fn display(&self) -> String {
        self.inner.display()
    }

    fn mkdir_all(&self, dir: &str) -> Result<(), StoreError> {
        self.check(Op::Mkdir, "create directory", dir)?;
        self.inner.mkdir_all(dir)
    }

    fn list(&self, dir: &str) -> Result<Vec<Entry>, StoreError> {
        self.check(Op::List, "list", dir)?;
        self.inner.list(dir)
    }

    fn stat(&self, path: &str) -> Result<Option<Entry>, StoreError> {
        match hit(Op::Stat, path) {
            // Both real targets answer "nothing there" for ENOENT.
            Some(Kind::NotFound) => Ok(None),
            Some(kind) => Err(self.fail("stat", path, kind)),
            None => self.inner.stat(path),
        }
    }

    fn open(&self, path: &str) -> Result<Box<dyn Read + '_>, StoreError> {
        self.check(Op::Open, "open", path)?;
        Ok(Box::new(FaultyReader {
            inner: self.inner.open(path)?,
            path: path.to_string(),
        }))
    }

    fn create(&self, path: &str) -> Result<Box<dyn Upload + '_>, StoreError> {
        self.check(Op::Create, "create", path)?;
        Ok(Box::new(FaultyUpload {
            inner: Some(self.inner.create(path)?),
            target: self.inner.display(),
            path: path.to_string(),
            written: 0,
        }))
    }

    fn create_new(&self, path: &str, data: &[u8]) -> Result<bool, StoreError> {
        match hit(Op::CreateNew, path) {
            Some(Kind::Short) => {
                if !self.inner.create_new(path, &data[..half(data.len())])? {
                    return Ok(false);
                }
                Err(self.fail("write", path, Kind::Short))
            }
            Some(kind) => Err(self.fail("create", path, kind)),
            None => self.inner.create_new(path, data),
        }
    }

    fn overwrite(&self, path: &str, data: &[u8]) -> Result<(), StoreError> {
        match hit(Op::Overwrite, path) {
            Some(Kind::Short) => {
                // The first half of the new bytes over the old ones, the old tail kept.
                let mut torn = self.inner.read_all(path)?;
                let n = half(data.len());
                if torn.len() < n {
                    torn.resize(n, 0);
                }
                torn[..n].copy_from_slice(&data[..n]);
                self.inner.overwrite(path, &torn)?;
                Err(self.fail("write", path, Kind::Short))
            }
            Some(kind) => Err(self.fail("write", path, kind)),
            None => self.inner.overwrite(path, data),
        }
    }

    fn remove_file(&self, path: &str) -> Result<(), StoreError> {
        match hit(Op::Delete, path) {
            Some(Kind::NotFound) => {
                // Someone else deleted it first: gone, and the target says so.
                self.inner.remove_file(path)?;
                Err(self.fail("delete", path, Kind::NotFound))
            }
            Some(kind) => Err(self.fail("delete", path, kind)),
            None => self.inner.remove_file(path),
        }
    }

    fn remove_dir(&self, path: &str) -> Result<(), StoreError> {
        match hit(Op::Delete, path) {
            Some(Kind::NotFound) => {
                self.inner.remove_dir(path)?;
                Err(self.fail("delete directory", path, Kind::NotFound))
            }
            Some(kind) => Err(self.fail("delete directory", path, kind)),
            None => self.inner.remove_dir(path),
        }
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), StoreError> {
        self.check(Op::Rename, "rename", from)?;
        self.inner.rename(from, to)
    }

    fn capacity(&self) -> Result<Option<Capacity>, StoreError> {
        self.check(Op::Capacity, "statfs", "")?;
        self.inner.capacity()
    }

    fn expect_upload(&self, bytes: u64) {
        self.inner.expect_upload(bytes);
    }
}

/// A reader of a [`FaultyStore`]: each `read` is an [`Op::Read`].
struct FaultyReader<'a> {
    inner: Box<dyn Read + 'a>,
    path: String,
}

impl Read for FaultyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match hit(Op::Read, &self.path) {
            Some(Kind::Short) => {
                let n = half(buf.len());
                self.inner.read(&mut buf[..n])
            }
            Some(kind) => Err(kind.io_error()),
            None => self.inner.read(buf),
        }
    }
}

/// An upload of a [`FaultyStore`]: `write`, `flush` and `commit` are operations.
struct FaultyUpload<'a> {
    /// `None` once committed.
    inner: Option<Box<dyn Upload + 'a>>,
    target: String,
    path: String,
    written: u64,
}

impl<'a> FaultyUpload<'a> {
    fn inner(&mut self) -> &mut Box<dyn Upload + 'a> {
        self.inner.as_mut().expect("upload already committed")
    }
}

impl Write for FaultyUpload<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match hit(Op::Write, &self.path) {
            Some(Kind::Short) => {
                let n = half(buf.len());
                self.inner().write(&buf[..n])?
            }
            Some(kind) => return Err(kind.io_error()),
            None => self.inner().write(buf)?,
        };
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match hit(Op::Flush, &self.path) {
            Some(kind) => Err(kind.io_error()),
            None => self.inner().flush(),
        }
    }
}

impl Upload for FaultyUpload<'_> {
    fn commit(mut self: Box<Self>) -> Result<u64, StoreError> {
        let inner = self.inner.take().expect("upload already committed");
        match hit(Op::Commit, &self.path) {
            Some(Kind::Short) => {
                // Dropping the upload removes its temporary file, as a real failed commit does.
                drop(inner);
                Err(StoreError::ShortWrite {
                    target: self.target.clone(),
                    path: self.path.clone(),
                    written: self.written,
                    found: self.written / 2,
                })
            }
            Some(kind) => {
                drop(inner);
                Err(StoreError::from_io(
                    &self.target,
                    "rename into place",
                    &self.path,
                    kind.io_error(),
                ))
            }
            None => inner.commit(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_in_both_forms() {
        let r =
            parse_rules("op=write,nth=3,kind=full; op=any,nth=2..,kind=reset,thread=main").unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].op, r[0].nth, r[0].kind, r[0].thread),
            (Some(Op::Write), Nth::Exactly(3), Kind::Full, Thread::Any)
        );
        assert_eq!(
            (r[1].op, r[1].nth, r[1].kind, r[1].thread),
            (None, Nth::From(2), Kind::Reset, Thread::Main)
        );
        let r = parse_rules("write#3=full,remove_dir=denied;open#1..=short").unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!((r[1].op, r[1].nth), (Some(Op::Delete), Nth::Every));
        assert_eq!(
            (r[2].op, r[2].nth, r[2].kind),
            (Some(Op::Open), Nth::From(1), Kind::Short)
        );
        for bad in [
            "op=wrote",
            "op=write,nth=0",
            "write#x=full",
            "op=read,kind=boom",
            "nth=1",
        ] {
            assert!(parse_rules(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn kinds_map_to_the_errors_real_targets_give() {
        let e = |k: Kind| StoreError::from_io("t", "write", "f", k.io_error());
        assert!(matches!(e(Kind::Denied), StoreError::AccessDenied { .. }));
        assert!(matches!(e(Kind::NotFound), StoreError::NotFound { .. }));
        assert!(matches!(e(Kind::Full), StoreError::Full { .. }));
        assert!(matches!(e(Kind::Reset), StoreError::Unreachable { .. }));
        assert!(matches!(e(Kind::Timeout), StoreError::Unreachable { .. }));
        assert!(matches!(e(Kind::Io), StoreError::Io { .. }));
        assert!(e(Kind::Busy).is_busy());
    }
}
