#!/usr/bin/env python3
"""Many small files (issue 12's small-file case), seeded and reproducible.

Usage: gen_small.py OUT [SEED] [N_FILES] [N_DIRS]
  N_FILES files (default 200,000) of 40 B to 3 KiB (log-uniform) spread evenly over N_DIRS
  folders (default 400, as d000/ .. d399/), text-like (config and log lines, compressible).
Prints the file count, the byte count and a digest of the tree (paths and contents, in order).
"""
import hashlib
import math
import os
import random
import sys

if len(sys.argv) < 2:
    sys.exit(__doc__)
OUT = sys.argv[1]
SEED = int(sys.argv[2]) if len(sys.argv) > 2 else 20240601
N_FILES = int(sys.argv[3]) if len(sys.argv) > 3 else 200_000
N_DIRS = int(sys.argv[4]) if len(sys.argv) > 4 else 400
MIN, MAX = 40, 3 * 1024

rng = random.Random(SEED)
WORDS = ("server host port timeout retry enabled user group admin backup volume mount path "
         "share cluster node replica cache memory disk network address gateway policy rule "
         "allow deny log level info warn error service daemon schedule target source").split()


def blob(size):
    parts, n = [], 0
    while n < size:
        s = (f"{rng.choice(WORDS)}.{rng.choice(WORDS)} = {rng.randrange(100000)} "
             f"{rng.choice(WORDS)} 10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}\n")
        parts.append(s)
        n += len(s)
    return "".join(parts).encode()[:size]


digest = hashlib.sha256()
total = 0
per_dir = math.ceil(N_FILES / N_DIRS)
for i in range(N_FILES):
    d = os.path.join(OUT, f"d{i // per_dir:03d}")
    if i % per_dir == 0:
        os.makedirs(d, exist_ok=True)
    size = int(math.exp(rng.uniform(math.log(MIN), math.log(MAX))))
    data = blob(size)
    name = os.path.join(d, f"f{i:06d}.conf")
    with open(name, "wb") as f:
        f.write(data)
    digest.update(os.path.relpath(name, OUT).encode() + b"\0" + data)
    total += size
print(f"files={N_FILES} dirs={N_DIRS} bytes={total} digest={digest.hexdigest()}")
