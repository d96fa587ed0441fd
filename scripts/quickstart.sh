#!/usr/bin/env bash
# Quick start: installs what is missing (Debian), builds azs-backup, and runs the whole core
# chain on sample data into a local folder, showing each step.
#
#   bash scripts/quickstart.sh [DEMO_DIR]      (default ./azs-backup-demo)
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO=${1:-./azs-backup-demo}

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { step "$*"; "$@"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in pkg-config libsmbclient-dev; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    run as_root apt-get update -qq
    run as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
command -v cargo >/dev/null || { echo "quickstart: install Rust first (https://rustup.rs)" >&2; exit 1; }
run cargo build --release --quiet
BIN=$PWD/target/release/azs-backup

rm -rf "$DEMO"
mkdir -p "$DEMO/plans/offers" "$DEMO/identity"
DEMO=$(cd "$DEMO" && pwd)
cd "$DEMO"
echo "Gold plan: 100 VMs" >plans/offers/gold.txt
echo "Silver plan: 10 VMs" >plans/offers/silver.txt
ln -s offers/gold.txt plans/default
head -c 1048576 /dev/urandom >identity/keyvault.bin
chmod 600 identity/keyvault.bin
export AZS_BACKUP_CONFIG=$DEMO/settings.toml

run "$BIN" new-cert --dns-name backup.contoso.com --out-dir ./certs --no-pfx
step "echo 'demo-share-password' | azs-backup configure --path ./backups --username 'CONTOSO\\backupshareuser' --password-stdin --encryption-cert-path ./certs/backup.contoso.com.cer --source identity=./identity --source plans=./plans"
echo 'demo-share-password' | "$BIN" configure --path ./backups --username 'CONTOSO\backupshareuser' \
    --password-stdin --encryption-cert-path ./certs/backup.contoso.com.cer \
    --source identity=./identity --source plans=./plans
run "$BIN" start-backup
run "$BIN" list
ID=$("$BIN" list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["backups"][0]["backupId"])')
run "$BIN" show "$ID"
run "$BIN" status
run "$BIN" verify "$ID"
run "$BIN" verify "$ID" --key ./certs/backup.contoso.com.pem
run "$BIN" restore "$ID" --key ./certs/backup.contoso.com.pem --to ./restored
run diff -r --no-dereference ./plans ./restored/plans
run diff -r ./identity ./restored/identity
echo
echo "quickstart: done; everything is in $DEMO (settings: $AZS_BACKUP_CONFIG)"
