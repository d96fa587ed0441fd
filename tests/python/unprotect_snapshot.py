#!/usr/bin/env python3
"""Checks and decrypts an Azure Stack Hub backup snapshot without azs-backup (`unprotect`).

An independent implementation of docs/AZURESTACK.md (Python 3.8+, the `cryptography` package,
the standard library's expat and zipfile):

    unprotect_snapshot.py --key KEY+CERT.pem SNAPSHOT.zip --verify-only
    unprotect_snapshot.py --key KEY.pem --cert CERT.pem SNAPSHOT.zip --destination DIR

The sidecar (SNAPSHOT with the extension .xml) must be beside the snapshot. --key takes a PEM
private key (with its certificate, or give --cert) or a .pfx (password from
AZS_BACKUP_KEY_PASSWORD). Exit status: 0 checked (and extracted); 1 refused (stderr says why;
with --error-kind stdout gives the kind); 2 usage error.

Failure kinds (tests/vectors/README.md): sidecar, wrong_key (thumbprint mismatch), unwrap,
snapshot_key, truncated, header, length, checksum, padding, zip, zip_data, unsafe_entry,
zip_encrypted.
"""

import argparse
import base64
import hashlib
import hmac
import io
import os
import struct
import sys
import xml.parsers.expat
import zipfile
import zlib

try:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
except ImportError:  # pragma: no cover - reported to the user
    sys.stderr.write("unprotect_snapshot.py needs the Python package 'cryptography'\n")
    sys.exit(2)

MAX_SIDECAR = 4 << 20
HEADER = struct.Struct("<5h")
BLOCK = 16
TAG_LEN = 64
ENC_KEY_LEN = 32


class SnapshotError(Exception):
    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


# ---------------------------------------------------------------------------------------------
# The sidecar


def decode_text(data):
    """UTF-8 (with or without a BOM) or UTF-16 with a BOM, as .NET writes XML."""
    try:
        if data.startswith(b"\xef\xbb\xbf"):
            return data[3:].decode("utf-8")
        if data.startswith(b"\xff\xfe"):
            body = data[2:]
            return body[: len(body) // 2 * 2].decode("utf-16-le")
        if data.startswith(b"\xfe\xff"):
            body = data[2:]
            return body[: len(body) // 2 * 2].decode("utf-16-be")
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SnapshotError("sidecar", "the sidecar is not UTF-8 or UTF-16 text")


class Element:
    def __init__(self, name):
        self.name = name  # local name (namespace dropped)
        self.children = []  # Elements and text strings, in order

    def child(self, name):
        for c in self.children:
            if isinstance(c, Element) and c.name == name:
                return c
        return None

    def text(self):
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)


def parse_xml(text):
    """The root Element; refuses a DTD and anything not well-formed."""
    parser = xml.parsers.expat.ParserCreate("UTF-8", "\x01")
    stack = []
    root = []

    def start(name, attrs):
        e = Element(name.split("\x01")[-1])
        if stack:
            stack[-1].children.append(e)
        else:
            root.append(e)
        stack.append(e)

    def end(name):
        stack.pop()

    def chars(data):
        if stack:
            stack[-1].children.append(data)

    def doctype(*args):
        raise SnapshotError("sidecar", "the sidecar has a DTD")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.StartDoctypeDeclHandler = doctype
    try:
        parser.Parse(text.encode("utf-8"), True)
    except xml.parsers.expat.ExpatError as e:
        raise SnapshotError("sidecar", "the sidecar is not well-formed XML: %s" % e)
    return root[0]


def normalise_thumbprint(t):
    kept = "".join(c for c in t if not c.isspace() and c not in ":\u200e")
    return "".join(chr(ord(c) - 32) if "a" <= c <= "z" else c for c in kept)


def read_sidecar(path):
    with open(path, "rb") as f:
        data = f.read(MAX_SIDECAR + 1)
    if len(data) > MAX_SIDECAR:
        raise SnapshotError("sidecar", "the sidecar is larger than 4 MiB")
    root = parse_xml(decode_text(data))
    if root.name != "BackupSnapshot":
        raise SnapshotError("sidecar", "the root element is <%s>" % root.name)
    key = root.child("EncryptedBackupEncryptionKey")
    key = key.text().strip() if key is not None else ""
    if not key:
        raise SnapshotError("sidecar", "EncryptedBackupEncryptionKey is missing or empty")
    thumb = root.child("EncryptionCertThumbprint")
    thumb = normalise_thumbprint(thumb.text().strip()) if thumb is not None else ""
    if not thumb:
        raise SnapshotError("sidecar", "EncryptionCertThumbprint is missing or empty")
    props = root.child("SnapshotProperties")
    status = props.child("BackupStatus") if props is not None else None
    return {
        "encrypted_key": key,
        "thumbprint": thumb,
        "backup_status": status.text().strip() if status is not None else None,
    }


# ---------------------------------------------------------------------------------------------
# The keys


def unwrap_keys(private_key, encrypted_key):
    """(AES key, HMAC key, OAEP hash name): RSA-OAEP with SHA-1, else SHA-256."""
    compact_b64 = "".join(c for c in encrypted_key if not c.isspace())
    try:
        wrapped = base64.b64decode(compact_b64, validate=True)
    except ValueError:
        raise SnapshotError("sidecar", "EncryptedBackupEncryptionKey is not base64")
    plain = None
    for name, h in (("SHA-1", hashes.SHA1), ("SHA-256", hashes.SHA256)):
        try:
            plain = private_key.decrypt(
                wrapped, padding.OAEP(mgf=padding.MGF1(h()), algorithm=h(), label=None)
            )
            break
        except ValueError:
            continue
    if plain is None:
        raise SnapshotError("unwrap", "the private key cannot unwrap EncryptedBackupEncryptionKey")
    try:
        text = plain.decode("utf-8")
    except UnicodeDecodeError:
        raise SnapshotError("snapshot_key", "the unwrapped snapshot key is not UTF-8 text")
    try:
        compact = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        raise SnapshotError("snapshot_key", "the unwrapped snapshot key is not base64 text")
    if len(compact) <= ENC_KEY_LEN:
        raise SnapshotError(
            "snapshot_key", "the unwrapped snapshot key has only %d bytes" % len(compact)
        )
    return compact[:ENC_KEY_LEN], compact[ENC_KEY_LEN:], name


# ---------------------------------------------------------------------------------------------
# The encrypted file and the zip


def safe_entry_path(name):
    """The entry's relative path ('/'-separated), or None when it would leave the destination."""
    if "\0" in name or name.startswith(("/", "\\")) or (len(name) >= 2 and name[1] == ":"):
        return None
    parts = []
    for part in name.replace("\\", "/").split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            return None
        parts.append(part)
    return "/".join(parts) or None


def read_snapshot(path, mac_key):
    """(IV, ciphertext) after checking the header, the length and the HMAC."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < HEADER.size:
        raise SnapshotError("truncated", "it ends inside the header")
    tag, enc_alg, auth_alg, iv_len, tag_len = HEADER.unpack_from(data)
    if (tag, enc_alg, auth_alg, iv_len, tag_len) != (1, 0, 0, BLOCK, TAG_LEN):
        raise SnapshotError(
            "header",
            "header (tag, encAlg, authAlg, ivLen, tagLen) = %r, expected (1, 0, 0, 16, 64)"
            % ((tag, enc_alg, auth_alg, iv_len, tag_len),),
        )
    start = HEADER.size + BLOCK + TAG_LEN
    if len(data) < start:
        raise SnapshotError("truncated", "it ends inside the header")
    iv, mac = data[HEADER.size : HEADER.size + BLOCK], data[HEADER.size + BLOCK : start]
    ct = data[start:]
    if not ct or len(ct) % BLOCK:
        raise SnapshotError("length", "the ciphertext has %d bytes: not whole AES blocks" % len(ct))
    if not hmac.compare_digest(hmac.new(mac_key, ct, hashlib.sha512).digest(), mac):
        raise SnapshotError("checksum", "checksum mismatch (HMAC-SHA512 over the ciphertext)")
    return iv, ct


def decrypt(enc_key, iv, ct):
    d = Cipher(algorithms.AES(enc_key), modes.CBC(iv)).decryptor()
    plain = d.update(ct) + d.finalize()
    n = plain[-1]
    if not 1 <= n <= BLOCK or plain[-n:] != bytes([n]) * n:
        raise SnapshotError("padding", "the PKCS#7 padding is not valid")
    return plain[:-n]


def read_zip(data):
    """{relative path: bytes} of the zip's files (directories are listed with None)."""
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        infos = z.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError, struct.error) as e:
        raise SnapshotError("zip", "the decrypted data is not a valid zip archive: %s" % e)
    entries = []
    for info in infos:
        name = info.orig_filename
        rel = safe_entry_path(name)
        if rel is None:
            raise SnapshotError("unsafe_entry", "the zip entry %r would land outside" % name)
        if (info.external_attr >> 16) & 0o120000 == 0o120000:
            raise SnapshotError("unsafe_entry", "the zip entry %r is a symbolic link" % name)
        if info.flag_bits & 0x1:
            raise SnapshotError("zip_encrypted", "the zip entry %r is password-protected" % name)
        entries.append((info, rel, name.endswith(("/", "\\"))))
    files = {}
    for info, rel, is_dir in entries:
        if is_dir:
            files.setdefault(rel, None)
            continue
        try:
            f = z.open(info)
        except (zipfile.BadZipFile, NotImplementedError, ValueError, EOFError) as e:
            raise SnapshotError("zip", "the decrypted data is not a valid zip archive: %s" % e)
        try:
            with f:
                files[rel] = f.read()
        except (zipfile.BadZipFile, zlib.error, EOFError) as e:
            raise SnapshotError("zip_data", "zip entry %s: %s" % (rel, e))
    return files


def unprotect(snapshot, private_key, thumbprint):
    """Checks and decrypts `snapshot` with its sidecar; returns (report dict, files dict)."""
    sidecar = read_sidecar(os.path.splitext(snapshot)[0] + ".xml")
    warnings = []
    if sidecar["backup_status"] != "Succeeded":
        warnings.append("BackupStatus is %r" % sidecar["backup_status"])
    if normalise_thumbprint(thumbprint) != sidecar["thumbprint"]:
        raise SnapshotError(
            "wrong_key",
            "Thumbprint mismatch: the snapshot is for certificate %s, the key for %s"
            % (sidecar["thumbprint"], thumbprint),
        )
    enc_key, mac_key, oaep = unwrap_keys(private_key, sidecar["encrypted_key"])
    if len(mac_key) != 32:
        warnings.append("the HMAC key has %d bits" % (len(mac_key) * 8))
    iv, ct = read_snapshot(snapshot, mac_key)
    files = read_zip(decrypt(enc_key, iv, ct))
    report = {
        "encryptionCertThumbprint": sidecar["thumbprint"],
        "backupStatus": sidecar["backup_status"],
        "oaepHash": oaep,
        "ciphertextSizeInBytes": len(ct),
        "warnings": warnings,
    }
    return report, files


def load_key(key_path, cert_path=None):
    """(RSA private key, certificate thumbprint)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import decrypt_backup

    key, thumbprint = decrypt_backup.load_rsa_key(key_path)
    if cert_path is not None:
        from cryptography import x509

        with open(cert_path, "rb") as f:
            data = f.read()
        cert = (
            x509.load_pem_x509_certificate(data)
            if b"-----BEGIN" in data
            else x509.load_der_x509_certificate(data)
        )
        thumbprint = hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    if thumbprint is None:
        raise SnapshotError("key", "%s holds no certificate: give --cert" % key_path)
    return key, thumbprint


def main(argv=None):
    p = argparse.ArgumentParser(description="Checks and decrypts an Azure Stack Hub snapshot.")
    p.add_argument("snapshot")
    p.add_argument("--key", required=True, help="PEM private key (+ certificate) or .pfx")
    p.add_argument("--cert", help="the certificate (PEM or DER) when --key has none")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--destination", help="extract the zip here (must be missing or empty)")
    g.add_argument("--verify-only", action="store_true")
    p.add_argument("--error-kind", action="store_true", help="print the failure kind on stdout")
    args = p.parse_args(argv)
    try:
        key, thumbprint = load_key(args.key, args.cert)
        report, files = unprotect(args.snapshot, key, thumbprint)
    except SnapshotError as e:
        sys.stderr.write("unprotect_snapshot.py: %s: %s\n" % (args.snapshot, e))
        if args.error_kind:
            print(e.kind)
        return 1
    except Exception as e:  # noqa: BLE001 - e.g. a key file that cannot be read
        sys.stderr.write("unprotect_snapshot.py: %s\n" % e)
        return 1
    for w in report["warnings"]:
        sys.stderr.write("warning: %s\n" % w)
    if args.destination:
        if os.path.exists(args.destination) and os.listdir(args.destination):
            sys.stderr.write("unprotect_snapshot.py: %s is not empty\n" % args.destination)
            return 2
        for rel, data in sorted(files.items()):
            target = os.path.join(args.destination, *rel.split("/"))
            if data is None:
                os.makedirs(target, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(data)
    print("%s: checksum ok, %d entries" % (args.snapshot, len(files)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
