//! An SMB share as a target, through Samba's libsmbclient (the `pavao` crate).
//!
//! What libsmbclient does, as measured with pavao 0.3 and Samba 4.17, and what this module does
//! about it:
//! - Every libsmbclient call in the process is serialised behind one lock inside pavao, and an
//!   open `SmbFile` is not `Send`: each upload's file is opened, written and closed by a
//!   writer thread of its own (`upload.rs`), so that the caller compresses and encrypts the
//!   next batch during each write's network round trip. When the upload waits for the
//!   network, helper processes, each with its own libsmbclient and connection, write further
//!   batches at their offsets (`helper.rs`): one process has one request in flight.
//! - `SmbFile::flush` does nothing and the file is closed in `Drop` with the error ignored: an
//!   upload is closed, then `stat`ed, and its size compared with what was written
//!   ([`StoreError::ShortWrite`]) before it is renamed into place.
//! - A rename onto an existing name deletes that name first (not atomic): uploads are written
//!   under a unique temporary name, the final name is checked to be free, then renamed. The
//!   temporary file is deleted on any failure and when an upload is dropped without commit.
//!   A concurrent writer of the same final name between that check and the rename is not
//!   detected; locks use [`Store::create_new`], which is an exclusive create on the server.
//! - Paths are URLs and are URL-decoded: every byte outside `A-Z a-z 0-9 - . _ ~` is
//!   percent-encoded, so names with `%`, spaces and non-ASCII letters round-trip. Names with
//!   `\ : * ? " < > |` or control characters are refused here (the server refuses them too, with
//!   a less clear error). Names are case-insensitive on the server.
//! - Small writes are slow (64 KiB writes ran at about half the speed of 1 MiB writes): uploads
//!   are buffered into [`WRITE_BATCH`]-byte writes (two batches in memory at most: the one
//!   being filled and the one being written).
//! - libsmbclient prints its messages (smb.conf warnings, debug output) on stdout. The first
//!   connection of the process creates its context with stdout pointed at stderr and then
//!   switches libsmbclient's logging to stderr, at debug level 0, so stdout stays clean (the
//!   CLI's `--json` output).
//! - libsmbclient reads `$HOME/.smb/smb.conf`, else `/etc/samba/smb.conf`, once per process.
//! - Dialects SMB 3.0 to 3.1.1 are offered (SMB 2 and SMB 1 are not).
//! - Transport encryption is not requested: the archives are encrypted before upload, and
//!   libsmbclient does not enforce `SmbEncryptionLevel::Require` anyway.
//! - Errors: wrong password or unknown user -> `EACCES`; missing share -> `ENOENT`; server down
//!   -> `ECONNREFUSED`; no answer -> `ETIMEDOUT` after the timeout (20 s, or
//!   `AZS_BACKUP_SMB_TIMEOUT_SECS`); disk full -> `ENOSPC`; listing a directory fails with
//!   "bad file descriptor" whatever the cause, so the directory is `stat`ed to find it. All are
//!   mapped to [`StoreError`] variants.
//! - The password is handed to libsmbclient through its authentication callback: it is never
//!   written to disk nor put in a command line. (pavao keeps its own copy of it in memory, which
//!   is not zeroed when the target is dropped.)

mod client;
mod download;
pub mod helper;
mod upload;
mod warm;

use super::spec::UncPath;
use super::{io_is_busy, Capacity, Credentials, Entry, Store, StoreError, Upload};
use pavao::{
    SmbClient, SmbCredentials, SmbDialect, SmbDirentType, SmbError, SmbMode, SmbOpenOptions,
    SmbOptions,
};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::{Duration, Instant};
use upload::SmbUpload;

/// Uploads reach the server in writes of this many bytes (the last one may be shorter). Each
/// write waits for its round trip (one request in flight: pavao), so larger writes upload
/// faster over latency: through a 10 ms proxy, 8 MiB instead of 4 raised the rate from 0.32 to
/// 0.41 of `smbclient put`'s (docs/BENCHMARKS.md, fourth pass). 8 MiB is Samba's default largest
/// SMB2 write, and what Windows Server 2012 and later accept (a server that accepts less gets
/// several requests, one after the other).
pub const WRITE_BATCH: usize = 8 << 20;
/// Small reads (`read_limited`) grow by this much.
const READ_BUFFER: usize = 1 << 20;
/// Environment variable that sets the timeout of each SMB request, in seconds.
pub const TIMEOUT_ENV: &str = "AZS_BACKUP_SMB_TIMEOUT_SECS";
/// Timeout of each SMB request when [`TIMEOUT_ENV`] is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
/// Characters SMB servers refuse in file names (besides control characters).
const REFUSED: &[char] = &['\\', ':', '*', '?', '"', '<', '>', '|'];

/// A target on an SMB share: `\\host\share\folder...`, the folders being the root.
pub struct SmbStore {
    /// Shared with the writer threads of uploads (`upload.rs`).
    client: Arc<SmbClient>,
    /// `\\host\share\folder` (or `smb://host:port/share/folder`), for messages.
    name: String,
    /// The share and the folders below it (`unc.folders`, outermost first: the target's
    /// root), also for the helper processes of uploads (`helper.rs`), with the credentials.
    unc: UncPath,
    credentials: Option<Credentials>,
    /// Connections per upload ([`helper::CONNECTIONS_ENV`]).
    connections: helper::Connections,
    /// Connecting took [`warm::SLOW_CONNECT`] or more: a remote link.
    slow: bool,
    /// Helpers connected ahead of a large upload (`warm.rs`), stopped when the target is
    /// dropped.
    warm: Arc<warm::Warm>,
}

impl Drop for SmbStore {
    fn drop(&mut self) {
        self.warm.close();
    }
}

impl std::fmt::Debug for SmbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmbStore")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The request timeout: [`TIMEOUT_ENV`] when set, else [`DEFAULT_TIMEOUT`].
pub fn timeout_from_env() -> Result<Duration, String> {
    Ok(env_number(TIMEOUT_ENV, TIMEOUT_RANGE, "seconds")?
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs))
}

/// How long [`SmbStore::discard`] retries a deletion the server refuses because another session
/// still has the file open.
const DISCARD_PATIENCE: Duration = Duration::from_secs(10);

/// Seconds [`TIMEOUT_ENV`] may give.
const TIMEOUT_RANGE: RangeInclusive<u64> = 1..=86_400;

/// The number in `range` that the environment variable `name` gives (`unit` names what it
/// counts, for the error), `None` when it is not set.
fn env_number(name: &str, range: RangeInclusive<u64>, unit: &str) -> Result<Option<u64>, String> {
    match std::env::var(name) {
        Err(std::env::VarError::NotPresent) => Ok(None),
        Ok(v) => parse_number(name, &v, range, unit).map(Some),
        Err(e) => Err(format!("{name}: {e}")),
    }
}

/// `v`, the value of the environment variable `name`, as a number in `range`.
fn parse_number(
    name: &str,
    v: &str,
    range: RangeInclusive<u64>,
    unit: &str,
) -> Result<u64, String> {
    match v.trim().parse::<u64>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(format!(
            "{name}={v:?} is not a number of {unit} in {}..={}",
            range.start(),
            range.end()
        )),
    }
}

/// Percent-encodes one path component for a libsmbclient URL.
fn encode(component: &str) -> String {
    let mut out = String::with_capacity(component.len());
    for &b in component.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Splits a relative `/`-separated path into checked components.
fn components(rel: &str) -> io::Result<Vec<&str>> {
    let mut out = Vec::new();
    for part in super::rel_components(rel)? {
        if let Some(c) = part.chars().find(|c| REFUSED.contains(c) || c.is_control()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{part:?} contains {c:?}; SMB shares refuse names with \\ : * ? \" < > | or control characters"
                ),
            ));
        }
        out.push(part);
    }
    Ok(out)
}

impl SmbStore {
    /// Connects to `unc` and checks that the share is reachable with the credentials: wrong
    /// credentials, a missing share and an unreachable server fail here. The folder below the
    /// share may be missing (`mkdir_all("")` creates it). `DOMAIN\user` is split into workgroup
    /// and user; without credentials the connection is anonymous.
    pub fn connect(
        unc: &UncPath,
        credentials: Option<&Credentials>,
    ) -> Result<SmbStore, StoreError> {
        let name = unc.to_string();
        let timeout = timeout_from_env().map_err(StoreError::BadEnvironment)?;
        let connections = helper::connections_from_env().map_err(StoreError::BadEnvironment)?;
        let server = match unc.port {
            Some(port) => format!("smb://{}:{port}", unc.url_host()),
            None => format!("smb://{}", unc.url_host()),
        };
        let mut creds = SmbCredentials::default()
            .server(server)
            .share(format!("/{}", encode(&unc.share)));
        if let Some(c) = credentials {
            let (workgroup, user) = c.split();
            creds = creds.username(user).password(c.password.as_str());
            if let Some(wg) = workgroup {
                creds = creds.workgroup(wg);
            }
        }
        let options = SmbOptions::default()
            .case_sensitive(false)
            // A wrong password must fail, not fall back to a guest session.
            .no_auto_anonymous_login(credentials.is_some())
            .min_protocol(SmbDialect::Smb300)
            .max_protocol(SmbDialect::Smb311);
        let client =
            client::new_client(creds, options).map_err(|e| map_err(&name, "connect to", "", e))?;
        client
            .set_timeout(timeout)
            .map_err(|e| map_err(&name, "connect to", "", e))?;
        let mut target = SmbStore {
            client: Arc::new(client),
            name,
            unc: unc.clone(),
            credentials: credentials.cloned(),
            connections,
            slow: false,
            warm: Arc::default(),
        };
        // The first request connects (negotiate, session setup, tree connect: about ten
        // round trips): its time tells a remote link from a near one (`warm.rs`).
        let connecting = Instant::now();
        // The root folder first (one request less on a remote share, where each is a few
        // round trips); only when it is not found, the share itself, so that a missing share
        // is NotFound "share X". A missing folder is fine (`mkdir_all("")` makes it).
        let root = &target.unc.folders;
        let root_is_dir = if root.is_empty() {
            None
        } else {
            match target.client.stat(&target.url("")?) {
                Ok(st) => Some(st.mode.is_dir()),
                Err(SmbError::Io(e)) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(target.err("connect to", "", e)),
            }
        };
        match root_is_dir {
            Some(true) => {}
            Some(false) => {
                return Err(StoreError::NotFound {
                    target: target.name.clone(),
                    what: "folder".into(),
                    detail: format!(" ({} is a file, not a folder)", root.join("\\")),
                })
            }
            None => match target.client.stat("/") {
                Ok(_) => {}
                Err(SmbError::Io(e)) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(StoreError::NotFound {
                        target: target.name.clone(),
                        what: format!("share {:?}", target.unc.share),
                        detail: format!(" (connect: {e})"),
                    });
                }
                Err(e) => return Err(target.err("connect to", "", e)),
            },
        }
        target.slow = connecting.elapsed() >= warm::SLOW_CONNECT;
        Ok(target)
    }

    /// The URL path (below the share) of a relative path; `""` is the root.
    fn url(&self, rel: &str) -> Result<String, StoreError> {
        let parts = components(rel).map_err(|e| self.io_err("use", rel, e))?;
        let mut url = String::new();
        for p in self.unc.folders.iter().map(String::as_str).chain(parts) {
            url.push('/');
            url.push_str(&encode(p));
        }
        if url.is_empty() {
            url.push('/');
        }
        Ok(url)
    }

    fn io_err(&self, op: &'static str, rel: &str, e: io::Error) -> StoreError {
        StoreError::from_io(&self.name, op, rel, e)
    }

    fn err(&self, op: &'static str, rel: &str, e: SmbError) -> StoreError {
        map_err(&self.name, op, rel, e)
    }

    /// `stat` that keeps the "nothing there" case apart.
    fn stat_raw(&self, rel: &str) -> Result<Option<Entry>, StoreError> {
        let url = self.url(rel)?;
        match self.client.stat(&url) {
            Ok(st) => Ok(Some(Entry {
                name: rel
                    .rsplit('/')
                    .find(|p| !p.is_empty())
                    .or(self.unc.folders.last().map(String::as_str))
                    .unwrap_or(&self.unc.share)
                    .to_string(),
                is_dir: st.mode.is_dir(),
                size: st.size,
                modified: Some(st.modified),
            })),
            Err(SmbError::Io(e)) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err("stat", rel, e)),
        }
    }

    /// Removes a file, ignoring errors (cleanup after a failure).
    ///
    /// While another session has the file open the server refuses the deletion (a sharing
    /// violation: libsmbclient opens without delete sharing). After a failed upload that
    /// session is a helper process that was killed, or stopped at its error, a moment ago:
    /// the server closes its files as soon as it sees the connection end. So a refusal is
    /// retried, with growing pauses, for up to [`DISCARD_PATIENCE`]; a session that holds on
    /// longer (a link that dropped, not closed) leaves the file to `prune`, which removes
    /// temporary files older than a lease.
    fn discard(&self, url: &str) {
        let deadline = Instant::now() + DISCARD_PATIENCE;
        let mut pause = Duration::from_millis(10);
        loop {
            match self.client.unlink(url) {
                Err(SmbError::Io(e)) if io_is_busy(&e) && Instant::now() + pause < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
                _ => return,
            }
        }
    }

    /// Creates one directory; an existing directory is fine.
    fn mkdir_one(&self, url: &str, rel: &str) -> Result<(), StoreError> {
        match self.client.mkdir(url, SmbMode::from(0o755)) {
            Ok(()) => Ok(()),
            Err(e) => self.mkdir_failed(url, rel, e),
        }
    }

    /// After a failed `mkdir`: an existing directory is fine, anything else is the error.
    fn mkdir_failed(&self, url: &str, rel: &str, e: SmbError) -> Result<(), StoreError> {
        match e {
            SmbError::Io(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                match self.client.stat(url) {
                    Ok(st) if st.mode.is_dir() => Ok(()),
                    Ok(_) => Err(self.io_err(
                        "create directory",
                        rel,
                        io::Error::new(io::ErrorKind::AlreadyExists, "a file has that name"),
                    )),
                    Err(e) => Err(self.err("create directory", rel, e)),
                }
            }
            e => Err(self.err("create directory", rel, e)),
        }
    }
}

/// Maps a pavao error to a [`StoreError`].
fn map_err(target: &str, op: &'static str, rel: &str, e: SmbError) -> StoreError {
    let io = match e {
        SmbError::Io(io) => io,
        SmbError::BadFileDescriptor => {
            io::Error::other("the server returned a bad file descriptor")
        }
        other => io::Error::other(other.to_string()),
    };
    StoreError::from_io(target, op, rel, io)
}

impl Store for SmbStore {
    fn display(&self) -> String {
        self.name.clone()
    }

    fn mkdir_all(&self, dir: &str) -> Result<(), StoreError> {
        let parts = components(dir).map_err(|e| self.io_err("create directory", dir, e))?;
        // Most calls make one folder in an existing one (a backup's folder in MASBackup): try
        // that first, without a `stat` before (an existing folder is found by the failed
        // `mkdir`, then `stat`ed). Every request is a round trip; through a 20 ms round trip
        // the walk below took 0.5 s (docs/BENCHMARKS.md, fifth pass).
        if parts.is_empty() {
            if let Some(e) = self.stat_raw(dir)? {
                if e.is_dir {
                    return Ok(());
                }
            }
        } else {
            let url = self.url(dir)?;
            match self.client.mkdir(&url, SmbMode::from(0o755)) {
                Ok(()) => return Ok(()),
                Err(SmbError::Io(e)) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return self.mkdir_failed(&url, dir, e),
            }
        }
        // A parent is missing: walk from the share down, the root folders, then `dir`.
        let all: Vec<&str> = self
            .unc
            .folders
            .iter()
            .map(String::as_str)
            .chain(parts)
            .collect();
        let mut url = String::new();
        let mut missing = false;
        for p in all {
            url.push('/');
            url.push_str(&encode(p));
            if !missing {
                match self.client.stat(&url) {
                    Ok(st) if st.mode.is_dir() => continue,
                    Ok(_) => {
                        return Err(self.io_err(
                            "create directory",
                            dir,
                            io::Error::new(
                                io::ErrorKind::AlreadyExists,
                                format!("{p:?} is a file"),
                            ),
                        ))
                    }
                    Err(SmbError::Io(e)) if e.kind() == io::ErrorKind::NotFound => missing = true,
                    Err(e) => return Err(self.err("create directory", dir, e)),
                }
            }
            self.mkdir_one(&url, dir)?;
        }
        Ok(())
    }

    fn list(&self, dir: &str) -> Result<Vec<Entry>, StoreError> {
        let url = self.url(dir)?;
        match self.client.list_dirplus(&url) {
            Ok(entries) => {
                let mut out: Vec<Entry> = entries
                    .into_iter()
                    .map(|e| Entry {
                        is_dir: e.get_type() == SmbDirentType::Dir,
                        size: if e.get_type() == SmbDirentType::Dir {
                            0
                        } else {
                            e.size
                        },
                        modified: Some(e.mtime),
                        name: e.name,
                    })
                    .collect();
                out.sort_by(|a, b| a.name.cmp(&b.name));
                Ok(out)
            }
            // libsmbclient reports every failure to open a directory as "bad file
            // descriptor": stat it to find the real cause.
            Err(e) => match self.client.stat(&url) {
                Err(cause) => Err(self.err("list", dir, cause)),
                Ok(st) if !st.mode.is_dir() => Err(self.io_err(
                    "list",
                    dir,
                    io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
                )),
                Ok(_) => Err(self.err("list", dir, e)),
            },
        }
    }

    fn stat(&self, path: &str) -> Result<Option<Entry>, StoreError> {
        self.stat_raw(path)
    }

    fn open(&self, path: &str) -> Result<Box<dyn Read + '_>, StoreError> {
        let url = self.url(path)?;
        let f = download::SmbDownload::start(&self.client, &url)
            .map_err(|e| self.err("open", path, e))?;
        Ok(Box::new(f))
    }

    /// Reads without the confirming read at the end: libsmbclient's `smbc_read` goes on
    /// reading until it has the bytes asked for or meets the end of the file (`cli_pull`), so
    /// a short read is the end. A lock or a manifest costs one read request fewer (a round
    /// trip on a remote share; the generic version asks three times for a 300-byte lock).
    fn read_limited(&self, path: &str, limit: u64) -> Result<Vec<u8>, StoreError> {
        let url = self.url(path)?;
        let mut f = self
            .client
            .open_with(&url, SmbOpenOptions::default().read(true))
            .map_err(|e| self.err("open", path, e))?;
        let want = limit.saturating_add(1);
        let mut buf = Vec::new();
        loop {
            // 64 KiB first (locks and manifests are a few KiB), then larger reads.
            let chunk = if buf.is_empty() {
                64 << 10
            } else {
                READ_BUFFER
            };
            let room = (want - buf.len() as u64).min(chunk as u64) as usize;
            let start = buf.len();
            buf.resize(start + room, 0);
            let n = loop {
                match f.read(&mut buf[start..]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    r => break r.map_err(|e| self.io_err("read", path, e))?,
                }
            };
            buf.truncate(start + n);
            if n < room || buf.len() as u64 >= want {
                return Ok(buf);
            }
        }
    }

    fn create(&self, path: &str) -> Result<Box<dyn Upload + '_>, StoreError> {
        let parts = components(path).map_err(|e| self.io_err("create", path, e))?;
        let Some((base, parents)) = parts.split_last() else {
            return Err(self.io_err(
                "create",
                path,
                io::Error::new(io::ErrorKind::InvalidInput, "empty file name"),
            ));
        };
        let final_url = self.url(path)?;
        // A unique temporary name in the same directory (names stay below 255 bytes).
        let mut short = String::new();
        for c in base.chars() {
            if short.len() + c.len_utf8() > 120 {
                break;
            }
            short.push(c);
        }
        let tmp_name = format!(".{short}.{}.partial", uuid::Uuid::new_v4().simple());
        let mut tmp_rel = parents.join("/");
        if !tmp_rel.is_empty() {
            tmp_rel.push('/');
        }
        tmp_rel.push_str(&tmp_name);
        let tmp_url = self.url(&tmp_rel)?;
        Ok(Box::new(SmbUpload::start(self, path, final_url, tmp_url)?))
    }

    fn create_new(&self, path: &str, data: &[u8]) -> Result<bool, StoreError> {
        let url = self.url(path)?;
        let mut file = match self.client.open_with(
            &url,
            SmbOpenOptions::default()
                .read(true)
                .write(true)
                .create(true)
                .exclusive(true),
        ) {
            Ok(f) => f,
            Err(SmbError::Io(e)) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
            Err(e) => return Err(self.err("create", path, e)),
        };
        // The size as the server has it, asked on the open handle (one request; a `stat`
        // after the close is about five).
        let written = file
            .write_all(data)
            .map_err(|e| ("write", e))
            .and_then(|()| file.seek(SeekFrom::End(0)).map_err(|e| ("stat", e)));
        drop(file);
        let found = match written {
            Ok(n) => n,
            Err((op, e)) => {
                self.discard(&url);
                return Err(self.io_err(op, path, e));
            }
        };
        if let Err(e) = StoreError::check_size(&self.name, path, data.len() as u64, found) {
            self.discard(&url);
            return Err(e);
        }
        Ok(true)
    }

    fn overwrite(&self, path: &str, data: &[u8]) -> Result<(), StoreError> {
        let url = self.url(path)?;
        // SMB through libsmbclient cannot cut a file: new content shorter than the old is
        // padded with spaces (locks are JSON, where trailing spaces are nothing).
        let old = self
            .client
            .stat(&url)
            .map_err(|e| self.err("stat", path, e))?
            .size;
        let mut data = data.to_vec();
        if (data.len() as u64) < old {
            data.resize(old as usize, b' ');
        }
        let mut file = self
            .client
            .open_with(&url, SmbOpenOptions::default().write(true))
            .map_err(|e| self.err("open", path, e))?;
        file.write_all(&data)
            .map_err(|e| self.io_err("write", path, e))?;
        Ok(())
    }

    fn remove_file(&self, path: &str) -> Result<(), StoreError> {
        let url = self.url(path)?;
        self.client
            .unlink(&url)
            .map_err(|e| self.err("delete", path, e))
    }

    fn remove_dir(&self, path: &str) -> Result<(), StoreError> {
        let url = self.url(path)?;
        self.client
            .rmdir(&url)
            .map_err(|e| self.err("delete directory", path, e))
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), StoreError> {
        let from_url = self.url(from)?;
        let to_url = self.url(to)?;
        // libsmbclient would delete an existing `to` first; names are case-insensitive, so a
        // rename that only changes case is refused too.
        if self.stat_raw(to)?.is_some() {
            return Err(StoreError::AlreadyExists {
                target: self.name.clone(),
                path: to.to_string(),
            });
        }
        self.client
            .rename(from_url.as_str(), to_url.as_str())
            .map_err(|e| self.err("rename", from, e))
    }

    /// On a slow link (connecting took `warm::SLOW_CONNECT` or more), and for an upload of
    /// `warm::WARM_FROM` bytes or more, starts the helpers of the upload now (`warm.rs`).
    fn expect_upload(&self, bytes: u64) {
        let max = self.connections.max;
        if !self.slow || bytes < warm::WARM_FROM || max < 2 {
            return;
        }
        let Some(program) = helper::program() else {
            return;
        };
        let hello = || helper::Hello::new(&self.unc, self.credentials.as_ref(), None);
        self.warm.start(program, hello, max - 1);
    }

    fn capacity(&self) -> Result<Option<Capacity>, StoreError> {
        let url = self.url("")?;
        let st = match self.client.statvfs(&url) {
            Ok(st) => st,
            Err(SmbError::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::Unsupported | io::ErrorKind::InvalidInput
                ) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(self.err("statfs", "", e)),
        };
        // libsmbclient fills f_bsize with the bytes per sector and f_frsize with the sectors
        // per allocation unit (SMB FileFsFullSizeInformation); SMB1's fallback leaves f_frsize 0.
        let unit = st.bsize.saturating_mul(st.frsize.max(1));
        if st.blocks == 0 || unit == 0 {
            return Ok(None);
        }
        Ok(Some(Capacity {
            total: st.blocks.saturating_mul(unit),
            available: st.bavail.saturating_mul(unit),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_keeps_only_unreserved_bytes() {
        assert_eq!(encode("a%b"), "a%25b");
        assert_eq!(encode("sp ace"), "sp%20ace");
        assert_eq!(encode("café"), "caf%C3%A9");
        assert_eq!(encode("q?#+;@"), "q%3F%23%2B%3B%40");
        assert_eq!(encode("manifest.json-_~"), "manifest.json-_~");
    }

    #[test]
    fn refused_names_are_refused() {
        for bad in [
            "a:b", "x/y*", "q?", "a\\b", "<", "\"", "|", "a\nb", "..", "a/./b",
        ] {
            let e = components(bad).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad}");
        }
        assert_eq!(components("a/b c/d%e").unwrap(), vec!["a", "b c", "d%e"]);
        for bad in ["/a", "a//b", "a/", "/"] {
            assert!(components(bad).is_err(), "{bad}");
        }
        assert!(components("").unwrap().is_empty());
    }

    #[test]
    fn timeout_is_checked() {
        let parse_timeout = |v| parse_number(TIMEOUT_ENV, v, TIMEOUT_RANGE, "seconds");
        assert_eq!(parse_timeout("5").unwrap(), 5);
        assert_eq!(parse_timeout(" 120 ").unwrap(), 120);
        for bad in ["0", "-1", "1.5", "", "ten", "86401"] {
            assert!(
                parse_timeout(bad).unwrap_err().contains(TIMEOUT_ENV),
                "{bad}"
            );
        }
    }
}
