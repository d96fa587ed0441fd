//! The payload of an encrypted file: the chunked AEAD stream (docs/FORMAT.md §4).
//!
//! ```text
//! payload = chunk_0 .. chunk_n, each AES-256-GCM(file key, prefix | u32be i | last flag,
//!           aad = SHA-256(header), plaintext_i) — STREAM (BE32), 64 KiB plaintext per chunk
//! ```
//! Truncation, reordering and tampering are detected; memory is bounded by one chunk.

use super::header::{CryptoError, Header, CHUNK, MAX_RECIPIENTS, NONCE_PREFIX, TAG};
use super::recipients::{Identity, Recipient};
use aead_stream::{NewStream, StreamBE32, StreamPrimitive};
use aes_gcm::aead::KeyInit;
use aes_gcm::Aes256Gcm;
use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use zeroize::Zeroizing;

fn stream_for(key: &[u8; 32], prefix: &[u8; NONCE_PREFIX]) -> StreamBE32<Aes256Gcm> {
    let aead = Aes256Gcm::new_from_slice(key).expect("32-byte key");
    StreamBE32::from_aead(aead, prefix.into())
}

/// Encrypting writer: writes the header, then the STREAM chunks. Call [`Encryptor::finish`].
pub struct Encryptor<W: Write> {
    inner: W,
    stream: StreamBE32<Aes256Gcm>,
    aad: [u8; 32],
    buf: Vec<u8>,
    position: u32,
    plain_bytes: u64,
    /// Set when sealing or writing a chunk failed: every later call fails, so a chunk is
    /// never sealed twice under the same nonce.
    failed: bool,
}

impl<W: Write> Encryptor<W> {
    /// Starts a file for `recipient`: draws a fresh file key and nonce prefix, writes the header.
    pub fn new(recipient: &Recipient, inner: W) -> Result<Encryptor<W>, CryptoError> {
        Self::for_recipients(std::slice::from_ref(recipient), inner)
    }

    /// Starts a file that any one of `recipients` can open (the encryption certificate or key
    /// first, then recovery certificates): one fresh file key, wrapped for each. One recipient
    /// gives a version-1 header, several a version-2 header (docs/FORMAT.md §2).
    pub fn for_recipients(
        recipients: &[Recipient],
        mut inner: W,
    ) -> Result<Encryptor<W>, CryptoError> {
        if recipients.is_empty() || recipients.len() > MAX_RECIPIENTS {
            return Err(CryptoError::Encrypt(format!(
                "a file has 1 to {MAX_RECIPIENTS} recipients, not {}",
                recipients.len()
            )));
        }
        let mut file_key = Zeroizing::new([0u8; 32]);
        let mut nonce_prefix = [0u8; NONCE_PREFIX];
        getrandom::fill(&mut file_key[..]).map_err(|e| CryptoError::Encrypt(e.to_string()))?;
        getrandom::fill(&mut nonce_prefix).map_err(|e| CryptoError::Encrypt(e.to_string()))?;
        let stanzas = recipients
            .iter()
            .map(|r| r.wrap_file_key(&file_key))
            .collect::<Result<Vec<_>, _>>()?;
        let header = Header::new(stanzas, nonce_prefix);
        let raw = header.to_bytes();
        inner
            .write_all(&raw)
            .map_err(|e| CryptoError::Encrypt(format!("writing header: {e}")))?;
        Ok(Self::from_parts(inner, &file_key, &header, &raw))
    }

    /// Builds an encryptor from explicit parts (for test vectors: a fixed file key and nonce
    /// prefix). The header must already be written to `inner`. Only with the `test-support`
    /// feature: files must never be written with a chosen key.
    #[cfg(feature = "test-support")]
    pub fn with_parts(inner: W, file_key: &[u8; 32], header: &Header, raw: &[u8]) -> Self {
        Self::from_parts(inner, file_key, header, raw)
    }

    /// The encryptor for a file whose header `raw` (parsed: `header`) is already written.
    fn from_parts(inner: W, file_key: &[u8; 32], header: &Header, raw: &[u8]) -> Self {
        Encryptor {
            inner,
            stream: stream_for(file_key, &header.nonce_prefix),
            aad: Sha256::digest(raw).into(),
            buf: Vec::with_capacity(CHUNK + TAG),
            position: 0,
            plain_bytes: 0,
            failed: false,
        }
    }

    fn seal(&mut self, last: bool) -> io::Result<()> {
        if self.failed {
            return Err(io::Error::other("an earlier write of this file failed"));
        }
        self.failed = true;
        self.stream
            .encrypt_in_place(self.position, last, &self.aad, &mut self.buf)
            .map_err(|_| CryptoError::Encrypt("AES-GCM failed".into()).into_io())?;
        self.inner.write_all(&self.buf)?;
        self.buf.clear();
        self.failed = false;
        if !last {
            self.position = self
                .position
                .checked_add(1)
                .filter(|p| *p < u32::MAX)
                .ok_or_else(|| CryptoError::Encrypt("file too large".into()).into_io())?;
        }
        Ok(())
    }

    /// Encrypts the last chunk and returns the inner writer and the plaintext length.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        self.seal(true)?;
        self.inner.flush()?;
        Ok((self.inner, self.plain_bytes))
    }
}

impl<W: Write> Write for Encryptor<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::other("an earlier write of this file failed"));
        }
        if data.is_empty() {
            return Ok(0);
        }
        // A full chunk is sealed only once more data follows, so the last chunk is never
        // empty unless the whole plaintext is.
        if self.buf.len() == CHUNK {
            self.seal(false)?;
        }
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        self.plain_bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Decrypting reader. Returns plaintext only after each chunk authenticates; the end of the
/// plaintext is reported only after the last chunk (flag set) authenticates.
pub struct Decryptor<R: Read> {
    inner: R,
    stream: StreamBE32<Aes256Gcm>,
    aad: [u8; 32],
    header: Header,
    /// Index in the header of the recipient whose entry the identity opened.
    opened_by: usize,
    /// Ciphertext read ahead: at most one chunk plus one byte.
    ct: Vec<u8>,
    plain: Vec<u8>,
    plain_pos: usize,
    position: u32,
    done: bool,
    /// The first error: every later read returns it again, and nothing of a chunk that did
    /// not authenticate is ever released.
    failed: Option<(io::ErrorKind, Option<CryptoError>, String)>,
}

impl<R: Read> Decryptor<R> {
    /// Reads the header and unwraps the file key with `identity`.
    pub fn new(mut inner: R, identity: &Identity) -> io::Result<Decryptor<R>> {
        let (header, raw) = Header::read_from(&mut inner)?;
        let (key, opened_by) = identity
            .unwrap_file_key(&header)
            .map_err(CryptoError::into_io)?;
        Ok(Decryptor {
            inner,
            stream: stream_for(&key, &header.nonce_prefix),
            aad: Sha256::digest(&raw).into(),
            header,
            opened_by,
            ct: Vec::with_capacity(CHUNK + TAG + 1),
            plain: Vec::with_capacity(CHUNK + TAG + 1),
            plain_pos: 0,
            position: 0,
            done: false,
            failed: None,
        })
    }

    /// The file's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The id of the recipient (the header's entry) whose wrapped file key the identity opened.
    pub fn opened_by(&self) -> &str {
        &self.header.recipients[self.opened_by].recipient_id
    }

    fn next_chunk(&mut self) -> io::Result<()> {
        // Fill up to one chunk + tag + 1 byte of look-ahead to learn whether this is the last.
        let want = CHUNK + TAG + 1;
        while self.ct.len() < want {
            let old = self.ct.len();
            self.ct.resize(want, 0);
            match self.inner.read(&mut self.ct[old..]) {
                Ok(0) => {
                    self.ct.truncate(old);
                    break;
                }
                Ok(n) => self.ct.truncate(old + n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.ct.truncate(old),
                Err(e) => {
                    self.ct.truncate(old);
                    return Err(e);
                }
            }
        }
        let last = self.ct.len() < want;
        if self.ct.len() < TAG {
            return Err(CryptoError::Truncated.into_io());
        }
        let take = if last { self.ct.len() } else { CHUNK + TAG };
        // The chunk becomes `plain` by a swap of the buffers, not a copy; only the look-ahead
        // byte (if any) goes back to `ct`.
        std::mem::swap(&mut self.plain, &mut self.ct);
        self.ct.clear();
        self.ct.extend_from_slice(&self.plain[take..]);
        self.plain.truncate(take);
        self.stream
            .decrypt_in_place(self.position, last, &self.aad, &mut self.plain)
            .map_err(|_| {
                CryptoError::ChunkAuth {
                    chunk: self.position as u64,
                }
                .into_io()
            })?;
        self.plain_pos = 0;
        if last {
            self.done = true;
        } else {
            self.position = self
                .position
                .checked_add(1)
                .ok_or_else(|| CryptoError::BadHeader("too many chunks").into_io())?;
        }
        Ok(())
    }
}

impl<R: Read> Read for Decryptor<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if let Some((kind, crypto, msg)) = &self.failed {
            return Err(match crypto {
                Some(c) => c.clone().into_io(),
                None => io::Error::new(*kind, msg.clone()),
            });
        }
        while self.plain_pos == self.plain.len() {
            if self.done {
                return Ok(0);
            }
            if let Err(e) = self.next_chunk() {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.plain.clear();
                    self.plain_pos = 0;
                    self.failed =
                        Some((e.kind(), CryptoError::from_io(&e).cloned(), e.to_string()));
                }
                return Err(e);
            }
        }
        let n = out.len().min(self.plain.len() - self.plain_pos);
        out[..n].copy_from_slice(&self.plain[self.plain_pos..self.plain_pos + n]);
        self.plain_pos += n;
        Ok(n)
    }
}

/// Size of the encrypted file for `plain` bytes of plaintext and a header of `header_len` bytes.
pub fn encrypted_len(plain: u64, header_len: u64) -> u64 {
    let chunks = if plain == 0 {
        1
    } else {
        plain.div_ceil(CHUNK as u64)
    };
    header_len + plain + chunks * TAG as u64
}

#[cfg(test)]
mod tests {
    use super::super::header::MAGIC;
    use super::super::recipients::LegacyKey;
    use super::*;

    fn legacy() -> LegacyKey {
        LegacyKey::parse(&LegacyKey::generate_text()).unwrap()
    }

    fn encrypt(r: &Recipient, data: &[u8]) -> Vec<u8> {
        let mut e = Encryptor::new(r, Vec::new()).unwrap();
        // Write in odd-sized pieces to exercise buffering.
        for piece in data.chunks(7919) {
            e.write_all(piece).unwrap();
        }
        e.finish().unwrap().0
    }

    fn decrypt(id: &Identity, data: &[u8]) -> io::Result<Vec<u8>> {
        let mut d = Decryptor::new(data, id)?;
        let mut out = Vec::new();
        d.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn round_trips_at_chunk_boundaries() {
        let k = legacy();
        let r = Recipient::LegacyKey(k.clone());
        let id = Identity::LegacyKey(k);
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let ct = encrypt(&r, &data);
            let header_len = Header::read_from(&mut &ct[..]).unwrap().1.len() as u64;
            assert_eq!(
                ct.len() as u64,
                encrypted_len(len as u64, header_len),
                "{len}"
            );
            assert_eq!(decrypt(&id, &ct).unwrap(), data, "{len}");
        }
    }

    fn auth_error(r: io::Result<Vec<u8>>) -> String {
        let e = r.expect_err("tampered data must not decrypt");
        CryptoError::from_io(&e)
            .unwrap_or_else(|| panic!("not a crypto error: {e}"))
            .to_string()
    }

    #[test]
    fn tampering_truncation_and_reordering_are_detected() {
        let k = legacy();
        let r = Recipient::LegacyKey(k.clone());
        let id = Identity::LegacyKey(k);
        let data = vec![7u8; 3 * CHUNK];
        let ct = encrypt(&r, &data);
        let hl = Header::read_from(&mut &ct[..]).unwrap().1.len();
        let c = CHUNK + TAG;
        // Flipped byte in a chunk.
        let mut t = ct.clone();
        t[hl + c + 5] ^= 1;
        assert!(auth_error(decrypt(&id, &t)).contains("chunk 1"));
        // Truncated at a chunk boundary.
        let t = ct[..hl + 2 * c].to_vec();
        assert!(auth_error(decrypt(&id, &t)).contains("chunk 1"));
        // Swapped chunks.
        let mut t = ct.clone();
        let (a, b) = (ct[hl..hl + c].to_vec(), ct[hl + c..hl + 2 * c].to_vec());
        t[hl..hl + c].copy_from_slice(&b);
        t[hl + c..hl + 2 * c].copy_from_slice(&a);
        assert!(auth_error(decrypt(&id, &t)).contains("chunk 0"));
        // Header edit (nonce prefix byte): the AAD no longer matches.
        let mut t = ct.clone();
        t[hl - 1] ^= 0x80;
        assert!(auth_error(decrypt(&id, &t)).contains("authentication failed"));
        // Appended chunk-sized garbage.
        let mut t = ct.clone();
        t.extend_from_slice(&vec![0u8; c]);
        assert!(auth_error(decrypt(&id, &t)).contains("chunk 2"));
        // Bad magic, truncated header.
        let mut t = ct.clone();
        t[0] = b'X';
        assert!(auth_error(decrypt(&id, &t)).contains("magic"));
        assert!(auth_error(decrypt(&id, &ct[..10])).contains("truncated"));
    }

    /// A writer that fails once after `ok` bytes.
    struct FailingWriter {
        ok: usize,
        written: Vec<u8>,
    }

    impl Write for FailingWriter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.written.len() + buf.len() > self.ok {
                self.ok = usize::MAX;
                return Err(io::Error::other("disk full"));
            }
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn after_a_failed_write_nothing_more_is_sealed() {
        let k = legacy();
        let w = FailingWriter {
            ok: 1000 + CHUNK,
            written: Vec::new(),
        };
        let mut e = Encryptor::new(&Recipient::LegacyKey(k), w).unwrap();
        let data = vec![1u8; 4 * CHUNK];
        let err = e.write_all(&data).unwrap_err();
        assert_eq!(err.to_string(), "disk full");
        // The sink would now accept data again, but the encryptor refuses to go on.
        assert!(e.write(&data[..10]).is_err());
        assert!(e.finish().is_err());
    }

    #[test]
    fn wrong_legacy_key_names_the_needed_key() {
        let k1 = legacy();
        let k2 = legacy();
        let ct = encrypt(&Recipient::LegacyKey(k1.clone()), b"secret");
        let msg = auth_error(decrypt(&Identity::LegacyKey(k2.clone()), &ct));
        assert!(
            msg.contains(&k1.key_id()) && msg.contains(&k2.key_id()),
            "{msg}"
        );
    }

    proptest::proptest! {
        /// No input makes the reader panic: garbage, or a valid file cut and flipped anywhere.
        #[test]
        fn arbitrary_input_never_panics(
            garbage in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            cut in 0usize..200_000,
            flip in 0usize..200_000,
        ) {
            let k = LegacyKey::parse("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ekFCQ0RFRkdISUpL").unwrap();
            let id = Identity::LegacyKey(k.clone());
            let _ = decrypt(&id, &garbage);
            let mut prefixed = MAGIC.to_vec();
            prefixed.extend_from_slice(&garbage);
            let _ = decrypt(&id, &prefixed);
            let mut ct = encrypt(&Recipient::LegacyKey(k), &vec![3u8; 3 * CHUNK]);
            let len = ct.len();
            ct[flip % len] ^= 0x10;
            ct.truncate(cut % (len + 1));
            proptest::prop_assert!(decrypt(&id, &ct).is_err());
        }
    }
}
