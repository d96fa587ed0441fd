//! Small files are written by a thread of their own while the extracting thread parses and
//! checks the entries after them (docs/BENCHMARKS.md: with many small files, creating and
//! closing them is most of a restore's work).
//!
//! Every check stays on the extracting thread, in archive order: an entry reaches the writer
//! only after its name was checked against every entry before it, and its parent directory is
//! an open handle, so the writer's work is the same `O_CREAT | O_EXCL` creation as before.
//! The writer stops at its first error; [`FileWriter::finish`] returns it, and the extracting
//! side reports it before any error of its own (it belongs to an earlier entry).

use super::dest::write_small;
use super::read_or_write_err;
use crate::error::{Error, Result};
use cap_std::fs::Dir;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::mpsc::{channel, sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::{Scope, ScopedJoinHandle};

/// Files of up to this many bytes go to the writer (their data is copied into a batch);
/// larger ones are written by the extracting thread itself.
pub(super) const SMALL_FILE: u64 = 256 << 10;
/// A batch is handed over once it holds this many bytes of data ...
const BATCH_BYTES: usize = 512 << 10;
/// ... or this many files ...
const BATCH_FILES: usize = 512;
/// ... or files in this many directories: each job holds its parent directory open until its
/// file is written, and an archive of one file per directory must not run into the limit on
/// open files (often 1024, sometimes far less; the old one-thread restore held one directory).
/// With one batch queued, one being written and one being filled, the writer holds at most
/// 3 × BATCH_DIRS directories open and 3 × (BATCH_BYTES + SMALL_FILE) of memory.
const BATCH_DIRS: usize = 16;

/// One file: where it goes and where its data ends in the batch's `data`.
struct Job {
    parent: Arc<Dir>,
    name: PathBuf,
    shown: String,
    mode: u32,
    mtime: u64,
    end: usize,
}

#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    jobs: Vec<Job>,
    /// Distinct parent directories among `jobs` (counted where the parent changes: entries
    /// come in directory order).
    dirs: usize,
}

/// The extracting thread's end of the writer.
pub(super) struct FileWriter<'scope> {
    tx: Option<SyncSender<Batch>>,
    recycle: Receiver<Batch>,
    thread: Option<ScopedJoinHandle<'scope, Result<()>>>,
    batch: Batch,
}

/// Writes the batches' files in order until the channel closes or a file fails.
fn write_batches(rx: Receiver<Batch>, recycle: std::sync::mpsc::Sender<Batch>) -> Result<()> {
    for mut batch in rx {
        let mut start = 0;
        for job in batch.jobs.drain(..) {
            let data = &batch.data[start..job.end];
            write_small(
                &job.parent,
                &job.name,
                data,
                &job.shown,
                job.mode,
                job.mtime,
            )?;
            start = job.end;
            crate::testhook::point("unpack.file-written");
        }
        batch.data.clear();
        batch.dirs = 0;
        // The extracting side may have finished already.
        let _ = recycle.send(batch);
    }
    Ok(())
}

impl<'scope> FileWriter<'scope> {
    /// Starts the writer thread in `scope`.
    pub(super) fn start<'env>(scope: &'scope Scope<'scope, 'env>) -> Result<Self> {
        let (tx, rx) = sync_channel::<Batch>(1);
        let (recycle_tx, recycle) = channel();
        let thread = std::thread::Builder::new()
            .name("unpack-write".into())
            .spawn_scoped(scope, move || write_batches(rx, recycle_tx))
            .map_err(|e| Error::io("starting the file-writing thread".to_string(), e))?;
        Ok(FileWriter {
            tx: Some(tx),
            recycle,
            thread: Some(thread),
            batch: Batch::default(),
        })
    }

    /// Reads the `size` bytes of a regular file's entry (at most [`SMALL_FILE`]) and queues
    /// the file. Returns the bytes read.
    pub(super) fn add(
        &mut self,
        parent: &Arc<Dir>,
        name: PathBuf,
        shown: String,
        (mode, mtime): (u32, u64),
        (entry, size): (&mut impl Read, u64),
    ) -> Result<u64> {
        let before = self.batch.data.len();
        let size = size.min(SMALL_FILE) as usize;
        // Exactly the entry's bytes into the batch (read_to_end would clear its spare
        // capacity, 8 KiB or more, for every file).
        self.batch.data.resize(before + size, 0);
        if let Err(e) = entry.read_exact(&mut self.batch.data[before..]) {
            self.batch.data.truncate(before);
            return Err(read_or_write_err(&shown, e));
        }
        if self
            .batch
            .jobs
            .last()
            .is_none_or(|j| !Arc::ptr_eq(&j.parent, parent))
        {
            self.batch.dirs += 1;
        }
        self.batch.jobs.push(Job {
            parent: Arc::clone(parent),
            name,
            shown,
            mode,
            mtime,
            end: self.batch.data.len(),
        });
        if self.batch.data.len() >= BATCH_BYTES
            || self.batch.jobs.len() >= BATCH_FILES
            || self.batch.dirs >= BATCH_DIRS
        {
            self.send()?;
        }
        Ok(size as u64)
    }

    /// Hands the batch being filled to the writer.
    fn send(&mut self) -> Result<()> {
        let next = self.recycle.try_recv().unwrap_or_default();
        let full = std::mem::replace(&mut self.batch, next);
        let tx = self.tx.as_ref().expect("sender is kept until finish");
        tx.send(full).map_err(|_| {
            // The writer stopped at an error, which `finish` returns.
            Error::io(
                "restoring".to_string(),
                io::Error::new(io::ErrorKind::BrokenPipe, "the file-writing thread stopped"),
            )
        })
    }

    /// Hands over what is left, waits until every queued file is written, and returns the
    /// writer's first error.
    pub(super) fn finish(mut self) -> Result<()> {
        let sent = if self.batch.jobs.is_empty() {
            Ok(())
        } else {
            self.send()
        };
        drop(self.tx.take());
        let written = match self.thread.take().expect("joined once").join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        written.and(sent)
    }
}
