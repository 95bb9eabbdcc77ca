"""transformers' BertJapaneseTokenizer ids when tokenizer_config.json's `mecab_kwargs`
choose the dictionaries (or name none): the golden file of
tokenizer/tests/mecab_option_parity.rs.

    .venv-ref/bin/python scripts/reference/make_mecab_option_fixture.py

Needs transformers, fugashi, unidic-lite, ipadic and ../shared/ref/bert-base-japanese-v3.
Writes tokenizer/tests/data/mecab_option_hf_ids.jsonl: {"case", "text", "ids"} for
  - "userdic": mecab_dic unidic_lite, mecab_option "-u <tokenizer/tests/data/userdic_a.dic>";
  - "dicdir":  mecab_dic null, mecab_option '-r /dev/null -d "<ipadic's DICDIR>"' (a system
               dictionary chosen by -d, as NEologd users write it);
  - "default": no mecab_kwargs at all (the v1 models' config): MecabTokenizer's default
               dictionary, unidic_lite since transformers 4.45 (ipadic before);
  - "ipadic":  mecab_dic "ipadic", found through the ipadic package.
The texts: userdic_texts.txt and the bundled test headlines. The paths in the options are
this machine's; the test rebuilds the same options with its own.
"""

import json
import tempfile
from pathlib import Path

import ipadic
from transformers import BertJapaneseTokenizer

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tokenizer/tests/data"
VOCAB = REPO.parent / "shared/ref/bert-base-japanese-v3/vocab.txt"
OUT = DATA / "mecab_option_hf_ids.jsonl"

# case -> mecab_kwargs (None: the key is left out)
CASES = {
    "userdic": {"mecab_dic": "unidic_lite", "mecab_option": f"-u {DATA / 'userdic_a.dic'}"},
    "dicdir": {"mecab_dic": None, "mecab_option": f'-r /dev/null -d "{ipadic.DICDIR}"'},
    "default": None,
    "ipadic": {"mecab_dic": "ipadic"},
}


def texts():
    out = (DATA / "userdic_texts.txt").read_text(encoding="utf-8").splitlines()
    with open(REPO / "data/headlines/test.jsonl", encoding="utf-8") as f:
        out += [json.loads(line)["text"] for line in f]
    return out


def main() -> None:
    rows = []
    for case, mecab_kwargs in CASES.items():
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            (d / "vocab.txt").write_bytes(VOCAB.read_bytes())
            config = {
                "tokenizer_class": "BertJapaneseTokenizer",
                "word_tokenizer_type": "mecab",
                "subword_tokenizer_type": "wordpiece",
                "do_lower_case": False,
            }
            if mecab_kwargs is not None:
                config["mecab_kwargs"] = mecab_kwargs
            (d / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
            tok = BertJapaneseTokenizer.from_pretrained(str(d))
            for t in texts():
                rows.append({"case": case, "text": t, "ids": tok(t)["input_ids"]})
    with open(OUT, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} rows to {OUT}")


if __name__ == "__main__":
    main()
