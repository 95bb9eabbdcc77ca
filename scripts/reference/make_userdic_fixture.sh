#!/usr/bin/env bash
# User-dictionary fixtures for tokenizer/tests/user_dictionary.rs, made with MeCab itself.
#
# Needs: mecab and mecab-dict-index (Debian: apt install mecab mecab-utils; the indexer is
# /usr/lib/mecab/mecab-dict-index there) and `pip install unidic-lite`. Run from the repo
# root:   scripts/reference/make_userdic_fixture.sh
#
# Writes into tokenizer/tests/data/:
#   userdic_a.dic, userdic_b.dic  compiled from userdic_a.csv / userdic_b.csv (entries with
#                                 unidic-lite's context ids: words that beat sys.dic's
#                                 analysis, a katakana and an ASCII word (categories that
#                                 still invoke unknown words), one surface with two entries,
#                                 a quoted feature with a comma, and a surface in both files
#                                 with equal costs, where MeCab's dictionary order decides)
#   userdic_mecab_a.txt           `mecab -u userdic_a.dic -O ''` on userdic_texts.txt
#   userdic_mecab_ab.txt          `mecab -u userdic_a.dic,userdic_b.dic -O ''` on the same
set -euo pipefail
cd "$(dirname "$0")/../../tokenizer/tests/data"
INDEX="${MECAB_DICT_INDEX:-$(command -v mecab-dict-index || echo /usr/lib/mecab/mecab-dict-index)}"
[ -x "$INDEX" ] || { echo "mecab-dict-index not found (apt install mecab-utils)" >&2; exit 2; }
DICDIR="$(python3 -c 'import unidic_lite; print(unidic_lite.DICDIR)')"
for name in a b; do
  "$INDEX" -d "$DICDIR" -u "userdic_$name.dic" -f utf-8 -t utf-8 "userdic_$name.csv" > /dev/null
done
mecab -d "$DICDIR" -r "$DICDIR/mecabrc" -u userdic_a.dic -O '' userdic_texts.txt > userdic_mecab_a.txt
mecab -d "$DICDIR" -r "$DICDIR/mecabrc" -u userdic_a.dic,userdic_b.dic -O '' userdic_texts.txt \
  > userdic_mecab_ab.txt
echo "wrote $(pwd)/userdic_{a,b}.dic and userdic_mecab_{a,ab}.txt"
