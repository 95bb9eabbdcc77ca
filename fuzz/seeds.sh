#!/usr/bin/env bash
# Seed corpora for the fuzz targets from the repo's own fixtures and data (run from fuzz/).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
c="$root/fuzz/corpus"
mkdir -p "$c"/{data_jsonl,data_csv,livedoor_article,mecab_dict,safetensors,pytorch_zip,pytorch_pickle,tokenizer_encode}
head -c 4000 "$root/data/headlines/train.jsonl" > "$c/data_jsonl/headlines"
printf '\xef\xbb\xbftext,label\r\n"a, b",x,\r\n\r\nc,y\r\n' > "$c/data_csv/bom_crlf"
printf 'text\tlabel\nすもも\tx\n' > "$c/data_csv/tsv"
printf 'http://news.livedoor.com/article/detail/1/\n2012-09-01T10:00:00+0900\nタイトル\n本文\n' > "$c/livedoor_article/a"
cp "$root/model/tests/fixtures/tiny-bert/model.safetensors" "$c/safetensors/tiny"
cp "$root/model/tests/fixtures/tiny-bert/pytorch_model.bin" "$c/pytorch_zip/tiny"
cp "$root"/engine/tests/fixtures/malicious_*.bin "$c/pytorch_zip/"
python3 - "$root" "$c" <<'PY' || true
import sys, zipfile, os
root, c = sys.argv[1], sys.argv[2]
bins = ["model/tests/fixtures/tiny-bert/pytorch_model.bin",
        "engine/tests/fixtures/malicious_eval_proto4.bin",
        "engine/tests/fixtures/malicious_os_system.bin"]
for i, b in enumerate(bins):
    z = zipfile.ZipFile(os.path.join(root, b))
    for n in z.namelist():
        if n.endswith("data.pkl"):
            open(os.path.join(c, "pytorch_pickle", f"seed{i}.pkl"), "wb").write(z.read(n))
PY
printf '東京都に行く\nすもももももももものうち\n' > "$c/tokenizer_encode/ja"
dic=${TOKKEN_DICDIR:-$(python3 -c 'import unidic_lite; print(unidic_lite.DICDIR)' 2>/dev/null || true)}
if [ -n "$dic" ] && [ -d "$dic" ]; then
  { printf '\x00'; cat "$dic/char.bin"; } > "$c/mecab_dict/char"
  { printf '\x01'; cat "$dic/unk.dic"; } > "$c/mecab_dict/unk"
  { printf '\x03'; head -c 4096 "$dic/matrix.bin"; } > "$c/mecab_dict/matrix_head"
fi
