"""Write tokenizer/tests/data/hf_edge_cases.jsonl: HF BertJapaneseTokenizer outputs on edge
cases (special tokens, odd whitespace, NUL, NFKC, long words, pairs with every truncation
strategy, padding, lower-casing), for tokenizer/tests/hf_edge_cases.rs.

Run from the repo root with the reference env (see shared/README.md; needs transformers,
fugashi, unidic-lite, no torch):
    python scripts/reference/tokenizer_edge_cases.py ../shared/ref
"""

import json
import sys
from pathlib import Path

from transformers import BertJapaneseTokenizer

ref = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/ref")
out = Path("tokenizer/tests/data/hf_edge_cases.jsonl")

tokenizers = {
    "wordpiece": BertJapaneseTokenizer.from_pretrained(str(ref / "bert-base-japanese-v3")),
    "character": BertJapaneseTokenizer.from_pretrained(str(ref / "char-7027")),
    "lower": BertJapaneseTokenizer(
        str(ref / "bert-base-japanese-v3" / "vocab.txt"),
        do_lower_case=True,
        word_tokenizer_type="mecab",
        mecab_kwargs={"mecab_dic": "unidic_lite"},
    ),
}

texts = [
    "私は[MASK]です", "私は［ＭＡＳＫ］です", "[mask][MASK][UNK]x[PAD]", " [CLS] 東京 ",
    "東京\r都", "東京\x0c都\u2028犬\x1c猫\x85鳥", "東京\t\n都", "\u3000東京\u3000", "", "   ",
    "東京\x00都[SEP]犬", "ｶﾞｷﾞｸﾞ ﾃﾞｰﾀ", "①②③ ㍻ ﬁ ｱｲｳ", "😀𠮷野家 👍🏽", "a" * 150,
    "テ" * 120, "ABC abc ＡＢＣ Ｔｏｋｙｏ", "ΣΑΣ ΑΣ", "İstanbul ǅ", "e\u0301 か\u3099",
    "\u200b東京\ufeff都\u00ad", "http://example.com/a?b=c&d=e", "１２３４５６７８９０円",
]
rows = []
for mode, tok in tokenizers.items():
    for text in texts:
        enc = tok(text)
        rows.append({"mode": mode, "text": text, "ids": enc["input_ids"]})

pairs = [("東京都に行く", "私は犬です"), ("東京都に行く" * 5, "私は犬です"), ("犬", "東京都に行く" * 4), ("", "犬")]
tok = tokenizers["wordpiece"]
for strategy in ["longest_first", "only_first", "only_second"]:
    for a, b in pairs:
        for max_length in [4, 7, 12, 20]:
            enc = tok(a, b, truncation=strategy, max_length=max_length, return_token_type_ids=True)
            rows.append({"mode": "wordpiece", "text": a, "text_pair": b, "truncation": strategy,
                         "max_length": max_length, "ids": enc["input_ids"],
                         "type_ids": enc["token_type_ids"]})
# Note: transformers 5 returns token_type_ids only when asked (BertJapaneseTokenizer's
# model_input_names are input_ids and attention_mask).
for a in ["東京都に行く" * 3, "犬"]:
    for max_length in [3, 8]:
        enc = tok(a, truncation=True, max_length=max_length, padding="max_length", return_token_type_ids=True)
        rows.append({"mode": "wordpiece", "text": a, "truncation": "longest_first",
                     "max_length": max_length, "padding": "max_length", "ids": enc["input_ids"],
                     "type_ids": enc["token_type_ids"], "attention_mask": enc["attention_mask"]})

out.parent.mkdir(parents=True, exist_ok=True)
with out.open("w", encoding="utf-8") as f:
    for r in rows:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
print(f"wrote {len(rows)} cases to {out}")
