#!/usr/bin/env python3
"""Makes the known-failure vectors in tests/vectors/fail/ (TEST ONLY).

    python3 tests/vectors/fail/generate.py            # (re)writes tests/vectors/fail/
    python3 tests/vectors/fail/generate.py --check    # regenerates in a temporary folder and
                                                      # compares with the committed files
    python3 tests/vectors/fail/generate.py --out DIR  # writes DIR instead

Every vector is a file (an encrypted snapshot comes with its sidecar .xml) plus one line of
expected.tsv:

    path <TAB> format <TAB> expected <TAB> args <TAB> description

`format` is `encrypted` (docs/FORMAT.md §2-4), `manifest` (docs/FORMAT.md §1) or `snapshot`
(docs/AZURESTACK.md); `expected` is `ok` or a failure kind of tests/vectors/README.md; `args`
says how to read the vector (`key=legacy`, `key=rsa`, `folder=NAME`). A path ending in `.gz` is
stored gzip-compressed: the vector is its decompressed content. It also rewrites the tables of
tests/vectors/README.md (between its markers).

Deterministic: everything is derived from the committed known-answer vectors and keys in
tests/vectors/ (read, never written) and from fixed labels (SHA-256 of a label gives each key,
salt, IV and OAEP seed; the "other" RSA key's primes come from a SHA-256 counter), so a second run
writes the same bytes. Needs Python 3.8+ and the `cryptography` package.
"""

import argparse
import base64
import datetime
import gzip
import hashlib
import hmac
import io
import json
import os
import shutil
import struct
import sys
import tempfile
import zipfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import NameOID

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.dirname(HERE)

CHUNK = 65536
TAG = 16
RECORD = CHUNK + TAG


def fixed(label, n=32):
    """n fixed bytes derived from a label."""
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(b"azs-backup failure vector %d %s" % (i, label.encode())).digest()
        i += 1
    return out[:n]


# ---------------------------------------------------------------------------------------------
# Deterministic RSA: OAEP with a fixed seed, and an "other" key from fixed primes


def mgf1(seed, length, hash_name):
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.new(hash_name, seed + struct.pack(">I", counter)).digest()
        counter += 1
    return out[:length]


def oaep_encrypt(public_key, message, hash_name, seed_label):
    """RSA-OAEP (RFC 8017 §7.1.1, MGF1 with the same hash, empty label) with a fixed seed."""
    numbers = public_key.public_numbers()
    k = (numbers.n.bit_length() + 7) // 8
    hlen = hashlib.new(hash_name).digest_size
    if len(message) > k - 2 * hlen - 2:
        raise ValueError("message too long for OAEP")
    lhash = hashlib.new(hash_name, b"").digest()
    db = lhash + b"\0" * (k - len(message) - 2 * hlen - 2) + b"\x01" + message
    seed = fixed("oaep seed " + seed_label, hlen)
    masked_db = bytes(a ^ b for a, b in zip(db, mgf1(seed, len(db), hash_name)))
    masked_seed = bytes(a ^ b for a, b in zip(seed, mgf1(masked_db, hlen, hash_name)))
    em = int.from_bytes(b"\0" + masked_seed + masked_db, "big")
    return pow(em, numbers.e, numbers.n).to_bytes(k, "big")


SMALL_PRIMES = [p for p in range(3, 2000) if all(p % d for d in range(2, int(p ** 0.5) + 1))]


def is_probable_prime(n):
    if any(n % p == 0 for p in SMALL_PRIMES):
        return n in SMALL_PRIMES
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in SMALL_PRIMES[:24]:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def fixed_prime(label, bits=1024):
    n = int.from_bytes(fixed(label, bits // 8), "big") | (3 << (bits - 2)) | 1
    while not (is_probable_prime(n) and (n - 1) % 65537 != 0):
        n += 2
    return n


def other_rsa_key():
    """A second RSA-2048 key and self-signed certificate, the same on every run."""
    e = 65537
    p = fixed_prime("other rsa p")
    q = fixed_prime("other rsa q")
    d = pow(e, -1, (p - 1) * (q - 1))
    key = rsa.RSAPrivateNumbers(
        p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), rsa.RSAPublicNumbers(e, p * q)
    ).private_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "other-test-only.invalid")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x0A25BAC0)
        .not_valid_before(datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc))
        .not_valid_after(datetime.datetime(2045, 1, 1, tzinfo=datetime.timezone.utc))
        .sign(key, hashes.SHA256())  # PKCS#1 v1.5: deterministic
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    return key, hashlib.sha1(der).hexdigest().upper()


# ---------------------------------------------------------------------------------------------
# Output


class Out:
    def __init__(self, root):
        self.root = root
        self.rows = []

    def write(self, rel, data):
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if rel.endswith(".gz"):
            data = gzip.compress(data, compresslevel=9, mtime=0)
        with open(path, "wb") as f:
            f.write(data)

    def add(self, rel, data, fmt, expected, args, description):
        assert "\t" not in description and "\n" not in description
        assert rel not in [r[0] for r in self.rows], rel
        self.write(rel, data)
        self.rows.append((rel, fmt, expected, args, description))

    def finish(self):
        lines = [
            "# Known-failure vectors (TEST ONLY), made by generate.py: see tests/vectors/README.md.",
            "# path\tformat\texpected\targs\tdescription",
        ]
        lines += ["\t".join(r) for r in self.rows]
        with open(os.path.join(self.root, "expected.tsv"), "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")


# ---------------------------------------------------------------------------------------------
# 1. Encrypted files (docs/FORMAT.md §2-4)


def load_kat():
    with open(os.path.join(VECTORS, "vectors.json"), encoding="utf-8") as f:
        index = json.load(f)
    with open(os.path.join(VECTORS, "vectors-v2.json"), encoding="utf-8") as f:
        index_v2 = json.load(f)
    kat = {}
    for v in index["vectors"] + index_v2["vectors"]:
        with open(os.path.join(VECTORS, v["file"]), "rb") as f:
            data = f.read()
        hl = v["header_len"]
        kat[v["file"]] = {
            "data": data,
            "header": data[:hl],
            "payload": data[hl:],
            "file_key": bytes.fromhex(v["file_key"]),
            "prefix": bytes.fromhex(v["nonce_prefix"]),
        }
    return index, index_v2, kat


def plaintext(n):
    return bytes(i % 251 for i in range(n))


def seal(file_key, prefix, header, counter, last, plain):
    nonce = prefix + struct.pack(">I", counter) + (b"\x01" if last else b"\x00")
    return AESGCM(file_key).encrypt(nonce, plain, hashlib.sha256(header).digest())


def header_bytes(kind, recipient_id, wrapped, prefix, version=1, chunk_log2=16, reserved=0):
    rid = recipient_id if isinstance(recipient_id, bytes) else recipient_id.encode()
    return (
        b"AZSBKENC"
        + bytes([version, kind, chunk_log2, reserved])
        + struct.pack(">H", len(rid))
        + rid
        + struct.pack(">H", len(wrapped))
        + wrapped
        + prefix
    )


def legacy_key_id(key):
    return "key:" + hashlib.sha256(b"azs-backup v1 key id" + key).hexdigest()[:16]


def legacy_wrap(key, salt, file_key):
    kek = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=salt, info=b"azs-backup v1 legacy key wrap"
    ).derive(key)
    return salt + AESGCM(kek).encrypt(b"\0" * 12, file_key, b"azs-backup v1 legacy wrap")


def flip(data, offset, mask=0x01):
    b = bytearray(data)
    b[offset] ^= mask
    return bytes(b)


def parse_v2(header):
    """The entries [(kind, id bytes, wrapped key)] and nonce prefix of a version-2 header."""
    assert header[8] == 2
    entries, at = [], 12
    for _ in range(header[9]):
        kind = header[at]
        (id_len,) = struct.unpack(">H", header[at + 1 : at + 3])
        rid = header[at + 3 : at + 3 + id_len]
        (wlen,) = struct.unpack(">H", header[at + 3 + id_len : at + 5 + id_len])
        wrapped = header[at + 5 + id_len : at + 5 + id_len + wlen]
        entries.append((kind, rid, wrapped))
        at += 5 + id_len + wlen
    assert at + 7 == len(header)
    return entries, header[at:]


def header_v2(entries, prefix, count=None):
    """A version-2 header (FORMAT.md §2.3) with `entries` [(kind, id, wrapped key)]; `count`
    overrides the recipient count byte."""
    body = b""
    for kind, rid, wrapped in entries:
        rid = rid if isinstance(rid, bytes) else rid.encode()
        body += bytes([kind]) + struct.pack(">H", len(rid)) + rid + struct.pack(">H", len(wrapped)) + wrapped
    n = len(entries) if count is None else count
    return b"AZSBKENC" + bytes([2, n, 16, 0]) + body + prefix


def version_2_vectors(add, kat, recovery_thumbprint):
    """Version 2 (FORMAT.md §2.3): several recipients. Keys: rsa (the test key with its
    certificate, entry 0 of the v2-cert+recovery files), recovery (the recovery key with its
    certificate), recovery-bare (the recovery key alone: it tries every certificate entry)."""
    cr = kat["v2-cert+recovery-len1.enc"]  # test certificate, recovery certificate; 17-byte chunk
    kr = kat["v2-key+recovery-len1.enc"]  # legacy key, recovery certificate
    d = cr["data"]
    (e0, e1), prefix = parse_v2(cr["header"])
    second = 12 + 5 + len(e0[1]) + len(e0[2])  # offset of the second entry (its kind byte)
    fk, hl = cr["file_key"], len(cr["header"])

    def resealed(header, plain=b"\x00"):
        """`header` followed by one last chunk sealed under the vector's file key with the
        header's own AAD: only the header can be what a reader refuses."""
        return header + seal(fk, prefix, header, 0, True, plain)

    # The recipient count and the entries.
    add("v2-count-0", d[:9] + b"\x00" + d[10:], "header", "v2-cert+recovery-len1.enc with recipient count 0", key="rsa")
    add("v2-count-17", d[:9] + b"\x11" + d[10:], "header", "v2-cert+recovery-len1.enc with recipient count 17 (max 16)", key="rsa")
    third = d[hl - 7]
    assert third not in (1, 2)
    add("v2-count-3-for-2-entries", d[:9] + b"\x03" + d[10:], "header",
        "v2-cert+recovery-len1.enc with recipient count 3: the nonce prefix's first byte (0x%02x) is read as a third entry's kind" % third, key="rsa")
    add("v2-second-entry-kind-3", flip(d, second, 0x01 ^ 0x03), "header", "v2-cert+recovery-len1.enc with the second entry's kind 0x03", key="rsa")
    add("v2-duplicate-id", resealed(header_v2([e0, (e1[0], e0[1], e1[2])], prefix)), "header",
        "two entries with the test certificate's thumbprint (the second with the recovery certificate's wrap), chunk re-sealed", key="rsa")
    add("v2-duplicate-id-other-case", resealed(header_v2([e0, (e1[0], e0[1].lower(), e1[2])], prefix)), "header",
        "the second entry's id is the first's in lower case: ids compare ignoring ASCII case, chunk re-sealed", key="rsa")
    add("v2-second-id-length-0", d[: second + 1] + b"\x00\x00" + d[second + 3 :], "header",
        "v2-cert+recovery-len1.enc with the second entry's id length 0", key="rsa")
    add("v2-truncated-in-second-entry", d[: second + 5 + 40 + 100], "truncated",
        "v2-cert+recovery-len1.enc cut 100 bytes into the second entry's wrapped key", key="rsa")
    add("v2-truncated-after-first-entry", d[:second], "truncated",
        "v2-cert+recovery-len1.enc cut right after the first entry: the second entry's kind is missing", key="rsa")

    # Which entry a key opens; the AAD covers every entry.
    wrap1 = second + 5 + len(e1[1])  # offset of the second entry's wrapped key
    flipped = flip(d, wrap1 + 100)
    add("v2-second-wrap-flipped-read-with-first", flipped, "auth:0",
        "v2-cert+recovery-len1.enc with a bit flipped in the second entry's wrapped key, read with the first entry's key: that entry unwraps, but the AAD (SHA-256 of the whole header) changed", key="rsa")
    add("v2-second-wrap-flipped-read-with-second", flipped, "unwrap",
        "the same file read with the recovery key and its certificate: its own entry no longer unwraps", key="recovery")
    add("v2-second-wrap-flipped-bare-key", flipped, "unwrap",
        "the same file read with the recovery key alone: it tries both certificate entries and neither opens", key="recovery-bare")
    add("v2-entries-swapped", header_v2([e1, e0], prefix) + d[hl:], "auth:0",
        "v2-cert+recovery-len1.enc with its two entries in the other order: each still unwraps, only the AAD catches it", key="rsa")
    add("v2-no-entry-for-the-certificate", kr["data"], "wrong_key",
        "v2-key+recovery-len1.enc (legacy key, recovery certificate) read with the test key and its certificate", key="rsa")
    add("v2-no-entry-for-the-legacy-key", d, "wrong_key",
        "v2-cert+recovery-len1.enc (two certificates) read with the legacy key", key="legacy")
    add("v2-thumbprint-on-a-legacy-entry", resealed(header_v2([(2, e0[1], e0[2]), e1], prefix)), "wrong_key",
        "the first entry's kind changed to 2 (legacy key) with the test certificate's thumbprint kept, chunk re-sealed: the key finds its id on an entry of the other kind", key="rsa")
    legacy_only = kat["kind2-len1.enc"]
    k2_entry = (2, legacy_only["header"][14:34], legacy_only["header"][36:100])
    one = header_v2([k2_entry], legacy_only["prefix"])
    one_file = one + seal(legacy_only["file_key"], legacy_only["prefix"], one, 0, True, b"\x00")
    add("v2-bare-key-no-certificate-entry", one_file, "wrong_key",
        "a version-2 file with one legacy-key entry read with the recovery key alone: there is no certificate entry to try", key="recovery-bare")
    add("ok-v2-one-recipient", one_file, "ok",
        "a version-2 header with a single (legacy key) entry, which writers never make but readers accept; plaintext 1 byte 0x00", key="legacy")
    add("ok-v2-recovery-key", d, "ok",
        "v2-cert+recovery-len1.enc read with the recovery key and its certificate (%s): it opens the second entry" % recovery_thumbprint, key="recovery")
    add("ok-v2-recovery-key-bare", d, "ok",
        "v2-cert+recovery-len1.enc read with the recovery key alone: the first entry does not open with it (OAEP), the second does", key="recovery-bare")


def encrypted_vectors(out, kat, other_key, other_thumbprint, test_public_key, recovery_thumbprint):
    k2_1 = kat["kind2-len1.enc"]  # header 107 bytes (L = 20, W = 64), one 17-byte chunk
    k2_0 = kat["kind2-len0.enc"]
    k2_full = kat["kind2-len65536.enc"]  # one full last chunk
    k2_two = kat["kind2-len65537.enc"]  # a full chunk (flag 0) and a 1-byte last chunk
    k1_1 = kat["kind1-len1.enc"]  # header 319 bytes (L = 40, W = 256)
    d = k2_1["data"]
    L = 20
    wrap_at = 16 + L  # offset of the wrapped key in a kind-2 header
    c0, c1 = k2_two["payload"][:RECORD], k2_two["payload"][RECORD:]

    def add(name, data, expected, description, key="legacy"):
        out.add("encrypted/%s.enc" % name, data, "encrypted", expected, "key=" + key, description)

    # Structure of the header.
    add("empty", b"", "truncated", "empty file")
    add("header-cut-in-fixed-part", d[:10], "truncated", "kind2-len1.enc cut after 10 bytes, inside the 14-byte fixed header")
    add("header-cut-in-wrapped-key", d[:60], "truncated", "kind2-len1.enc cut after 60 bytes, inside the wrapped key")
    add("header-only", d[:107], "truncated", "kind2-len1.enc cut right after its 107-byte header: no chunk")
    add("last-chunk-shorter-than-tag", d[: 107 + 15], "truncated", "kind2-len1.enc cut to leave a 15-byte last chunk, shorter than a tag")
    add("bad-magic", d[:7] + b"X" + d[8:], "bad_magic", "magic AZSBKENX instead of AZSBKENC")
    add("version-3", flip(d, 8, 0x02), "version", "version byte 0x03")
    add("v1-header-as-version-2", flip(d, 8, 0x03), "header", "kind2-len1.enc with version byte 0x02: its kind byte (2) read as a count, then the id length's first byte (0x00) as a kind")
    add("version-0", flip(d, 8, 0x01), "version", "version byte 0x00")
    add("kind-0", d[:9] + b"\x00" + d[10:], "header", "recipient kind 0x00")
    add("kind-3", d[:9] + b"\x03" + d[10:], "header", "recipient kind 0x03")
    add("chunk-size-log2-17", d[:10] + b"\x11" + d[11:], "header", "chunk size byte 0x11 (128 KiB chunks) instead of 0x10")
    add("reserved-byte-set", d[:11] + b"\x01" + d[12:], "header", "reserved byte 0x01")
    add("id-length-0", d[:12] + b"\x00\x00" + d[14:], "header", "recipient id length 0")
    add("id-length-257", d[:12] + b"\x01\x01" + d[14:], "header", "recipient id length 257 (max 256); the file is long enough to hold it")
    add("id-length-past-eof", d[:12] + b"\x01\x00" + d[14:], "truncated", "recipient id length 256 (in range) but the file ends first")
    add("id-not-utf8", d[:14] + b"\xff" + d[15:], "header", "recipient id starts with byte 0xFF: not UTF-8")
    add("wrapped-key-length-0", d[: 14 + L] + b"\x00\x00" + d[16 + L :], "header", "wrapped key length 0")
    add("wrapped-key-length-4097", d[: 14 + L] + b"\x10\x01" + d[16 + L :], "header", "wrapped key length 4097 (max 4096)")

    # The key wrap.
    short_wrap = d[:14] + d[14 : 14 + L] + struct.pack(">H", 63) + d[wrap_at : wrap_at + 63] + d[wrap_at + 64 :]
    add("legacy-wrapped-key-63-bytes", short_wrap, "unwrap", "kind 2 with a 63-byte wrapped key (the last tag byte dropped, length field 63): a legacy wrap is 64 bytes")
    add("legacy-wrapped-key-flipped", flip(d, wrap_at + 20), "unwrap", "a bit flipped in the encrypted file key of the legacy wrap: its GCM tag fails")
    add("rsa-wrapped-key-flipped", flip(k1_1["data"], 16 + 40 + 100), "unwrap", "kind1-len1.enc with a bit flipped in the RSA-OAEP wrapped key", key="rsa")
    wrapped16 = oaep_encrypt(test_public_key, fixed("16-byte file key", 16), "sha256", "rsa 16-byte file key")
    h16 = header_bytes(1, k1_1["header"][14:54], wrapped16, k1_1["prefix"])
    add("rsa-file-key-16-bytes", h16 + seal(fixed("16-byte file key", 32), k1_1["prefix"], h16, 0, True, b"\x00"), "unwrap",
        "kind 1 whose RSA-OAEP wrap (valid, for the test certificate) holds a 16-byte file key instead of 32", key="rsa")
    other_legacy = base64.b64encode(b"OtherTestOnlyLegacyKeyForAzsBackupFailureVectorsNeverUseItEither")
    other_bytes = base64.b64decode(other_legacy)
    assert len(other_bytes) == 64
    fk = fixed("file key wrong-legacy-key")
    prefix = fixed("nonce prefix wrong-legacy-key", 7)
    h = header_bytes(2, legacy_key_id(other_bytes), legacy_wrap(other_bytes, fixed("salt wrong-legacy-key", 16), fk), prefix)
    add("wrong-legacy-key", h + seal(fk, prefix, h, 0, True, b"\x00"), "wrong_key",
        "a complete 1-byte file for another legacy key (base64 %s, key id %s)" % (other_legacy.decode(), legacy_key_id(other_bytes)))
    fk = fixed("file key wrong-certificate")
    prefix = fixed("nonce prefix wrong-certificate", 7)
    h = header_bytes(1, other_thumbprint, oaep_encrypt(other_key.public_key(), fk, "sha256", "wrong-certificate"), prefix)
    add("wrong-certificate", h + seal(fk, prefix, h, 0, True, b"\x00"), "wrong_key",
        "a complete 1-byte file for another certificate (thumbprint %s, made by generate.py)" % other_thumbprint, key="rsa")

    # The header is authenticated (AAD = SHA-256(header)).
    upper = d[:14] + d[14 : 14 + L].upper() + d[14 + L :]
    add("recipient-id-upper-case", upper, "auth:0", "key id upper-cased (KEY:917A...): ids compare case-insensitively, so only the AAD catches it")
    k1 = k1_1["data"]
    add("rsa-thumbprint-lower-case", k1[:14] + k1[14:54].lower() + k1[54:], "auth:0", "kind1-len1.enc with the thumbprint lower-cased: only the AAD catches it", key="rsa")
    add("nonce-prefix-flipped", flip(d, 106), "auth:0", "a bit flipped in the nonce prefix (last header byte)")

    # Chunks.
    add("chunk-ciphertext-flipped", flip(d, 107), "auth:0", "kind2-len1.enc with its one ciphertext byte flipped")
    add("chunk-tag-flipped", flip(d, len(d) - 1, 0x80), "auth:0", "kind2-len1.enc with a bit flipped in the last tag byte")
    add("truncated-in-chunk", k2_two["data"][: 107 + 1000], "auth:0", "kind2-len65537.enc cut 1000 bytes into chunk 0")
    add("last-chunk-missing", k2_two["header"] + c0, "auth:0", "kind2-len65537.enc cut at the chunk boundary: the final chunk is gone and chunk 0 (flag 0) ends the file")
    add("chunks-swapped", k2_two["header"] + c1 + c0, "auth:0", "kind2-len65537.enc with its two chunks in the other order")
    add("chunk-duplicated", k2_two["header"] + c0 + c0 + c1, "auth:1", "kind2-len65537.enc with chunk 0 repeated as chunk 1")
    add("trailing-garbage", d + b"garbage", "auth:0", "7 bytes appended to kind2-len1.enc: they join its last chunk")
    add("trailing-byte-after-full-chunk", k2_full["data"] + b"\x00", "auth:0", "1 byte appended to kind2-len65536.enc: its full last chunk is now read as non-final")
    final_first = seal(k2_two["file_key"], k2_two["prefix"], k2_two["header"], 0, True, plaintext(CHUNK))
    add("final-flag-on-first-chunk", k2_two["header"] + final_first + c1, "auth:0", "kind2-len65537.enc with chunk 0 re-sealed with the last flag set")
    add("chunk-from-other-file", k2_1["header"] + k2_0["payload"], "auth:0", "kind2-len1.enc's header followed by kind2-len0.enc's chunk (another file key)")

    # An edge that must be accepted.
    empty_last = seal(k2_two["file_key"], k2_two["prefix"], k2_two["header"], 1, True, b"")
    add("ok-empty-last-chunk", k2_two["header"] + c0 + empty_last, "ok", "a full chunk 0 then an empty final chunk (writers never do this; readers accept it): plaintext 65536 bytes, byte i = i mod 251")

    version_2_vectors(add, kat, recovery_thumbprint)


# ---------------------------------------------------------------------------------------------
# 2. manifest.json (docs/FORMAT.md §1)

FOLDER = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
SHA = hashlib.sha256(b"identity.tar.zst.enc").hexdigest()


def base_manifest():
    return {
        "manifestVersion": 1,
        "backupId": FOLDER,
        "toolVersion": "0.1.0",
        "status": "PartialSucceeded",
        "createdDateTime": "2025-01-31T02:00:00.123Z",
        "timeTakenToCreate": "PT1M2.345S",
        "encryptionCertThumbprint": "B9916D6CF6AF4E4BE5BB21619C09DE3360D24385",
        "hostName": "backup-host",
        "roleStatus": [
            {
                "roleName": "identity",
                "status": "Succeeded",
                "fileName": "identity.tar.zst.enc",
                "fileCount": 3,
                "plainSizeInBytes": 1234,
                "encryptedSizeInBytes": 700,
                "sha256": SHA,
                "changedFiles": ["logs/app.log"],
                "changedFileCount": 1,
            },
            {
                "roleName": "sql",
                "status": "Failed",
                "fileCount": 0,
                "plainSizeInBytes": 0,
                "encryptedSizeInBytes": 0,
                "errorMessage": "source sql: /srv/sql does not exist",
            },
        ],
    }


def dump(m):
    return (json.dumps(m, indent=2) + "\n").encode()


def manifest_vectors(out):
    def add(name, data, expected, description, folder=FOLDER):
        if isinstance(data, dict):
            data = dump(data)
        out.add("manifest/%s" % name, data, "manifest", expected, "folder=" + folder, description)

    def edit(fn):
        m = base_manifest()
        fn(m)
        return m

    role = lambda m, i: m["roleStatus"][i]  # noqa: E731

    base = base_manifest()
    add("ok-certificate.json", base, "ok", "a valid manifest: certificate mode, one source succeeded and one failed (PartialSucceeded)")

    def legacy_all_succeeded(m):
        del m["encryptionCertThumbprint"]
        m["encryptionKeyId"] = "key:917a48d9310eddf4"
        m["status"] = "Succeeded"
        m["roleStatus"][1] = {
            "roleName": "Web_Files-2.x",
            "status": "Succeeded",
            "fileName": "Web_Files-2.x.tar.zst.enc",
            "fileCount": 2 ** 53,
            "plainSizeInBytes": 2 ** 53,
            "encryptedSizeInBytes": 2 ** 53,
            "sha256": hashlib.sha256(b"web").hexdigest(),
        }
        m["futureField"] = {"readers": ["ignore", "unknown", "fields"]}

    add("ok-legacy-succeeded.json", edit(legacy_all_succeeded), "ok",
        "a valid manifest: legacy key id, every source succeeded, sizes exactly 2^53, an unknown extra field")

    def all_failed(m):
        m["status"] = "Failed"
        m["roleStatus"][0] = {"roleName": "identity", "status": "Failed", "errorMessage": "disk full"}

    add("ok-failed.json", edit(all_failed), "ok", "a valid manifest: every source failed (status Failed, no archive)")
    text = dump(base)
    add("ok-exactly-1mib.json.gz", text + b" " * ((1 << 20) - len(text)), "ok",
        "ok-certificate.json padded with spaces to exactly 1 MiB (1048576 bytes), the largest allowed; stored gzipped")

    # JSON itself.
    add("not-json.json", text[: len(text) // 2], "json", "ok-certificate.json cut in the middle")
    add("empty.json", b"", "json", "empty file")
    add("utf8-bom.json", b"\xef\xbb\xbf" + text, "json", "ok-certificate.json with a UTF-8 byte order mark (JSON text never has one)")
    add("lone-surrogate.json", text.replace(b'"backup-host"', b'"backup-host\\ud800"'), "json",
        "hostName holds the escape \\ud800, a lone surrogate: not a Unicode string")
    add("duplicate-key.json", text.replace(b'  "backupId"', b'  "backupId": "00000000-0000-4000-8000-000000000000",\n  "backupId"', 1),
        "json", "backupId given twice, first another GUID then the folder's: a reader that keeps the last one would be fooled")
    add("missing-host-name.json", edit(lambda m: m.pop("hostName")), "json", "no hostName")
    add("count-not-integer.json", text.replace(b'"fileCount": 3,', b'"fileCount": 3.0,'), "json", "fileCount 3.0: a count is an integer")
    add("size-negative.json", text.replace(b'"encryptedSizeInBytes": 700', b'"encryptedSizeInBytes": -700'), "json", "encryptedSizeInBytes -700")
    add("bad-date.json", edit(lambda m: m.update(createdDateTime="yesterday")), "json", "createdDateTime is not an RFC 3339 date")
    values = [base[k] for k in ("manifestVersion", "backupId", "toolVersion", "status", "createdDateTime",
                                "timeTakenToCreate", "encryptionCertThumbprint")]
    values += [None, base["hostName"], base["roleStatus"]]
    add("array-not-object.json", (json.dumps(values, indent=2) + "\n").encode(), "json",
        "the manifest's values as a JSON array (in the order of the fields) instead of an object")
    add("role-as-array.json", dump(edit(lambda m: m["roleStatus"].__setitem__(1, "@"))).replace(b'"@"', b'["sql", "Failed"]'),
        "json", "the failed source as the array [\"sql\", \"Failed\"] instead of an object")
    add("invalid-utf8-in-unknown-field.json", text.replace(b'  "hostName"', b'  "note": "caf\xe9",\n  "hostName"', 1), "json",
        "an unknown field whose string value holds the byte 0xE9 (Latin-1): the file is not UTF-8")
    add("role-status-not-array.json", edit(lambda m: m.update(roleStatus={"identity": "Succeeded"})), "json", "roleStatus is an object")
    add("too-large.json.gz", text + b" " * ((1 << 20) + 1 - len(text)), "too_large",
        "ok-certificate.json padded with spaces to 1048577 bytes, one more than 1 MiB; stored gzipped")

    # Fields.
    add("manifest-version-2.json", edit(lambda m: m.update(manifestVersion=2)), "manifest_version", "manifestVersion 2")
    add("backup-id-not-folder.json", base, "backup_id", "backupId is a GUID but not the folder it was found in",
        folder="6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4c")
    nohyphen = FOLDER.replace("-", "")
    add("backup-id-not-guid.json", edit(lambda m: m.update(backupId=nohyphen)), "backup_id",
        "backupId equals its folder but is a GUID without hyphens", folder=nohyphen)
    add("host-name-control-char.json", edit(lambda m: m.update(hostName="backup-host\u0007")), "text", "hostName holds U+0007 (BEL)")
    add("tool-version-too-long.json", edit(lambda m: m.update(toolVersion="1." * 40)), "text", "toolVersion of 80 bytes (max 64)")
    add("no-recipient.json", edit(lambda m: m.pop("encryptionCertThumbprint")), "recipient", "neither encryptionCertThumbprint nor encryptionKeyId")
    add("both-recipients.json", edit(lambda m: m.update(encryptionKeyId="key:917a48d9310eddf4")), "recipient", "both encryptionCertThumbprint and encryptionKeyId")
    add("thumbprint-not-hex.json", edit(lambda m: m.update(encryptionCertThumbprint="G" * 40)), "recipient", "encryptionCertThumbprint of 40 characters that are not hex digits")
    add("key-id-malformed.json",
        edit(lambda m: (m.pop("encryptionCertThumbprint"), m.update(encryptionKeyId="id:917a48d9310eddf4"))),
        "recipient", "encryptionKeyId without the key: prefix")

    # Recovery certificates (version-2 headers): at most 15 distinct thumbprints besides the
    # encryption certificate's (FORMAT.md §1).
    recovery = "D2DB1880764AD95F0911022B14F68FBAE6B1EB2D"
    other = "385BF29A57C766B9914061080D06F8C2D2CCAD5A"
    add("ok-recovery-thumbprints.json", edit(lambda m: m.update(recoveryCertThumbprints=[recovery, other.lower()], compressionLevel=-131072)), "ok",
        "a valid manifest with two recoveryCertThumbprints (the second in lower case) and compressionLevel -131072, the lowest zstd level")
    add("ok-legacy-key-with-recovery.json", edit(lambda m: (m.pop("encryptionCertThumbprint"), m.update(encryptionKeyId="key:917a48d9310eddf4", recoveryCertThumbprints=[recovery], compressionLevel=22))), "ok",
        "a valid manifest: a legacy key id, one recoveryCertThumbprints entry and compressionLevel 22, the highest")
    add("recovery-thumbprint-not-hex.json", edit(lambda m: m.update(recoveryCertThumbprints=[recovery, "Z" * 40])), "recipient",
        "a recoveryCertThumbprints entry of 40 characters that are not hex digits")
    add("recovery-thumbprint-39-digits.json", edit(lambda m: m.update(recoveryCertThumbprints=[recovery[:39]])), "recipient",
        "a recoveryCertThumbprints entry of 39 hex digits")
    add("recovery-thumbprint-duplicate.json", edit(lambda m: m.update(recoveryCertThumbprints=[recovery, recovery.lower()])), "recipient",
        "the same recovery thumbprint twice, in upper and lower case (thumbprints compare ignoring case)")
    add("recovery-thumbprint-is-encryption-certificate.json", edit(lambda m: m.update(recoveryCertThumbprints=[m["encryptionCertThumbprint"].lower()])), "recipient",
        "encryptionCertThumbprint again (in lower case) as a recovery thumbprint")
    add("recovery-thumbprints-16.json", edit(lambda m: m.update(recoveryCertThumbprints=[hashlib.sha1(b"recovery %d" % i).hexdigest().upper() for i in range(16)])), "recipient",
        "16 distinct recoveryCertThumbprints (max 15: a header holds at most 16 recipients)")
    add("recovery-thumbprints-null.json", edit(lambda m: m.update(recoveryCertThumbprints=None)), "json",
        "recoveryCertThumbprints null: an array when present, never null")
    add("recovery-thumbprints-not-array.json", edit(lambda m: m.update(recoveryCertThumbprints=recovery)), "json",
        "recoveryCertThumbprints a string instead of an array")

    # The compression level (informational, but bounded).
    add("compression-level-23.json", edit(lambda m: m.update(compressionLevel=23)), "compression_level", "compressionLevel 23 (zstd levels end at 22)")
    add("compression-level-below-min.json", edit(lambda m: m.update(compressionLevel=-131073)), "compression_level", "compressionLevel -131073 (zstd levels start at -131072)")
    add("compression-level-not-integer.json", edit(lambda m: m.update(compressionLevel=3.5)), "json", "compressionLevel 3.5")
    add("compression-level-string.json", edit(lambda m: m.update(compressionLevel="3")), "json", "compressionLevel \"3\", a string")
    add("compression-level-above-i32.json", edit(lambda m: m.update(compressionLevel=2 ** 31)), "json", "compressionLevel 2^31, not a 32-bit signed integer")

    def rename(name, file_name):
        def f(m):
            role(m, 0)["roleName"] = name
            role(m, 0)["fileName"] = file_name
        return f

    add("role-name-dotdot.json", edit(rename("..", "...tar.zst.enc")), "role_name", "roleName .. (fileName matching it)")
    add("role-name-slash.json", edit(rename("a/b", "a/b.tar.zst.enc")), "role_name", "roleName a/b (fileName matching it)")
    add("role-name-leading-dot.json", edit(rename(".hidden", ".hidden.tar.zst.enc")), "role_name", "roleName .hidden (fileName matching it)")
    add("role-name-too-long.json", edit(rename("r" * 65, "r" * 65 + ".tar.zst.enc")), "role_name", "roleName of 65 characters (max 64)")
    add("role-name-empty.json", edit(lambda m: role(m, 1).update(roleName="")), "role_name", "a failed source with an empty roleName")
    add("file-name-other-role.json", edit(lambda m: role(m, 0).update(fileName="sql.tar.zst.enc")), "file_name", "fileName sql.tar.zst.enc for roleName identity")
    add("file-name-traversal.json", edit(lambda m: role(m, 0).update(fileName="../identity.tar.zst.enc")), "file_name", "fileName ../identity.tar.zst.enc")
    add("file-name-on-failed-role.json", edit(lambda m: role(m, 1).update(fileName="sql.tar")), "file_name", "a failed source with fileName sql.tar")
    add("duplicate-role.json", edit(lambda m: role(m, 1).update(roleName="identity")), "duplicate_role", "roleName identity twice")
    add("duplicate-role-case.json", edit(lambda m: role(m, 1).update(roleName="IDENTITY")), "duplicate_role", "roleName identity and IDENTITY (names compare case-insensitively)")
    add("unknown-status.json", edit(lambda m: m.update(status="Completed")), "status", "status Completed")
    add("role-status-partial.json", edit(lambda m: role(m, 1).update(status="PartialSucceeded")), "status", "a source with status PartialSucceeded (only Succeeded or Failed)")
    add("status-disagrees.json", edit(lambda m: m.update(status="Succeeded")), "status", "status Succeeded although a source failed")
    add("status-failed-with-success.json", edit(lambda m: m.update(status="Failed")), "status", "status Failed although a source succeeded")
    add("succeeded-without-sha256.json", edit(lambda m: role(m, 0).pop("sha256")), "succeeded_role", "a succeeded source without sha256")
    add("succeeded-without-file-name.json", edit(lambda m: role(m, 0).pop("fileName")), "succeeded_role", "a succeeded source without fileName")
    add("sha256-upper-case.json", edit(lambda m: role(m, 0).update(sha256=SHA.upper())), "succeeded_role", "sha256 in upper-case hex")
    add("sha256-too-short.json", edit(lambda m: role(m, 0).update(sha256=SHA[:63])), "succeeded_role", "sha256 of 63 hex digits")
    add("size-above-2-53.json", edit(lambda m: role(m, 0).update(encryptedSizeInBytes=2 ** 53 + 1)), "size", "encryptedSizeInBytes 2^53 + 1")
    add("changed-file-count-above-2-53.json", edit(lambda m: role(m, 0).update(changedFileCount=2 ** 64 - 1)), "size", "changedFileCount 2^64 - 1")
    add("changed-files-101.json", edit(lambda m: role(m, 0).update(changedFiles=["f%d" % i for i in range(101)], changedFileCount=101)),
        "changed_files", "101 changedFiles (at most 100 are listed)")

    def many_roles(m):
        m["status"] = "Failed"
        m["roleStatus"] = [{"roleName": "r%d" % i, "status": "Failed"} for i in range(1025)]

    add("roles-1025.json.gz", edit(many_roles), "role_count", "1025 sources (max 1024), all failed; stored gzipped")
    add("error-message-too-long.json.gz", edit(lambda m: role(m, 1).update(errorMessage="x" * (64 * 1024 + 1))),
        "error_message", "an errorMessage of 64 KiB + 1 bytes; stored gzipped")


# ---------------------------------------------------------------------------------------------
# 3. Azure Stack Hub snapshots (docs/AZURESTACK.md)


def zip_bytes(entries):
    """A stored (uncompressed) zip, byte for byte the same on every run. entries: (name, data,
    unix mode)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name, date_time=(2019, 1, 15, 12, 0, 0))
            info.create_system = 3
            info.external_attr = mode << 16
            z.writestr(info, data)
    return buf.getvalue()


def zip_patch(data, name, fn):
    """Applies fn(bytearray, local header offset, central header offset, data offset) to the
    entry `name` of a zip."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        info = z.getinfo(name)
    b = bytearray(data)
    local = info.header_offset
    nlen, xlen = struct.unpack("<HH", b[local + 26 : local + 30])
    central = 0
    while True:
        central = b.find(b"PK\x01\x02", central)
        assert central >= 0, name
        (n,) = struct.unpack("<H", b[central + 28 : central + 30])
        if bytes(b[central + 46 : central + 46 + n]) == name.encode():
            break
        central += 4
    fn(b, local, central, local + 30 + nlen + xlen)
    return bytes(b)


BLOB = bytes((i * 7919 + 13) % 256 for i in range(1000))
ENTRIES = [
    ("Config/settings.json", b'{"region": "local"}\n', 0o100644),
    ("Data/empty.dat", b"", 0o100644),
    ("Data/nested/blob.bin", BLOB, 0o100644),
]


def pkcs7(data):
    n = 16 - len(data) % 16
    return data + bytes([n]) * n


def sidecar_xml(thumbprint, wrapped, status="Succeeded"):
    return (
        '<?xml version="1.0" encoding="utf-8"?>\r\n'
        '<BackupSnapshot xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\r\n'
        "  <BackupId>2b1a7c3e-0f6d-4a55-9d0c-3f1e2a4b5c6d</BackupId>\r\n"
        "  <SnapshotProperties>\r\n"
        "    <BackupStatus>%s</BackupStatus>\r\n"
        "    <BackupType>Full</BackupType>\r\n"
        "  </SnapshotProperties>\r\n"
        "  <EncryptionCertThumbprint>%s</EncryptionCertThumbprint>\r\n"
        "  <EncryptedBackupEncryptionKey>%s</EncryptedBackupEncryptionKey>\r\n"
        "</BackupSnapshot>\r\n" % (status, thumbprint, base64.b64encode(wrapped).decode())
    )


BOM = b"\xef\xbb\xbf"


def snapshot_vectors(out, test_public_key, test_thumbprint, other_key, other_thumbprint):
    def make(name, expected, description, plain=None, padded=None, oaep="sha1", status="Succeeded",
             key_text=None, mac_len=32, wrap_for=None, thumbprint=None, patch=None, sidecar=None):
        """Writes snapshot/NAME.zip and snapshot/NAME.xml. patch(file bytes) changes the
        encrypted file after it is made; sidecar(xml text) -> bytes replaces the sidecar."""
        enc_key = fixed("snapshot aes key " + name)
        mac_key = fixed("snapshot hmac key " + name, mac_len)
        iv = fixed("snapshot iv " + name, 16)
        if key_text is None:
            key_text = base64.b64encode(enc_key + mac_key)
        wrapped = oaep_encrypt(wrap_for or test_public_key, key_text, oaep, "snapshot " + name)
        if padded is None:
            padded = pkcs7(zip_bytes(ENTRIES) if plain is None else plain)
        enc = Cipher(algorithms.AES(enc_key), modes.CBC(iv)).encryptor()
        ct = enc.update(padded) + enc.finalize()
        tag = hmac.new(mac_key, ct, hashlib.sha512).digest()
        data = struct.pack("<5h", 1, 0, 0, 16, 64) + iv + tag + ct
        if patch is not None:
            data = patch(data)
        xml = sidecar_xml(thumbprint or test_thumbprint, wrapped, status)
        xml_bytes = BOM + xml.encode() if sidecar is None else sidecar(xml)
        out.write("snapshot/%s.xml" % name, xml_bytes)
        out.add("snapshot/%s.zip" % name, data, "snapshot", expected, "key=rsa", description)

    # Valid snapshots.
    make("ok", "ok", "a valid snapshot: 3 files (stored zip), key wrapped with RSA-OAEP SHA-1, UTF-8 sidecar with a BOM")
    make("ok-oaep-sha256", "ok", "a valid snapshot, key wrapped with RSA-OAEP SHA-256", oaep="sha256")

    def utf16(xml):
        xml = xml.replace('encoding="utf-8"', 'encoding="utf-16"')
        xml = xml.replace("<BackupSnapshot ", '<BackupSnapshot xmlns="urn:example:azurestack" ')
        spaced = " ".join(test_thumbprint[i : i + 2] for i in range(0, 40, 2)).lower()
        xml = xml.replace(test_thumbprint, " " + spaced + " ")
        return b"\xff\xfe" + xml.encode("utf-16-le")

    make("ok-utf16-sidecar", "ok", "a valid snapshot; sidecar in UTF-16LE with a BOM, elements in a default namespace, thumbprint lower-case with spaces", sidecar=utf16)
    make("ok-warnings", "ok", "a valid snapshot with BackupStatus Failed and a 64-byte HMAC key (both only warnings)", status="Failed", mac_len=64)
    make("ok-backslash-entry", "ok", "a valid snapshot whose zip has an entry named Data\\win.txt (a Windows separator: Data/win.txt)",
         plain=zip_bytes(ENTRIES + [("Data\\win.txt", b"windows\r\n", 0o100644)]))

    # The sidecar.
    make("sidecar-not-xml", "sidecar", "sidecar XML cut in the middle (not well-formed)", sidecar=lambda x: BOM + x[: len(x) // 2].encode())
    make("sidecar-wrong-root", "sidecar", "sidecar root element <Snapshot> instead of <BackupSnapshot>",
         sidecar=lambda x: BOM + x.replace("<BackupSnapshot ", "<Snapshot ").replace("</BackupSnapshot>", "</Snapshot>").encode())
    make("sidecar-no-key", "sidecar", "sidecar without EncryptedBackupEncryptionKey",
         sidecar=lambda x: BOM + "".join(l for l in x.splitlines(True) if "EncryptedBackupEncryptionKey" not in l).encode())
    make("sidecar-no-thumbprint", "sidecar", "sidecar without EncryptionCertThumbprint",
         sidecar=lambda x: BOM + "".join(l for l in x.splitlines(True) if "EncryptionCertThumbprint" not in l).encode())
    make("sidecar-dtd", "sidecar", "sidecar with a DOCTYPE declaring an entity (a DTD is refused)",
         sidecar=lambda x: BOM + x.replace("\r\n<BackupSnapshot", '\r\n<!DOCTYPE BackupSnapshot [<!ENTITY e "x">]>\r\n<BackupSnapshot', 1).encode())
    make("sidecar-not-utf8", "sidecar", "sidecar without a BOM holding byte 0xFF in BackupType: neither UTF-8 nor UTF-16",
         sidecar=lambda x: x.encode().replace(b"<BackupType>Full", b"<BackupType>F\xffull"))
    make("sidecar-key-not-base64", "sidecar", "EncryptedBackupEncryptionKey with a '!' in its base64",
         sidecar=lambda x: BOM + x.replace("<EncryptedBackupEncryptionKey>", "<EncryptedBackupEncryptionKey>!").encode())

    # The key.
    make("wrong-certificate", "wrong_key", "encrypted for another certificate (thumbprint %s): thumbprint mismatch" % other_thumbprint,
         wrap_for=other_key.public_key(), thumbprint=other_thumbprint)
    make("wrapped-for-other-key", "unwrap", "the sidecar names the test certificate but the key is wrapped for another RSA key",
         wrap_for=other_key.public_key())
    make("snapshot-key-not-utf8", "snapshot_key", "the key unwraps to bytes that are not UTF-8", key_text=b"\xff" * 40)
    make("snapshot-key-not-base64", "snapshot_key", "the key unwraps to UTF-8 text that is not base64", key_text=b"this is not base64!")
    make("snapshot-key-32-bytes", "snapshot_key", "the key unwraps to base64 of 32 bytes: an AES key without an HMAC key",
         key_text=base64.b64encode(fixed("snapshot aes key snapshot-key-32-bytes")))

    # The header.
    def field(i, v):
        return lambda d: d[: 2 * i] + struct.pack("<h", v) + d[2 * i + 2 :]

    make("header-tag-2", "header", "header tag 2 instead of 1", patch=field(0, 2))
    make("header-enc-alg-1", "header", "encAlg 1 (only 0 = AES-256-CBC)", patch=field(1, 1))
    make("header-auth-alg-1", "header", "authAlg 1 (only 0 = HMAC-SHA512)", patch=field(2, 1))
    make("header-iv-len-12", "header", "ivLen 12 (AES-CBC needs 16)", patch=field(3, 12))
    make("header-tag-len-32", "header", "tagLen 32 (HMAC-SHA512 gives 64)", patch=field(4, 32))
    make("header-tag-negative", "header", "header tag -1 (0xFFFF, a signed int16)", patch=field(0, -1))
    make("header-cut-in-fixed-part", "truncated", "file of 6 bytes, inside the 10-byte fixed header", patch=lambda d: d[:6])
    make("header-cut-in-tag", "truncated", "file of 50 bytes, inside the HMAC tag", patch=lambda d: d[:50])
    make("header-only", "length", "the 90-byte header and no ciphertext", patch=lambda d: d[:90])
    make("ciphertext-not-whole-blocks", "length", "last ciphertext byte dropped: not a whole number of AES blocks", patch=lambda d: d[:-1])

    # The HMAC (over the ciphertext only).
    make("ciphertext-flipped", "checksum", "a bit flipped in the first ciphertext block", patch=lambda d: flip(d, 90 + 5))
    make("tag-flipped", "checksum", "a bit flipped in the HMAC tag", patch=lambda d: flip(d, 26 + 63))
    make("ciphertext-last-block-dropped", "checksum", "the last 16-byte ciphertext block dropped", patch=lambda d: d[:-16])
    make("iv-flipped", "zip", "a bit flipped in the IV, which the HMAC does not cover: the first plaintext block (the zip's first local header signature) changes", patch=lambda d: flip(d, 10))

    # Decryption and the zip (the HMAC is valid: made with the snapshot's own keys).
    z = zip_bytes(ENTRIES)
    n = 16 - len(z) % 16  # PKCS#7 would add n bytes
    make("padding-zero", "padding", "the last plaintext byte is 0x00: not PKCS#7", padded=z + b"\x00" * n)
    m = n if n >= 2 else n + 16
    make("padding-inconsistent", "padding", "the plaintext ends with 01 02: the padding length 2 is not repeated",
         padded=z + b"\x00" * (m - 2) + b"\x01\x02")
    make("padding-17", "padding", "the plaintext ends with 0x11 bytes: a padding length of 17, more than a block", padded=z + b"\x11" * n)
    make("not-a-zip", "zip", "the plaintext is text, not a zip", plain=b"this is not a zip archive\n" * 10)

    def bad_crc(b, local, central, data):
        b[data] ^= 0x01

    make("zip-bad-crc", "zip_data", "a byte of Config/settings.json changed inside the zip: its CRC-32 fails",
         plain=zip_patch(z, "Config/settings.json", bad_crc))
    evil = lambda name, mode=0o100644, data=b"x\n": zip_bytes(ENTRIES + [(name, data, mode)])  # noqa: E731
    make("zip-entry-dotdot", "unsafe_entry", "a zip entry named ../escape.txt", plain=evil("../escape.txt"))
    make("zip-entry-dotdot-backslash", "unsafe_entry", "a zip entry named Data\\..\\..\\escape.txt", plain=evil("Data\\..\\..\\escape.txt"))
    make("zip-entry-absolute", "unsafe_entry", "a zip entry named /tmp/escape.txt", plain=evil("/tmp/escape.txt"))
    make("zip-entry-drive-letter", "unsafe_entry", "a zip entry named C:escape.txt", plain=evil("C:escape.txt"))
    make("zip-entry-symlink", "unsafe_entry", "a zip entry that is a symbolic link (Unix mode 0120777) to /etc", plain=evil("link", 0o120777, b"/etc"))

    def nul_name(b, local, central, data):
        for off in (local + 30, central + 46):
            assert b[off + 1 : off + 2] == b"X"
            b[off + 1] = 0

    make("zip-entry-nul", "unsafe_entry", "a zip entry named a<NUL>b.txt", plain=zip_patch(evil("aXb.txt"), "aXb.txt", nul_name))

    def encrypted(b, local, central, data):
        b[local + 6] |= 0x01
        b[central + 8] |= 0x01

    make("zip-entry-encrypted", "zip_encrypted", "a zip entry flagged as password-protected (general purpose bit 0)",
         plain=zip_patch(z, "Data/nested/blob.bin", encrypted))


# ---------------------------------------------------------------------------------------------


def generate(root):
    index, index_v2, kat = load_kat()
    with open(os.path.join(VECTORS, index["rsa_certificate"]), "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    test_thumbprint = hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    assert test_thumbprint == index["certificate_thumbprint"]
    other_key, other_thumbprint = other_rsa_key()
    out = Out(root)
    encrypted_vectors(out, kat, other_key, other_thumbprint, cert.public_key(), index_v2["recovery_certificate_thumbprint"])
    manifest_vectors(out)
    snapshot_vectors(out, cert.public_key(), test_thumbprint, other_key, other_thumbprint)
    out.finish()
    return out.rows


README = os.path.join(VECTORS, "README.md")
BEGIN = "<!-- failure vectors: made by fail/generate.py, do not edit by hand -->"
END = "<!-- end of failure vectors -->"


def readme_tables(rows):
    """The Markdown tables of the vectors, for tests/vectors/README.md."""

    def md(text):
        return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace("_", "\\_")

    out = []
    for fmt in ("encrypted", "manifest", "snapshot"):
        mine = [r for r in rows if r[1] == fmt]
        failing = sum(1 for r in mine if r[2] != "ok")
        out.append("### `%s`: %d failure vectors, %d ok\n" % (fmt, failing, len(mine) - failing))
        key = fmt == "encrypted"
        out.append("| vector | expected |%s what |" % (" key |" if key else ""))
        out.append("| --- | --- |%s --- |" % (" --- |" if key else ""))
        for path, _, expected, args, description in mine:
            column = " %s |" % args.split("=", 1)[1] if key else ""
            out.append("| `%s` | `%s` |%s %s |" % (path, expected, column, md(description)))
        out.append("")
    return "\n".join(out)


def readme_with(text, tables):
    if BEGIN not in text or END not in text:
        raise SystemExit("%s has no failure-vector markers" % README)
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return head + BEGIN + "\n\n" + tables + "\n" + END + tail


def contents(root):
    """{relative path: bytes} of the generated files (gzip files by their content)."""
    found = {}
    for sub in ("encrypted", "manifest", "snapshot", "expected.tsv"):
        top = os.path.join(root, sub)
        paths = [top] if os.path.isfile(top) else [
            os.path.join(d, n) for d, _, names in os.walk(top) for n in names
        ]
        for p in paths:
            rel = os.path.relpath(p, root).replace(os.sep, "/")
            with open(p, "rb") as f:
                data = f.read()
            found[rel] = gzip.decompress(data) if rel.endswith(".gz") else data
    return found


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="regenerate in a temporary folder and compare")
    p.add_argument("--out", default=HERE, help="where to write (default: this script's folder)")
    args = p.parse_args()
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            rows = generate(tmp)
            want, got = contents(tmp), contents(args.out)
        with open(README, encoding="utf-8") as f:
            text = f.read()
        problems = []
        if readme_with(text, readme_tables(rows)) != text:
            problems.append("differs: the tables of ../README.md (run generate.py)")
        problems += ["missing: " + k for k in sorted(set(want) - set(got))]
        problems += ["not made by generate.py: " + k for k in sorted(set(got) - set(want))]
        problems += ["differs: " + k for k in sorted(set(want) & set(got)) if want[k] != got[k]]
        for line in problems:
            print(line)
        print("%d files, %d problems" % (len(want), len(problems)))
        return 1 if problems else 0
    for sub in ("encrypted", "manifest", "snapshot"):
        shutil.rmtree(os.path.join(args.out, sub), ignore_errors=True)
    rows = generate(args.out)
    print("wrote %d vectors into %s" % (len(rows), args.out))
    if os.path.abspath(args.out) == HERE:
        with open(README, encoding="utf-8") as f:
            text = f.read()
        with open(README, "w", encoding="utf-8") as f:
            f.write(readme_with(text, readme_tables(rows)))
        print("updated the tables of %s" % README)
    return 0


if __name__ == "__main__":
    sys.exit(main())
