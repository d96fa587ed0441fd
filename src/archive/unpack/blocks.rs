//! The queue between [`unpack`](super::unpack)'s two threads: blocks of a stream, in order,
//! with an error queued where it occurred.

use std::io::{self, BufRead, Read};

use super::BLOCK;

/// One block of a stream (`.1` bytes of `.0` are data), or the error that ended it.
pub(super) type Block = io::Result<(Vec<u8>, usize)>;

/// A producing stage: fills blocks from `dec` and queues them until the end of the stream, an
/// error (queued too, for the next stage to report where it reads it), or until the next
/// stage hangs up.
pub(super) fn decode_blocks<D: Read>(
    mut dec: D,
    tx: &std::sync::mpsc::SyncSender<Block>,
    recycle: &std::sync::mpsc::Receiver<Vec<u8>>,
) {
    loop {
        let mut buf = recycle.try_recv().unwrap_or_else(|_| vec![0u8; BLOCK]);
        let (filled, error) = crate::read_full::read_full(&mut dec, &mut buf);
        if filled > 0 && tx.send(Ok((buf, filled))).is_err() {
            return;
        }
        if let Some(e) = error {
            let _ = tx.send(Err(e));
            return;
        }
        if filled == 0 {
            return;
        }
    }
}

/// A consuming stage's reader: the queued blocks in order; an error queued by the stage before
/// is returned as is (the first time) where it occurred in the stream.
pub(super) struct BlockReader {
    rx: std::sync::mpsc::Receiver<Block>,
    recycle: std::sync::mpsc::Sender<Vec<u8>>,
    block: Vec<u8>,
    len: usize,
    pos: usize,
    failed: Option<(io::ErrorKind, String)>,
}

impl BlockReader {
    pub(super) fn new(
        rx: std::sync::mpsc::Receiver<Block>,
        recycle: std::sync::mpsc::Sender<Vec<u8>>,
    ) -> Self {
        BlockReader {
            rx,
            recycle,
            block: Vec::new(),
            len: 0,
            pos: 0,
            failed: None,
        }
    }
}

impl Read for BlockReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = buf.len().min(avail.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// zstd reads the queued blocks in place (no copy into a buffer of its own).
impl BufRead for BlockReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if let Some((kind, msg)) = &self.failed {
            return Err(io::Error::new(*kind, msg.clone()));
        }
        while self.pos == self.len {
            match self.rx.recv() {
                Ok(Ok((block, len))) => {
                    let old = std::mem::replace(&mut self.block, block);
                    if !old.is_empty() {
                        let _ = self.recycle.send(old);
                    }
                    self.len = len;
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.failed = Some((e.kind(), e.to_string()));
                    return Err(e);
                }
                Err(_) => return Ok(&[]),
            }
        }
        Ok(&self.block[self.pos..self.len])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.len);
    }
}
