//! Helper processes: more than one write of an upload in flight.
//!
//! pavao runs every libsmbclient call of a process behind one lock, so a process has one SMB
//! request in flight, however many connections or threads it uses. Over a link with latency
//! each 8 MiB write waits for its round trip, and the upload runs at about 0.4 of
//! `smbclient put`'s rate (docs/BENCHMARKS.md, issue 12 target 7). A helper process has its own
//! libsmbclient, its own connection and its own request in flight.
//!
//! - The binary registers itself with [`set_helper_program`]. Without that (the library used on
//!   its own, unit tests) an upload has one connection, as before.
//! - An upload uses up to [`DEFAULT_CONNECTIONS`] connections: its own, and helpers that start
//!   only once it has waited for the network long enough (`upload.rs`); a file of one batch
//!   (manifests, locks) never starts one. [`CONNECTIONS_ENV`] sets the number (1 to
//!   [`MAX_CONNECTIONS`]), and then the helpers start with the upload's second batch.
//! - A helper is the same binary, run as `azs-backup __smb-upload-helper` and nothing else on
//!   its command line. It reads one JSON line on stdin: the share, the user, the password and
//!   the temporary file's URL. It connects and opens that file, which the upload's own writer
//!   created (write access, no create, no truncate), and answers `ok`. A warm helper
//!   (`warm.rs`) gets no URL: it connects, answers `ok`, and reads a second line with the URL
//!   (`{"url": ...}`; the end of its input instead: it exits 0), then opens the file and
//!   answers `ok` again. Then it reads batches
//!   (offset: u64 LE, length: u32 LE, the bytes), writes each at its offset and answers `ok`,
//!   or `error ERRNO MESSAGE` and stops. At end of input it closes the file and exits 0.
//! - The password crosses a pipe only: never a command line, the environment or a disk. A
//!   helper's environment is the backup's without the variables whose names hold `PASSWORD`
//!   or `PASSWD` (`AZS_BACKUP_PASSWORD` and the like): it needs none.
//! - Answers go to the helper's original stdout; its fd 1 is pointed at stderr before
//!   libsmbclient starts, so nothing libsmbclient prints can reach the protocol.
//! - A helper that cannot start, connect or open the file is left out: the upload goes on
//!   with the connections it has (its own at least). An upload that is done while a helper is
//!   still starting kills it rather than wait (`Starting`). Once a helper has taken a batch, its
//!   failure (an error answer, an exit, a crash) fails the upload like a failed write.
//! - If the backup process dies, each helper reads the end of its input, closes and exits.

use super::{SmbStore, WRITE_BATCH};
use crate::store::spec::UncPath;
use crate::store::Credentials;
use pavao::SmbOpenOptions;
use serde::{Deserialize, Serialize};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use zeroize::Zeroizing;

/// The argument that makes the binary a helper ([`serve`]).
pub const HELPER_ARG: &str = "__smb-upload-helper";
/// Environment variable: how many connections an upload uses (1 to [`MAX_CONNECTIONS`]).
pub const CONNECTIONS_ENV: &str = "AZS_BACKUP_SMB_CONNECTIONS";
/// Connections per upload when [`CONNECTIONS_ENV`] is not set: its own and two helpers.
/// Through a 20 ms round trip, 3 reached the backup's own rate; on loopback more cost CPU
/// for nothing (docs/BENCHMARKS.md, fifth pass).
pub const DEFAULT_CONNECTIONS: usize = 3;
/// Most connections per upload.
pub const MAX_CONNECTIONS: usize = 8;
/// Longest first line a helper accepts (the JSON with the share and credentials).
const MAX_HELLO: u64 = 64 << 10;

static PROGRAM: OnceLock<PathBuf> = OnceLock::new();

/// Registers the program to run as a helper (the binary itself: `std::env::current_exe()`).
/// Without it an upload has one connection.
pub fn set_helper_program(path: PathBuf) {
    let _ = PROGRAM.set(path);
}

/// The helper program, if one is registered.
pub(super) fn program() -> Option<&'static Path> {
    PROGRAM.get().map(PathBuf::as_path)
}

/// How many connections an upload uses, and when its helpers start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connections {
    /// Connections in all, the upload's own included.
    pub max: usize,
    /// Set explicitly ([`CONNECTIONS_ENV`]): helpers start with an upload's second batch.
    /// Otherwise they start only when the upload waits for the network (`upload.rs`).
    pub eager: bool,
}

/// The connections an upload uses: [`CONNECTIONS_ENV`] when set, else [`DEFAULT_CONNECTIONS`].
pub fn connections_from_env() -> Result<Connections, String> {
    Ok(
        match super::env_number(CONNECTIONS_ENV, CONNECTIONS_RANGE, "connections")? {
            None => Connections {
                max: DEFAULT_CONNECTIONS,
                eager: false,
            },
            Some(n) => Connections {
                max: n as usize,
                eager: true,
            },
        },
    )
}

/// The numbers [`CONNECTIONS_ENV`] may give.
const CONNECTIONS_RANGE: std::ops::RangeInclusive<u64> = 1..=MAX_CONNECTIONS as u64;

/// What a helper needs, sent as its first line.
#[derive(Serialize, Deserialize)]
pub(super) struct Hello {
    unc: UncPath,
    username: Option<String>,
    password: Option<String>,
    /// The temporary file, as a URL path below the share; `None` for a warm helper, which
    /// connects and then waits for an [`Open`] line.
    url: Option<String>,
}

impl Hello {
    /// The first line of a helper for the file `url`, or, without it, of a warm helper.
    pub(super) fn new(
        unc: &UncPath,
        credentials: Option<&Credentials>,
        url: Option<&str>,
    ) -> Hello {
        Hello {
            unc: unc.clone(),
            username: credentials.map(|c| c.username.clone()),
            password: credentials.map(|c| c.password.to_string()),
            url: url.map(str::to_string),
        }
    }
}

/// The second line to a warm helper: the file to open.
#[derive(Serialize, Deserialize)]
struct Open {
    url: String,
}

impl Drop for Hello {
    fn drop(&mut self) {
        if let Some(p) = self.password.take() {
            drop(Zeroizing::new(p));
        }
    }
}

/// The helpers of an upload that are still starting (connecting, opening the file). Starting
/// takes a few round trips, and up to the timeout when a server does not answer: an upload
/// that is done first stops them ([`Starting::close`]) instead of waiting.
pub(super) struct Starting(Mutex<Option<Vec<u32>>>);

impl Default for Starting {
    fn default() -> Self {
        Starting(Mutex::new(Some(Vec::new())))
    }
}

impl Starting {
    /// Registers a helper that is starting; `false` once the upload is done with helpers.
    fn add(&self, pid: u32) -> bool {
        match self.0.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            Some(pids) => {
                pids.push(pid);
                true
            }
            None => false,
        }
    }

    /// A helper has started (or failed to). Called before it is waited for: a pid is on the
    /// list only while its process has not been reaped, so it cannot belong to another process.
    fn remove(&self, pid: u32) {
        if let Some(pids) = self.0.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            pids.retain(|p| *p != pid);
        }
    }

    /// Kills the helpers still starting and refuses new ones.
    pub(super) fn close(&self) {
        let pids = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        #[cfg(unix)]
        for pid in pids.unwrap_or_default() {
            if let Ok(pid) = libc::pid_t::try_from(pid) {
                // SAFETY: a plain syscall; the pid is not reaped yet (see `remove`).
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
        #[cfg(not(unix))]
        drop(pids);
    }
}

/// A helper process seen from the upload: [`Helper::send`] one batch, then
/// [`Helper::settle`] for its answer.
pub(super) struct Helper {
    child: Child,
    input: Option<ChildStdin>,
    answers: BufReader<ChildStdout>,
}

/// Why a helper failed: its pid, so that its stderr can be matched.
fn stopped(pid: u32, why: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("SMB upload helper process {pid} stopped: {why}"))
}

impl Helper {
    /// Starts `program` as a helper for the file `hello` names and waits for its `ok`.
    pub(super) fn start(program: &Path, hello: &Hello, starting: &Starting) -> io::Result<Helper> {
        let mut line = Zeroizing::new(serde_json::to_vec(hello).map_err(io::Error::other)?);
        line.push(b'\n');
        let mut cmd = Command::new(program);
        // It needs no secret from the environment (AZS_BACKUP_PASSWORD and the like).
        for (name, _) in std::env::vars_os() {
            let upper = name.to_string_lossy().to_ascii_uppercase();
            if upper.contains("PASSWORD") || upper.contains("PASSWD") {
                cmd.env_remove(&name);
            }
        }
        let mut child = cmd
            .arg(HELPER_ARG)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let (Some(input), Some(out)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other("no pipes to the helper"));
        };
        let pid = child.id();
        let mut helper = Helper {
            child,
            input: Some(input),
            answers: BufReader::new(out),
        };
        if !starting.add(pid) {
            helper.abandon();
            return Err(io::Error::other("the upload no longer needs helpers"));
        }
        let r = helper
            .input()
            .and_then(|i| i.write_all(&line))
            .and_then(|()| helper.settle());
        starting.remove(pid);
        match r {
            Ok(()) => Ok(helper),
            Err(e) => {
                helper.abandon();
                Err(e)
            }
        }
    }

    /// Has a warm helper (started without a file) open the file `url`, and waits for its `ok`.
    /// Registered in `starting` meanwhile, so that an upload done first stops it.
    pub(super) fn open(&mut self, url: &str, starting: &Starting) -> io::Result<()> {
        let pid = self.child.id();
        if !starting.add(pid) {
            return Err(io::Error::other("the upload no longer needs helpers"));
        }
        let mut line = serde_json::to_vec(&Open {
            url: url.to_string(),
        })
        .map_err(io::Error::other)?;
        line.push(b'\n');
        let r = self
            .input()
            .and_then(|i| i.write_all(&line).and_then(|()| i.flush()))
            .map_err(|e| stopped(pid, e))
            .and_then(|()| self.settle());
        starting.remove(pid);
        r
    }

    fn input(&mut self) -> io::Result<&mut ChildStdin> {
        self.input
            .as_mut()
            .ok_or_else(|| io::Error::other("the helper's input is closed"))
    }

    /// Hands `data`, to be written at `offset`, to the helper: returns once the helper has
    /// read it (the caller may then reuse `data`), not once it is written.
    pub(super) fn send(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let pid = self.child.id();
        let len = u32::try_from(data.len()).map_err(io::Error::other)?;
        let mut head = [0u8; 12];
        head[..8].copy_from_slice(&offset.to_le_bytes());
        head[8..].copy_from_slice(&len.to_le_bytes());
        let input = self.input()?;
        input
            .write_all(&head)
            .and_then(|()| input.write_all(data))
            .and_then(|()| input.flush())
            .map_err(|e| stopped(pid, e))
    }

    /// Waits for the answer to the last request: `Ok` once it is written on the server.
    pub(super) fn settle(&mut self) -> io::Result<()> {
        let pid = self.child.id();
        let mut line = String::new();
        let n = (&mut self.answers)
            .take(4096)
            .read_line(&mut line)
            .map_err(|e| stopped(pid, e))?;
        if n == 0 {
            return Err(stopped(pid, "it exited"));
        }
        let line = line.trim_end();
        if line == "ok" {
            return Ok(());
        }
        let Some(rest) = line.strip_prefix("error ") else {
            return Err(stopped(pid, format!("unexpected answer {line:?}")));
        };
        let (code, msg) = rest.split_once(' ').unwrap_or((rest, ""));
        Err(match code.parse::<i32>() {
            Ok(errno) if errno > 0 => io::Error::from_raw_os_error(errno),
            _ => io::Error::other(format!("SMB upload helper process {pid}: {msg}")),
        })
    }

    /// Closes the helper's input: it finishes what it was given, closes its file and exits.
    pub(super) fn hang_up(&mut self) {
        drop(self.input.take());
    }

    /// Closes the helper's input and waits for it: `Ok` when it closed the file and exited 0.
    pub(super) fn finish(mut self) -> io::Result<()> {
        self.hang_up();
        let pid = self.child.id();
        let status = self.child.wait().map_err(|e| stopped(pid, e))?;
        if status.success() {
            Ok(())
        } else {
            Err(stopped(pid, status))
        }
    }

    /// Stops a helper that failed: closes its input, kills it and reaps it.
    pub(super) fn abandon(&mut self) {
        self.hang_up();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary as a helper (`azs-backup __smb-upload-helper`): see the module doc. Returns
/// the exit code.
pub fn serve() -> i32 {
    let mut answers = match protocol_output() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("azs-backup {HELPER_ARG}: {e}");
            return 1;
        }
    };
    let stdin = io::stdin();
    let mut input = stdin.lock();
    match serve_on(&mut input, &mut answers) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(
                answers,
                "error {} {}",
                e.raw_os_error().unwrap_or(-1),
                one_line(&e)
            );
            let _ = answers.flush();
            1
        }
    }
}

fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string().replace(['\n', '\r'], " ")
}

/// The original stdout, for answers; fd 1 then points at stderr.
#[cfg(unix)]
fn protocol_output() -> io::Result<std::fs::File> {
    use std::os::fd::FromRawFd;
    // SAFETY: plain descriptor calls; the duplicate is owned by the returned File.
    unsafe {
        let fd = libc::dup(1);
        if fd < 0 || libc::dup2(2, 1) < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(std::fs::File::from_raw_fd(fd))
    }
}

#[cfg(not(unix))]
fn protocol_output() -> io::Result<io::Stdout> {
    Ok(io::stdout())
}

/// Reads exactly `buf`; `false` at a clean end of input before its first byte.
fn read_head(input: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let (n, err) = crate::read_full::read_full(input, buf);
    match (n, err) {
        (0, None) => Ok(false),
        (n, None) if n == buf.len() => Ok(true),
        (_, Some(e)) => Err(e),
        _ => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "input ended inside a request",
        )),
    }
}

fn serve_on(input: &mut impl BufRead, answers: &mut impl Write) -> io::Result<()> {
    let mut line = Zeroizing::new(String::new());
    input.take(MAX_HELLO).read_line(&mut line)?;
    let hello: Hello = serde_json::from_str(&line)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("first line: {e}")))?;
    let credentials = hello.username.as_ref().map(|u| Credentials {
        username: u.clone(),
        password: Zeroizing::new(hello.password.clone().unwrap_or_default()),
    });
    let store = SmbStore::connect(&hello.unc, credentials.as_ref())
        .map_err(|e| io::Error::other(e.to_string()))?;
    drop(credentials);
    let url = hello.url.clone();
    drop(hello);
    let url = match url {
        Some(url) => url,
        None => {
            // Warm: connected; the file comes on the next line, or nothing (not needed).
            answers.write_all(b"ok\n")?;
            answers.flush()?;
            let mut line = String::new();
            if input.take(MAX_HELLO).read_line(&mut line)? == 0 {
                return Ok(());
            }
            let open: Open = serde_json::from_str(&line).map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidData, format!("second line: {e}"))
            })?;
            open.url
        }
    };
    let mut file = store
        .client
        .open_with(&url, SmbOpenOptions::default().write(true))
        .map_err(|e| io::Error::other(format!("open {url}: {e}")))?;
    answers.write_all(b"ok\n")?;
    answers.flush()?;
    let mut buf = Vec::with_capacity(WRITE_BATCH);
    let mut head = [0u8; 12];
    while read_head(input, &mut head)? {
        let offset = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
        let len = u32::from_le_bytes(head[8..].try_into().expect("4 bytes")) as usize;
        if len == 0 || len > WRITE_BATCH {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a batch of {len} bytes (1 to {WRITE_BATCH})"),
            ));
        }
        buf.resize(len, 0);
        input.read_exact(&mut buf)?;
        file.seek(SeekFrom::Start(offset))?;
        file.write_all(&buf)?;
        answers.write_all(b"ok\n")?;
        answers.flush()?;
    }
    // Closes the file (pavao ignores errors of close: the upload checks the size).
    drop(file);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_checked() {
        let parse_connections =
            |v| super::super::parse_number(CONNECTIONS_ENV, v, CONNECTIONS_RANGE, "connections");
        assert_eq!(parse_connections("1").unwrap(), 1);
        assert_eq!(parse_connections(" 8 ").unwrap(), 8);
        for bad in ["0", "9", "-1", "", "two", "1.5"] {
            assert!(
                parse_connections(bad)
                    .unwrap_err()
                    .contains(CONNECTIONS_ENV),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_helper_refuses_bad_input_before_connecting() {
        let mut out = Vec::new();
        let e = serve_on(&mut &b"not json\n"[..], &mut out).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("first line"), "{e}");
        assert!(out.is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn helpers_still_starting_are_killed_when_the_upload_is_done() {
        let starting = Starting::default();
        let mut slow = Command::new("sleep").arg("30").spawn().unwrap();
        let mut quick = Command::new("sleep").arg("30").spawn().unwrap();
        assert!(starting.add(slow.id()));
        assert!(starting.add(quick.id()));
        // `quick` has started: closing no longer touches it.
        starting.remove(quick.id());
        starting.close();
        let st = slow.wait().unwrap();
        assert!(!st.success(), "{st}");
        assert_eq!(
            quick.try_wait().unwrap(),
            None,
            "a started helper was killed"
        );
        let _ = quick.kill();
        let _ = quick.wait();
        // Once closed, no helper may start.
        assert!(!starting.add(std::process::id()));
    }

    #[test]
    fn request_heads_are_read_whole_or_not_at_all() {
        let mut head = [0u8; 12];
        assert!(!read_head(&mut &b""[..], &mut head).unwrap());
        assert!(read_head(&mut &[7u8; 12][..], &mut head).unwrap());
        let e = read_head(&mut &[7u8; 5][..], &mut head).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }
}
