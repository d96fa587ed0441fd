//! Uploads to an SMB share, written by a thread of their own.
//!
//! Each `smbc_write` is synchronous: one request and its answer, a full network round trip,
//! during which the caller waits. Written from the thread that also compresses and encrypts,
//! every round trip stopped the whole backup (measured through a 20 ms round trip: 0.24 of
//! `smbclient put`'s rate, docs/BENCHMARKS.md). So an upload hands its data, in batches of
//! [`WRITE_BATCH`] bytes, to a writer thread that owns the open file, and the caller goes on
//! filling the next batch meanwhile.
//!
//! - Memory: two batches at most, the one being filled and the one being written. The queue
//!   between them is a rendezvous channel (capacity 0), and written batches are handed back
//!   for reuse.
//! - The writer thread opens the temporary file itself (a pavao `SmbFile` cannot move between
//!   threads) and [`SmbUpload`] waits for that open, so `Store::create` fails as before.
//! - Errors: the writer stops at its first failed write, closes the file and ends; the next
//!   `write` (or `flush`, or `commit`) of the upload finds the thread gone, joins it and
//!   returns that error (the original `io::Error` the first time, its kind and message
//!   afterwards), so a failed write is never taken for a success. A panic of the writer is an
//!   error too.
//! - `flush` waits until everything written so far is on the server: because the channel has
//!   no capacity, an empty batch is taken by the writer only once every batch before it is
//!   written.
//! - The temporary file is closed (the writer joined) before it is checked, renamed or, when
//!   the upload is dropped without commit, deleted.

use super::{SmbStore, WRITE_BATCH};
use crate::store::{StoreError, Upload};
use pavao::{SmbClient, SmbError, SmbOpenOptions};
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// The writer thread of an upload, seen from the caller.
struct Writer {
    /// Batches to write; an empty batch is a flush (see the module doc).
    tx: SyncSender<Vec<u8>>,
    /// Written batches, back for reuse.
    recycle: Receiver<Vec<u8>>,
    thread: JoinHandle<io::Result<()>>,
}

/// An upload: a temporary file next to the final name, renamed into place by `commit`.
pub(super) struct SmbUpload<'a> {
    target: &'a SmbStore,
    rel: String,
    final_url: String,
    tmp_url: String,
    /// `None` once the writer is joined (finished, or failed).
    writer: Option<Writer>,
    buf: Vec<u8>,
    /// Bytes accepted from the caller (buffered or sent).
    written: u64,
    /// The first write error: every later write and the commit fail with it.
    failed: Option<(io::ErrorKind, String)>,
    committed: bool,
}

/// The writer thread: opens `url` (reporting the outcome on `opened`), then writes every batch
/// it receives until the sending side hangs up or a write fails.
fn write_batches(
    client: &SmbClient,
    url: &str,
    opened: SyncSender<Result<(), SmbError>>,
    rx: Receiver<Vec<u8>>,
    recycle: Sender<Vec<u8>>,
) -> io::Result<()> {
    let options = SmbOpenOptions::default()
        .write(true)
        .create(true)
        .exclusive(true);
    let mut file = match client.open_with(url, options) {
        Ok(f) => f,
        Err(e) => {
            let _ = opened.send(Err(e));
            return Ok(());
        }
    };
    let _ = opened.send(Ok(()));
    for batch in rx {
        file.write_all(&batch)?;
        // Flushes (empty batches) are not kept: a reused batch must have its full capacity.
        if !batch.is_empty() {
            let _ = recycle.send(batch);
        }
    }
    // Closes the file (pavao ignores errors of close: `finish` checks the size).
    drop(file);
    Ok(())
}

impl<'a> SmbUpload<'a> {
    /// Starts the writer thread, which creates `tmp_url` (exclusively), and waits for that.
    pub(super) fn start(
        target: &'a SmbStore,
        rel: &str,
        final_url: String,
        tmp_url: String,
    ) -> Result<SmbUpload<'a>, StoreError> {
        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(0);
        let (recycle_tx, recycle) = mpsc::channel();
        let (opened_tx, opened) = mpsc::sync_channel(1);
        let client = Arc::clone(&target.client);
        let url = tmp_url.clone();
        let thread = std::thread::Builder::new()
            .name("smb-upload".into())
            .spawn(move || write_batches(&client, &url, opened_tx, rx, recycle_tx))
            .map_err(|e| target.io_err("create", rel, e))?;
        let writer = Writer {
            tx,
            recycle,
            thread,
        };
        let open = opened.recv();
        if !matches!(open, Ok(Ok(()))) {
            drop(writer.tx);
            let joined = writer.thread.join();
            return Err(match (open, joined) {
                (Ok(Err(e)), _) => target.err("create", rel, e),
                (_, Ok(Err(e))) => target.io_err("create", rel, e),
                _ => target.io_err("create", rel, thread_died()),
            });
        }
        Ok(SmbUpload {
            target,
            rel: rel.to_string(),
            final_url,
            tmp_url,
            writer: Some(writer),
            buf: Vec::with_capacity(WRITE_BATCH),
            written: 0,
            failed: None,
            committed: false,
        })
    }

    fn check(&self) -> io::Result<()> {
        match &self.failed {
            Some((kind, msg)) => Err(io::Error::new(*kind, msg.clone())),
            None => Ok(()),
        }
    }

    /// Joins the writer and returns what ended it: `Ok` when it wrote everything and closed
    /// the file, else its error (kept for every later call).
    fn join(&mut self) -> io::Result<()> {
        let Some(w) = self.writer.take() else {
            return self.check();
        };
        drop(w.tx);
        let r = match w.thread.join() {
            Ok(r) => r,
            Err(_) => Err(thread_died()),
        };
        if let Err(e) = &r {
            self.failed = Some((e.kind(), e.to_string()));
        }
        r
    }

    /// Hands `batch` to the writer (an empty one waits until everything before it is
    /// written). Fails with the writer's error when it has stopped.
    fn hand_over(&mut self, batch: Vec<u8>) -> io::Result<()> {
        self.check()?;
        let Some(w) = self.writer.as_ref() else {
            return Err(io::Error::other("upload already finished"));
        };
        if w.tx.send(batch).is_ok() {
            return Ok(());
        }
        // The writer hung up: it failed (or died). Its error is this write's.
        match self.join() {
            Err(e) => Err(e),
            Ok(()) => Err(thread_died()),
        }
    }

    /// Sends the buffered bytes, if any, and takes a fresh buffer (a written one when the
    /// writer has handed one back).
    fn send_buffer(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let next = match self.writer.as_ref().map(|w| w.recycle.try_recv()) {
            Some(Ok(mut b)) => {
                b.clear();
                b
            }
            _ => Vec::with_capacity(WRITE_BATCH),
        };
        let full = std::mem::replace(&mut self.buf, next);
        self.hand_over(full)
    }

    fn finish(&mut self) -> Result<u64, StoreError> {
        let t = self.target;
        let rel = self.rel.clone();
        self.send_buffer()
            .and_then(|()| self.join())
            .map_err(|e| t.io_err("write", &rel, e))?;
        let found = t
            .client
            .stat(&self.tmp_url)
            .map_err(|e| t.err("stat", &rel, e))?
            .size;
        StoreError::check_size(&t.name, &rel, self.written, found)?;
        // libsmbclient's rename deletes an existing destination first: refuse it here.
        if t.stat_raw(&rel)?.is_some() {
            return Err(StoreError::AlreadyExists {
                target: t.name.clone(),
                path: rel,
            });
        }
        t.client
            .rename(self.tmp_url.as_str(), self.final_url.as_str())
            .map_err(|e| t.err("rename into place", &rel, e))?;
        Ok(found)
    }
}

fn thread_died() -> io::Error {
    io::Error::other("the SMB upload thread stopped unexpectedly")
}

impl Write for SmbUpload<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.check()?;
        if data.is_empty() {
            return Ok(0);
        }
        let n = data.len().min(WRITE_BATCH - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= WRITE_BATCH {
            self.send_buffer()?;
        }
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buffer()?;
        // Taken by the writer only once every batch before it is written.
        self.hand_over(Vec::new())
    }
}

impl Upload for SmbUpload<'_> {
    fn commit(mut self: Box<Self>) -> Result<u64, StoreError> {
        if let Some((kind, msg)) = self.failed.clone() {
            return Err(self
                .target
                .io_err("write", &self.rel, io::Error::new(kind, msg)));
        }
        let r = self.finish();
        // On failure Drop removes the temporary file.
        self.committed = r.is_ok();
        r
    }
}

impl Drop for SmbUpload<'_> {
    fn drop(&mut self) {
        if !self.committed {
            // Closes the file first (the writer stops after the batch it is writing).
            let _ = self.join();
            self.target.discard(&self.tmp_url);
        }
    }
}
