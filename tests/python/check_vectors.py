#!/usr/bin/env python3
"""Runs the independent Python readers on every test vector in tests/vectors/ (TEST ONLY).

    check_vectors.py [VECTORS_DIR]        # default: tests/vectors beside this folder

Reads the known-answer vectors (vectors.json, all must decrypt) and the known-failure vectors
(fail/expected.tsv) with decrypt_backup.py (encrypted files), check_manifest.py (manifests) and
unprotect_snapshot.py (Azure Stack snapshots), and prints one JSON object per line:

    {"vector": PATH, "format": ..., "kind": "ok" | failure kind, "message": ..., "digest": ...}

PATH is relative to VECTORS_DIR. `digest` summarises what an accepted vector holds, for
comparison with azs-backup: the plaintext's SHA-256 (encrypted), backupId/status/recipient/roles
(manifest), the sorted "path sha256" of each extracted file (snapshot). The comparison with the
expected kinds is the caller's (tests/formats/failure_vectors.rs).
"""

import gzip
import hashlib
import io
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import check_manifest  # noqa: E402
import decrypt_backup  # noqa: E402
import unprotect_snapshot  # noqa: E402


def parse_args(field):
    out = {}
    for part in field.split(","):
        if part and part != "-":
            k, _, v = part.partition("=")
            out[k] = v
    return out


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    return gzip.decompress(data) if path.endswith(".gz") else data


def main():
    vectors = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(HERE), "vectors")
    with open(os.path.join(vectors, "vectors.json"), encoding="utf-8") as f:
        index = json.load(f)
    # The test key with its certificate, so that its thumbprint is known.
    rsa_key, thumbprint = unprotect_snapshot.load_key(
        os.path.join(vectors, index["rsa_private_key"]),
        os.path.join(vectors, index["rsa_certificate"]),
    )
    assert thumbprint == index["certificate_thumbprint"]
    with open(os.path.join(vectors, index["legacy_key_file"]), encoding="utf-8") as f:
        legacy_text = f.read()

    jobs = [(v["file"], "encrypted", {"key": "rsa" if v["kind"] == 1 else "legacy"}) for v in index["vectors"]]
    with open(os.path.join(vectors, "fail", "expected.tsv"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            path, fmt, _expected, args, _description = line.rstrip("\n").split("\t")
            jobs.append(("fail/" + path, fmt, parse_args(args)))

    for rel, fmt, args in jobs:
        path = os.path.join(vectors, rel)
        result = {"vector": rel, "format": fmt, "kind": "ok", "message": "", "digest": None}
        try:
            if fmt == "encrypted":
                out = io.BytesIO()
                with open(path, "rb") as f:
                    if args["key"] == "rsa":
                        decrypt_backup.decrypt_file(f, out, rsa_key=(rsa_key, thumbprint))
                    else:
                        decrypt_backup.decrypt_file(f, out, legacy_key_text=legacy_text)
                result["digest"] = hashlib.sha256(out.getvalue()).hexdigest()
            elif fmt == "manifest":
                m = check_manifest.validate(read(path), args["folder"])
                result["digest"] = "%s %s %s %s" % (
                    m["backupId"],
                    m["status"],
                    m["encryptionCertThumbprint"] or m["encryptionKeyId"],
                    ",".join("%s:%s" % (r["roleName"], r["status"]) for r in m["roleStatus"]),
                )
            elif fmt == "snapshot":
                _, files = unprotect_snapshot.unprotect(path, rsa_key, thumbprint)
                result["digest"] = "\n".join(
                    sorted(
                        "%s %s" % (p, hashlib.sha256(d).hexdigest())
                        for p, d in files.items()
                        if d is not None
                    )
                )
            else:
                raise ValueError("unknown format %r" % fmt)
        except (
            decrypt_backup.FormatError,
            check_manifest.ManifestError,
            unprotect_snapshot.SnapshotError,
        ) as e:
            result["kind"] = e.kind
            result["message"] = str(e)
        except Exception as e:  # noqa: BLE001 - a reader bug: reported, never "ok"
            result["kind"] = "python-exception"
            result["message"] = "%s: %s" % (type(e).__name__, e)
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
