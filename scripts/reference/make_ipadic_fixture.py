"""MeCab + ipadic (as fugashi runs it) on the bundled test headlines and a few hard texts:
the golden file of tokenizer/tests/ipadic_parity.rs, which checks that tokken's analyzer
works with a second compiled dictionary (other matrix, char.def and unknown-word rules).

    .venv-ref/bin/python scripts/reference/make_ipadic_fixture.py

Writes tokenizer/tests/data/ipadic_mecab.jsonl: {"text", "words": [[surface, features]]},
features being fugashi's `node.feature` fields joined by commas.
"""

import json
from pathlib import Path

import fugashi
import ipadic

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tokenizer/tests/data/ipadic_mecab.jsonl"

# Texts that reach the unknown-word rules, grouping, whitespace and characters outside the
# BMP, written for this fixture.
EXTRA = [
    "東京都に行く。ＡＢＣ　123",
    "ｶﾀｶﾅとｶﾀｶﾅのﾃｽﾄ、半角ｽﾍﾟｰｽ　全角スペース",
    "iPhone15Proを3万9800円で予約した😀👍",
    "ダイバーシティ・アンド・インクルージョンを推進するプロジェクトマネージャー",
    "  先頭と末尾に空白  ",
    "\t改行なしのタブ\tと全角！？記号＃＄％",
    "𠮷野家で𩸽を食べた",
    "2024年12月31日23時59分、カウントダウン開始。",
    "ＰＤＦファイルをＺＩＰで圧縮してメール送信",
    "ﾟﾟﾟ・・・ーーー〜〜〜",
    "すもももももももものうち",
    "AI・IoT・DX時代のサイバーセキュリティ対策（2025年版）",
]


def texts():
    # The test split only keeps the file small (~100 KB); scripts/reference/check_mecab.sh
    # compares whole corpora against the mecab binary.
    with open(REPO / "data/headlines/test.jsonl", encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)["text"]
    yield from EXTRA


def main():
    tagger = fugashi.GenericTagger(ipadic.MECAB_ARGS)
    with open(OUT, "w", encoding="utf-8") as out:
        for text in texts():
            words = [[w.surface, ",".join(w.feature)] for w in tagger(text)]
            out.write(json.dumps({"text": text, "words": words}, ensure_ascii=False) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
