#!/usr/bin/env bash
# Independent verifier for a Flujo run export (`flujo lens export RUN > run.cbor`): recomputes the
# run's hash chain from genesis with nothing but xxd and b3sum (the BLAKE3 reference tool). It
# shares no code with Flujo; docs/audit.md describes the file format it reads.
#   usage: scripts/verify-export.sh run.cbor
# Exit 0 and "ok RUN N events HEAD" when intact; exit 1 naming the first bad seq otherwise.
set -euo pipefail
export LC_ALL=C
(($# == 1)) || { echo "usage: $0 run.cbor   (made by: flujo lens export RUN > run.cbor)" >&2; exit 2; }
for tool in xxd b3sum; do
  command -v "$tool" >/dev/null || {
    echo "$0 needs $tool on PATH: b3sum is the BLAKE3 reference tool (cargo install b3sum, or your distribution's b3sum package); xxd comes with vim (xxd package)" >&2
    exit 2
  }
done
[[ -r $1 ]] || { echo "cannot read $1" >&2; exit 2; }
hex=$(xxd -p "$1" | tr -d '\n')
i=0 # position in $hex, in hex digits (2 per byte)
# Bash takes a substring of a long value in time that grows with the offset, so the file is read
# through a window of it (refilled as $i passes its end): linear in the file, not quadratic.
WINDOW=65536 base=0 win=${hex:0:WINDOW}
# Sets $sl to $2 hex digits of the file at $1.
slice() {
  if (($1 < base || $1 + $2 > base + ${#win})); then
    if (($2 > WINDOW)); then sl=${hex:$1:$2}; return; fi
    base=$1; win=${hex:base:WINDOW}
  fi
  sl=${win:$1-base:$2}
}

fail() { echo "$1" >&2; exit 1; }
# Reads one CBOR head at $i: sets major, and val (the argument: an integer, or a length).
head_() {
  slice "$i" 2; ((${#sl} == 2)) || fail "the file ends at byte $((i / 2)) inside a record"
  local b=$((16#$sl)); i=$((i + 2))
  major=$((b >> 5)); local ai=$((b & 31)) n=0
  case $ai in 24) n=1 ;; 25) n=2 ;; 26) n=4 ;; 27) n=8 ;; 28|29|30|31) fail "unsupported CBOR head at byte $((i / 2 - 1))" ;; esac
  if ((n == 0)); then val=$ai; else slice "$i" $((2 * n)); val=$((16#$sl)); i=$((i + 2 * n)); fi
}
# Reads a byte or text string at $i into $str (hex digits).
bytes_() { head_; ((major == 2 || major == 3)) || fail "expected a string at byte $((i / 2))"; slice "$i" $((2 * val)); ((${#sl} == 2 * val)) || fail "the file ends at byte $((i / 2 + ${#sl} / 2)) inside a record"; str=$sl; i=$((i + 2 * val)); }
uint_() { head_; ((major == 0)) || fail "expected an unsigned integer at byte $((i / 2))"; }
text_() { bytes_; txt=$(printf '%s' "$str" | xxd -r -p); }

head_; [[ $major == 4 && $val == 2 ]] || fail "not a Flujo run export: expected [header, records]"
# The header: a map of text keys to text, unsigned integers, byte strings and booleans.
head_; ((major == 5)) || fail "not a Flujo run export: the header is not a map"
entries=$val run='' count='' headhash='' format=''
for ((k = 0; k < entries; k++)); do
  text_; key=$txt
  case $key in
    format) text_; format=$txt ;;
    runId) text_; run=$txt ;;
    records) uint_; count=$val ;;
    headHash) bytes_; headhash=$str ;;
    headSeq | version) uint_ ;;
    terminal) i=$((i + 2)) ;;
    *) fail "unknown header key $key" ;;
  esac
done
[[ $format == flujo.run-export ]] || fail "not a Flujo run export (format '$format')"

# genesis = blake3("flujo.ledger.v1" || 0x00 || utf8(run_id))
prev=$( { printf 'flujo.ledger.v1\0'; printf '%s' "$run"; } | b3sum --no-names)
head_; ((major == 4)) || fail "records is not an array"
n=$val
((n == count)) || fail "seq $((n + 1)): the header announces $count records; the file holds $n"
for ((r = 1; r <= n; r++)); do
  head_; [[ $major == 4 && $val == 3 ]] || fail "record $r is not [seq, body, hash]"
  uint_; seq=$val
  ((seq == r)) || fail "seq $r: missing (the record there claims seq $seq)"
  bytes_; body=$str
  bytes_; hash=$str
  # hash_n = blake3(hash_{n-1} || body_n), over the exact stored bytes
  prev=$(printf '%s%s' "$prev" "$body" | xxd -r -p | b3sum --no-names)
  [[ $hash == "$prev" ]] || fail "seq $seq: hash does not match body"
done
[[ $headhash == "$prev" ]] || fail "seq $n: the header's head hash is not the chain's"
echo "ok $run $n events $prev"
