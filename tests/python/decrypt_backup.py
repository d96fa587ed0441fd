#!/usr/bin/env python3
"""Decrypts an azs-backup encrypted file (`<source>.tar.zst.enc`) without azs-backup.

An independent implementation of docs/FORMAT.md: Python 3.8+ and the `cryptography` package
only (python3 -m pip install cryptography). It writes the plaintext, which for a backup
archive is a zstd-compressed tar stream:

    decrypt_backup.py --key KEY.pem identity.tar.zst.enc -o - | zstd -dc | tar -xf - -C restored/
    decrypt_backup.py --legacy-key-file key.txt identity.tar.zst.enc -o identity.tar.zst
    decrypt_backup.py --header identity.tar.zst.enc        # prints the header as JSON, no key

--key takes a PEM file holding an RSA private key ("PRIVATE KEY", "RSA PRIVATE KEY" or
"ENCRYPTED PRIVATE KEY", optionally with its CERTIFICATE, as `azs-backup new-cert` writes it)
or a PKCS#12 file (.pfx/.p12). A password comes from AZS_BACKUP_KEY_PASSWORD, else from a
prompt (only when the file needs one).

Reads format versions 1 (one recipient) and 2 (1 to 16 recipients: the encryption certificate
or legacy key, then recovery certificates; FORMAT.md §2.3). A key given with its certificate,
and a legacy key, open only the entry with their id; a private key without its certificate
tries every certificate entry in turn. With several recipients, stderr says which one opened.

Every chunk is authenticated before its plaintext is written. With -o FILE the output is
written to FILE.partial and renamed to FILE only when the whole file authenticated; with -o -
plaintext goes to stdout as it authenticates, so a consumer must discard it when the exit
status is not 0. Exit status: 0 decrypted; 1 the file is damaged, tampered with, truncated or
not for this key; 2 usage error.
"""

import argparse
import base64
import getpass
import hashlib
import json
import os
import re
import struct
import sys

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    from cryptography.hazmat.primitives.serialization import pkcs12
except ImportError:  # pragma: no cover - reported to the user
    sys.stderr.write(
        "decrypt_backup.py needs the Python package 'cryptography': "
        "python3 -m pip install cryptography\n"
    )
    sys.exit(2)

MAGIC = b"AZSBKENC"
VERSION = 1  # one recipient (FORMAT.md §2.1)
VERSION_MULTI = 2  # 1 to 16 recipients (FORMAT.md §2.3)
MAX_RECIPIENTS = 16
MAX_ID = 256
MAX_WRAP = 4096
KIND_CERTIFICATE = 1
KIND_LEGACY_KEY = 2
CHUNK_LOG2 = 16
CHUNK = 1 << CHUNK_LOG2  # plaintext bytes per chunk
TAG = 16  # AES-GCM tag bytes per chunk
NONCE_PREFIX = 7
HKDF_INFO_LEGACY = b"azs-backup v1 legacy key wrap"
LEGACY_WRAP_AAD = b"azs-backup v1 legacy wrap"
KEY_ID_DOMAIN = b"azs-backup v1 key id"
ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


class FormatError(Exception):
    """The file is not a valid encrypted file for the key given.

    `kind` says why, in the vocabulary of the failure vectors (tests/vectors/README.md):
    truncated, bad_magic, version, header, wrong_key, unwrap, auth:N (chunk N failed to
    authenticate); key (the key file itself cannot be used) and no_key (no key of the kind the
    file needs was given) are about the key, not the file.
    """

    def __init__(self, message, kind="invalid"):
        super().__init__(message)
        self.kind = kind


def read_full(f, n):
    """Reads up to n bytes, fewer only at the end of the file."""
    parts = []
    while n > 0:
        b = f.read(n)
        if not b:
            break
        parts.append(b)
        n -= len(b)
    return b"".join(parts)


def read_exact(f, n, what):
    b = read_full(f, n)
    if len(b) != n:
        raise FormatError("file is truncated (it ends inside the %s)" % what, "truncated")
    return b


def ascii_lower(text):
    """Lower-cases A-Z only: recipient ids compare ignoring ASCII case (FORMAT.md §2.1)."""
    return text.translate(ASCII_LOWER)


def same_id(a, b):
    return ascii_lower(a) == ascii_lower(b)


def read_entry(f, raw, kind):
    """Reads one recipient entry after its kind byte (FORMAT.md §2.1 from offset 12, §2.3):
    u16be id length | id | u16be wrapped key length | wrapped key. Appends the bytes to raw."""
    if kind not in (KIND_CERTIFICATE, KIND_LEGACY_KEY):
        raise FormatError("unknown recipient kind %d" % kind, "header")
    length = read_exact(f, 2, "header")
    raw.append(length)
    (id_len,) = struct.unpack(">H", length)
    if not 1 <= id_len <= MAX_ID:
        raise FormatError("recipient id length out of range", "header")
    rid = read_exact(f, id_len + 2, "header")
    raw.append(rid)
    (wrap_len,) = struct.unpack(">H", rid[id_len:])
    if not 1 <= wrap_len <= MAX_WRAP:
        raise FormatError("wrapped key length out of range", "header")
    try:
        recipient_id = rid[:id_len].decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError("recipient id is not UTF-8", "header")
    wrapped = read_exact(f, wrap_len, "header")
    raw.append(wrapped)
    return {"kind": kind, "recipient_id": recipient_id, "wrapped_key": wrapped}


def read_header(f):
    """Parses a version-1 or version-2 header; returns (fields, raw header bytes).

    fields: {"version", "recipients": [{"kind", "recipient_id", "wrapped_key"}, ...],
    "nonce_prefix"}; one recipient in version 1, 1 to 16 in version 2, in header order."""
    fixed = read_exact(f, 12, "header")
    if fixed[:8] != MAGIC:
        raise FormatError("not an azs-backup encrypted file (bad magic)", "bad_magic")
    version, byte9, chunk_log2, reserved = fixed[8:12]
    if version not in (VERSION, VERSION_MULTI):
        raise FormatError("unsupported format version %d" % version, "version")
    if chunk_log2 != CHUNK_LOG2 or reserved != 0:
        raise FormatError("unsupported chunk size or flags", "header")
    raw = [fixed]
    if version == VERSION:
        recipients = [read_entry(f, raw, byte9)]
    else:
        if not 1 <= byte9 <= MAX_RECIPIENTS:
            raise FormatError("recipient count %d out of range 1..=16" % byte9, "header")
        recipients = []
        for _ in range(byte9):
            kind = read_exact(f, 1, "header")
            raw.append(kind)
            entry = read_entry(f, raw, kind[0])
            if any(same_id(r["recipient_id"], entry["recipient_id"]) for r in recipients):
                raise FormatError(
                    "recipient %s is listed twice" % entry["recipient_id"], "header"
                )
            recipients.append(entry)
    prefix = read_exact(f, NONCE_PREFIX, "header")
    raw.append(prefix)
    return (
        {"version": version, "recipients": recipients, "nonce_prefix": prefix},
        b"".join(raw),
    )


def describe_id(recipient_id):
    if recipient_id.startswith("key:"):
        return "encryption key %s" % recipient_id
    return "certificate %s" % recipient_id


def describe_ids(header):
    each = [describe_id(r["recipient_id"]) for r in header["recipients"]]
    return each[0] if len(each) == 1 else "one of " + ", ".join(each)


# ---------------------------------------------------------------------------------------------
# Keys


def legacy_key_bytes(text):
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (ValueError, TypeError):
        raise FormatError("the legacy key is not base64", "key")
    if len(key) < 32:
        raise FormatError("the legacy key decodes to fewer than 32 bytes", "key")
    return key


def legacy_key_id(key):
    return "key:" + hashlib.sha256(KEY_ID_DOMAIN + key).hexdigest()[:16]


def legacy_unwrap(key, wrapped):
    if len(wrapped) != 16 + 32 + TAG:
        raise FormatError("the wrapped key has the wrong length for a legacy key", "unwrap")
    kek = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=wrapped[:16], info=HKDF_INFO_LEGACY
    ).derive(key)
    try:
        return AESGCM(kek).decrypt(b"\0" * 12, wrapped[16:], LEGACY_WRAP_AAD)
    except InvalidTag:
        raise FormatError("the legacy key given cannot unwrap the file key", "unwrap")


PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)-----END \1-----", re.DOTALL
)


def password_bytes(prompt):
    p = os.environ.get("AZS_BACKUP_KEY_PASSWORD")
    if p is None:
        if not sys.stdin.isatty():
            raise FormatError(
                "the key file needs a password: set AZS_BACKUP_KEY_PASSWORD", "key"
            )
        p = getpass.getpass(prompt)
    return p.encode("utf-8")


def load_rsa_key(path):
    """Returns (private key, SHA-1 thumbprint of its certificate or None)."""
    with open(path, "rb") as f:
        data = f.read()
    blocks = [(m.group(1).decode(), m.group(0)) for m in PEM_BLOCK.finditer(data)]
    thumbprint = None
    if blocks:
        keys = [(label, b) for label, b in blocks if label.endswith("PRIVATE KEY")]
        if not keys:
            raise FormatError("%s holds no PEM private key" % path, "key")
        label, pem = keys[0]
        password = None
        if label == "ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in pem:
            password = password_bytes("password of %s: " % path)
        try:
            key = serialization.load_pem_private_key(pem, password=password)
        except (ValueError, TypeError) as e:
            raise FormatError("%s: cannot read the private key (%s)" % (path, e), "key")
        certs = [b for label, b in blocks if label in ("CERTIFICATE", "X509 CERTIFICATE")]
        if certs:
            der = x509.load_pem_x509_certificate(certs[0]).public_bytes(
                serialization.Encoding.DER
            )
            thumbprint = hashlib.sha1(der).hexdigest().upper()
    else:
        # PKCS#12 / PFX: try the empty password first, as azs-backup does.
        try:
            key, cert, _ = pkcs12.load_key_and_certificates(data, b"")
        except ValueError:
            try:
                key, cert, _ = pkcs12.load_key_and_certificates(
                    data, password_bytes("password of %s: " % path)
                )
            except ValueError as e:
                raise FormatError(
                    "%s is neither a PEM private key nor a PKCS#12 file that opens with "
                    "this password (%s)" % (path, e),
                    "key",
                )
        if key is None:
            raise FormatError("%s holds no private key" % path, "key")
        if cert is not None:
            thumbprint = hashlib.sha1(
                cert.public_bytes(serialization.Encoding.DER)
            ).hexdigest().upper()
    if not isinstance(key, rsa.RSAPrivateKey):
        raise FormatError("%s does not hold an RSA private key" % path, "key")
    return key, thumbprint


def rsa_unwrap(key, wrapped):
    try:
        file_key = key.decrypt(
            wrapped,
            padding.OAEP(
                mgf=padding.MGF1(algorithm=hashes.SHA256()),
                algorithm=hashes.SHA256(),
                label=None,
            ),
        )
    except ValueError:
        raise FormatError("the private key given cannot unwrap the file key", "unwrap")
    return file_key


def unwrap_file_key(header, args):
    """(32-byte file key, index of the entry that opened) with the key of the command line."""
    if args.key:
        return unwrap_file_key_with(header, rsa_key=load_rsa_key(args.key))
    if args.legacy_key_file:
        with open(args.legacy_key_file, "r", encoding="utf-8") as f:
            return unwrap_file_key_with(header, legacy_key_text=f.read())
    if args.legacy_key is not None:
        return unwrap_file_key_with(header, legacy_key_text=args.legacy_key)
    raise FormatError(
        "file is encrypted for %s: give a private key with --key or a legacy key with "
        "--legacy-key-file" % describe_ids(header),
        "no_key",
    )


def unwrap_entry(entry, rsa_key=None, legacy_key=None):
    """The file key from one entry, or None when the entry is of the other kind than the key;
    FormatError("unwrap") when it does not open with it (or not to 32 bytes)."""
    if entry["kind"] == KIND_CERTIFICATE and rsa_key is not None:
        file_key = rsa_unwrap(rsa_key, entry["wrapped_key"])
    elif entry["kind"] == KIND_LEGACY_KEY and legacy_key is not None:
        file_key = legacy_unwrap(legacy_key, entry["wrapped_key"])
    else:
        return None
    if len(file_key) != 32:
        raise FormatError("the unwrapped file key is not 32 bytes", "unwrap")
    return file_key


def unwrap_file_key_with(header, rsa_key=None, legacy_key_text=None):
    """(32-byte file key, index in header["recipients"] of the entry that opened it).

    rsa_key: (RSA private key, its certificate's thumbprint or None), as load_rsa_key returns
    it; legacy_key_text: the legacy key's base64 text. FORMAT.md §2.3: a key whose id is known
    (a legacy key; an RSA key with its certificate) opens only the entry with that id
    (wrong_key when there is none, or when it is of the other kind); a bare RSA key tries every
    certificate entry in order (wrong_key when there is none, unwrap when none opens)."""
    entries = header["recipients"]
    if rsa_key is not None:
        key, given = rsa_key
        legacy = None
        what = describe_id(given) if given is not None else "a certificate's private key"
    elif legacy_key_text is not None:
        key = None
        legacy = legacy_key_bytes(legacy_key_text)
        given = legacy_key_id(legacy)
        what = describe_id(given)
    else:
        raise FormatError(
            "file is encrypted for %s: give its key" % describe_ids(header), "no_key"
        )
    wrong = FormatError(
        "file is encrypted for %s; the key given is for %s" % (describe_ids(header), what),
        "wrong_key",
    )
    if given is not None:
        for i, entry in enumerate(entries):
            if same_id(entry["recipient_id"], given):
                file_key = unwrap_entry(entry, key, legacy)
                if file_key is None:
                    raise wrong
                return file_key, i
        raise wrong
    tried = False
    for i, entry in enumerate(entries):
        try:
            file_key = unwrap_entry(entry, key, legacy)
        except FormatError:
            tried = True
            continue
        if file_key is not None:
            return file_key, i
    if not tried:
        raise wrong
    raise FormatError(
        "the private key given cannot unwrap the file key (it is not the key of %s)"
        % describe_ids(header),
        "unwrap",
    )


def decrypt_file(f, out, rsa_key=None, legacy_key_text=None):
    """Decrypts the whole encrypted file `f` (a binary file object), writing each chunk's
    plaintext to `out` after it authenticates. Returns the id of the recipient whose entry
    opened the file key. Raises FormatError (see its `kind`)."""
    header, raw = read_header(f)
    file_key, index = unwrap_file_key_with(header, rsa_key, legacy_key_text)
    aad = hashlib.sha256(raw).digest()
    for plain in decrypt_chunks(f, file_key, header["nonce_prefix"], aad):
        out.write(plain)
    return header["recipients"][index]["recipient_id"]


# ---------------------------------------------------------------------------------------------
# STREAM


def decrypt_chunks(f, file_key, nonce_prefix, aad):
    """Yields the plaintext of each chunk after it authenticates."""
    gcm = AESGCM(file_key)
    record = CHUNK + TAG
    counter = 0
    buf = read_full(f, record + 1)
    while True:
        # A full record followed by at least one more byte is not the last chunk; whatever
        # remains at the end of the file is the last chunk.
        last = len(buf) <= record
        if len(buf) < TAG:
            raise FormatError(
                "file is truncated (it ends inside the header or a chunk)", "truncated"
            )
        ct = buf if last else buf[:record]
        if counter > 0xFFFFFFFF:
            raise FormatError("too many chunks", "header")
        nonce = nonce_prefix + struct.pack(">I", counter) + (b"\x01" if last else b"\x00")
        try:
            plain = gcm.decrypt(nonce, ct, aad)
        except InvalidTag:
            raise FormatError(
                "authentication failed at chunk %d: the data was changed, truncated or "
                "reordered" % counter,
                "auth:%d" % counter,
            )
        yield plain
        if last:
            return
        counter += 1
        buf = buf[record:]
        buf += read_full(f, record + 1 - len(buf))


def main(argv=None):
    p = argparse.ArgumentParser(
        description="Decrypts an azs-backup encrypted file (docs/FORMAT.md) without azs-backup."
    )
    p.add_argument("archive", help="the encrypted file (<source>.tar.zst.enc)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--key", help="RSA private key: PEM (PKCS#8 or PKCS#1) or .pfx/.p12")
    g.add_argument("--legacy-key-file", help="file holding the legacy base64 encryption key")
    g.add_argument("--legacy-key", help="the legacy base64 encryption key itself")
    g.add_argument("--header", action="store_true", help="print the header as JSON and exit")
    p.add_argument("-o", "--output", help="where the plaintext goes ('-' for stdout)")
    args = p.parse_args(argv)
    if not args.header and not args.output:
        p.error("give -o FILE (or -o - for stdout), or --header")

    out = None
    partial = None
    try:
        with open(args.archive, "rb") as f:
            header, raw = read_header(f)
            if args.header:
                json.dump(
                    {
                        "version": header["version"],
                        "recipients": [
                            {
                                "kind": r["kind"],
                                "recipientId": r["recipient_id"],
                                "wrappedKeyLen": len(r["wrapped_key"]),
                            }
                            for r in header["recipients"]
                        ],
                        "noncePrefix": header["nonce_prefix"].hex(),
                        "headerLen": len(raw),
                        "headerSha256": hashlib.sha256(raw).hexdigest(),
                    },
                    sys.stdout,
                )
                sys.stdout.write("\n")
                return 0
            file_key, index = unwrap_file_key(header, args)
            if len(header["recipients"]) > 1:
                sys.stderr.write(
                    "decrypt_backup.py: opened with the entry of %s\n"
                    % describe_id(header["recipients"][index]["recipient_id"])
                )
            aad = hashlib.sha256(raw).digest()
            if args.output == "-":
                out = sys.stdout.buffer
            else:
                out = open(args.output + ".partial", "wb")
                partial = args.output + ".partial"
            for plain in decrypt_chunks(f, file_key, header["nonce_prefix"], aad):
                out.write(plain)
            out.flush()
        if partial is not None:
            out.close()
            os.replace(partial, args.output)
            partial = None
        return 0
    except FormatError as e:
        sys.stderr.write("decrypt_backup.py: %s: %s\n" % (args.archive, e))
        return 1
    except OSError as e:
        sys.stderr.write("decrypt_backup.py: %s\n" % e)
        return 1
    finally:
        if partial is not None:
            out.close()
            os.unlink(partial)


if __name__ == "__main__":
    sys.exit(main())
