"""fugashi's named UniDic features (`Tagger()`, unidic-lite: `UnidicFeatures26`, unknown
words padded with None) for the user-dictionary texts and the first 15 bundled test
headlines: the golden file of the `feature` objects `tokenize --format words` writes
(cli/tests/tokenize_formats.rs).

    .venv-ref/bin/python scripts/reference/make_fugashi_named_fixture.py

Writes tokenizer/tests/data/fugashi_named_features.jsonl: {"text", "words": [{"surface",
"feature": {name: value or null}}]}.
"""

import json
from pathlib import Path

import fugashi

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tokenizer/tests/data"


def main() -> None:
    texts = (DATA / "userdic_texts.txt").read_text(encoding="utf-8").splitlines()
    texts.append("😀ＸＹＺとｶﾀｶﾅの𠮷野家")
    with open(REPO / "data/headlines/test.jsonl", encoding="utf-8") as f:
        texts += [json.loads(line)["text"] for line in f][:15]
    tagger = fugashi.Tagger()
    out = DATA / "fugashi_named_features.jsonl"
    with open(out, "w", encoding="utf-8") as f:
        for t in texts:
            words = [
                {"surface": w.surface, "feature": w.feature._asdict()} for w in tagger(t)
            ]
            f.write(json.dumps({"text": t, "words": words}, ensure_ascii=False) + "\n")
    print(f"wrote {len(texts)} texts to {out}")


if __name__ == "__main__":
    main()
