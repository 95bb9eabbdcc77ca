"""Random lines of mixed scripts for differential checks against MeCab.

Writes JSONL {"text": ...} lines mixing hiragana, katakana (full and half width), kanji,
ASCII and full-width letters and digits, punctuation, every kind of space, symbols, emoji and
characters above U+FFFF, accented Latin, Hangul, Cyrillic and Greek, plus a few 3,000-character
lines. Feed the file to check_mecab.sh:

    python3 scripts/reference/make_fuzz_lines.py OUT.jsonl [--lines N] [--seed S]
    scripts/reference/check_mecab.sh OUT.jsonl
"""

import argparse
import json
import random

POOLS = [
    "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをん"
    "がぎぐげござじずぜぞだぢづでどばびぶべぼぱぴぷぺぽゃゅょっー",
    "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヲン"
    "ヴァィゥェォャュョッー",
    "日本語東京都大阪府京都政治経済新型発表会社社長野球選手試合結果映画監督俳優女優携帯電話",
    "ｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾞﾟｰ",
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "0123456789０１２３４５６７８９",
    "ＡＢＣＤＥＦａｂｃｄｅｆ",
    "、。！？「」『』（）・…―〜：；＃＄％＆＊＋－＝＠［］｛｝",
    " \t\u3000",
    ".,!?'\"()[]{}<>/\\-_=+*&^%$#@~`|:;",
    "①②③ⅠⅡⅢ㈱㍉℃※→←↑↓♪★☆○●◎□■△▲▽▼",
    "😀🎉👍🏻𠮷𩸽",
    "éèêàçñüößøåæ",
    "한국어中文简体繁體РоссияΑλφα",
]
# The everyday scripts, drawn more often.
COMMON = [0, 1, 2, 2, 4, 5]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--lines", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=20261130)
    args = ap.parse_args()
    rng = random.Random(args.seed)

    def char():
        pool = rng.choice(POOLS) if rng.random() < 0.3 else POOLS[rng.choice(COMMON)]
        return rng.choice(pool)

    texts = ["".join(char() for _ in range(rng.randint(1, 60))) for _ in range(args.lines)]
    texts += ["".join(rng.choice(POOLS[2] + POOLS[0]) for _ in range(3000)) for _ in range(20)]
    with open(args.out, "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
