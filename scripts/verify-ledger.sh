#!/usr/bin/env bash
# Independent verifier for a Flujo SQLite ledger: checks one run's hash chain with nothing but
# the sqlite3 CLI, xxd and b3sum (the BLAKE3 reference tool). It shares no code with Flujo, so
# an auditor can use it to check that `flujo lens verify` tells the truth.
#   usage: scripts/verify-ledger.sh STATE_DB RUN_ID
# Exit 0 and "ok N events HEAD" when intact; exit 1 naming the first bad seq otherwise.
set -euo pipefail
(($# == 2)) || { echo "usage: $0 STATE_DB RUN_ID   (STATE_DB: e.g. .flujo/state.db)" >&2; exit 2; }
for tool in sqlite3 xxd b3sum; do
  command -v "$tool" >/dev/null || {
    echo "$0 needs $tool on PATH: b3sum is the BLAKE3 reference tool (cargo install b3sum, or your distribution's b3sum package); sqlite3 and xxd are packages of those names" >&2
    exit 2
  }
done
db=$1 run=$2
[[ $run =~ ^[A-Za-z0-9._:-]+$ ]] || { echo "run id has characters this script does not quote" >&2; exit 2; }

# genesis = blake3("flujo.ledger.v1" || 0x00 || utf8(run_id))
prev=$( { printf 'flujo.ledger.v1\0'; printf '%s' "$run"; } | b3sum --no-names )
# A body is canonical CBOR of {runId, seq, type, v, at, data}, keys in RFC 8949 order, so its last
# two entries are "type" then "runId": a RunStarted body ends with exactly these bytes.
n=${#run}
if ((n < 24)); then len=$(printf '%02x' $((0x60 + n)))
elif ((n < 256)); then len=78$(printf '%02x' "$n")
else len=79$(printf '%04x' "$n"); fi
hex() { printf '%s' "$1" | xxd -p | tr -d '\n'; }
started=64$(hex type)6a$(hex RunStarted)65$(hex runId)$len$(hex "$run")
expected=1
while IFS='|' read -r seq p h body; do
  [[ $seq == "$expected" ]] || { echo "seq $expected: missing (next row is seq $seq)"; exit 1; }
  [[ ${p,,} == "$prev" ]] || { echo "seq $seq: link broken"; exit 1; }
  # hash_n = blake3(hash_{n-1} || body_n), over the stored bytes
  prev=$(printf '%s%s' "$prev" "${body,,}" | xxd -r -p | b3sum --no-names)
  [[ ${h,,} == "$prev" ]] || { echo "seq $seq: hash does not match body"; exit 1; }
  # The run begins with RunStarted, and only there.
  if [[ $seq == 1 && ${body,,} != *"$started" ]]; then echo "seq 1: not RunStarted"; exit 1; fi
  if [[ $seq != 1 && ${body,,} == *"$started" ]]; then echo "seq $seq: RunStarted again"; exit 1; fi
  expected=$((seq + 1))
done < <(sqlite3 -batch -noheader "$db" \
  "SELECT seq, hex(prev), hex(hash), hex(body) FROM events WHERE run_id = '$run' ORDER BY seq")

((expected > 1)) || { echo "seq 1: no events (a run begins with RunStarted)"; exit 1; }
head=$(sqlite3 -batch -noheader "$db" "SELECT seq, lower(hex(hash)) FROM run_heads WHERE run_id = '$run'")
[[ $head == "$((expected - 1))|$prev" ]] || { echo "seq $expected: ledger ends before the recorded head ($head)"; exit 1; }
echo "ok $((expected - 1)) events $prev"
