#!/usr/bin/env python3
"""Builds Azure Stack Hub style encrypted backup snapshots for the `unprotect` tests.

An implementation of docs/AZURESTACK.md independent of azs-backup (Python `cryptography` and `zipfile`),
so the tests check the Rust reader against a second reading of the format:

  snapshot .zip  = int16le tag (1) | int16le encAlg (0 = AES-256-CBC, PKCS#7)
                   | int16le authAlg (0 = HMAC-SHA512) | int16le ivLen | int16le tagLen
                   | IV | tag | ciphertext          (tag = HMAC-SHA512(macKey, ciphertext))
  sidecar .xml   = /BackupSnapshot/EncryptedBackupEncryptionKey  base64(RSA-OAEP(UTF-8(base64(encKey32 | macKey32))))
                   /BackupSnapshot/EncryptionCertThumbprint      SHA-1 of the certificate's DER, upper-case hex
                   /BackupSnapshot/SnapshotProperties/BackupStatus

Usage:
  make_azs_snapshot.py keygen OUT_DIR NAME PASSWORD
      writes OUT_DIR/NAME.pfx (PKCS#12 with key and certificate, password-protected),
      OUT_DIR/NAME.cer (DER) and OUT_DIR/NAME.key.pem; prints {"thumbprint", "pfx", "cer"} as JSON
  make_azs_snapshot.py make --cert NAME.cer --src DIR --out SNAPSHOT.zip
                            [--oaep sha1|sha256] [--status Succeeded] [--entry NAME=TEXT ...]
      zips every file under DIR (names relative to DIR, '/' separated) plus each --entry
      verbatim (e.g. '../escape.txt=x'), encrypts the zip for the certificate and writes the
      sidecar beside it (SNAPSHOT.xml); prints {"snapshot", "sidecar", "thumbprint"} as JSON.
      The sidecar also holds BackupId, BackupType, CreatedDateTime, IsContemporaneousBackup
      (from the file name), RepositoryName and StampVersion (from the two folders above it).
  make_azs_snapshot.py share --root DIR --spec SPEC.json
      a whole backup share: every snapshot of SPEC under
      DIR/MASBackup/progressivebackup/<stamp>/<repo>/<time>_<id>_<type>[_C].zip (+ .xml), where
      SPEC = {"stamp": "1.2102.0.9", "backupInfo": "<time>" (optional: writes <time>_BackupInfo.xml),
              "snapshots": [{"repo", "time" (yyyyMMddHHmm), "id", "type" (Full|Progressive),
                             "c" (default true: the _C suffix), "cert" (.cer), "src" (folder),
                             "entries", "oaep" (sha1|sha256, default sha256), "status",
                             "propsAtRoot" (BackupType etc. at the root, not under SnapshotProperties),
                             "rawPlain" (text encrypted instead of a zip)}]};
      prints the list of {"snapshot", "sidecar", "thumbprint"} as JSON

Needs the `cryptography` package: `bash scripts/test.sh` (the README's test command) installs it.
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import io
import json
import os
import re
import struct
import sys
import zipfile
from xml.sax.saxutils import escape

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, padding, serialization
    from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID
except ImportError:  # pragma: no cover - reported to the Rust test, which fails loudly
    sys.stderr.write(
        "make_azs_snapshot.py needs the Python package `cryptography`; "
        "run the README's test command `bash scripts/test.sh`, which installs it "
        "(or `python3 -m pip install cryptography`)\n"
    )
    sys.exit(3)


def keygen(out_dir, name, password):
    os.makedirs(out_dir, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name}.azurestack.local")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=True,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    pfx = pkcs12.serialize_key_and_certificates(
        name.encode(),
        key,
        cert,
        None,
        serialization.BestAvailableEncryption(password.encode()),
    )
    paths = {
        "pfx": os.path.join(out_dir, f"{name}.pfx"),
        "cer": os.path.join(out_dir, f"{name}.cer"),
        "pem": os.path.join(out_dir, f"{name}.key.pem"),
    }
    with open(paths["pfx"], "wb") as f:
        f.write(pfx)
    with open(paths["cer"], "wb") as f:
        f.write(der)
    with open(paths["pem"], "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    os.chmod(paths["pfx"], 0o600)
    os.chmod(paths["pem"], 0o600)
    paths["thumbprint"] = hashlib.sha1(der).hexdigest().upper()
    print(json.dumps(paths))


def build_zip(src, entries):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        if src:
            for root, dirs, files in os.walk(src):
                dirs.sort()
                for name in sorted(files):
                    full = os.path.join(root, name)
                    rel = os.path.relpath(full, src).replace(os.sep, "/")
                    z.write(full, rel)
        for spec in entries:
            name, _, text = spec.partition("=")
            # A ZipInfo keeps the name exactly as given (no '..' clean-up).
            z.writestr(zipfile.ZipInfo(name, date_time=(2019, 1, 15, 12, 0, 0)), text.encode())
    return buf.getvalue()


SNAPSHOT_NAME = re.compile(r"^(\d{12})_([A-Za-z0-9-]+)_(Full|Progressive)(_C)?$")


def write_snapshot(
    cert_path, src, entries, out, oaep="sha1", status="Succeeded", props_at_root=False, raw_plain=None
):
    """Encrypts a zip of SRC (+ ENTRIES) for the certificate into OUT and writes its sidecar.

    The sidecar's BackupId, BackupType, CreatedDateTime and IsContemporaneousBackup come from
    OUT's name when it is <yyyyMMddHHmm>_<backupId>_<Full|Progressive>[_C].zip, its
    RepositoryName and StampVersion from the two folders above it. RAW_PLAIN (text) replaces the
    zip: a snapshot whose checksum matches but whose content is not a zip."""
    with open(cert_path, "rb") as f:
        der = f.read()
    cert = x509.load_der_x509_certificate(der)
    thumbprint = hashlib.sha1(der).hexdigest().upper()

    plain = raw_plain.encode() if raw_plain is not None else build_zip(src, entries)

    enc_key = os.urandom(32)
    mac_key = os.urandom(32)
    compact = base64.b64encode(enc_key + mac_key)  # ASCII = UTF-8 bytes of the base64 string
    oaep_hash = hashes.SHA1() if oaep == "sha1" else hashes.SHA256()
    wrapped = cert.public_key().encrypt(
        compact,
        asym_padding.OAEP(mgf=asym_padding.MGF1(algorithm=oaep_hash), algorithm=oaep_hash, label=None),
    )

    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain) + padder.finalize()
    encryptor = Cipher(algorithms.AES(enc_key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    tag = hmac.new(mac_key, ciphertext, hashlib.sha512).digest()

    header = struct.pack("<5h", 1, 0, 0, len(iv), len(tag))
    with open(out, "wb") as f:
        f.write(header + iv + tag + ciphertext)

    sidecar = os.path.splitext(out)[0] + ".xml"
    stem = os.path.splitext(os.path.basename(out))[0]
    m = SNAPSHOT_NAME.match(stem)
    backup_id = m.group(2) if m else (stem.split("_")[1] if "_" in stem else "")
    backup_type = m.group(3) if m else "Full"
    created = (
        datetime.datetime.strptime(m.group(1), "%Y%m%d%H%M").strftime("%Y-%m-%dT%H:%M:00Z") if m else ""
    )
    contemporaneous = "true" if (m and m.group(4)) else "false"
    repo_dir = os.path.dirname(os.path.abspath(out))
    repository = os.path.basename(repo_dir)
    stamp = os.path.basename(os.path.dirname(repo_dir))
    moved = (
        f"    <BackupType>{backup_type}</BackupType>\r\n"
        f"    <CreatedDateTime>{created}</CreatedDateTime>\r\n"
        f"    <IsContemporaneousBackup>{contemporaneous}</IsContemporaneousBackup>\r\n"
    )
    xml = (
        '<?xml version="1.0" encoding="utf-8"?>\r\n'
        '<BackupSnapshot xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\r\n'
        f"  <BackupId>{backup_id}</BackupId>\r\n"
        f"  <StampVersion>{escape(stamp)}</StampVersion>\r\n"
        f"  <RepositoryName>{escape(repository)}</RepositoryName>\r\n"
        + (moved if props_at_root else "")
        + "  <SnapshotProperties>\r\n"
        f"    <BackupStatus>{status}</BackupStatus>\r\n"
        + ("" if props_at_root else moved)
        + "  </SnapshotProperties>\r\n"
        f"  <EncryptionCertThumbprint>{thumbprint}</EncryptionCertThumbprint>\r\n"
        f"  <EncryptedBackupEncryptionKey>{base64.b64encode(wrapped).decode()}</EncryptedBackupEncryptionKey>\r\n"
        "</BackupSnapshot>\r\n"
    )
    with open(sidecar, "wb") as f:
        f.write(b"\xef\xbb\xbf" + xml.encode("utf-8"))  # .NET writes a UTF-8 BOM
    return {"snapshot": out, "sidecar": sidecar, "thumbprint": thumbprint}


def make(args):
    print(json.dumps(write_snapshot(args.cert, args.src, args.entry, args.out, args.oaep, args.status)))


def share(args):
    """Every snapshot of SPEC (JSON) under ROOT/MASBackup/progressivebackup/<stamp>/<repo>/."""
    with open(args.spec) as f:
        spec = json.load(f)
    base = os.path.join(args.root, "MASBackup", "progressivebackup", spec["stamp"])
    os.makedirs(base, exist_ok=True)
    if spec.get("backupInfo"):
        with open(os.path.join(base, spec["backupInfo"] + "_BackupInfo.xml"), "w") as f:
            f.write("<BackupInfo/>\n")
    out = []
    for s in spec["snapshots"]:
        repo_dir = os.path.join(base, s["repo"])
        os.makedirs(repo_dir, exist_ok=True)
        name = "%s_%s_%s%s.zip" % (s["time"], s["id"], s["type"], "_C" if s.get("c", True) else "")
        out.append(
            write_snapshot(
                s["cert"],
                s.get("src"),
                s.get("entries", []),
                os.path.join(repo_dir, name),
                s.get("oaep", "sha256"),
                s.get("status", "Succeeded"),
                s.get("propsAtRoot", False),
                s.get("rawPlain"),
            )
        )
    print(json.dumps(out))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    k = sub.add_parser("keygen")
    k.add_argument("out_dir")
    k.add_argument("name")
    k.add_argument("password")
    m = sub.add_parser("make")
    m.add_argument("--cert", required=True)
    m.add_argument("--src")
    m.add_argument("--out", required=True)
    m.add_argument("--oaep", choices=["sha1", "sha256"], default="sha1")
    m.add_argument("--status", default="Succeeded")
    m.add_argument("--entry", action="append", default=[])
    s = sub.add_parser("share")
    s.add_argument("--root", required=True)
    s.add_argument("--spec", required=True)
    args = p.parse_args()
    if args.cmd == "keygen":
        keygen(args.out_dir, args.name, args.password)
    elif args.cmd == "share":
        share(args)
    else:
        make(args)


if __name__ == "__main__":
    main()
