#!/usr/bin/env python3
"""tokken's BERT-base forward against PyTorch's on this machine, in alternating rounds.

Shared machines drift within minutes, so a speed is only worth comparing with another one
measured in the same window. Each round runs `tokken-cli bench forward` on one shape and
then PyTorch (transformers' `BertForSequenceClassification`, random init, the same BERT-base
sizes and thread count) on the same shape; the summary gives the per-round ratios and their
median.

PyTorch always runs the last layer on every token; tokken runs it on the [CLS] rows only
(the classifier reads nothing else), so the time ratio is what a user gets, and each side's
fraction of the peak (tokken's same-run probe for the dtype) counts the FLOPs that side ran.

    python scripts/reference/bench_vs_torch.py [--cli target/release/tokken-cli]
        [--shapes 1x32,32x64] [--rounds 3] [--seconds 3] [--dtype f32|bf16] [--threads N]

`--dtype bf16` runs tokken with bf16 weights and PyTorch under CPU bf16 autocast.
Needs torch and transformers (scripts/reference/requirements.txt).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
from transformers import BertConfig, BertForSequenceClassification

HIDDEN, INTER, LAYERS, VOCAB = 768, 3072, 12, 32768


def forward_gflop(batch, tokens):
    """FLOPs of a BERT-base forward on every row, as tokken counts them (2 per multiply-add;
    `bench forward --all-rows` prints the same figure)."""
    rows = batch * tokens
    dense = 2 * rows * HIDDEN * (3 * HIDDEN + HIDDEN + 2 * INTER)
    attention = 4 * batch * tokens * tokens * HIDDEN
    pooler = 2 * batch * HIDDEN * HIDDEN
    return (LAYERS * (dense + attention) + pooler) / 1e9


def run_tokken(cli, shape, seconds, dtype, threads):
    cmd = [cli, "bench", "forward", "--config", "base", "--shapes", shape,
           "--seconds", str(seconds), "--dtype", dtype, "--threads", str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    # The probe of the run's dtype: the f32 FMA rate, or for bf16 the rate of the
    # instruction its GEMM uses (on CPUs without a fast bf16 dot that is the f32 FMA).
    peak = next(l for l in lines if l.get("kind") == "peak")
    fwd = next(l for l in lines if l.get("kind") == "forward")
    return fwd, peak["gflops"]


def run_torch(model, shape, seconds, dtype):
    batch, tokens = map(int, shape.split("x"))
    ids = torch.randint(5, VOCAB, (batch, tokens), generator=torch.Generator().manual_seed(0))
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16")
    times = []
    with torch.inference_mode(), autocast:
        model(input_ids=ids)
        start = time.time()
        while time.time() - start < seconds or len(times) < 3:
            t = time.perf_counter()
            model(input_ids=ids)
            times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times), 1e3 * min(times), len(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cli", default="target/release/tokken-cli")
    ap.add_argument("--shapes", default="1x32,32x64")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    if not os.path.exists(args.cli):
        sys.exit(f"{args.cli} not found: build it with `cargo build --release -p tokken-cli` "
                 "or pass --cli")

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=VOCAB, num_labels=9)  # BertConfig's defaults are BERT-base
    model = BertForSequenceClassification(config).eval()

    ratios = {s: [] for s in args.shapes.split(",")}
    for r in range(args.rounds):
        for shape in ratios:
            batch, tokens = map(int, shape.split("x"))
            fwd, peak = run_tokken(args.cli, shape, args.seconds, args.dtype, args.threads)
            t_med, t_best, runs = run_torch(model, shape, args.seconds, args.dtype)
            torch_gflop = forward_gflop(batch, tokens)
            row = {
                "round": r, "shape": shape, "dtype": args.dtype, "threads": args.threads,
                "peak_gflops": peak,
                "tokken_ms_median": fwd["ms_median"], "tokken_ms_best": fwd["ms_best"],
                "tokken_fraction_of_peak": round(fwd["gflop"] / fwd["ms_median"] * 1e3 / peak, 3),
                "torch_ms_median": round(t_med, 3), "torch_ms_best": round(t_best, 3),
                "torch_runs": runs,
                "torch_fraction_of_peak": round(torch_gflop / t_med * 1e3 / peak, 3),
                "torch_over_tokken": round(t_med / fwd["ms_median"], 3),
            }
            ratios[shape].append(row["torch_over_tokken"])
            print(json.dumps(row), flush=True)
    for shape, rs in ratios.items():
        print(json.dumps({"shape": shape, "dtype": args.dtype,
                          "torch_over_tokken_median": statistics.median(rs),
                          "per_round": rs}))


if __name__ == "__main__":
    main()
