//! Robustness of the encrypted format (`docs/FORMAT.md`) at library level, with `proptest`:
//! round trips over arbitrary lengths and write splits, and on small files every truncation,
//! every single-bit flip, chunk reordering, duplication, removal and splicing, appended bytes
//! and edits of each header field. Every change must be detected: decryption returns a
//! `CryptoError` before the end of the plaintext, whatever it released before is a prefix of the
//! true plaintext, and nothing panics, whatever the bytes.
//!
//! Most cases use a legacy key (cheap to unwrap); a few use an RSA certificate made once.

use azs_backup::certificate::{
    load_private_key, new_self_signed, Certificate, NewCertOptions, PrivateKey,
};
use azs_backup::crypto::{
    encrypted_len, CryptoError, Decryptor, Encryptor, Header, Identity, LegacyKey, Recipient,
    Stanza, CHUNK, KIND_CERTIFICATE, KIND_LEGACY_KEY, MAGIC, NONCE_PREFIX, TAG, VERSION,
    VERSION_MULTI,
};
use proptest::prelude::*;
use std::io::{self, Read, Write};
use std::sync::OnceLock;

/// One encrypted record on disk: a full chunk and its tag.
const R: usize = CHUNK + TAG;

// ---------------------------------------------------------------------------------------------
// Keys

fn legacy() -> &'static LegacyKey {
    static KEY: OnceLock<LegacyKey> = OnceLock::new();
    KEY.get_or_init(|| {
        LegacyKey::parse(include_str!("../vectors/test-only-legacy-key.txt")).expect("test key")
    })
}

/// An RSA-2048 certificate and its private key (with the certificate), made once.
fn rsa() -> &'static (Certificate, PrivateKey) {
    static RSA: OnceLock<(Certificate, PrivateKey)> = OnceLock::new();
    RSA.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let files = new_self_signed(&NewCertOptions::new(
            "format-props.contoso.com",
            dir.path().join("certs"),
        ))
        .expect("new certificate");
        let cert = Certificate::load(&files.cer).expect("certificate loads");
        let key = load_private_key(&files.pem, None).expect("key loads");
        assert_eq!(key.thumbprint(), Some(cert.thumbprint.as_str()));
        (cert, key)
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Legacy,
    /// RSA private key that knows its certificate (its id is checked before unwrapping).
    Rsa,
    /// RSA private key alone (no id: the header's recipient id is checked only through the AAD).
    RsaBare,
}

fn recipient(who: Who) -> Recipient {
    match who {
        Who::Legacy => Recipient::LegacyKey(legacy().clone()),
        Who::Rsa | Who::RsaBare => Recipient::Certificate(Box::new(rsa().0.clone())),
    }
}

fn identity(who: Who) -> Identity {
    match who {
        Who::Legacy => Identity::LegacyKey(legacy().clone()),
        Who::Rsa => Identity::PrivateKey(Box::new(rsa().1.clone())),
        Who::RsaBare => {
            let mut k = rsa().1.clone();
            k.certificate = None;
            Identity::PrivateKey(Box::new(k))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// Deterministic bytes (SplitMix64) for a seed.
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut s = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Encrypts `data`, handing it to the encryptor in pieces of the sizes in `splits` (cycled),
/// through raw `write` calls (which may take less than offered), with empty writes and flushes
/// in between.
fn encrypt_split(r: &Recipient, data: &[u8], splits: &[usize]) -> Vec<u8> {
    let mut e = Encryptor::new(r, Vec::new()).expect("encryptor");
    let (mut pos, mut i) = (0, 0);
    while pos < data.len() {
        let n = splits
            .get(i % splits.len().max(1))
            .copied()
            .unwrap_or(data.len())
            .clamp(1, data.len() - pos);
        let mut piece = &data[pos..pos + n];
        while !piece.is_empty() {
            let k = e.write(piece).expect("write");
            assert!(
                k > 0 && k <= piece.len(),
                "write took {k} of {}",
                piece.len()
            );
            piece = &piece[k..];
        }
        pos += n;
        i += 1;
        if i % 3 == 0 {
            assert_eq!(e.write(&[]).unwrap(), 0);
            e.flush().unwrap();
        }
    }
    let (out, plain) = e.finish().expect("finish");
    assert_eq!(plain, data.len() as u64);
    out
}

fn encrypt(r: &Recipient, data: &[u8]) -> Vec<u8> {
    encrypt_split(r, data, &[data.len().max(1)])
}

/// What a decryption gave: the plaintext released, and the error that ended it (if any).
struct Outcome {
    released: Vec<u8>,
    error: Option<io::Error>,
}

/// Decrypts `file` reading `read_size` bytes at a time.
fn decrypt_with(id: &Identity, file: &[u8], read_size: usize) -> Outcome {
    let mut released = Vec::new();
    let mut d = match Decryptor::new(file, id) {
        Ok(d) => d,
        Err(e) => {
            return Outcome {
                released,
                error: Some(e),
            }
        }
    };
    let mut buf = vec![0u8; read_size.max(1)];
    loop {
        match d.read(&mut buf) {
            Ok(0) => {
                return Outcome {
                    released,
                    error: None,
                }
            }
            Ok(n) => released.extend_from_slice(&buf[..n]),
            Err(e) => {
                return Outcome {
                    released,
                    error: Some(e),
                }
            }
        }
    }
}

fn decrypt(id: &Identity, file: &[u8]) -> Outcome {
    decrypt_with(id, file, 1 << 20)
}

/// The error variant, as compared in the tests below.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    BadMagic,
    UnsupportedVersion,
    BadHeader,
    WrongRecipient,
    UnwrapFailed,
    ChunkAuth(u64),
    Truncated,
}

/// Asserts that `file` (a changed copy of an encryption of `plain`) does not decrypt: an error,
/// a `CryptoError`, and only a prefix of `plain` released before it. Returns the error's kind.
fn rejected(id: &Identity, file: &[u8], plain: &[u8], what: &str) -> Kind {
    let o = decrypt(id, file);
    let e = match o.error {
        Some(e) => e,
        None => panic!(
            "{what}: the changed file decrypted without error ({} bytes released, {} expected; same plaintext: {})",
            o.released.len(),
            plain.len(),
            o.released == plain
        ),
    };
    assert!(
        plain.starts_with(&o.released),
        "{what}: {} bytes released before the error are not a prefix of the plaintext",
        o.released.len()
    );
    let c = CryptoError::from_io(&e).unwrap_or_else(|| panic!("{what}: not a CryptoError: {e:?}"));
    match c {
        CryptoError::BadMagic => Kind::BadMagic,
        CryptoError::UnsupportedVersion(_) => Kind::UnsupportedVersion,
        CryptoError::BadHeader(_) => Kind::BadHeader,
        CryptoError::WrongRecipient { .. } => Kind::WrongRecipient,
        CryptoError::UnwrapFailed { .. } => Kind::UnwrapFailed,
        CryptoError::ChunkAuth { chunk } => Kind::ChunkAuth(*chunk),
        CryptoError::Truncated => Kind::Truncated,
        CryptoError::Encrypt(m) => panic!("{what}: an encryption error while reading: {m}"),
    }
}

fn header_len(file: &[u8]) -> usize {
    Header::read_from(&mut &file[..]).expect("header").1.len()
}

/// Splits an encrypted file into its header and its chunk records.
fn split(file: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let h = header_len(file);
    let chunks = file[h..].chunks(R).map(<[u8]>::to_vec).collect();
    (file[..h].to_vec(), chunks)
}

/// A small plaintext of `n` chunks: `n - 1` full ones and a short last one.
fn small_plain(n: usize, seed: u64) -> Vec<u8> {
    bytes((n - 1) * CHUNK + 33, seed)
}

/// A plaintext and its encryption.
type Pair = (Vec<u8>, Vec<u8>);

/// Encrypted small files (1, 2 and 3 chunks), made once per recipient kind.
fn small_file(who: Who, n: usize) -> &'static Pair {
    static FILES: OnceLock<Vec<((Who, usize), Pair)>> = OnceLock::new();
    let all = FILES.get_or_init(|| {
        let mut v = Vec::new();
        for who in [Who::Legacy, Who::Rsa] {
            for n in 1..=3 {
                let plain = small_plain(n, 100 + n as u64);
                let file = encrypt(&recipient(who), &plain);
                v.push(((who, n), (plain, file)));
            }
        }
        v
    });
    let who = if who == Who::RsaBare { Who::Rsa } else { who };
    &all.iter().find(|(k, _)| *k == (who, n)).expect("made").1
}

// ---------------------------------------------------------------------------------------------
// Round trips

/// Lengths: around every chunk multiple up to 4 chunks (k * 64 KiB - 1, exact, + 1), and
/// anything up to a few chunks.
fn lengths() -> impl Strategy<Value = usize> {
    prop_oneof![
        (0usize..=4, 0usize..=2).prop_map(|(k, d)| (k * CHUNK + d).saturating_sub(1)),
        0usize..=600,
        0usize..=(3 * CHUNK + 100),
    ]
}

fn splits() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(
        prop_oneof![
            1usize..=64,
            1usize..=(2 * CHUNK + 7),
            Just(CHUNK - 1),
            Just(CHUNK),
            Just(CHUNK + 1),
        ],
        1..6,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// Any length, any way of writing it, any read size: the plaintext comes back exactly,
    /// and the file has the documented size.
    #[test]
    fn round_trip_legacy_key(
        len in lengths(),
        seed in any::<u64>(),
        splits in splits(),
        read_size in prop_oneof![1usize..=17, 1usize..=(2 * CHUNK)],
    ) {
        let id = identity(Who::Legacy);
        let plain = bytes(len, seed);
        let file = encrypt_split(&recipient(Who::Legacy), &plain, &splits);
        let h = header_len(&file);
        prop_assert_eq!(h, 23 + 20 + 64);
        prop_assert_eq!(file.len() as u64, encrypted_len(len as u64, h as u64));
        // Every non-last record is full; the last one holds 1..=R bytes (or only a tag when
        // the plaintext is empty).
        let q = file.len() - h;
        prop_assert!(q >= TAG);
        let last = q - (q - 1) / R * R;
        prop_assert!((TAG..=R).contains(&last));
        prop_assert!(len == 0 || last > TAG, "an empty last chunk after full ones");
        let o = decrypt_with(&id, &file, read_size);
        prop_assert!(o.error.is_none(), "{:?}", o.error);
        prop_assert!(o.released == plain, "plaintext differs");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// The same with an RSA certificate (kind 1), read with the key with and without its
    /// certificate.
    #[test]
    fn round_trip_certificate(
        len in lengths(),
        seed in any::<u64>(),
        splits in splits(),
    ) {
        let plain = bytes(len, seed);
        let file = encrypt_split(&recipient(Who::Rsa), &plain, &splits);
        let h = header_len(&file);
        prop_assert_eq!(h, 23 + 40 + 256);
        prop_assert_eq!(file.len() as u64, encrypted_len(len as u64, h as u64));
        for who in [Who::Rsa, Who::RsaBare] {
            let o = decrypt(&identity(who), &file);
            prop_assert!(o.error.is_none(), "{:?}: {:?}", who, o.error);
            prop_assert!(o.released == plain, "{:?}: plaintext differs", who);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Headers (version 1 with one recipient, version 2 with several) serialise and parse back
    /// to the same value and bytes.
    #[test]
    fn header_round_trips(
        stanzas in prop::collection::vec(
            (
                prop_oneof![Just(KIND_CERTIFICATE), Just(KIND_LEGACY_KEY)],
                "[ -~]{1,256}",
                prop::collection::vec(any::<u8>(), 1..=4096),
            ),
            1..=4,
        ),
        prefix in any::<[u8; NONCE_PREFIX]>(),
    ) {
        let mut recipients: Vec<Stanza> = Vec::new();
        for (kind, id, wrapped) in stanzas {
            if !recipients.iter().any(|r| r.recipient_id.eq_ignore_ascii_case(&id)) {
                recipients.push(Stanza { kind, recipient_id: id, wrapped_key: wrapped });
            }
        }
        let h = Header::new(recipients, prefix);
        let raw = h.to_bytes();
        let stanza_bytes: usize =
            h.recipients.iter().map(|r| 4 + r.recipient_id.len() + r.wrapped_key.len()).sum();
        let expected = if h.recipients.len() == 1 {
            prop_assert_eq!(h.version, VERSION);
            19 + stanza_bytes
        } else {
            prop_assert_eq!(h.version, VERSION_MULTI);
            19 + stanza_bytes + h.recipients.len()
        };
        prop_assert_eq!(raw.len(), expected);
        let mut rest = &raw[..];
        let (back, back_raw) = Header::read_from(&mut rest).expect("parses");
        prop_assert!(rest.is_empty());
        prop_assert_eq!(back, h);
        prop_assert_eq!(back_raw, raw);
    }
}

// ---------------------------------------------------------------------------------------------
// Truncation

/// The error the reader must give for `file` cut to `cut` bytes (`docs/FORMAT.md` §4.1, §4.2).
fn expected_truncation(h: usize, len: usize, cut: usize) -> Kind {
    if cut <= h {
        return Kind::Truncated;
    }
    let q = cut - h;
    // Complete records before the one that is now last, and what is left of that one.
    let full = (q - 1) / R;
    let rest = q - full * R;
    debug_assert!(cut < len);
    if rest < TAG {
        Kind::Truncated
    } else {
        Kind::ChunkAuth(full as u64)
    }
}

/// Cuts a small file at every offset within `window` bytes of the header's end, of a record
/// boundary or of the end of the file (and inside the header), and every `stride` bytes
/// elsewhere (inside a record every cut behaves the same and costs a chunk's decryption);
/// each cut must give the documented error.
fn check_truncations(who: Who, n: usize, window: usize, stride: usize) -> usize {
    let (plain, file) = small_file(who, n);
    let id = identity(who);
    let h = header_len(file);
    let (mut cut, mut count) = (0, 0);
    while cut < file.len() {
        let what = format!("{who:?} {n} chunks cut at {cut} of {}", file.len());
        let kind = rejected(&id, &file[..cut], plain, &what);
        assert_eq!(kind, expected_truncation(h, file.len(), cut), "{what}");
        count += 1;
        let near = cut <= h + window
            || (cut - h) % R < window
            || (cut - h) % R > R - window
            || cut + window > file.len();
        cut += if near { 1 } else { stride };
    }
    count
}

#[test]
fn truncation_anywhere_is_detected() {
    // A one-chunk file at every offset; two- and three-chunk files at every offset of the
    // header and around each record boundary, every 61st offset inside the records.
    let (_, one) = small_file(Who::Legacy, 1);
    assert_eq!(check_truncations(Who::Legacy, 1, 64, 1), one.len());
    for n in [2, 3] {
        check_truncations(Who::Legacy, n, 64, 61);
    }
}

#[test]
fn truncation_is_detected_certificate() {
    // Each cut past the header costs an RSA decryption: a narrower window, a wider stride.
    check_truncations(Who::Rsa, 2, 20, 4099);
}

// ---------------------------------------------------------------------------------------------
// Bit flips

/// Flips every bit of `file` at the byte offsets `offsets`; each must be rejected.
fn check_flips(who: Who, n: usize, offsets: impl Iterator<Item = usize>) -> usize {
    let (plain, file) = small_file(who, n);
    let id = identity(who);
    let h = header_len(file);
    let mut t = file.clone();
    let mut count = 0;
    for off in offsets {
        for bit in 0..8 {
            t[off] ^= 1 << bit;
            let what = format!("{who:?} {n} chunks, bit {bit} of byte {off} flipped");
            let kind = rejected(&id, &t, plain, &what);
            if off >= h {
                // In a chunk: that chunk fails, the ones before it decrypted.
                assert_eq!(kind, Kind::ChunkAuth(((off - h) / R) as u64), "{what}");
            }
            t[off] ^= 1 << bit;
            count += 1;
        }
    }
    assert_eq!(&t, file);
    count
}

#[test]
fn every_single_bit_flip_of_a_one_chunk_file_is_detected() {
    let (_, file) = small_file(Who::Legacy, 1);
    assert_eq!(check_flips(Who::Legacy, 1, 0..file.len()), file.len() * 8);
}

#[test]
fn every_bit_flip_of_the_header_tags_and_chunk_edges_is_detected() {
    for n in [2, 3] {
        let (_, file) = small_file(Who::Legacy, n);
        let h = header_len(file);
        let offsets = (0..file.len()).filter(|&o| {
            let in_record = o.checked_sub(h).map(|q| q % R);
            let record_end = o
                .checked_sub(h)
                .map(|q| (q / R * R + R).min(file.len() - h));
            o < h
                || in_record.is_some_and(|r| r < 48)
                || record_end.is_some_and(|end| o - h + 48 >= end)
        });
        check_flips(Who::Legacy, n, offsets);
    }
}

#[test]
fn every_bit_flip_of_a_certificate_header_is_detected() {
    // Each flip that parses costs an RSA decryption: every bit of the fixed fields, the id,
    // the wrapped key length and the nonce prefix; every bit of one byte in 32 of the wrapped
    // key; the first and last bytes of both records (chunks behave as with a legacy key).
    let (_, file) = small_file(Who::Rsa, 2);
    let h = header_len(file);
    let w0 = 16 + 40;
    let ends = [h, h + R - 1, h + R, file.len() - 1];
    let offsets: Vec<usize> = (0..h)
        .filter(|&o| !(w0..w0 + 256).contains(&o) || (o - w0) % 32 == 0)
        .chain(ends)
        .collect();
    check_flips(Who::Rsa, 2, offsets.into_iter());
    // Without its certificate the key has no id to compare: flips of the id and length
    // fields are caught by the AAD or the parser.
    let bare: Vec<usize> = (12..w0)
        .filter(|o| o % 3 == 0)
        .chain([w0 - 2, w0 - 1])
        .collect();
    check_flips(Who::RsaBare, 2, bare.into_iter());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Any bit anywhere in a three-chunk file, and any run of bytes overwritten.
    #[test]
    fn any_flip_or_overwrite_is_detected(
        pos in any::<prop::sample::Index>(),
        bit in 0u8..8,
        run in prop::collection::vec(any::<u8>(), 1..40),
    ) {
        let (plain, file) = small_file(Who::Legacy, 3);
        let id = identity(Who::Legacy);
        let off = pos.index(file.len());
        let mut t = file.clone();
        t[off] ^= 1 << bit;
        rejected(&id, &t, plain, &format!("bit {bit} of byte {off}"));
        let mut t = file.clone();
        let end = (off + run.len()).min(t.len());
        t[off..end].copy_from_slice(&run[..end - off]);
        if t != *file {
            rejected(&id, &t, plain, &format!("bytes {off}..{end} overwritten"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Chunks reordered, duplicated, removed, spliced; bytes appended

/// The error for a file whose records are the original ones in the order `seq` (indices
/// into the `n` records); `None` when `seq` is the original order.
fn expected_for_sequence(seq: &[usize], n: usize) -> Option<Kind> {
    let identical = (0..n).collect::<Vec<_>>();
    if seq == identical {
        return None;
    }
    if seq.is_empty() {
        return Some(Kind::Truncated);
    }
    let first_diff = (0..seq.len()).find(|&i| seq[i] != i);
    Some(match first_diff {
        // A strict prefix of the original: its last record was written as non-last.
        None => Kind::ChunkAuth(seq.len() as u64 - 1),
        // Records appended after the original last one: that one is no longer read as last.
        Some(i) if i >= n => Kind::ChunkAuth(n as u64 - 1),
        Some(i) => Kind::ChunkAuth(i as u64),
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 120, ..ProptestConfig::default() })]

    /// Records of a three-chunk file in any order, any of them repeated or left out: the file
    /// fails at the first record that is not the original one there.
    #[test]
    fn reordered_duplicated_or_removed_chunks_are_detected(
        seq in prop::collection::vec(0usize..3, 0..6),
    ) {
        let (plain, file) = small_file(Who::Legacy, 3);
        let (header, records) = split(file);
        let mut t = header.clone();
        for &i in &seq {
            t.extend_from_slice(&records[i]);
        }
        let id = identity(Who::Legacy);
        match expected_for_sequence(&seq, records.len()) {
            None => {
                let o = decrypt(&id, &t);
                prop_assert!(o.error.is_none() && o.released == *plain);
            }
            Some(want) => {
                // A short last record moved before others shifts the record boundaries, so
                // the failing record may hold bytes of two; it still fails at that position.
                let kind = rejected(&id, &t, plain, &format!("records {seq:?}"));
                prop_assert_eq!(kind, want, "records {:?}", seq);
            }
        }
    }
}

#[test]
fn chunks_and_headers_from_another_file_are_detected() {
    let id = identity(Who::Legacy);
    let (plain, file) = small_file(Who::Legacy, 3);
    // The same plaintext encrypted again for the same key: another file key and prefix.
    let other = encrypt(&recipient(Who::Legacy), plain);
    let (h1, r1) = split(file);
    let (h2, r2) = split(&other);
    assert_eq!(r1.len(), 3);
    for i in 0..3 {
        let mut t = h1.clone();
        for (j, rec) in r1.iter().enumerate() {
            t.extend_from_slice(if i == j { &r2[j] } else { rec });
        }
        assert_eq!(
            rejected(&id, &t, plain, &format!("record {i} from another file")),
            Kind::ChunkAuth(i as u64)
        );
    }
    // The other file's header over these chunks (and the reverse).
    for (h, r) in [(&h2, &r1), (&h1, &r2)] {
        let t = [h.clone(), r.concat()].concat();
        assert_eq!(
            rejected(&id, &t, plain, "spliced header"),
            Kind::ChunkAuth(0)
        );
    }
    // A chunk of a certificate file (another key altogether).
    let (_, cert_file) = small_file(Who::Rsa, 3);
    let (_, r3) = split(cert_file);
    let t = [h1.clone(), r1[0].clone(), r3[1].clone(), r1[2].clone()].concat();
    assert_eq!(
        rejected(&id, &t, plain, "record from a certificate file"),
        Kind::ChunkAuth(1)
    );
}

#[test]
fn appended_bytes_are_detected() {
    let id = identity(Who::Legacy);
    for n in 1..=3 {
        let (plain, file) = small_file(Who::Legacy, n);
        let last = n as u64 - 1;
        for extra in [
            vec![0u8],
            vec![0u8; TAG],
            vec![0xA5; 1000],
            vec![0u8; R],
            vec![0u8; R + 1],
            file.clone(),
            split(file).1.last().unwrap().clone(),
        ] {
            let t = [file.clone(), extra.clone()].concat();
            let what = format!("{n} chunks + {} bytes appended", extra.len());
            assert_eq!(
                rejected(&id, &t, plain, &what),
                Kind::ChunkAuth(last),
                "{what}"
            );
        }
    }
    // A file whose plaintext is an exact number of chunks ends with a full last record:
    // anything appended makes it a non-last record.
    let plain = bytes(2 * CHUNK, 9);
    let file = encrypt(&recipient(Who::Legacy), &plain);
    assert_eq!(file.len() - header_len(&file), 2 * R);
    for extra in [1, TAG - 1, TAG, R] {
        let t = [file.clone(), vec![0u8; extra]].concat();
        let k = rejected(&id, &t, &plain, &format!("exact 2 chunks + {extra}"));
        assert_eq!(k, Kind::ChunkAuth(1), "exact 2 chunks + {extra}");
    }
    // An empty last chunk (a valid tag of nothing cannot be made without the key).
    let t = [file.clone(), vec![0u8; TAG]].concat();
    rejected(&id, &t, &plain, "empty last record appended");
}

// ---------------------------------------------------------------------------------------------
// Header edits

/// Offsets of the header fields of `file`.
struct Fields {
    id_len: usize,
    wrap_len_at: usize,
    wrap_len: usize,
    h: usize,
}

fn fields(file: &[u8]) -> Fields {
    let id_len = u16::from_be_bytes([file[12], file[13]]) as usize;
    let wrap_len_at = 14 + id_len;
    let wrap_len = u16::from_be_bytes([file[wrap_len_at], file[wrap_len_at + 1]]) as usize;
    Fields {
        id_len,
        wrap_len_at,
        wrap_len,
        h: wrap_len_at + 2 + wrap_len + NONCE_PREFIX,
    }
}

fn edited(file: &[u8], f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut t = file.to_vec();
    f(&mut t);
    t
}

/// Each header field changed, with the error `docs/FORMAT.md` §4.2 names for it.
fn header_edits(file: &[u8], who: Who) -> Vec<(String, Vec<u8>, Option<Kind>)> {
    let fl = fields(file);
    let set16 =
        |t: &mut Vec<u8>, at: usize, v: u16| t[at..at + 2].copy_from_slice(&v.to_be_bytes());
    let mut v: Vec<(String, Vec<u8>, Option<Kind>)> = Vec::new();
    for i in 0..8 {
        v.push((
            format!("magic byte {i}"),
            edited(file, |t| t[i] ^= 0x20),
            Some(Kind::BadMagic),
        ));
    }
    for ver in [0u8, 3, 0x81, 0xFF] {
        v.push((
            format!("version {ver}"),
            edited(file, |t| t[8] = ver),
            Some(Kind::UnsupportedVersion),
        ));
    }
    // A version-1 header read as version 2: its kind byte becomes the count, and the first
    // byte of the id length (0x00) the first entry's kind.
    v.push((
        "version 2".into(),
        edited(file, |t| t[8] = 2),
        Some(Kind::BadHeader),
    ));
    for kind in [0u8, 3, 0x80, 0xFF] {
        v.push((
            format!("kind {kind}"),
            edited(file, |t| t[9] = kind),
            Some(Kind::BadHeader),
        ));
    }
    // The other valid kind: this key cannot be used for it.
    let other_kind = if file[9] == KIND_LEGACY_KEY {
        KIND_CERTIFICATE
    } else {
        KIND_LEGACY_KEY
    };
    v.push((
        "the other kind".into(),
        edited(file, |t| t[9] = other_kind),
        None,
    ));
    for log2 in [0u8, 15, 17, 0xFF] {
        v.push((
            format!("chunk size 2^{log2}"),
            edited(file, |t| t[10] = log2),
            Some(Kind::BadHeader),
        ));
    }
    for r in [1u8, 0x80, 0xFF] {
        v.push((
            format!("reserved {r}"),
            edited(file, |t| t[11] = r),
            Some(Kind::BadHeader),
        ));
    }
    for len in [0u16, 257, 0xFFFF] {
        v.push((
            format!("id length {len}"),
            edited(file, |t| set16(t, 12, len)),
            Some(Kind::BadHeader),
        ));
    }
    for delta in [-1i32, 1, 2, 64] {
        let len = (fl.id_len as i32 + delta) as u16;
        v.push((
            format!("id length {len}"),
            edited(file, |t| set16(t, 12, len)),
            None,
        ));
    }
    // The recipient id: another id is refused before unwrapping when the key knows its own;
    // a key without its id notices through the AAD (chunk 0).
    let other_id = if who == Who::RsaBare {
        Kind::ChunkAuth(0)
    } else {
        Kind::WrongRecipient
    };
    for i in [0, fl.id_len / 2, fl.id_len - 1] {
        v.push((
            format!("id byte {i}"),
            edited(file, |t| {
                t[14 + i] = if t[14 + i] == b'0' { b'1' } else { b'0' }
            }),
            Some(other_id.clone()),
        ));
    }
    v.push((
        "id not UTF-8".into(),
        edited(file, |t| t[14 + fl.id_len - 1] = 0xFF),
        Some(Kind::BadHeader),
    ));
    // Ids compare case-insensitively, but the header bytes are authenticated as stored.
    let swapped = edited(file, |t| {
        t[14..14 + fl.id_len].iter_mut().for_each(|c| {
            if c.is_ascii_alphabetic() {
                *c ^= 0x20
            }
        })
    });
    v.push((
        "id in the other case".into(),
        swapped,
        Some(Kind::ChunkAuth(0)),
    ));
    for len in [0u16, 4097, 0xFFFF] {
        v.push((
            format!("wrapped key length {len}"),
            edited(file, |t| set16(t, fl.wrap_len_at, len)),
            Some(Kind::BadHeader),
        ));
    }
    for delta in [-1i32, 1, 7] {
        let len = (fl.wrap_len as i32 + delta) as u16;
        v.push((
            format!("wrapped key length {len}"),
            edited(file, |t| set16(t, fl.wrap_len_at, len)),
            None,
        ));
    }
    let w0 = fl.wrap_len_at + 2;
    for i in [0, 15, 16, 47, 48, fl.wrap_len - 1] {
        v.push((
            format!("wrapped key byte {i}"),
            edited(file, |t| t[w0 + i] ^= 0x04),
            Some(Kind::UnwrapFailed),
        ));
    }
    for i in 0..NONCE_PREFIX {
        v.push((
            format!("nonce prefix byte {i}"),
            edited(file, |t| t[fl.h - NONCE_PREFIX + i] ^= 0x01),
            Some(Kind::ChunkAuth(0)),
        ));
    }
    // The whole header re-serialised from its parsed value is the same bytes: nothing to edit.
    let (parsed, raw) = Header::read_from(&mut &file[..]).unwrap();
    assert_eq!(parsed.to_bytes(), raw);
    assert_eq!(raw.len(), fl.h);
    // Header bytes dropped or doubled.
    v.push((
        "header without its last byte".into(),
        edited(file, |t| {
            t.remove(fl.h - 1);
        }),
        None,
    ));
    v.push((
        "a header byte doubled".into(),
        edited(file, |t| t.insert(fl.h - 1, t[fl.h - 1])),
        None,
    ));
    v.push((
        "header twice".into(),
        [file[..fl.h].to_vec(), file.to_vec()].concat(),
        None,
    ));
    v.push(("no header".into(), file[fl.h..].to_vec(), None));
    v
}

fn check_header_edits(who: Who) {
    let (plain, file) = small_file(who, 2);
    let id = identity(who);
    for (what, t, want) in header_edits(file, who) {
        let what = format!("{who:?}: {what}");
        let kind = rejected(&id, &t, plain, &what);
        if let Some(want) = want {
            assert_eq!(kind, want, "{what}");
        }
    }
}

#[test]
fn each_header_field_edit_is_detected_legacy_key() {
    check_header_edits(Who::Legacy);
}

#[test]
fn each_header_field_edit_is_detected_certificate() {
    check_header_edits(Who::Rsa);
    check_header_edits(Who::RsaBare);
}

#[test]
fn the_wrong_key_decrypts_nothing() {
    let other = LegacyKey::parse(&LegacyKey::generate_text()).unwrap();
    for (file_of, id) in [
        (Who::Legacy, Identity::LegacyKey(other.clone())),
        (Who::Legacy, identity(Who::Rsa)),
        (Who::Legacy, identity(Who::RsaBare)),
        (Who::Rsa, Identity::LegacyKey(legacy().clone())),
    ] {
        let (plain, file) = small_file(file_of, 2);
        let k = rejected(&id, file, plain, &format!("{file_of:?} file, wrong key"));
        assert!(
            matches!(k, Kind::WrongRecipient | Kind::UnwrapFailed),
            "{file_of:?} file, wrong key: {k:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// After an error

/// Calls `read` until it returns 0, at most `calls` times, going on after errors. Returns the
/// bytes released, the number of errors, and the message of a panic that stopped it.
fn read_on_after_errors(
    d: &mut Decryptor<&[u8]>,
    calls: usize,
) -> (Vec<u8>, usize, Option<String>) {
    let (mut released, mut errors) = (Vec::new(), 0);
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut buf = vec![0u8; 4096];
        for _ in 0..calls {
            match d.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => released.extend_from_slice(&buf[..k]),
                Err(_) => errors += 1,
            }
        }
    }))
    .err()
    .map(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    });
    (released, errors, panic)
}

#[test]
fn reading_on_after_an_error_releases_nothing() {
    // A consumer that calls `read` again after an error (a retry loop, a buffered reader that
    // drops the error) must get errors (or the end), never unauthenticated bytes, never a panic.
    let id = identity(Who::Legacy);
    let mut failures = Vec::new();
    for n in 1..=3 {
        let (plain, file) = small_file(Who::Legacy, n);
        let h = header_len(file);
        for (what, t) in [
            ("a bit of chunk 0 flipped", edited(file, |t| t[h + 3] ^= 1)),
            (
                "a bit of the last chunk's tag flipped",
                edited(file, |t| *t.last_mut().unwrap() ^= 1),
            ),
            (
                "cut 1 byte into record 1 (or 1 byte short)",
                file[..h + (R + 1).min(file.len() - h - 1)].to_vec(),
            ),
        ] {
            let what = format!("{n}-chunk file ({} bytes), {what}", file.len());
            let mut d = Decryptor::new(&t[..], &id).expect("the header is intact");
            let (released, errors, panic) = read_on_after_errors(&mut d, 4 * R / 4096 + 8);
            let mut problems = Vec::new();
            if errors == 0 && panic.is_none() {
                problems.push("no error".to_string());
            }
            if !plain.starts_with(&released) {
                let good = plain
                    .iter()
                    .zip(&released)
                    .take_while(|(a, b)| a == b)
                    .count();
                let bad = &released[good..];
                let of_file = t.windows(bad.len().max(1)).any(|w| w == bad);
                problems.push(format!(
                    "after the error, read returned {} more bytes that are not plaintext{}",
                    bad.len(),
                    if of_file {
                        " (the failed record's ciphertext and tag, as they are in the file)"
                    } else {
                        ""
                    }
                ));
            }
            if let Some(p) = panic {
                problems.push(format!("then read panicked: {p}"));
            }
            if !problems.is_empty() {
                failures.push(format!("{what}: {}", problems.join("; ")));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Arbitrary bytes

/// A header with arbitrary field values (lengths in or out of range, any bytes), then
/// arbitrary bytes.
fn arbitrary_headers() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![Just(*MAGIC), any::<[u8; 8]>()],
        prop_oneof![Just(VERSION), any::<u8>()],
        prop_oneof![Just(KIND_CERTIFICATE), Just(KIND_LEGACY_KEY), any::<u8>()],
        prop_oneof![Just(16u8), any::<u8>()],
        prop_oneof![Just(0u8), any::<u8>()],
        prop_oneof![
            Just(b"key:917a48d9310eddf4".to_vec()),
            prop::collection::vec(any::<u8>(), 0..300),
        ],
        prop_oneof![Just(None), any::<u16>().prop_map(Some)],
        prop::collection::vec(any::<u8>(), 0..700),
        prop_oneof![Just(None), any::<u16>().prop_map(Some)],
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(
            |(magic, ver, kind, log2, res, id, id_len, wrapped, wrap_len, tail)| {
                let mut t = magic.to_vec();
                t.extend_from_slice(&[ver, kind, log2, res]);
                t.extend_from_slice(&id_len.unwrap_or(id.len() as u16).to_be_bytes());
                t.extend_from_slice(&id);
                t.extend_from_slice(&wrap_len.unwrap_or(wrapped.len() as u16).to_be_bytes());
                t.extend_from_slice(&wrapped);
                t.extend_from_slice(&tail);
                t
            },
        )
}

fn never_panics(id: &Identity, data: &[u8]) -> Result<(), TestCaseError> {
    let o = decrypt_with(id, data, 333);
    if let Some(e) = o.error {
        prop_assert!(
            CryptoError::from_io(&e).is_some(),
            "not a CryptoError: {:?}",
            e
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// No input makes the reader panic or hang; every failure is a `CryptoError`.
    #[test]
    fn arbitrary_bytes_never_panic(
        garbage in prop::collection::vec(any::<u8>(), 0..2000),
        structured in arbitrary_headers(),
    ) {
        let id = identity(Who::Legacy);
        never_panics(&id, &garbage)?;
        never_panics(&id, &[&MAGIC[..], &garbage].concat())?;
        never_panics(&id, &structured)?;
        // A valid header and arbitrary records after it.
        let (_, file) = small_file(Who::Legacy, 1);
        let h = header_len(file);
        let o = decrypt(&id, &[&file[..h], &garbage].concat());
        prop_assert!(o.error.is_some() && o.released.is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The same for an RSA key, with the certificate's id in the header so that the arbitrary
    /// wrapped key reaches the RSA decryption.
    #[test]
    fn arbitrary_wrapped_keys_never_panic_an_rsa_key(
        wrapped in prop_oneof![
            prop::collection::vec(any::<u8>(), 1..600),
            prop::collection::vec(any::<u8>(), 256..=256),
        ],
        tail in prop::collection::vec(any::<u8>(), 0..200),
        bare in any::<bool>(),
    ) {
        let id = identity(if bare { Who::RsaBare } else { Who::Rsa });
        let h = Header::new(
            vec![Stanza {
                kind: KIND_CERTIFICATE,
                recipient_id: rsa().0.thumbprint.clone(),
                wrapped_key: wrapped,
            }],
            [7; NONCE_PREFIX],
        );
        let t = [h.to_bytes(), tail].concat();
        let o = decrypt(&id, &t);
        let e = o.error.expect("an arbitrary wrapped key cannot decrypt");
        prop_assert!(o.released.is_empty());
        prop_assert!(CryptoError::from_io(&e).is_some(), "not a CryptoError: {:?}", e);
    }
}
