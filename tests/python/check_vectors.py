#!/usr/bin/env python3
"""Runs the independent Python readers on every test vector in tests/vectors/ (TEST ONLY).

    check_vectors.py [VECTORS_DIR]        # default: tests/vectors beside this folder

Reads the known-answer vectors (vectors.json with their one key, vectors-v2.json with the
recovery key; all must decrypt) and the known-failure vectors
(fail/expected.tsv) with decrypt_backup.py (encrypted files), check_manifest.py (manifests) and
unprotect_snapshot.py (Azure Stack snapshots), and prints one JSON object per line:

    {"vector": PATH, "format": ..., "kind": "ok" | failure kind, "message": ..., "digest": ...}

PATH is relative to VECTORS_DIR. `digest` summarises what an accepted vector holds, for
comparison with azs-backup: the plaintext's SHA-256 and the id of the header entry that opened
(encrypted), backupId/status/recipients/roles
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
    with open(os.path.join(vectors, "vectors-v2.json"), encoding="utf-8") as f:
        index_v2 = json.load(f)
    # The recovery key with its certificate (key=recovery), and alone (key=recovery-bare).
    recovery_key, recovery_thumbprint = unprotect_snapshot.load_key(
        os.path.join(vectors, index_v2["recovery_private_key"]),
        os.path.join(vectors, index_v2["recovery_certificate"]),
    )
    assert recovery_thumbprint == index_v2["recovery_certificate_thumbprint"]
    rsa_keys = {
        "rsa": (rsa_key, thumbprint),
        "recovery": (recovery_key, recovery_thumbprint),
        "recovery-bare": (recovery_key, None),
    }

    # Known-answer vectors: version 1 with its one key, version 2 with the recovery key.
    jobs = [(v["file"], "encrypted", {"key": "rsa" if v["kind"] == 1 else "legacy"}) for v in index["vectors"]]
    jobs += [(v["file"], "encrypted", {"key": "recovery"}) for v in index_v2["vectors"]]
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
                    if args["key"] == "legacy":
                        opened = decrypt_backup.decrypt_file(f, out, legacy_key_text=legacy_text)
                    else:
                        opened = decrypt_backup.decrypt_file(f, out, rsa_key=rsa_keys[args["key"]])
                result["digest"] = "%s opened by %s" % (hashlib.sha256(out.getvalue()).hexdigest(), opened)
            elif fmt == "manifest":
                m = check_manifest.validate(read(path), args["folder"])
                result["digest"] = "%s %s %s %s" % (
                    m["backupId"],
                    m["status"],
                    "+".join([m["encryptionCertThumbprint"] or m["encryptionKeyId"]] + m["recoveryCertThumbprints"]),
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
