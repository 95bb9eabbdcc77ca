#!/usr/bin/env bash
# Byte-for-byte check of tokken's analyzer against the real `mecab` binary: every line of a
# text file (default: the livedoor body lines and titles from ../shared/ref/tokenize) through
# `mecab -O ''` (surface TAB features, EOS) and `tokken-cli tokenize --format mecab`, with
# the same dictionary. Prints "identical" or the first differing lines.
#
#   scripts/reference/check_mecab.sh [TEXT_OR_JSONL_FILE...]
#
# Needs `mecab` on PATH (Debian: apt install mecab) and a dictionary (default: unidic-lite
# as tokken finds it; override with TOKKEN_DICDIR). JSONL inputs use their "text" field.
# TOKKEN_USERDIC=a.dic[,b.dic...] adds user dictionaries to both (`mecab -u`, `--userdic`).
set -euo pipefail
cd "$(dirname "$0")/../.."

command -v mecab >/dev/null || { echo "no mecab on PATH: apt install mecab" >&2; exit 2; }
BIN="${CARGO_TARGET_DIR:-target}/release/tokken-cli"
cargo build --release --quiet -p tokken-cli

DICDIR="${TOKKEN_DICDIR:-$(python3 -c 'import unidic_lite; print(unidic_lite.DICDIR)')}"
# `tokenize` needs a vocabulary, though the mecab format prints none of it.
VOCAB=../shared/ref/bert-base-japanese-v3/vocab.txt
[ -f "$VOCAB" ] || { echo "$VOCAB not found" >&2; exit 2; }
if [ $# -eq 0 ]; then
  set -- ../shared/ref/tokenize/livedoor-lines.ids.jsonl ../shared/ref/tokenize/livedoor-titles.ids.jsonl
fi
MECAB_USER=()
TOKKEN_USER=()
if [ -n "${TOKKEN_USERDIC:-}" ]; then
  MECAB_USER=(-u "$TOKKEN_USERDIC")
  IFS=, read -r -a dics <<< "$TOKKEN_USERDIC"
  for d in "${dics[@]}"; do TOKKEN_USER+=(--userdic "$d"); done
fi
# The dictionary's own mecabrc if it has one (unidic-lite does; Debian's jumandic does not).
RC="$DICDIR/mecabrc"
[ -f "$RC" ] || RC=/dev/null
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

status=0
for input in "$@"; do
  [ -f "$input" ] || { echo "skipping $input: not found" >&2; continue; }
  # One text per line, newlines inside a text replaced by spaces (MeCab reads lines).
  python3 - "$input" > "$TMP/text.txt" <<'EOF'
import json, sys
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        line = line.rstrip("\n")
        text = json.loads(line)["text"] if line.lstrip().startswith("{") else line
        print(text.replace("\r", " ").replace("\n", " "))
EOF
  # -b: a buffer larger than any line (MeCab splits longer lines); -O '': surface TAB features.
  # set -e stops here if mecab fails (e.g. an unreadable dictionary).
  mecab -b 100000000 -d "$DICDIR" -r "$RC" "${MECAB_USER[@]}" -O '' "$TMP/text.txt" > "$TMP/mecab.out"
  "$BIN" tokenize --vocab "$VOCAB" --dicdir "$DICDIR" "${TOKKEN_USER[@]}" \
    --input-format text --format mecab -i "$TMP/text.txt" > "$TMP/tokken.out"
  lines=$(wc -l < "$TMP/text.txt")
  if cmp -s "$TMP/mecab.out" "$TMP/tokken.out"; then
    echo "$input: identical ($lines texts, $(wc -l < "$TMP/mecab.out") output lines)"
  else
    echo "$input: DIFFERENT ($lines texts); first differences (< mecab, > tokken):"
    diff "$TMP/mecab.out" "$TMP/tokken.out" | head -20
    status=1
  fi
done
exit $status
