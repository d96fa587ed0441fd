//! [`read_full`]: fill a buffer from a reader, keeping the bytes read before an error.

use std::io::{self, Read};

/// Reads into `buf` until it is full, the reader is at its end or a read fails (retrying
/// interrupted reads). Returns the bytes read and the error that stopped it, if one did: fewer
/// bytes than `buf.len()` without an error means the end. The bytes before an error are kept,
/// so that a caller can pass them on before the error.
pub fn read_full(r: &mut impl Read, buf: &mut [u8]) -> (usize, Option<io::Error>) {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (n, Some(e)),
        }
    }
    (n, None)
}
