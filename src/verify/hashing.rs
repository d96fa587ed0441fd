//! [`HashingReader`]: reads a file of the target in blocks and hashes them (SHA-256) on a
//! thread of its own while the caller decrypts them.
//!
//! Hashing on the reading thread made SHA-256 a quarter of a `verify --key`'s CPU, all of it
//! on the thread that also decrypts, which was then the slowest stage (docs/BENCHMARKS.md,
//! fourth pass). Here each block is read once into a shared buffer, handed to the hashing
//! thread and served to the caller from the same buffer; at most [`BLOCKS`] buffers exist, and
//! one is reused only once both sides are done with it.

use sha2::{Digest, Sha256};
use std::io::{self, Read};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;

/// Bytes read from the target at a time.
const BLOCK: usize = 1 << 20;
/// Blocks at most (being hashed, being read by the caller, or free).
const BLOCKS: usize = 4;

/// Reads `inner` in blocks, hashes everything read with SHA-256 (on a thread of its own) and
/// counts it, and reports the count (every block and at the end) to an optional callback.
/// [`HashingReader::finish`] reads to the end and gives the SHA-256 and length of the whole
/// input.
pub struct HashingReader<'p, R> {
    inner: R,
    /// Bytes read from `inner` so far.
    bytes: u64,
    on_read: Option<&'p mut dyn FnMut(u64)>,
    blocks: Vec<Arc<Vec<u8>>>,
    /// The block being served, its length and how much of it was served.
    current: usize,
    len: usize,
    pos: usize,
    eof: bool,
    /// A read error that came after some bytes of a block: returned once they were served.
    pending: Option<io::Error>,
    hasher: Option<Hasher>,
}

struct Hasher {
    tx: Sender<(Arc<Vec<u8>>, usize)>,
    /// One message each time the thread let go of a block.
    released: Receiver<()>,
    thread: std::thread::JoinHandle<[u8; 32]>,
}

impl Hasher {
    fn start() -> io::Result<Hasher> {
        let (tx, rx) = std::sync::mpsc::channel::<(Arc<Vec<u8>>, usize)>();
        let (released_tx, released) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sha256".into())
            .spawn(move || {
                let mut hash = Sha256::new();
                for (block, len) in rx {
                    hash.update(&block[..len]);
                    drop(block);
                    let _ = released_tx.send(());
                }
                hash.finalize().into()
            })?;
        Ok(Hasher {
            tx,
            released,
            thread,
        })
    }
}

fn hasher_stopped() -> io::Error {
    io::Error::other("the hashing thread stopped")
}

impl<'p, R: Read> HashingReader<'p, R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            bytes: 0,
            on_read: None,
            blocks: Vec::new(),
            current: 0,
            len: 0,
            pos: 0,
            eof: false,
            pending: None,
            hasher: None,
        }
    }

    /// Like [`HashingReader::new`], reporting the bytes read so far to `on_read`.
    pub fn with_progress(inner: R, on_read: &'p mut dyn FnMut(u64)) -> Self {
        HashingReader {
            on_read: Some(on_read),
            ..HashingReader::new(inner)
        }
    }

    /// Reads the rest of the input (without serving it) and returns the SHA-256 of all of it,
    /// in hex, and its length.
    pub fn finish(mut self) -> io::Result<(String, u64)> {
        self.pos = self.len;
        while !self.eof || self.pending.is_some() {
            if let Some(e) = self.pending.take() {
                return Err(e);
            }
            self.fill()?;
            self.pos = self.len;
        }
        // (At least one block was filled, so the hashing thread runs.)
        let hasher = self.hasher.take().ok_or_else(hasher_stopped)?;
        drop(hasher.tx);
        let digest = hasher.thread.join().map_err(|_| hasher_stopped())?;
        Ok((hex::encode(digest), self.bytes))
    }

    /// A block no one uses any more (waiting for the hashing thread to let go of one when
    /// all [`BLOCKS`] are out).
    fn free_block(&mut self) -> io::Result<usize> {
        loop {
            if let Some(i) = self.blocks.iter().position(|b| Arc::strong_count(b) == 1) {
                return Ok(i);
            }
            if self.blocks.len() < BLOCKS {
                self.blocks.push(Arc::new(vec![0; BLOCK]));
                return Ok(self.blocks.len() - 1);
            }
            let hasher = self.hasher.as_ref().ok_or_else(hasher_stopped)?;
            hasher.released.recv().map_err(|_| hasher_stopped())?;
        }
    }

    /// Reads the next block (as much of it as the input has) and hands it to the hashing
    /// thread.
    fn fill(&mut self) -> io::Result<()> {
        if self.hasher.is_none() {
            self.hasher = Some(Hasher::start()?);
        }
        let i = self.free_block()?;
        let block = Arc::get_mut(&mut self.blocks[i]).expect("a free block is not shared");
        let (n, error) = crate::read_full::read_full(&mut self.inner, block);
        match error {
            Some(e) if n == 0 => return Err(e),
            Some(e) => self.pending = Some(e),
            None => self.eof = n < block.len(),
        }
        (self.current, self.len, self.pos) = (i, n, 0);
        self.bytes += n as u64;
        if n > 0 {
            let tx = &self.hasher.as_ref().ok_or_else(hasher_stopped)?.tx;
            tx.send((self.blocks[i].clone(), n))
                .map_err(|_| hasher_stopped())?;
        }
        if let Some(f) = self.on_read.as_mut() {
            f(self.bytes);
        }
        Ok(())
    }
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.len {
            if let Some(e) = self.pending.take() {
                return Err(e);
            }
            if self.eof || buf.is_empty() {
                return Ok(0);
            }
            self.fill()?;
        }
        let avail = &self.blocks[self.current][self.pos..self.len];
        let n = buf.len().min(avail.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads of every size give the input back and its SHA-256, across block boundaries, and
    /// `finish` hashes what was not read too.
    #[test]
    fn serves_the_input_and_hashes_all_of_it() {
        let data: Vec<u8> = (0..3 * BLOCK + 12345)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let want = hex::encode(Sha256::digest(&data));
        let len = data.len() as u64;
        for piece in [1usize, 4096, 65536 + 16, BLOCK, 5 * BLOCK] {
            let mut r = HashingReader::new(&data[..]);
            let mut got = Vec::new();
            let mut buf = vec![0u8; piece];
            // Read a little more than half (at least a byte), then let finish read the rest.
            while got.len() < data.len() / 2 + 1 {
                let n = r.read(&mut buf).unwrap();
                assert!(n > 0);
                got.extend_from_slice(&buf[..n]);
            }
            assert!(got[..] == data[..got.len()], "piece {piece}");
            assert_eq!(r.finish().unwrap(), (want.clone(), len), "piece {piece}");
        }
        let mut r = HashingReader::new(&data[..]);
        let mut all = Vec::new();
        r.read_to_end(&mut all).unwrap();
        assert!(all == data);
        assert_eq!(r.bytes, len);
        assert_eq!(r.finish().unwrap(), (want, len));
        let empty = HashingReader::new(&[][..]).finish().unwrap();
        assert_eq!(empty, (hex::encode(Sha256::digest(b"")), 0));
    }

    /// An error after part of a block is returned once the bytes before it were served.
    #[test]
    fn an_error_comes_after_the_bytes_before_it() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::new(io::ErrorKind::ConnectionReset, "gone"));
                }
                let n = buf.len().min(self.0).min(1000);
                buf[..n].fill(b'x');
                self.0 -= n;
                Ok(n)
            }
        }
        let mut r = HashingReader::new(Failing(2500));
        let mut got = Vec::new();
        let e = r.read_to_end(&mut got).unwrap_err();
        assert_eq!(
            (got.len(), e.kind()),
            (2500, io::ErrorKind::ConnectionReset)
        );
        let e = HashingReader::new(Failing(10)).finish().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
    }
}
