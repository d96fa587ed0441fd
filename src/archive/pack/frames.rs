//! Backup's compression: the tar stream is cut into blocks of [`BLOCK`](super::BLOCK) bytes,
//! each block is compressed into a zstd frame of its own on one of several worker threads, and
//! the frames are written out in order (docs/FORMAT.md §3: a payload is one or more zstd frames
//! one after the other, which every zstd reader reads as one stream).
//!
//! Why not zstd's own worker threads: they copy every input byte into their job buffers first,
//! and the thread that feeds them also had to encrypt, hash and write, so the cores were not
//! kept busy (docs/BENCHMARKS.md). Here the workers compress the reading thread's blocks in
//! place, and the calling thread only writes frames.
//!
//! Memory is bounded: the reading thread may have at most [`in_flight`] blocks out (queued,
//! being compressed, or compressed and waiting for an earlier frame); a block comes back to it
//! only once its frame is written.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};

/// Blocks the reading thread may have out at once, per worker (plus [`QUEUED`]). Two per
/// worker were no faster on the standard data set (2.85–2.92 s against 2.87–2.92 s, 2 cores)
/// and cost 4 MiB more.
const IN_FLIGHT_PER_WORKER: usize = 1;
/// Blocks queued for the workers.
pub(super) const QUEUED: usize = 2;

/// Blocks out at once with `workers` workers.
pub(super) fn in_flight(workers: usize) -> usize {
    workers * IN_FLIGHT_PER_WORKER + QUEUED
}

/// A block of the tar stream and its place in it.
pub(super) type Job = (u64, Vec<u8>);

/// What reaches the writing (calling) thread.
pub(super) enum Done {
    /// Block `seq` (given back, to be reused) compressed into `frame`.
    Frame {
        seq: u64,
        block: Vec<u8>,
        frame: Vec<u8>,
    },
    /// Content bytes read so far (from the reading thread).
    Progress(u64),
    /// A worker could not compress a block (or stopped): the stream cannot be completed.
    Failed(io::Error),
}

/// Output buffers of frames already written, for the workers to reuse.
pub(super) type FramePool = Mutex<Vec<Vec<u8>>>;

/// A compressing worker: takes blocks until the reading thread hangs up (or the writing
/// thread does), compresses each into a frame of its own.
pub(super) fn worker(
    level: i32,
    jobs: Arc<Mutex<Receiver<Job>>>,
    done: Sender<Done>,
    pool: &FramePool,
) {
    // Were this thread to stop without a word, the writing thread would wait for its frame
    // for ever (and the reading thread for its block).
    struct Guard<'a>(&'a Sender<Done>);
    impl Drop for Guard<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                let _ = self.0.send(Done::Failed(io::Error::other(
                    "a compressing thread failed",
                )));
            }
        }
    }
    let _guard = Guard(&done);
    let mut cctx = match zstd::bulk::Compressor::new(level) {
        Ok(c) => c,
        Err(e) => {
            let _ = done.send(Done::Failed(e));
            return;
        }
    };
    loop {
        // (The lock is held only while waiting for the next block.)
        let job = jobs.lock().unwrap_or_else(|e| e.into_inner()).recv();
        let Ok((seq, block)) = job else { return };
        let mut frame = pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default();
        frame.clear();
        frame.reserve(zstd::zstd_safe::compress_bound(block.len()));
        let msg = match cctx.compress_to_buffer(&block[..], &mut frame) {
            Ok(_) => Done::Frame { seq, block, frame },
            Err(e) => Done::Failed(e),
        };
        let failed = matches!(msg, Done::Failed(_));
        if done.send(msg).is_err() || failed {
            return;
        }
    }
}

/// The writing side: writes frames in the order of their blocks, hands blocks back to the
/// reading thread and output buffers to the workers.
pub(super) struct InOrder<'a> {
    next: u64,
    waiting: BTreeMap<u64, (Vec<u8>, Vec<u8>)>,
    recycle: Sender<Vec<u8>>,
    pool: &'a FramePool,
}

impl<'a> InOrder<'a> {
    pub(super) fn new(recycle: Sender<Vec<u8>>, pool: &'a FramePool) -> Self {
        InOrder {
            next: 0,
            waiting: BTreeMap::new(),
            recycle,
            pool,
        }
    }

    /// Takes frame `seq` and writes every frame that is now next in order to `out`.
    pub(super) fn frame(
        &mut self,
        out: &mut impl Write,
        seq: u64,
        block: Vec<u8>,
        frame: Vec<u8>,
    ) -> io::Result<()> {
        self.waiting.insert(seq, (block, frame));
        while let Some((block, frame)) = self.waiting.remove(&self.next) {
            out.write_all(&frame)?;
            self.next += 1;
            // The reading thread may have stopped already; then the block is just dropped.
            let _ = self.recycle.send(block);
            self.pool
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(frame);
        }
        Ok(())
    }

    /// Whether every frame received was written (none waits for a missing one).
    pub(super) fn complete(&self) -> bool {
        self.waiting.is_empty()
    }
}

/// The reading thread's end: fills blocks of `BLOCK` bytes and queues them, numbered.
pub(super) struct Blocks<'a> {
    jobs: SyncSender<Job>,
    pub(super) done: &'a Sender<Done>,
    recycle: Receiver<Vec<u8>>,
    /// Blocks allocated so far, counting the first one (at most `limit`).
    made: usize,
    limit: usize,
    seq: u64,
}

impl<'a> Blocks<'a> {
    pub(super) fn new(
        jobs: SyncSender<Job>,
        done: &'a Sender<Done>,
        recycle: Receiver<Vec<u8>>,
        limit: usize,
    ) -> Self {
        Blocks {
            jobs,
            done,
            recycle,
            made: 1,
            limit,
            seq: 0,
        }
    }

    /// Queues `full` for compression and returns an empty block to fill next: a written one
    /// back from the writing thread, a new one while fewer than the limit exist, or else the
    /// next one written (waiting for it).
    pub(super) fn send(&mut self, full: Vec<u8>) -> io::Result<Vec<u8>> {
        let stopped = || io::Error::new(io::ErrorKind::BrokenPipe, "the compressing side stopped");
        self.jobs.send((self.seq, full)).map_err(|_| stopped())?;
        self.seq += 1;
        if let Ok(b) = self.recycle.try_recv() {
            return Ok(b);
        }
        if self.made < self.limit {
            self.made += 1;
            return Ok(Vec::new());
        }
        self.recycle.recv().map_err(|_| stopped())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames that arrive out of order are written in order, each block goes back to the
    /// reading thread and each output buffer to the pool once its frame is written.
    #[test]
    fn frames_are_written_in_order() {
        let (recycle_tx, recycle_rx) = std::sync::mpsc::channel();
        let pool = FramePool::default();
        let mut in_order = InOrder::new(recycle_tx, &pool);
        let mut out = Vec::new();
        for seq in [2u64, 0, 3, 1] {
            let frame = format!("<{seq}>").into_bytes();
            in_order
                .frame(&mut out, seq, vec![seq as u8], frame)
                .unwrap();
            // Nothing is written past a missing frame.
            let written = String::from_utf8(out.clone()).unwrap();
            match seq {
                2 => assert_eq!(written, ""),
                0 => assert_eq!(written, "<0>"),
                3 => assert_eq!(written, "<0>"),
                _ => assert_eq!(written, "<0><1><2><3>"),
            }
            assert_eq!(in_order.complete(), seq == 1);
        }
        let recycled: Vec<Vec<u8>> = recycle_rx.try_iter().collect();
        assert_eq!(recycled, [[0], [1], [2], [3]]);
        assert_eq!(pool.lock().unwrap().len(), 4);
    }

    /// The reading thread never has more than `limit` blocks out: the block after them has
    /// to be a written one (here the writing side has hung up, so the call fails instead of
    /// waiting for ever).
    #[test]
    fn the_reading_thread_has_at_most_the_limit_of_blocks_out() {
        let limit = in_flight(2);
        let (jobs_tx, jobs_rx) = std::sync::mpsc::sync_channel(100);
        let (done, _done_rx) = std::sync::mpsc::channel();
        let (recycle_tx, recycle_rx) = std::sync::mpsc::channel();
        let mut blocks = Blocks::new(jobs_tx, &done, recycle_rx, limit);
        // The first block is the reader's own; each send hands one out and takes a new one.
        for i in 1..limit {
            assert!(blocks.send(vec![0; 4]).is_ok(), "block {i} of {limit}");
        }
        // One block written comes back and is reused, not a new one made.
        recycle_tx.send(vec![7]).unwrap();
        assert_eq!(blocks.send(vec![0; 4]).unwrap(), [7]);
        drop(recycle_tx);
        let e = blocks.send(vec![0; 4]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
        // Every block was queued, numbered in order.
        let seqs: Vec<u64> = jobs_rx.try_iter().map(|(seq, _)| seq).collect();
        assert_eq!(seqs, (0..limit as u64 + 1).collect::<Vec<_>>());
    }

    /// A worker compresses each block into a frame of its own that decodes to the block; with
    /// its queue closed it stops.
    #[test]
    fn a_worker_makes_one_frame_per_block() {
        let (jobs_tx, jobs_rx) = std::sync::mpsc::sync_channel(4);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let pool = FramePool::default();
        let blocks: Vec<Vec<u8>> = (0..3u8).map(|i| vec![i; 100_000]).collect();
        for (seq, b) in blocks.iter().enumerate() {
            jobs_tx.send((seq as u64, b.clone())).unwrap();
        }
        drop(jobs_tx);
        worker(3, Arc::new(Mutex::new(jobs_rx)), done_tx, &pool);
        let mut n = 0;
        for msg in done_rx.iter() {
            let Done::Frame { seq, block, frame } = msg else {
                panic!("not a frame")
            };
            assert_eq!(block, blocks[seq as usize]);
            let len = zstd::zstd_safe::find_frame_compressed_size(&frame).unwrap();
            assert_eq!(len, frame.len(), "one whole frame");
            assert_eq!(zstd::decode_all(&frame[..]).unwrap(), block);
            n += 1;
        }
        assert_eq!(n, 3);
    }
}
