//! Uploads to an SMB share, written by threads of their own.
//!
//! Each `smbc_write` is synchronous: one request and its answer, a full network round trip,
//! during which the caller waits. Written from the thread that also compresses and encrypts,
//! every round trip stopped the whole backup (measured through a 20 ms round trip: 0.24 of
//! `smbclient put`'s rate, docs/BENCHMARKS.md). So an upload hands its data, in batches of
//! [`WRITE_BATCH`] bytes, each with its offset in the file, to writer threads (lanes), and the
//! caller goes on filling the next batch meanwhile.
//!
//! - Lanes: the first one owns the open temporary file in this process. Once the caller has
//!   had to wait for a free lane long enough (the network, not the backup, is the
//!   bottleneck: [`WAITED_ENOUGH`], [`WAITED_SHARE`]), up to [`helper::CONNECTIONS_ENV`] − 1
//!   more lanes start, each driving a helper process with its own connection (`helper.rs`:
//!   pavao allows one request in flight per process). Whichever lane is free takes the next
//!   batch. Helpers the target connected ahead of the upload (`warm.rs`: a backup on a slow
//!   link) become lanes as soon as they are connected, from the first full batch on.
//! - Memory: the batch being filled, the one the first lane is writing, and a batch per helper
//!   lane only while the helper reads it (a helper lane hands its batch back once the helper
//!   has it, then waits for the answer), [`MAX_BUFFERS`] in all. The queue is a rendezvous
//!   channel (capacity 0) and written batches come back for reuse.
//! - The first lane opens the temporary file itself (a pavao `SmbFile` cannot move between
//!   threads) and [`SmbUpload`] waits for that open, so `Store::create` fails as before.
//! - Errors: a lane stops at its first failed write and records it; the next `write` (or
//!   `flush`, or `commit`) of the upload returns it (the original `io::Error` the first time,
//!   its kind and message afterwards), so a failed write is never taken for a success. A
//!   panic of a lane, and a helper that exits, are errors too.
//! - `flush` waits until every batch handed over so far is answered (written on the server).
//! - Every lane is joined (its file closed, its helper exited) before the temporary file is
//!   checked, renamed or, when the upload is dropped without commit, deleted. On commit the
//!   first lane asks the server for the file's size on its open handle, after the helpers
//!   exited and before it closes the file: one request instead of a `stat` of five.

use super::helper::{self, Hello, Helper, Starting};
use super::{SmbStore, WRITE_BATCH};
use crate::store::{StoreError, Upload};
use pavao::{SmbClient, SmbError, SmbOpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Helpers start only once the caller has waited this long in all for a free lane ...
const WAITED_ENOUGH: Duration = Duration::from_millis(100);
/// ... and that was at least this share of the upload's time so far. On loopback (and a LAN)
/// the one connection keeps up and helpers would only cost CPU (7 % slower there); through a
/// 20 ms round trip they made the backup 14 % faster (docs/BENCHMARKS.md, fifth pass).
const WAITED_SHARE: f64 = 0.1;

/// Batch buffers of an upload: the one being filled and those the lanes hold. A lane holds
/// one while it writes it (the first lane: a round trip) or while its helper reads it (a pipe:
/// quick), then hands it back. Without a cap each lane busy when the caller needed a buffer
/// made one more: a backup through a 10 ms proxy with three lanes peaked at 67 MiB (issue 12's
/// target is 64; docs/BENCHMARKS.md, seventh pass).
const MAX_BUFFERS: usize = 3;

/// Bytes to write at an offset of the temporary file.
struct Batch {
    offset: u64,
    data: Vec<u8>,
}

/// The batches, taken by whichever lane is free. Only the lanes hold it, so that once every
/// lane has stopped, handing over a batch fails instead of waiting for ever.
type Queue = Mutex<Receiver<Batch>>;

/// The next batch, or `None` once the caller has hung up.
fn next(queue: &Queue) -> Option<Batch> {
    queue.lock().unwrap_or_else(|p| p.into_inner()).recv().ok()
}

/// What the caller and the lanes share.
struct Shared {
    state: Mutex<State>,
    answered: Condvar,
    /// Helpers still starting, stopped when the upload is done first.
    starting: Starting,
}

#[derive(Default)]
struct State {
    /// Batches handed over and not yet answered.
    pending: usize,
    /// The first failure of any lane.
    failed: Option<(io::ErrorKind, String)>,
    /// The file's size as the server gives it, asked by the first lane once every lane is
    /// done and before it closes the file.
    measured: Option<u64>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A lane is done with a batch: written, or failed with `r`.
    fn answer(&self, r: &io::Result<()>) {
        let mut s = self.state();
        s.pending = s.pending.saturating_sub(1);
        if let Err(e) = r {
            s.failed.get_or_insert((e.kind(), e.to_string()));
        }
        self.answered.notify_all();
    }
}

/// One way to write a batch: the file open in this process, or a helper process.
trait Lane {
    /// Writes (or hands over) `data` at `offset`; the caller may reuse `data` afterwards.
    fn send(&mut self, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Waits until the last batch sent is written.
    fn settle(&mut self) -> io::Result<()>;
}

impl Lane for pavao::SmbFile<'_> {
    fn send(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.seek(SeekFrom::Start(offset))?;
        self.write_all(data)
    }
    fn settle(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Lane for Helper {
    fn send(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        Helper::send(self, offset, data)
    }
    fn settle(&mut self) -> io::Result<()> {
        Helper::settle(self)
    }
}

/// A lane's loop: takes batches until the caller hangs up or a write fails.
fn run_lane(
    lane: &mut dyn Lane,
    queue: &Queue,
    shared: &Shared,
    recycle: &Sender<Vec<u8>>,
) -> io::Result<()> {
    /// A batch taken and not yet answered: answered as failed if the lane panics, so that
    /// `flush` does not wait for it forever.
    struct Taken<'a>(&'a Shared, bool);
    impl Taken<'_> {
        fn answer(mut self, r: &io::Result<()>) {
            self.1 = true;
            self.0.answer(r);
        }
    }
    impl Drop for Taken<'_> {
        fn drop(&mut self) {
            if !self.1 {
                self.0.answer(&Err(thread_died()));
            }
        }
    }
    while let Some(batch) = next(queue) {
        let taken = Taken(shared, false);
        let sent = lane.send(batch.offset, &batch.data);
        let _ = recycle.send(batch.data);
        let r = sent.and_then(|()| lane.settle());
        taken.answer(&r);
        r?;
    }
    Ok(())
}

/// The first lane: opens `url` (reporting the outcome on `opened`), then writes batches; at
/// the end, when told on `measure` (every other lane is done), asks the server for the
/// file's size on the open handle: one request, where a `stat` after the close is about five
/// (each a round trip on a remote share).
fn first_lane(
    client: &SmbClient,
    url: &str,
    opened: SyncSender<Result<(), SmbError>>,
    measure: Receiver<()>,
    queue: &Queue,
    shared: &Shared,
    recycle: &Sender<Vec<u8>>,
) -> io::Result<()> {
    let options = SmbOpenOptions::default()
        .read(true)
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
    run_lane(&mut file, queue, shared, recycle)?;
    if measure.recv().is_ok() {
        let size = file.seek(SeekFrom::End(0))?;
        shared.state().measured = Some(size);
    }
    // Closes the file (pavao ignores errors of close: `finish` checks the size).
    drop(file);
    Ok(())
}

/// How a helper lane gets its helper.
enum Start {
    /// Starts one for the file (`Hello` with its URL).
    Fresh(&'static Path, Hello),
    /// A warm helper, connected ahead (`warm.rs`), opens the file at this URL.
    Warm(Helper, String),
}

/// A helper lane: starts the helper or has a warm one open the file (left out, `Ok`, if it
/// cannot), then writes batches.
fn helper_lane(
    start: Start,
    queue: &Queue,
    shared: &Shared,
    recycle: &Sender<Vec<u8>>,
) -> io::Result<()> {
    let mut h = match start {
        Start::Fresh(program, hello) => match Helper::start(program, &hello, &shared.starting) {
            Ok(h) => h,
            Err(_) => return Ok(()),
        },
        Start::Warm(mut h, url) => match h.open(&url, &shared.starting) {
            Ok(()) => h,
            Err(_) => {
                h.abandon();
                return Ok(());
            }
        },
    };
    match run_lane(&mut h, queue, shared, recycle) {
        Ok(()) => h.finish(),
        Err(e) => {
            h.abandon();
            Err(e)
        }
    }
}

/// An upload: a temporary file next to the final name, renamed into place by `commit`.
pub(super) struct SmbUpload<'a> {
    target: &'a SmbStore,
    rel: String,
    final_url: String,
    tmp_url: String,
    shared: Arc<Shared>,
    /// The lanes' queue, for helper lanes started later (gone once every lane has stopped).
    queue: Weak<Queue>,
    /// `None` once the lanes are joined (finished, or failed).
    tx: Option<SyncSender<Batch>>,
    /// Tells the first lane to measure the file before closing it (dropped: close only).
    measure: Option<SyncSender<()>>,
    lanes: Vec<JoinHandle<io::Result<()>>>,
    /// Fresh helpers were started (once per upload).
    helpers_started: bool,
    /// When the upload started, and how long the caller has waited for a free lane.
    started: Instant,
    waited: Duration,
    recycle_tx: Sender<Vec<u8>>,
    recycle: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    /// Batch buffers made so far (at most [`MAX_BUFFERS`], unless a lane stopped holding one).
    buffers: usize,
    /// Bytes handed over to the lanes.
    sent: u64,
    /// Bytes accepted from the caller (buffered or sent).
    written: u64,
    /// The first write error: every later write and the commit fail with it.
    failed: Option<(io::ErrorKind, String)>,
    committed: bool,
}

impl<'a> SmbUpload<'a> {
    /// Starts the first lane, which creates `tmp_url` (exclusively), and waits for that.
    pub(super) fn start(
        target: &'a SmbStore,
        rel: &str,
        final_url: String,
        tmp_url: String,
    ) -> Result<SmbUpload<'a>, StoreError> {
        let (tx, rx) = mpsc::sync_channel::<Batch>(0);
        let (recycle_tx, recycle) = mpsc::channel();
        let (opened_tx, opened) = mpsc::sync_channel(1);
        let (measure_tx, measure) = mpsc::sync_channel(1);
        let queue = Arc::new(Mutex::new(rx));
        let weak_queue = Arc::downgrade(&queue);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            answered: Condvar::new(),
            starting: Starting::default(),
        });
        let client = Arc::clone(&target.client);
        let url = tmp_url.clone();
        let lane_shared = Arc::clone(&shared);
        let lane_recycle = recycle_tx.clone();
        let thread = std::thread::Builder::new()
            .name("smb-upload".into())
            .spawn(move || {
                first_lane(
                    &client,
                    &url,
                    opened_tx,
                    measure,
                    &queue,
                    &lane_shared,
                    &lane_recycle,
                )
            })
            .map_err(|e| target.io_err("create", rel, e))?;
        let open = opened.recv();
        if !matches!(open, Ok(Ok(()))) {
            drop(tx);
            let joined = thread.join();
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
            shared,
            queue: weak_queue,
            tx: Some(tx),
            measure: Some(measure_tx),
            lanes: vec![thread],
            helpers_started: false,
            started: Instant::now(),
            waited: Duration::ZERO,
            recycle_tx,
            recycle,
            buf: Vec::with_capacity(WRITE_BATCH),
            buffers: 1,
            sent: 0,
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

    /// Records and returns the first failure of a lane, if any.
    fn lane_failure(&mut self) -> io::Result<()> {
        if let Some(f) = self.shared.state().failed.clone() {
            self.failed.get_or_insert(f);
        }
        self.check()
    }

    /// Adds helper lanes, up to [`helper::CONNECTIONS_ENV`] − 1: warm helpers of the target
    /// as soon as they are connected (`warm.rs`); fresh ones, once, when none is still
    /// connecting there and the caller has waited for a free lane long enough
    /// ([`WAITED_ENOUGH`]) and for a large enough share of the upload ([`WAITED_SHARE`]), or
    /// right away (from the second batch) when the number of connections was set.
    fn maybe_start_helpers(&mut self) {
        let wanted = self.target.connections.max.saturating_sub(1);
        // The first lane is not a helper.
        if self.lanes.len() > wanted || self.tx.is_none() {
            return;
        }
        let Some(queue) = self.queue.upgrade() else {
            return;
        };
        while self.lanes.len() <= wanted {
            let Some(h) = self.target.warm.take() else {
                break;
            };
            self.spawn_lane(Start::Warm(h, self.tmp_url.clone()), &queue);
        }
        let waited_enough = self.waited >= WAITED_ENOUGH
            && self.waited.as_secs_f64() >= WAITED_SHARE * self.started.elapsed().as_secs_f64();
        if self.helpers_started
            || self.lanes.len() > wanted
            || self.target.warm.connecting()
            || !(self.target.connections.eager || waited_enough)
        {
            return;
        }
        self.helpers_started = true;
        let Some(program) = helper::program() else {
            return;
        };
        while self.lanes.len() <= wanted {
            let hello = Hello::new(
                &self.target.unc,
                self.target.credentials.as_ref(),
                Some(&self.tmp_url),
            );
            if !self.spawn_lane(Start::Fresh(program, hello), &queue) {
                break;
            }
        }
    }

    /// Starts a helper lane's thread; `false` when the thread cannot start.
    fn spawn_lane(&mut self, start: Start, queue: &Arc<Queue>) -> bool {
        let queue = Arc::clone(queue);
        let shared = Arc::clone(&self.shared);
        let recycle = self.recycle_tx.clone();
        let i = self.lanes.len();
        match std::thread::Builder::new()
            .name(format!("smb-upload-{i}"))
            .spawn(move || helper_lane(start, &queue, &shared, &recycle))
        {
            Ok(t) => {
                self.lanes.push(t);
                true
            }
            Err(_) => false,
        }
    }

    /// Joins the lanes and returns what ended them: `Ok` when they wrote everything and
    /// closed the file, else the first error (kept for every later call). With `measure`,
    /// and when every helper lane succeeded, the first lane measures the file before it
    /// closes it (into `State::measured`).
    fn join(&mut self, measure: bool) -> io::Result<()> {
        if self.tx.take().is_none() {
            return self.check();
        }
        self.shared.starting.close();
        let mut first = None;
        let mut lanes = std::mem::take(&mut self.lanes).into_iter();
        let first_lane = lanes.next();
        // The helpers first: the size is measured once every write is answered.
        for t in lanes {
            let r = t.join().unwrap_or_else(|_| Err(thread_died()));
            if let Err(e) = r {
                first.get_or_insert(e);
            }
        }
        // Told, or hung up on (dropped here, before the join): the first lane then just
        // closes the file.
        if let Some(tell) = self.measure.take() {
            if measure && first.is_none() && self.shared.state().failed.is_none() {
                let _ = tell.send(());
            }
        }
        if let Some(t) = first_lane {
            if let Err(e) = t.join().unwrap_or_else(|_| Err(thread_died())) {
                first.get_or_insert(e);
            }
        }
        // A lane's failure as it happened comes first (the others may fail after it).
        self.lane_failure()?;
        if let Some(e) = first {
            self.failed = Some((e.kind(), e.to_string()));
            return Err(e);
        }
        Ok(())
    }

    /// Hands `data` (the bytes at offset `self.sent`) to the lanes. Fails with a lane's
    /// error when one has failed.
    fn hand_over(&mut self, data: Vec<u8>) -> io::Result<()> {
        self.lane_failure()?;
        let Some(tx) = self.tx.as_ref() else {
            return Err(io::Error::other("upload already finished"));
        };
        let len = data.len() as u64;
        self.shared.state().pending += 1;
        let batch = Batch {
            offset: self.sent,
            data,
        };
        let sent = match tx.try_send(batch) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(batch)) => {
                // No lane is free: the network, not the backup, is the bottleneck.
                let t = Instant::now();
                let r = tx.send(batch).map_err(|_| ());
                self.waited += t.elapsed();
                r
            }
            Err(TrySendError::Disconnected(_)) => Err(()),
        };
        if sent.is_ok() {
            self.sent += len;
            return Ok(());
        }
        // Every lane hung up: they failed (or died). Their error is this write's.
        self.shared.answer(&Ok(()));
        match self.join(false) {
            Err(e) => Err(e),
            Ok(()) => Err(thread_died()),
        }
    }

    /// Hands the buffered bytes, if any, to the lanes; the next write takes a buffer
    /// ([`SmbUpload::next_buffer`]).
    fn send_buffer(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let full = std::mem::take(&mut self.buf);
        self.hand_over(full)
    }

    /// A buffer for the next batch: one a lane handed back, a new one while fewer than
    /// [`MAX_BUFFERS`] exist, else the next one a lane hands back (waiting for it counts as
    /// waiting for the network).
    fn next_buffer(&mut self) -> io::Result<Vec<u8>> {
        let reuse = |mut b: Vec<u8>| {
            b.clear();
            b
        };
        if let Ok(b) = self.recycle.try_recv() {
            return Ok(reuse(b));
        }
        if self.buffers >= MAX_BUFFERS {
            let t = Instant::now();
            loop {
                match self.recycle.recv_timeout(Duration::from_millis(50)) {
                    Ok(b) => {
                        self.waited += t.elapsed();
                        return Ok(reuse(b));
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        self.lane_failure()?;
                        // Every lane hands back what it took; one that stopped without
                        // (a panic) must not leave this waiting for ever.
                        if self.lanes.iter().all(JoinHandle::is_finished) {
                            break;
                        }
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
        }
        self.buffers += 1;
        Ok(Vec::with_capacity(WRITE_BATCH))
    }

    fn finish(&mut self) -> Result<u64, StoreError> {
        let t = self.target;
        let rel = self.rel.clone();
        self.send_buffer()
            .and_then(|()| self.join(true))
            .map_err(|e| t.io_err("write", &rel, e))?;
        // Lanes that all succeeded leave the size measured (`join`).
        let measured = self.shared.state().measured;
        let found = measured.ok_or_else(|| t.io_err("write", &rel, thread_died()))?;
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
        if self.buf.capacity() == 0 {
            self.buf = self.next_buffer()?;
        }
        let n = data.len().min(WRITE_BATCH - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= WRITE_BATCH {
            self.send_buffer()?;
            // Not from `flush` or `commit`: a file of one batch never starts a helper.
            self.maybe_start_helpers();
        }
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buffer()?;
        let shared = Arc::clone(&self.shared);
        let mut s = shared.state();
        while s.pending > 0 && s.failed.is_none() {
            s = shared.answered.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        drop(s);
        self.lane_failure()
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
            // Closes the file first (each lane stops after the batch it is writing).
            let _ = self.join(false);
            self.target.discard(&self.tmp_url);
        }
    }
}
