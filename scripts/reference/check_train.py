#!/usr/bin/env python3
"""N LoRA AdamW steps in PEFT and in tokken from the same initial adapter; compare.

usage: check_train.py [--model DIR] [--data FILE] [--examples N] [--steps N]
                      [--batch-size N] [--lr LR] [--warmup-steps N] [--max-length N]
                      [--cli PATH] [--keep DIR]

Both sides: the tiny fixture model (model/tests/fixtures/tiny-bert) with a new 7-label
classifier, LoRA r 8 / alpha 16 on query,value, every dropout 0, the first --examples
headlines of data/headlines/train.jsonl in file order (fixed batch order, no shuffling),
AdamW (betas 0.9/0.999, eps 1e-8, weight decay 0.01 except biases and LayerNorm weights),
linear schedule with warmup, global-norm clipping at 1.0 — HF Trainer's recipe.

PEFT makes the initial adapter (random A, zero B, the new classifier as modules_to_save)
and saves it; tokken starts from it with `finetune --init-adapter`. Reported: max |Δw| over
the final adapter tensors (must be ≤ 1e-4, exit status 1 otherwise) and the per-step loss
curves side by side.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch
from peft import LoraConfig, TaskType, get_peft_model
from safetensors.torch import load_file
from transformers import (AutoModelForSequenceClassification, AutoTokenizer,
                          get_linear_schedule_with_warmup)

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
BOUND = 1e-4


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(ROOT, "model/tests/fixtures/tiny-bert"))
    ap.add_argument("--data", default=os.path.join(ROOT, "data/headlines/train.jsonl"))
    ap.add_argument("--examples", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--warmup-steps", type=int, default=2)
    ap.add_argument("--max-length", type=int, default=32)
    ap.add_argument("--cli", default=os.path.join(ROOT, "target/release/tokken-cli"))
    ap.add_argument("--keep", help="work in this dir and keep it")
    args = ap.parse_args()

    rows = []
    with open(args.data, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
            if len(rows) == args.examples:
                break
    labels = sorted({r["label"] for r in rows})  # tokken's order: by code point
    work = args.keep or tempfile.mkdtemp(prefix="check_train_")
    os.makedirs(work, exist_ok=True)
    subset = os.path.join(work, "train.jsonl")
    with open(subset, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps({"text": r["text"], "label": r["label"]}, ensure_ascii=False) + "\n")

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        args.model, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={l: i for i, l in enumerate(labels)}, ignore_mismatched_sizes=True,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout=0.0)
    peft_config = LoraConfig(task_type=TaskType.SEQ_CLS, r=8, lora_alpha=16, lora_dropout=0.0,
                             target_modules=["query", "value"])
    model = get_peft_model(model, peft_config)
    init_dir = os.path.join(work, "init-adapter")
    model.save_pretrained(init_dir)
    model.train()

    tok = AutoTokenizer.from_pretrained(args.model)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = [p for n, p in named if not (n.endswith("bias") or "LayerNorm" in n)]
    no_decay = [p for n, p in named if n.endswith("bias") or "LayerNorm" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
    sched = get_linear_schedule_with_warmup(opt, args.warmup_steps, args.steps)
    batches = [rows[i:i + args.batch_size] for i in range(0, len(rows), args.batch_size)]
    torch_losses = []
    for step in range(args.steps):
        batch = batches[step % len(batches)]
        enc = tok([r["text"] for r in batch], padding=True, truncation=True,
                  max_length=args.max_length, return_tensors="pt")
        y = torch.tensor([labels.index(r["label"]) for r in batch])
        loss = torch.nn.functional.cross_entropy(model(**enc).logits, y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for _, p in named], 1.0)
        opt.step()
        sched.step()
        torch_losses.append(loss.item())
    peft_dir = os.path.join(work, "peft-final")
    model.save_pretrained(peft_dir)

    run_dir = os.path.join(work, "tokken-run")
    cmd = [args.cli, "finetune", "--model", args.model, "--train", subset, "--out", run_dir,
           "--init-adapter", init_dir, "--no-shuffle", "--labels", ",".join(labels),
           "--lora-r", "8", "--lora-alpha", "16", "--lora-dropout", "0",
           "--lora-targets", "query,value", "--hidden-dropout", "0",
           "--attention-dropout", "0", "--classifier-dropout", "0",
           "--max-steps", str(args.steps), "--batch-size", str(args.batch_size),
           "--lr", str(args.lr), "--warmup-steps", str(args.warmup_steps),
           "--schedule", "linear", "--weight-decay", "0.01", "--max-grad-norm", "1.0",
           "--max-length", str(args.max_length), "--quiet"]
    subprocess.run(cmd, check=True)
    tokken_losses = []
    with open(os.path.join(run_dir, "train_log.jsonl"), encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            if "loss" in rec:
                tokken_losses.append(rec["loss"])

    ref = load_file(os.path.join(peft_dir, "adapter_model.safetensors"))
    got = load_file(os.path.join(run_dir, "adapter_model.safetensors"))
    init = load_file(os.path.join(init_dir, "adapter_model.safetensors"))
    if set(ref) != set(got):
        sys.exit(f"adapter keys differ: only PEFT {sorted(set(ref) - set(got))}, "
                 f"only tokken {sorted(set(got) - set(ref))}")
    worst = 0.0
    print(f"{'tensor':<72} {'max|Δw|':>10} {'max|w-w0|':>10}")
    for k in sorted(ref):
        d = (ref[k].float() - got[k].float()).abs().max().item()
        moved = (ref[k].float() - init[k].float()).abs().max().item()
        worst = max(worst, d)
        print(f"{k:<72} {d:10.3e} {moved:10.3e}")
    print(f"\n{'step':>4} {'PEFT loss':>12} {'tokken loss':>12} {'|Δ|':>10}")
    worst_loss = 0.0
    for i, (a, b) in enumerate(zip(torch_losses, tokken_losses), 1):
        worst_loss = max(worst_loss, abs(a - b))
        print(f"{i:4d} {a:12.6f} {b:12.6f} {abs(a - b):10.3e}")
    print(f"\n{args.steps} steps, batch {args.batch_size}, lr {args.lr}: max |Δw| {worst:.3e} "
          f"(bound {BOUND}), max |Δloss| {worst_loss:.3e}; work dir {work}")
    if len(tokken_losses) != len(torch_losses):
        sys.exit(f"tokken logged {len(tokken_losses)} steps, PEFT ran {len(torch_losses)}")
    interop = check_interop(args, labels, rows, run_dir, work)
    sys.exit(0 if worst <= BOUND and interop <= BOUND else 1)


def tokken_logits(cli, model_dir, texts, max_length):
    out = subprocess.run([cli, "predict", "--model", model_dir, "--output-logits",
                          "--max-length", str(max_length)],
                         input="\n".join(texts) + "\n", capture_output=True, text=True, check=True)
    return torch.tensor([json.loads(l)["logits"] for l in out.stdout.splitlines()])


def check_interop(args, labels, rows, run_dir, work):
    """PEFT loading the run dir, and transformers loading `tokken-cli merge`'s output, give
    the logits `tokken-cli predict` gives on the run dir."""
    from peft import PeftModel
    texts = [r["text"] for r in rows]
    tok = AutoTokenizer.from_pretrained(args.model)
    enc = tok(texts, padding=True, truncation=True, max_length=args.max_length,
              return_tensors="pt")
    base = AutoModelForSequenceClassification.from_pretrained(
        args.model, num_labels=len(labels), ignore_mismatched_sizes=True)
    peft_model = PeftModel.from_pretrained(base, run_dir).eval()
    with torch.no_grad():
        peft_logits = peft_model(**enc).logits
    merged = os.path.join(work, "merged")
    subprocess.run([args.cli, "merge", run_dir, "--out", merged, "--force"], check=True)
    hf = AutoModelForSequenceClassification.from_pretrained(merged).eval()
    with torch.no_grad():
        merged_logits = hf(**enc).logits
    ours = tokken_logits(args.cli, run_dir, texts, args.max_length)
    d_peft = (ours - peft_logits).abs().max().item()
    d_merged = (ours - merged_logits).abs().max().item()
    print(f"interop on {len(texts)} texts: max |Δlogit| tokken-cli predict RUN_DIR vs "
          f"PeftModel.from_pretrained(base, RUN_DIR) {d_peft:.3e}; vs transformers on the "
          f"merged dir {d_merged:.3e} (bound {BOUND})")
    return max(d_peft, d_merged)


if __name__ == "__main__":
    main()
