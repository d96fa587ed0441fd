#!/usr/bin/env python3
"""Writes an azs-backup backup (encrypted archives and manifest.json) without azs-backup.

An independent implementation of the writing side of docs/FORMAT.md, the counterpart of
decrypt_backup.py: Python 3.8+, the `cryptography` package and the `zstd` command. It exists to
make authentic backups with contents azs-backup itself never writes (entries named `../x`,
absolute names, links pointing out, device nodes, FIFOs, wrong counts in the manifest), to test
how readers treat hostile archives. Entry names and link targets reach the tar stream exactly
as given: nothing is normalised.

    encrypt_backup.py --cert CERT.cer --target DIR --backup-id GUID --spec SPEC.json
                      [--created 2026-01-01T00:00:00Z] [--manifest-override JSON]
    encrypt_backup.py --cert CERT.cer --target DIR --batch BACKUPS.json

--cert takes the recipient's certificate, DER (.cer) or PEM (a PEM file may also hold the
private key, as `azs-backup new-cert` writes it; only the CERTIFICATE block is used).
--legacy-key-file KEY.txt encrypts for a legacy key (kind 2) instead. --recovery-cert CERT
(repeatable) also wraps every file key for a recovery certificate: the archives then have
version-2 headers (FORMAT.md §2.3) and the manifest lists recoveryCertThumbprints.

SPEC.json lists the sources, in order:

    {"sources": [
      {"name": "etc", "entries": [
        {"name": "../evil", "type": "file", "data": "x", "mode": 420},
        {"name": "d", "type": "dir"},
        {"name": "up", "type": "symlink", "link": "../../.."},
        {"name": "h", "type": "hardlink", "link": "/etc/passwd"},
        {"name": "dev", "type": "char", "major": 1, "minor": 3},
        {"name": "blk", "type": "block", "major": 7, "minor": 0},
        {"name": "p", "type": "fifo"}
      ],
       "role": {"fileCount": 99}},
      {"name": "gone", "failed": "the source directory is missing"}
    ]}

Entry fields: `name` (verbatim), `type` (file, dir, symlink, hardlink, char, block, fifo),
`data` (UTF-8 text) or `data_b64` (base64) for files, `link` for symlinks and hard links,
`major`/`minor` for devices, and optional `mode` (default 0644 files, 0755 directories, 0777
symlinks, 0644 others), `uid`, `gid` (default 0) and `mtime` (default 1700000000).
A source with `failed` has no archive (roleStatus `Failed` with that errorMessage). `role`
merges fields into the source's roleStatus object (a `null` value removes the field), after
the true values are computed: this is how a test writes a wrong fileCount.

Writes `<target>/MASBackup/<id>/<name>.tar.zst.enc` for every source that did not fail, then
`manifest.json` (each under a temporary name, renamed when complete) and prints the manifest.
--manifest-override takes a JSON object merged into the manifest's top level (a `null` value
removes the field; `roleStatus` given there replaces the computed list).

--batch writes several backups in one run (Python and `cryptography` take a while to start):
a JSON list of objects, each a spec with `backupId` and optionally `created` and
`manifestOverride`. It prints the list of manifests.

Importable: build_tar(), zstd_compress(), load_certificate(), Recipient, encrypt(),
write_backup().

    encrypt_backup.py --self-test

reproduces every committed vector in tests/vectors (vectors.json and vectors-v2.json) byte for
byte (certificate entries with the vector's own OAEP wrap, which is randomized) and round-trips
fresh files at each chunk boundary, and a fresh version-2 file with each of its keys, through
the independent reader decrypt_backup.py.
"""

import argparse
import base64
import datetime
import hashlib
import io
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tarfile

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
except ImportError:  # pragma: no cover - reported to the user
    sys.stderr.write(
        "encrypt_backup.py needs the Python package 'cryptography': "
        "python3 -m pip install cryptography\n"
    )
    sys.exit(2)

# FORMAT.md §2.1
MAGIC = b"AZSBKENC"
VERSION = 1  # one recipient
VERSION_MULTI = 2  # several recipients (FORMAT.md §2.3)
MAX_RECIPIENTS = 16
KIND_CERTIFICATE = 1
KIND_LEGACY_KEY = 2
CHUNK_LOG2 = 16
CHUNK = 1 << CHUNK_LOG2  # plaintext bytes per chunk
TAG = 16
NONCE_PREFIX = 7
MAX_CHUNKS = 0xFFFFFFFF  # counters 0..=0xFFFFFFFE
# FORMAT.md §3.2
HKDF_INFO_LEGACY = b"azs-backup v1 legacy key wrap"
LEGACY_WRAP_AAD = b"azs-backup v1 legacy wrap"
KEY_ID_DOMAIN = b"azs-backup v1 key id"
# FORMAT.md §1
ROOT = "MASBackup"
MANIFEST = "manifest.json"
ARCHIVE_SUFFIX = ".tar.zst.enc"
SOURCE_NAME = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9._\-]{0,63}$")
# FORMAT.md §5
ZSTD_LEVEL = 3
DEFAULT_MTIME = 1700000000
TOOL_VERSION = "encrypt_backup.py (tests)"


class SpecError(Exception):
    """The spec or the arguments cannot be written as asked."""


# ---------------------------------------------------------------------------------------------
# Plaintext: tar (GNU headers) + zstd, FORMAT.md §5


def entry_data(e):
    if "data_b64" in e:
        return base64.b64decode(e["data_b64"])
    data = e.get("data", "")
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


TYPES = {
    "file": (tarfile.REGTYPE, 0o644),
    "dir": (tarfile.DIRTYPE, 0o755),
    "symlink": (tarfile.SYMTYPE, 0o777),
    "hardlink": (tarfile.LNKTYPE, 0o644),
    "char": (tarfile.CHRTYPE, 0o644),
    "block": (tarfile.BLKTYPE, 0o644),
    "fifo": (tarfile.FIFOTYPE, 0o644),
}


def build_tar(entries):
    """A tar stream of GNU-format headers with the entries as given (names verbatim).

    Returns (tar bytes, regular files, bytes of regular-file contents). Ends with two zero
    blocks and no padding to a 10240-byte record, as the Rust `tar` crate writes it.
    """
    buf = io.BytesIO()
    tf = tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT)
    files = 0
    size = 0
    for e in entries:
        kind = e.get("type", "file")
        if kind not in TYPES:
            raise SpecError("entry %r: unknown type %r" % (e.get("name"), kind))
        ti = tarfile.TarInfo()
        # Set after construction: TarInfo(name) would keep it too, but be explicit that no
        # normalisation (leading '/', '..') happens anywhere on the way to the header.
        ti.name = e["name"]
        ti.type, default_mode = TYPES[kind]
        ti.mode = e.get("mode", default_mode)
        ti.uid = e.get("uid", 0)
        ti.gid = e.get("gid", 0)
        ti.uname = ""
        ti.gname = ""
        ti.mtime = e.get("mtime", DEFAULT_MTIME)
        data = None
        if kind == "file":
            data = entry_data(e)
            ti.size = len(data)
            files += 1
            size += len(data)
        elif kind in ("symlink", "hardlink"):
            ti.linkname = e["link"]
        elif kind in ("char", "block"):
            ti.devmajor = e.get("major", 0)
            ti.devminor = e.get("minor", 0)
        tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    end = tf.offset  # end of the last member; close() would pad to a whole record
    raw = buf.getvalue()[:end] + b"\0" * (2 * tarfile.BLOCKSIZE)
    return raw, files, size


def zstd_compress(data, level=ZSTD_LEVEL):
    """One zstd frame, without content size or checksum (FORMAT.md §5), by the zstd CLI."""
    try:
        p = subprocess.run(
            ["zstd", "-%d" % level, "-q", "-c", "--no-check", "--no-content-size"],
            input=data,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            check=False,
        )
    except FileNotFoundError:
        raise SpecError("the zstd command is needed (apt-get install zstd)")
    if p.returncode != 0:
        raise SpecError("zstd failed: %s" % p.stderr.decode("utf-8", "replace").strip())
    return p.stdout


# ---------------------------------------------------------------------------------------------
# Recipients, FORMAT.md §3


PEM_CERT = re.compile(
    rb"-----BEGIN (?:X509 )?CERTIFICATE-----.*?-----END (?:X509 )?CERTIFICATE-----", re.DOTALL
)


def load_certificate(path):
    """Returns (RSA public key, thumbprint: SHA-1 of the DER, upper-case hex)."""
    with open(path, "rb") as f:
        data = f.read()
    m = PEM_CERT.search(data)
    if m:
        cert = x509.load_pem_x509_certificate(m.group(0))
    else:
        cert = x509.load_der_x509_certificate(data)
    der = cert.public_bytes(serialization.Encoding.DER)
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise SpecError("%s: not an RSA certificate" % path)
    if key.key_size < 2048:
        raise SpecError("%s: RSA key of %d bits (at least 2048)" % (path, key.key_size))
    return key, hashlib.sha1(der).hexdigest().upper()


def rsa_wrap(public_key, file_key):
    return public_key.encrypt(
        file_key,
        padding.OAEP(
            mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
        ),
    )


def legacy_key_bytes(text):
    key = base64.b64decode(text.strip(), validate=True)
    if len(key) < 32:
        raise SpecError("the legacy key decodes to fewer than 32 bytes")
    return key


def legacy_key_id(key):
    return "key:" + hashlib.sha256(KEY_ID_DOMAIN + key).hexdigest()[:16]


def legacy_wrap(key, file_key, salt=None):
    salt = os.urandom(16) if salt is None else salt
    kek = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=HKDF_INFO_LEGACY).derive(key)
    return salt + AESGCM(kek).encrypt(b"\0" * 12, file_key, LEGACY_WRAP_AAD)


class Recipient:
    """Who a file is encrypted for: a certificate (kind 1) or a legacy key (kind 2)."""

    def __init__(self, kind, recipient_id, wrap):
        self.kind = kind
        self.id = recipient_id
        self.wrap = wrap

    @staticmethod
    def certificate(path):
        key, thumbprint = load_certificate(path)
        return Recipient(KIND_CERTIFICATE, thumbprint, lambda fk: rsa_wrap(key, fk))

    @staticmethod
    def legacy(text, salt=None):
        """`salt` fixes the wrap's salt (for test vectors only: it must be fresh per file)."""
        key = legacy_key_bytes(text)
        return Recipient(
            KIND_LEGACY_KEY, legacy_key_id(key), lambda fk: legacy_wrap(key, fk, salt)
        )


# ---------------------------------------------------------------------------------------------
# Encrypted file: header | STREAM chunks, FORMAT.md §2 and §4


def entry_bytes(kind, recipient_id, wrapped):
    """u16be id length | id | u16be wrapped key length | wrapped key (the kind goes before)."""
    rid = recipient_id.encode("utf-8")
    if not 1 <= len(rid) <= 256:
        raise SpecError("recipient id length %d out of range 1..=256" % len(rid))
    if not 1 <= len(wrapped) <= 4096:
        raise SpecError("wrapped key length %d out of range 1..=4096" % len(wrapped))
    return struct.pack(">H", len(rid)) + rid + struct.pack(">H", len(wrapped)) + wrapped


def header_bytes(entries, nonce_prefix):
    """The header for entries [(kind, recipient id, wrapped key), ...]: version 1 for one
    recipient (FORMAT.md §2.1), else version 2 (§2.3, 2 to 16 recipients, distinct ids)."""
    if len(nonce_prefix) != NONCE_PREFIX:
        raise SpecError("the nonce prefix is %d bytes" % NONCE_PREFIX)
    if len(entries) == 1:
        kind, rid, wrapped = entries[0]
        return MAGIC + bytes([VERSION, kind, CHUNK_LOG2, 0]) + entry_bytes(kind, rid, wrapped) + nonce_prefix
    if not 2 <= len(entries) <= MAX_RECIPIENTS:
        raise SpecError("a file has 1 to %d recipients, not %d" % (MAX_RECIPIENTS, len(entries)))
    ids = [rid.upper() for _, rid, _ in entries]
    if len(set(ids)) != len(ids):
        raise SpecError("a recipient is listed twice")
    body = b"".join(bytes([kind]) + entry_bytes(kind, rid, w) for kind, rid, w in entries)
    return MAGIC + bytes([VERSION_MULTI, len(entries), CHUNK_LOG2, 0]) + body + nonce_prefix


def encrypt(plaintext, recipients, file_key=None, nonce_prefix=None):
    """The encrypted file for `plaintext` (bytes), for `recipients` (a Recipient, or a list of
    them: the encryption certificate or key first, then recovery certificates): one file key,
    wrapped for each."""
    if isinstance(recipients, Recipient):
        recipients = [recipients]
    file_key = os.urandom(32) if file_key is None else file_key
    nonce_prefix = os.urandom(NONCE_PREFIX) if nonce_prefix is None else nonce_prefix
    header = header_bytes([(r.kind, r.id, r.wrap(file_key)) for r in recipients], nonce_prefix)
    aad = hashlib.sha256(header).digest()
    gcm = AESGCM(file_key)
    # n = max(1, ceil(|P| / 65536)): a plaintext of k * 65536 bytes ends with a full chunk,
    # an empty plaintext is one empty last chunk.
    n = max(1, -(-len(plaintext) // CHUNK))
    if n > MAX_CHUNKS:
        raise SpecError("too many chunks")
    out = [header]
    for i in range(n):
        last = i == n - 1
        nonce = nonce_prefix + struct.pack(">I", i) + (b"\x01" if last else b"\x00")
        out.append(gcm.encrypt(nonce, plaintext[i * CHUNK : (i + 1) * CHUNK], aad))
    return b"".join(out)


# ---------------------------------------------------------------------------------------------
# Backup folder and manifest.json, FORMAT.md §1


def write_atomic(path, data):
    """Writes under a temporary name in the same folder, then renames (FORMAT.md §1)."""
    d, base = os.path.split(path)
    tmp = os.path.join(d, ".%s.%s.partial" % (base, os.urandom(4).hex()))
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def rfc3339_ms(t):
    """RFC 3339 in UTC, at most millisecond precision, `Z` suffix."""
    t = t.astimezone(datetime.timezone.utc)
    s = t.strftime("%Y-%m-%dT%H:%M:%S")
    ms = t.microsecond // 1000
    return s + (".%03d" % ms if ms else "") + "Z"


def merge(obj, override):
    """Top-level merge; a None value removes the field."""
    for k, v in override.items():
        if v is None:
            obj.pop(k, None)
        else:
            obj[k] = v
    return obj


def write_backup(
    recipient,
    target,
    backup_id,
    spec,
    created=None,
    manifest_override=None,
    host_name=None,
    allow_any_name=False,
    recovery=(),
):
    """Writes every source's archive and then manifest.json; returns the manifest (a dict).
    `recovery`: Recipients of recovery certificates, each archive's file key is also wrapped
    for (a version-2 header when there is one or more)."""
    sources = spec.get("sources")
    if not isinstance(sources, list) or not sources:
        raise SpecError("the spec needs a non-empty list 'sources'")
    started = datetime.datetime.now(datetime.timezone.utc)
    folder = os.path.join(target, ROOT, backup_id)
    os.makedirs(folder, exist_ok=True)
    roles = []
    for s in sources:
        name = s["name"]
        if not allow_any_name and not SOURCE_NAME.match(name):
            raise SpecError(
                "source name %r: 1 to 64 of A-Z a-z 0-9 . _ -, not starting with '.'" % name
            )
        if "failed" in s:
            role = {
                "roleName": name,
                "status": "Failed",
                "fileCount": 0,
                "plainSizeInBytes": 0,
                "encryptedSizeInBytes": 0,
                "errorMessage": s["failed"],
            }
        else:
            tar, files, size = build_tar(s.get("entries", []))
            enc = encrypt(zstd_compress(tar), [recipient] + list(recovery))
            file_name = name + ARCHIVE_SUFFIX
            write_atomic(os.path.join(folder, file_name), enc)
            role = {
                "roleName": name,
                "status": "Succeeded",
                "fileName": file_name,
                "fileCount": files,
                "plainSizeInBytes": size,
                "encryptedSizeInBytes": len(enc),
                "sha256": hashlib.sha256(enc).hexdigest(),
            }
        roles.append(merge(role, s.get("role", {})))
    ok = sum(1 for r in roles if r.get("status") == "Succeeded")
    status = "Succeeded" if ok == len(roles) else ("PartialSucceeded" if ok else "Failed")
    took = datetime.datetime.now(datetime.timezone.utc) - started
    manifest = {
        "manifestVersion": 1,
        "backupId": backup_id,
        "toolVersion": TOOL_VERSION,
        "status": status,
        "createdDateTime": created if created is not None else rfc3339_ms(started),
        "timeTakenToCreate": "PT%.3fS" % took.total_seconds(),
    }
    if recipient.kind == KIND_CERTIFICATE:
        manifest["encryptionCertThumbprint"] = recipient.id
    else:
        manifest["encryptionKeyId"] = recipient.id
    if recovery:
        manifest["recoveryCertThumbprints"] = [r.id for r in recovery]
    manifest["hostName"] = host_name if host_name is not None else socket.gethostname()
    manifest["roleStatus"] = roles
    merge(manifest, manifest_override or {})
    write_atomic(
        os.path.join(folder, MANIFEST), (json.dumps(manifest, indent=2) + "\n").encode("utf-8")
    )
    return manifest


# ---------------------------------------------------------------------------------------------
# Self-test: against the committed vectors and the independent reader


def self_test():
    """Checks this writer against tests/vectors (byte for byte) and decrypt_backup.py."""
    here = os.path.dirname(os.path.abspath(__file__))
    vectors = os.path.join(here, "..", "vectors")
    sys.path.insert(0, here)
    sys.dont_write_bytecode = True  # leave tests/python/__pycache__ as it is
    import decrypt_backup  # the independent reader beside this file

    with open(os.path.join(vectors, "vectors.json"), "r", encoding="utf-8") as f:
        index = json.load(f)
    with open(os.path.join(vectors, index["legacy_key_file"]), "r", encoding="utf-8") as f:
        legacy_text = f.read()
    listed = list(index["vectors"])
    v2_index = os.path.join(vectors, "vectors-v2.json")
    if os.path.exists(v2_index):
        with open(v2_index, "r", encoding="utf-8") as f:
            listed += json.load(f)["vectors"]
    checked = 0
    for v in listed:
        with open(os.path.join(vectors, v["file"]), "rb") as f:
            expected = f.read()
        plaintext = bytes(i % 251 for i in range(v["plaintext_len"]))
        file_key = bytes.fromhex(v["file_key"])
        prefix = bytes.fromhex(v["nonce_prefix"])
        # OAEP is randomized: a certificate entry reuses the vector's own wrapped key; a legacy
        # entry is wrapped again with the salt the index records. Everything else is made here.
        listed_recipients = v["recipients"] if "recipients" in v else [v]
        header, _ = decrypt_backup.read_header(io.BytesIO(expected))
        if len(header["recipients"]) != len(listed_recipients):
            raise SpecError("%s: %d recipients" % (v["file"], len(header["recipients"])))
        recipients = []
        for entry, want in zip(header["recipients"], listed_recipients):
            if want["kind"] == KIND_LEGACY_KEY:
                r = Recipient.legacy(legacy_text, bytes.fromhex(want["legacy_salt"]))
            else:
                r = Recipient(KIND_CERTIFICATE, want["recipient_id"], lambda fk, w=entry["wrapped_key"]: w)
            if r.id != want["recipient_id"]:
                raise SpecError("%s: recipient %s" % (v["file"], r.id))
            recipients.append(r)
        got = encrypt(plaintext, recipients, file_key, prefix)
        if got != expected:
            raise SpecError("%s: not reproduced byte for byte" % v["file"])
        checked += 1
    # Fresh files for the test certificate decrypt with the independent reader, at every
    # chunk boundary.
    recipient = Recipient.certificate(os.path.join(vectors, index["rsa_certificate"]))
    key, _ = decrypt_backup.load_rsa_key(os.path.join(vectors, index["rsa_private_key"]))
    for n in (0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 2 * CHUNK + 17):
        plaintext = os.urandom(n)
        data = encrypt(plaintext, recipient)
        f = io.BytesIO(data)
        header, raw = decrypt_backup.read_header(f)
        if [r["recipient_id"] for r in header["recipients"]] != [index["certificate_thumbprint"]]:
            raise SpecError("recipients %r" % header["recipients"])
        file_key = decrypt_backup.rsa_unwrap(key, header["recipients"][0]["wrapped_key"])
        out = b"".join(
            decrypt_backup.decrypt_chunks(
                f, file_key, header["nonce_prefix"], hashlib.sha256(raw).digest()
            )
        )
        chunks = max(1, -(-n // CHUNK))
        if out != plaintext or len(data) != len(raw) + n + TAG * chunks:
            raise SpecError("a %d-byte plaintext does not round-trip" % n)
        checked += 1
    # A fresh version-2 file (the test certificate, then the recovery certificate) opens with
    # each private key, and lists both in order.
    recovery_cert = os.path.join(vectors, "test-only-recovery-rsa2048-cert.pem")
    if os.path.exists(recovery_cert):
        both = [recipient, Recipient.certificate(recovery_cert)]
        plaintext = os.urandom(CHUNK + 5)
        data = encrypt(plaintext, both)
        if data[8:10] != bytes([VERSION_MULTI, 2]):
            raise SpecError("a file for two recipients has no version-2 header")
        for key_file, index_opened in (
            (index["rsa_private_key"], 0),
            ("test-only-recovery-rsa2048-key.pem", 1),
        ):
            rsa_key = decrypt_backup.load_rsa_key(os.path.join(vectors, key_file))
            out = io.BytesIO()
            opened = decrypt_backup.decrypt_file(io.BytesIO(data), out, rsa_key=rsa_key)
            if out.getvalue() != plaintext or opened != both[index_opened].id:
                raise SpecError("a version-2 file does not round-trip with %s" % key_file)
            checked += 1
    # Tar names reach the archive verbatim.
    names = ["../evil", "/abs/evil", "a/../../b", "x" * 150 + "/long"]
    tar, files, size = build_tar([{"name": n, "data": "1"} for n in names])
    got = [m.name for m in tarfile.open(fileobj=io.BytesIO(tar), mode="r:")]
    if got != names or files != len(names) or size != len(names):
        raise SpecError("tar names were changed: %r" % got)
    if len(tar) % tarfile.BLOCKSIZE or tar[-1024:] != bytes(1024):
        raise SpecError("the tar stream does not end with two zero blocks")
    checked += 1
    return checked


def main(argv=None):
    p = argparse.ArgumentParser(
        description="Writes an azs-backup backup (docs/FORMAT.md) without azs-backup.",
        epilog="encrypt_backup.py --self-test (alone) checks this writer against tests/vectors "
        "and decrypt_backup.py.",
    )
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--cert", help="the recipient's certificate: DER (.cer) or PEM")
    g.add_argument("--legacy-key-file", help="encrypt for this legacy key (kind 2) instead")
    p.add_argument(
        "--recovery-cert",
        action="append",
        default=[],
        help="a recovery certificate (DER or PEM) every file key is also wrapped for; repeat "
        "for several (the archives get version-2 headers)",
    )
    p.add_argument("--target", required=True, help="the target folder (MASBackup/ goes in it)")
    p.add_argument("--backup-id", help="the backup's GUID (folder name)")
    p.add_argument("--spec", help="JSON file listing the sources and entries")
    p.add_argument(
        "--batch",
        help="JSON file listing several backups, each {backupId, sources, created?, "
        "manifestOverride?}: written in one run (instead of --backup-id and --spec)",
    )
    p.add_argument("--created", help="createdDateTime (default: now, RFC 3339 UTC)")
    p.add_argument("--host-name", help="hostName (default: this machine's)")
    p.add_argument("--manifest-override", help="JSON object merged into the manifest")
    p.add_argument(
        "--allow-any-name",
        action="store_true",
        help="accept source names FORMAT.md does not allow (they become file names as given)",
    )
    if argv is None:
        argv = sys.argv[1:]
    if argv == ["--self-test"]:
        try:
            n = self_test()
        except SpecError as e:
            sys.stderr.write("encrypt_backup.py: self-test failed: %s\n" % e)
            return 1
        sys.stdout.write("encrypt_backup.py: self-test passed (%d checks)\n" % n)
        return 0
    args = p.parse_args(argv)
    if (args.batch is None) == (args.spec is None and args.backup_id is None):
        p.error("give --backup-id and --spec, or --batch")
    if args.batch is None and (args.spec is None or args.backup_id is None):
        p.error("--backup-id and --spec go together")
    try:
        if args.batch is not None:
            with open(args.batch, "r", encoding="utf-8") as f:
                jobs = json.load(f)
            if not isinstance(jobs, list):
                raise SpecError("--batch: a JSON list of backups")
        else:
            with open(args.spec, "r", encoding="utf-8") as f:
                spec = json.load(f)
            override = json.loads(args.manifest_override) if args.manifest_override else None
            jobs = [
                dict(
                    spec,
                    backupId=args.backup_id,
                    created=args.created,
                    manifestOverride=override,
                )
            ]
        if args.cert:
            recipient = Recipient.certificate(args.cert)
        else:
            with open(args.legacy_key_file, "r", encoding="utf-8") as f:
                recipient = Recipient.legacy(f.read())
        recovery = [Recipient.certificate(c) for c in args.recovery_cert]
        manifests = []
        for job in jobs:
            override = job.get("manifestOverride")
            if override is not None and not isinstance(override, dict):
                raise SpecError("the manifest override must be a JSON object")
            manifests.append(
                write_backup(
                    recipient,
                    args.target,
                    job["backupId"],
                    job,
                    created=job.get("created"),
                    manifest_override=override,
                    host_name=args.host_name,
                    allow_any_name=args.allow_any_name,
                    recovery=recovery,
                )
            )
    except (SpecError, ValueError, KeyError, OSError) as e:
        sys.stderr.write("encrypt_backup.py: %s\n" % e)
        return 1
    json.dump(manifests if args.batch is not None else manifests[0], sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
