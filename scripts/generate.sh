#!/usr/bin/env bash
# Regenerates completions/ and man/ from the binary (the test tests/cli/generated_files.rs fails
# when they are out of date).
set -euo pipefail
cd "$(dirname "$0")/.."
AZS_BACKUP_BLESS=1 cargo test -q --test cli generated_files
