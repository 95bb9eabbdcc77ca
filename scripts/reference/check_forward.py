#!/usr/bin/env python3
"""Compare tokken-cli predict's logits with transformers on real texts.

usage: check_forward.py MODEL_DIR INPUT.jsonl [--dtype f32|bf16] [--limit N]
                        [--text-field NAME] [--cli PATH] [--batch-size N]

INPUT.jsonl lines are objects with the text in --text-field (default: "text" when present,
else "title", e.g. ../shared/data/livedoor/articles.jsonl). Tokenization on the Python side
is transformers' AutoTokenizer (BertJapaneseTokenizer); tokken tokenizes on its own, so the
check covers tokenizer + forward together.

Reports max |Δlogit| over all texts and labels and argmax agreement. f32 must be within
1e-4 (exit status 1 otherwise). For bf16 the figures are reported against transformers'
f32; argmax agreement is also given for texts whose f32 top-2 margin exceeds twice the
measured bound (near-ties of a random model can flip legitimately).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
F32_BOUND = 1e-4


def read_texts(path, field, limit):
    texts = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            obj = json.loads(line)
            key = field or ("text" if "text" in obj else "title")
            if key not in obj:
                sys.exit(f"{path}:{n}: no field {key!r}")
            texts.append(obj[key])
            if limit and len(texts) >= limit:
                break
    return texts


def transformers_logits(model_dir, texts, batch_size):
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            enc = tok(texts[i:i + batch_size], padding=True, truncation=True, return_tensors="pt")
            out.extend(model(**enc).logits.tolist())
    return out, type(tok).__name__


def tokken_logits(cli, model_dir, texts, dtype, batch_size):
    with tempfile.TemporaryDirectory() as tmp:
        inp = os.path.join(tmp, "in.jsonl")
        with open(inp, "w", encoding="utf-8") as f:
            for i, t in enumerate(texts):
                f.write(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n")
        cmd = [cli, "predict", "--model", model_dir, "--input", inp, "--output-logits",
               "--dtype", dtype, "--batch-size", str(batch_size)]
        t0 = time.time()
        res = subprocess.run(cmd, capture_output=True, text=True)
        secs = time.time() - t0
        if res.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed:\n{res.stderr}")
    rows = [json.loads(l) for l in res.stdout.splitlines() if l.strip()]
    by_id = {r["id"]: r["logits"] for r in rows}
    if len(by_id) != len(texts):
        sys.exit(f"tokken-cli returned {len(by_id)} predictions for {len(texts)} texts")
    return [by_id[i] for i in range(len(texts))], secs


def argmax(v):
    return max(range(len(v)), key=lambda i: v[i])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("input")
    ap.add_argument("--dtype", default="f32", choices=["f32", "bf16"])
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--text-field", default=None)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--cli", default=os.path.join(ROOT, "target", "release", "tokken-cli"))
    args = ap.parse_args()

    texts = read_texts(args.input, args.text_field, args.limit)
    want, tok_name = transformers_logits(args.model_dir, texts, args.batch_size)
    got, secs = tokken_logits(args.cli, args.model_dir, texts, args.dtype, args.batch_size)

    max_err, worst = 0.0, None
    agree = 0
    margins = []
    for i, (w, g) in enumerate(zip(want, got)):
        err = max(abs(a - b) for a, b in zip(w, g))
        if err > max_err:
            max_err, worst = err, i
        agree += argmax(w) == argmax(g)
        s = sorted(w, reverse=True)
        margins.append(s[0] - s[1] if len(s) > 1 else float("inf"))
    clear = [i for i, m in enumerate(margins) if m > 2 * max_err]
    clear_agree = sum(argmax(want[i]) == argmax(got[i]) for i in clear)
    report = {
        "model": args.model_dir,
        "tokenizer": tok_name,
        "texts": len(texts),
        "dtype": args.dtype,
        "max_abs_logit_diff": max_err,
        "max_abs_logit": max(abs(x) for row in want for x in row),
        "worst_text": texts[worst] if worst is not None else None,
        "argmax_agreement": agree / len(texts),
        "clear_margin_texts": len(clear),
        "clear_margin_argmax_agreement": (clear_agree / len(clear)) if clear else None,
        "tokken_seconds": round(secs, 2),
    }
    print(json.dumps(report, ensure_ascii=False))
    if args.dtype == "f32" and not max_err <= F32_BOUND:
        print(f"FAIL: max |Δlogit| {max_err:.3e} > {F32_BOUND:.0e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
