#!/usr/bin/env python3
"""Validates an azs-backup `manifest.json` without azs-backup.

An independent implementation of the rules of docs/FORMAT.md §1 ("A reader must validate a
manifest before using any of it") and docs/THREAT-MODEL.md, Python 3.8+ standard library only:

    check_manifest.py MASBackup/<backupId>/manifest.json          # folder = the parent's name
    check_manifest.py manifest.json --folder <backupId>
    check_manifest.py manifest.json --folder <backupId> --json     # the manifest, as checked

Exit status: 0 valid; 1 invalid (stderr says why, stdout gives the kind of failure with
--error-kind); 2 usage error.

Failure kinds (tests/vectors/README.md): too_large, json (not JSON, or a field missing or of
the wrong type), manifest_version, backup_id, text, recipient (also recoveryCertThumbprints),
compression_level, role_count, role_name, duplicate_role, file_name, succeeded_role, status,
size, changed_files, error_message.

Reading follows azs-backup's (serde) rules: unknown fields are ignored; a known field may
appear only once; optional strings may be absent or null; counts are JSON integers.
"""

import argparse
import datetime
import json
import os
import re
import sys
import unicodedata

MAX_MANIFEST_BYTES = 1 << 20
MANIFEST_VERSION = 1
MAX_ROLES = 1024
MAX_SIZE = 1 << 53
MAX_CHANGED_LISTED = 100
MAX_PATH = 4096
MAX_ERROR_MESSAGE = 64 * 1024
ARCHIVE_SUFFIX = ".tar.zst.enc"
STATUSES = ("Succeeded", "PartialSucceeded", "Failed")
U32 = (1 << 32) - 1
U64 = (1 << 64) - 1
I32 = (-(1 << 31), (1 << 31) - 1)
MAX_RECIPIENTS = 16  # in an archive's header: the encryption recipient and 15 recovery ones
COMPRESSION_LEVELS = (-131072, 22)  # every level zstd defines
ASCII_UPPER = {c: c - 32 for c in range(ord("a"), ord("z") + 1)}

GUID = re.compile(r"\A[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\Z")
SOURCE_NAME = re.compile(r"\A[A-Za-z0-9_\-][A-Za-z0-9._\-]{0,63}\Z")
THUMBPRINT = re.compile(r"\A[0-9A-Fa-f]{40}\Z")
KEY_ID = re.compile(r"\Akey:[0-9A-Fa-f]{16}\Z")
SHA256 = re.compile(r"\A[0-9a-f]{64}\Z")
RFC3339 = re.compile(
    r"\A(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})\Z"
)


class ManifestError(Exception):
    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


class Obj:
    """A JSON object as its (key, value) pairs in document order (duplicates kept)."""

    def __init__(self, pairs):
        self.pairs = pairs


def _reject_constant(name):
    raise ValueError("%s is not JSON" % name)


def _unicode_ok(s):
    try:
        s.encode("utf-8")
        return True
    except UnicodeEncodeError:  # a lone surrogate from a \\uD800-style escape
        return False


# Field readers: each takes (value, where) and returns the value or raises ManifestError.


def _json_error(where, what):
    return ManifestError("json", "%s: %s" % (where, what))


def _string(v, where):
    if not isinstance(v, str):
        raise _json_error(where, "expected a string")
    if not _unicode_ok(v):
        raise _json_error(where, "holds a lone surrogate")
    return v


def _opt_string(v, where):
    return None if v is None else _string(v, where)


def _uint(limit):
    def read(v, where):
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= limit:
            raise _json_error(where, "expected an integer from 0 to %d" % limit)
        return v

    return read


def _opt_i32(v, where):
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not I32[0] <= v <= I32[1]:
        raise _json_error(where, "expected a 32-bit signed integer")
    return v


def _bool(v, where):
    if not isinstance(v, bool):
        raise _json_error(where, "expected a boolean")
    return v


def _status(v, where):
    if not isinstance(v, str):
        raise _json_error(where, "expected a status string")
    if v not in STATUSES:
        raise ManifestError("status", "%s: unknown status %r" % (where, v))
    return v


def _datetime(v, where):
    s = _string(v, where)
    m = RFC3339.match(s)
    try:
        if not m:
            raise ValueError
        y, mo, d, h, mi, sec = (int(x) for x in m.groups()[:6])
        datetime.datetime(y, mo, d, h, mi, min(sec, 59))
        if sec > 60:
            raise ValueError
    except ValueError:
        raise _json_error(where, "expected an RFC 3339 date and time")
    return s


def _string_list(v, where):
    if not isinstance(v, list):
        raise _json_error(where, "expected an array of strings")
    return [_string(x, "%s[%d]" % (where, i)) for i, x in enumerate(v)]


def _struct(v, where, fields):
    """Reads a JSON object with `fields` {name: (reader, default or REQUIRED)}; unknown fields
    are ignored, a known field given twice is an error, a missing required field too."""
    if not isinstance(v, Obj):
        raise _json_error(where, "expected an object")
    out = {}
    for key, value in v.pairs:
        if not _unicode_ok(key):
            raise _json_error(where, "a key holds a lone surrogate")
        if key not in fields:
            continue
        if key in out:
            raise _json_error(where, "duplicate field %s" % key)
        out[key] = fields[key][0](value, "%s.%s" % (where, key))
    for key, (_, default) in fields.items():
        if key not in out:
            if default is REQUIRED:
                raise _json_error(where, "missing field %s" % key)
            out[key] = default() if callable(default) else default
    return out


REQUIRED = object()

ROLE_FIELDS = {
    "roleName": (_string, REQUIRED),
    "status": (_status, REQUIRED),
    "fileName": (_opt_string, None),
    "fileCount": (_uint(U64), 0),
    "plainSizeInBytes": (_uint(U64), 0),
    "encryptedSizeInBytes": (_uint(U64), 0),
    "sha256": (_opt_string, None),
    "errorMessage": (_opt_string, None),
    "changedFiles": (_string_list, list),
    "changedFileCount": (_uint(U64), 0),
}


def _roles(v, where):
    if not isinstance(v, list):
        raise _json_error(where, "expected an array")
    return [_struct(r, "%s[%d]" % (where, i), ROLE_FIELDS) for i, r in enumerate(v)]


MANIFEST_FIELDS = {
    "manifestVersion": (_uint(U32), REQUIRED),
    "backupId": (_string, REQUIRED),
    "toolVersion": (_string, REQUIRED),
    "status": (_status, REQUIRED),
    "createdDateTime": (_datetime, REQUIRED),
    "timeTakenToCreate": (_string, REQUIRED),
    "encryptionCertThumbprint": (_opt_string, None),
    "encryptionKeyId": (_opt_string, None),
    "recoveryCertThumbprints": (_string_list, list),
    "hostName": (_string, REQUIRED),
    "compressionLevel": (_opt_i32, None),
    "roleStatus": (_roles, REQUIRED),
    "isAutomaticBackup": (_bool, False),
}


def parse_json(data):
    """The JSON document in `data` (bytes), objects as Obj; ManifestError("json") if it is not
    one UTF-8 JSON value (no byte order mark, no NaN/Infinity)."""
    try:
        text = data.decode("utf-8")
        return json.loads(
            text, object_pairs_hook=Obj, parse_constant=_reject_constant, strict=True
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ManifestError("json", "not a UTF-8 JSON document: %s" % e)


def _text(field, v, limit):
    if len(v.encode("utf-8")) > limit or any(unicodedata.category(c) == "Cc" for c in v):
        raise ManifestError(
            "text", "%s is longer than %d bytes or holds control characters" % (field, limit)
        )


def validate(data, folder):
    """Checks `data` (the bytes of manifest.json found in the folder `folder`); returns the
    manifest as a dict (with defaults filled in) or raises ManifestError."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(
            "too_large", "%d bytes, more than the %d allowed" % (len(data), MAX_MANIFEST_BYTES)
        )
    m = _struct(parse_json(data), "manifest", MANIFEST_FIELDS)
    if m["manifestVersion"] != MANIFEST_VERSION:
        raise ManifestError(
            "manifest_version", "manifestVersion %d is not supported" % m["manifestVersion"]
        )
    if not GUID.match(m["backupId"]) or m["backupId"] != folder:
        raise ManifestError(
            "backup_id", "backupId %r is not the name of its folder %r" % (m["backupId"], folder)
        )
    _text("toolVersion", m["toolVersion"], 64)
    _text("hostName", m["hostName"], 255)
    _text("timeTakenToCreate", m["timeTakenToCreate"], 64)
    thumb, key_id = m["encryptionCertThumbprint"], m["encryptionKeyId"]
    if not (
        (thumb is not None and key_id is None and THUMBPRINT.match(thumb))
        or (thumb is None and key_id is not None and KEY_ID.match(key_id))
    ):
        raise ManifestError(
            "recipient",
            "exactly one of encryptionCertThumbprint (40 hex digits) and encryptionKeyId "
            "(key: and 16 hex digits) must be present",
        )
    recovery = m["recoveryCertThumbprints"]
    if len(recovery) >= MAX_RECIPIENTS or not all(THUMBPRINT.match(t) for t in recovery):
        raise ManifestError(
            "recipient",
            "recoveryCertThumbprints must hold at most %d thumbprints of 40 hex digits"
            % (MAX_RECIPIENTS - 1),
        )
    seen_ids = set()
    for rid in [thumb if thumb is not None else key_id] + recovery:
        if rid.translate(ASCII_UPPER) in seen_ids:
            raise ManifestError(
                "recipient",
                "recoveryCertThumbprints lists %s twice (or it is the encryption certificate)" % rid,
            )
        seen_ids.add(rid.translate(ASCII_UPPER))
    level = m["compressionLevel"]
    if level is not None and not COMPRESSION_LEVELS[0] <= level <= COMPRESSION_LEVELS[1]:
        raise ManifestError(
            "compression_level",
            "compressionLevel %d is not a zstd level (%d..=%d)" % ((level,) + COMPRESSION_LEVELS),
        )
    roles = m["roleStatus"]
    if len(roles) > MAX_ROLES:
        raise ManifestError("role_count", "more than %d sources" % MAX_ROLES)
    seen = set()
    for r in roles:
        name = r["roleName"]
        if not SOURCE_NAME.match(name):
            raise ManifestError("role_name", "roleName %r is not a valid source name" % name)
        if name.lower() in seen:
            raise ManifestError("duplicate_role", "roleName %r appears twice" % name)
        seen.add(name.lower())
        if r["fileName"] is not None and r["fileName"] != name + ARCHIVE_SUFFIX:
            raise ManifestError(
                "file_name", "%s: fileName must be %r" % (name, name + ARCHIVE_SUFFIX)
            )
        if r["status"] == "Succeeded":
            if r["fileName"] is None or r["sha256"] is None or not SHA256.match(r["sha256"]):
                raise ManifestError(
                    "succeeded_role",
                    "%s: a succeeded source needs fileName and a sha256 of 64 lower-case hex "
                    "digits" % name,
                )
        elif r["status"] != "Failed":
            raise ManifestError("status", "%s: status must be Succeeded or Failed" % name)
        for field in ("fileCount", "plainSizeInBytes", "encryptedSizeInBytes", "changedFileCount"):
            if r[field] > MAX_SIZE:
                raise ManifestError("size", "%s: %s is larger than 2^53" % (name, field))
        files = r["changedFiles"]
        if len(files) > MAX_CHANGED_LISTED or any(len(f.encode("utf-8")) > MAX_PATH for f in files):
            raise ManifestError("changed_files", "%s: changedFiles is too long" % name)
        if r["errorMessage"] is not None and len(r["errorMessage"].encode("utf-8")) > MAX_ERROR_MESSAGE:
            raise ManifestError("error_message", "%s: errorMessage is too long" % name)
    ok = sum(1 for r in roles if r["status"] == "Succeeded")
    derived = "Succeeded" if ok and ok == len(roles) else "PartialSucceeded" if ok else "Failed"
    if m["status"] != derived:
        raise ManifestError(
            "status", "status %s does not agree with its sources (%s)" % (m["status"], derived)
        )
    return m


def main(argv=None):
    p = argparse.ArgumentParser(description="Validates an azs-backup manifest.json.")
    p.add_argument("manifest", help="the manifest.json file")
    p.add_argument("--folder", help="the backup folder's name (default: the file's parent)")
    p.add_argument("--json", action="store_true", help="print the checked manifest as JSON")
    p.add_argument("--error-kind", action="store_true", help="print the failure kind on stdout")
    args = p.parse_args(argv)
    folder = args.folder
    if folder is None:
        folder = os.path.basename(os.path.dirname(os.path.abspath(args.manifest)))
    try:
        with open(args.manifest, "rb") as f:
            data = f.read(MAX_MANIFEST_BYTES + 1)
        m = validate(data, folder)
    except ManifestError as e:
        sys.stderr.write("check_manifest.py: %s: %s\n" % (args.manifest, e))
        if args.error_kind:
            print(e.kind)
        return 1
    except OSError as e:
        sys.stderr.write("check_manifest.py: %s\n" % e)
        return 1
    if args.json:
        json.dump(m, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
