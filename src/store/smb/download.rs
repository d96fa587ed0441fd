//! Reads from an SMB share, ahead of the caller, by a thread of its own.
//!
//! Each `smbc_read` is synchronous: one request and its answer, a full network round trip.
//! Read 1 MiB at a time from the thread that also decrypts and decompresses, an archive came
//! at 38 MiB/s through a 20 ms round trip (`verify --key` of the standard data set: 21 s,
//! against 2.3 s on loopback; docs/BENCHMARKS.md, sixth pass), and restore is what an
//! operator waits for in a disaster. So a thread reads the file in [`READ_BATCH`]-byte
//! requests and hands each batch to the caller, who works on the batch before it meanwhile.
//!
//! - The thread opens the file itself (a pavao `SmbFile` cannot move between threads) and
//!   [`SmbDownload::start`] waits for that open, so `Store::open` fails as before.
//! - Memory: two batches, the one the caller reads and the one the thread fills (and
//!   libsmbclient's copy of the read it is answering). The hand-over is a rendezvous channel
//!   (capacity 0), and once the thread has made two batches it waits for the caller to give
//!   one back.
//! - Errors: a failed read is handed over as the next batch; the caller's next `read` returns
//!   it. A thread that stops without saying the file ended is an error, never an early end.
//! - Drop: the caller hangs up, the thread stops after the read it is doing, and is joined.

use crate::read_full::read_full;
use pavao::{SmbClient, SmbError, SmbOpenOptions};
use std::io::{self, BufRead, Read};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Bytes asked in each read request: Samba's default largest SMB2 read, and what Windows
/// Server 2012 and later answer (libsmbclient splits a larger read into several requests).
pub const READ_BATCH: usize = 8 << 20;

/// What the thread hands over: bytes (never empty), the end of the file, or the read's error.
enum Batch {
    Data(Vec<u8>),
    End,
    Failed(io::Error),
}

/// A file being read ahead by a thread of its own.
pub(super) struct SmbDownload {
    rx: Option<Receiver<Batch>>,
    recycle: Option<Sender<Vec<u8>>>,
    cur: Vec<u8>,
    pos: usize,
    /// The end was handed over, or an error (returned once, then reads fail with its kind).
    ended: bool,
    failed: Option<io::ErrorKind>,
    thread: Option<JoinHandle<()>>,
}

impl SmbDownload {
    /// Starts the thread, which opens `url` for reading, and waits for that open.
    pub(super) fn start(client: &Arc<SmbClient>, url: &str) -> Result<SmbDownload, SmbError> {
        let (tx, rx) = mpsc::sync_channel::<Batch>(0);
        let (recycle, recycled) = mpsc::channel::<Vec<u8>>();
        let (opened_tx, opened) = mpsc::sync_channel::<Result<(), SmbError>>(1);
        let client = Arc::clone(client);
        let url = url.to_string();
        let thread = std::thread::Builder::new()
            .name("smb-download".into())
            .spawn(move || read_ahead(&client, &url, &opened_tx, &tx, &recycled))
            .map_err(SmbError::Io)?;
        match opened.recv() {
            Ok(Ok(())) => Ok(SmbDownload {
                rx: Some(rx),
                recycle: Some(recycle),
                cur: Vec::new(),
                pos: 0,
                ended: false,
                failed: None,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(SmbError::Io(thread_died()))
            }
        }
    }
}

/// The thread: opens `url`, then reads batch after batch until the end, a failure, or the
/// caller hangs up.
fn read_ahead(
    client: &SmbClient,
    url: &str,
    opened: &SyncSender<Result<(), SmbError>>,
    tx: &SyncSender<Batch>,
    recycled: &Receiver<Vec<u8>>,
) {
    let mut file = match client.open_with(url, SmbOpenOptions::default().read(true)) {
        Ok(f) => f,
        Err(e) => {
            let _ = opened.send(Err(e));
            return;
        }
    };
    let _ = opened.send(Ok(()));
    let mut made = 0;
    loop {
        let mut buf = if made < 2 {
            made += 1;
            Vec::new()
        } else {
            // The caller gives each batch back when it takes the next (or hangs up).
            match recycled.recv() {
                Ok(b) => b,
                Err(_) => return,
            }
        };
        buf.resize(READ_BATCH, 0);
        let (n, failed) = read_full(&mut file, &mut buf);
        buf.truncate(n);
        // A batch that is not full met the end or a failed read: what was read goes first.
        let last = match failed {
            Some(e) => Some(Batch::Failed(e)),
            None if n < READ_BATCH => Some(Batch::End),
            None => None,
        };
        if n > 0 && tx.send(Batch::Data(buf)).is_err() {
            return;
        }
        if let Some(last) = last {
            let _ = tx.send(last);
            return;
        }
    }
}

fn thread_died() -> io::Error {
    io::Error::other("the SMB download thread stopped unexpectedly")
}

impl BufRead for SmbDownload {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if let Some(kind) = self.failed {
            return Err(io::Error::new(kind, "an earlier read of this file failed"));
        }
        if self.pos >= self.cur.len() && !self.ended {
            let next = match self.rx.as_ref().map(Receiver::recv) {
                Some(Ok(b)) => b,
                _ => Batch::Failed(thread_died()),
            };
            match next {
                Batch::Data(data) => {
                    let done = std::mem::replace(&mut self.cur, data);
                    if done.capacity() > 0 {
                        if let Some(r) = &self.recycle {
                            let _ = r.send(done);
                        }
                    }
                    self.pos = 0;
                }
                Batch::End => {
                    self.ended = true;
                    self.cur.clear();
                    self.pos = 0;
                }
                Batch::Failed(e) => {
                    self.failed = Some(e.kind());
                    return Err(e);
                }
            }
        }
        Ok(&self.cur[self.pos..])
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.cur.len());
    }
}

impl Read for SmbDownload {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl Drop for SmbDownload {
    fn drop(&mut self) {
        // Hanging up (both channels) stops the thread after the read it is doing (and closes
        // the file).
        self.rx = None;
        self.recycle = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
