#!/usr/bin/env bash
# Memory against data size (issue 12): peak RSS of azs-backup's backup, verify --key and
# restore for each data set given, so that one can check it does not grow with the data.
#
#   bench/scale.sh WORK DATA...       e.g. the standard set, gen_data.py's N_LARGE=17 (4x the
#                                     bytes) and gen_small.py's 200,000 files (10x the files)
#
# Each data set is backed up to WORK/out (on disk: only memory is compared here, the times
# are for information), verified with the key and restored to WORK/r, ROUNDS times (default
# 1). Prints a Markdown table: files, bytes, and per command the median wall and CPU seconds
# and the highest peak RSS (/usr/bin/time). Environment: AZS_BIN (default
# target/release/azs-backup), LEVEL (default: the tool's default), ROUNDS.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:?WORK}
shift
[ $# -ge 1 ] || { echo "usage: $0 WORK DATA..." >&2; exit 2; }
BIN=${AZS_BIN:-$REPO/target/release/azs-backup}
ROUNDS=${ROUNDS:-1}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
rm -rf "$WORK/home" "$WORK/certs" "$WORK/res"
mkdir -p "$WORK/home" "$WORK/res"
export HOME=$WORK/home
"$BIN" new-cert --dns-name scale.contoso.com --out-dir "$WORK/certs" --no-pfx >/dev/null
CER=$WORK/certs/scale.contoso.com.cer
PEM=$WORK/certs/scale.contoso.com.pem

# run NAME CMD...: one timed run; appends "wall cpu rss_kib" to res/NAME.
run() {
    local name=$1
    shift
    sync
    /usr/bin/time -f '%e %U %S %M' -o "$WORK/time.out" "$@" >/dev/null 2>"$WORK/err.out" || {
        cat "$WORK/err.out" >&2
        return 1
    }
    tail -n1 "$WORK/time.out" | awk '{printf "%s %.2f %s\n", $1, $2 + $3, $4}' >>"$WORK/res/$name"
}
median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
cell() { # cell NAME: "wall / CPU / RSS MiB"
    printf '%s / %s / %.1f' "$(awk '{print $1}' "$WORK/res/$1" | median)" \
        "$(awk '{print $2}' "$WORK/res/$1" | median)" \
        "$(awk '{print $3}' "$WORK/res/$1" | sort -n | tail -n1 | awk '{print $1 / 1024}')"
}

echo "| data | files | MiB | backup s / CPU s / peak RSS MiB | verify --key | restore |"
echo "| --- | ---: | ---: | --- | --- | --- |"
n=0
for DATA in "$@"; do
    n=$((n + 1))
    DATA=$(cd "$DATA" && pwd)
    CFG=$WORK/cfg-$n/settings.toml
    rm -rf "$WORK/out" "$WORK/cfg-$n"
    mkdir -p "$WORK/out"
    level=()
    [ -n "${LEVEL:-}" ] && level=(--compression-level "$LEVEL")
    echo pw | "$BIN" --config "$CFG" configure --path "$WORK/out" --username u --password-stdin \
        --encryption-cert-path "$CER" --source "data=$DATA" --no-verify "${level[@]}" >/dev/null
    tar -C "$DATA" -cf - . | cat >/dev/null # warm the page cache
    files=$(find "$DATA/" -type f | wc -l)
    mib=$(du -sm --apparent-size "$DATA/" | cut -f1)
    for _ in $(seq "$ROUNDS"); do
        rm -rf "$WORK/out/MASBackup"
        run "backup-$n" "$BIN" --config "$CFG" start-backup --json
        ID=$("$BIN" --config "$CFG" list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["backups"][0]["backupId"])')
        run "verify-$n" "$BIN" --config "$CFG" verify "$ID" --key "$PEM"
        rm -rf "$WORK/r"
        mkdir -p "$WORK/r"
        run "restore-$n" "$BIN" --config "$CFG" restore "$ID" --key "$PEM" --to "$WORK/r"
        rm -rf "$WORK/r"
    done
    echo "| $DATA | $files | $mib | $(cell "backup-$n") | $(cell "verify-$n") | $(cell "restore-$n") |"
done
rm -rf "$WORK/out" "$WORK/r"
