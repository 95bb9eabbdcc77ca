"""Compare tokken's token ids with transformers' on any model dir.

Runs `AutoTokenizer.from_pretrained(MODEL_DIR)` (BertJapaneseTokenizer for the Japanese
BERTs, with whatever `mecab_kwargs` the model's tokenizer_config.json names: unidic-lite,
ipadic, full unidic, `mecab_option` user dictionaries) and
`tokken-cli tokenize --model MODEL_DIR --format ids` on the "text" field of every line of
INPUT.jsonl (plus "text_pair" with --pair), and reports the lines whose ids differ, with the
text and both sequences. Exit status 1 when any line differs.

    .venv-ref/bin/python scripts/reference/check_ids.py MODEL_DIR INPUT.jsonl \
        [--pair] [--max-length N] [--limit N] [--cli target/release/tokken-cli]

tokken finds the dictionary the way transformers does (the `unidic_lite`, `ipadic` or
`unidic` Python package's DICDIR, through the first `python3` on PATH), so run this with
the environment's `bin/` first on PATH when the dictionary package lives in a venv.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

from transformers import AutoTokenizer, BertJapaneseTokenizer


def load_tokenizer(model_dir):
    """BertJapaneseTokenizer when tokenizer_config.json configures one (v1-style dirs name no
    tokenizer_class, and AutoTokenizer would then build an English BertTokenizerFast), else
    whatever AutoTokenizer picks."""
    path = os.path.join(model_dir, "tokenizer_config.json")
    config = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    if "word_tokenizer_type" in config or config.get("tokenizer_class") == "BertJapaneseTokenizer":
        return BertJapaneseTokenizer.from_pretrained(model_dir)
    return AutoTokenizer.from_pretrained(model_dir)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("input")
    ap.add_argument("--pair", action="store_true", help='encode "text" + "text_pair"')
    ap.add_argument("--max-length", type=int, help="truncate both sides to N tokens")
    ap.add_argument("--limit", type=int, help="only the first N lines")
    ap.add_argument("--cli", default=os.environ.get("TOKKEN_CLI", "target/release/tokken-cli"))
    ap.add_argument("--show", type=int, default=5, help="mismatches to print in full")
    args = ap.parse_args()

    with open(args.input, encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()][: args.limit]

    tok = load_tokenizer(args.model_dir)
    kwargs = {}
    if args.max_length:
        kwargs = {"truncation": True, "max_length": args.max_length}
    want = []
    for r in records:
        if args.pair:
            want.append(tok(r["text"], r["text_pair"], **kwargs)["input_ids"])
        else:
            want.append(tok(r["text"], **kwargs)["input_ids"])

    # Only the fields tokken reads, so ids or labels in the input cannot change its parse.
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", encoding="utf-8", delete=False) as f:
        for r in records:
            rec = {"text": r["text"]}
            if args.pair:
                rec["text_pair"] = r["text_pair"]
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        path = f.name
    cmd = [args.cli, "tokenize", "--model", args.model_dir, "--format", "ids",
           "--input-format", "jsonl", "--input", path]
    if args.pair:
        cmd.append("--pair")
    if args.max_length:
        cmd += ["--max-length", str(args.max_length)]
    try:
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(path)
    got = [[int(x) for x in line.split()] for line in out.splitlines()]
    if len(got) != len(want):
        print(f"tokken printed {len(got)} lines for {len(want)} inputs", file=sys.stderr)
        return 1

    bad = [i for i, (a, b) in enumerate(zip(want, got)) if a != b]
    for i in bad[: args.show]:
        print(f"line {i + 1}: {records[i]['text']!r}")
        print(f"  transformers {tok.convert_ids_to_tokens(want[i])}")
        print(f"  tokken       {tok.convert_ids_to_tokens(got[i])}")
    print(f"{len(records) - len(bad)} / {len(records)} identical ({type(tok).__name__}, "
          f"{sum(map(len, want))} tokens)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
