#!/usr/bin/env python3
"""tokken's BERT-base forward against PyTorch's (and ONNX Runtime's) on this machine, in rounds.

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

`--onnxruntime` also runs ONNX Runtime in every round (f32 only): the same random-init
model exported with torch.onnx (eager attention, so ONNX Runtime's BERT optimizer can fuse
it), passed through `onnxruntime.transformers.optimizer` (fused Attention, SkipLayerNorm,
BiasGelu, EmbedLayerNorm) and run by the CPU provider with the same thread count. Its
logits are checked against PyTorch's on each shape before it is timed.

Needs torch and transformers (scripts/reference/requirements.txt); `--onnxruntime` also
needs onnxruntime, onnx and onnxscript (requirements-bench.txt).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
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


def time_calls(call, seconds):
    """Median and best ms of `call()` over `seconds` (at least 3 calls), and the count."""
    times = []
    start = time.time()
    while time.time() - start < seconds or len(times) < 3:
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times), 1e3 * min(times), len(times)


def run_torch(model, shape, seconds, dtype):
    ids = random_ids(shape)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16")
    with torch.inference_mode(), autocast:
        model(input_ids=ids)
        return time_calls(lambda: model(input_ids=ids), seconds)


def random_ids(shape):
    batch, tokens = map(int, shape.split("x"))
    return torch.randint(5, VOCAB, (batch, tokens), generator=torch.Generator().manual_seed(0))


def onnx_session(model, threads, workdir):
    """ONNX Runtime session on `model`'s weights: exported with eager attention (the
    pattern the BERT optimizer fuses), optimized for BERT, CPU provider."""
    import onnxruntime
    from onnxruntime.transformers.optimizer import optimize_model

    config = BertConfig(**model.config.to_dict())
    config._attn_implementation = "eager"
    eager = BertForSequenceClassification(config).eval()
    eager.load_state_dict(model.state_dict())
    raw = os.path.join(workdir, "bert.onnx")
    fused = os.path.join(workdir, "bert_fused.onnx")
    ids = random_ids("2x16")
    batch_and_tokens = {0: "batch", 1: "tokens"}
    torch.onnx.export(
        eager, (ids, torch.ones_like(ids)), raw, input_names=["input_ids", "attention_mask"],
        output_names=["logits"], opset_version=17, dynamo=False,
        dynamic_axes={"input_ids": batch_and_tokens, "attention_mask": batch_and_tokens,
                      "logits": {0: "batch"}})
    opt = optimize_model(raw, model_type="bert", num_heads=config.num_attention_heads,
                         hidden_size=config.hidden_size, opt_level=0)
    fusions = {k: v for k, v in opt.get_fused_operator_statistics().items() if v}
    opt.save_model_to_file(fused)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = onnxruntime.InferenceSession(fused, options, providers=["CPUExecutionProvider"])
    return session, fusions


# Largest |Δlogit| against PyTorch that still counts as the same model (f32 runs differ by
# ~1e-6 through operation order).
ONNX_MAX_LOGIT_DIFF = 1e-3


def run_onnx(session, model, shape, seconds):
    """Median and best ms of ONNX Runtime on `shape`, and its max |Δlogit| against PyTorch;
    exits if the exported graph does not compute PyTorch's logits."""
    ids = random_ids(shape)
    feed = {"input_ids": ids.numpy(), "attention_mask": torch.ones_like(ids).numpy()}
    logits = session.run(None, feed)[0]
    with torch.inference_mode():
        reference = model(input_ids=ids).logits.numpy()
    max_diff = float(abs(logits - reference).max())
    if not max_diff <= ONNX_MAX_LOGIT_DIFF:
        sys.exit(f"ONNX Runtime logits differ from PyTorch's by {max_diff} on {shape}: "
                 "the export or its fusions changed the model, timing it would mean nothing")
    return (*time_calls(lambda: session.run(None, feed), seconds), max_diff)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cli", default="target/release/tokken-cli")
    ap.add_argument("--shapes", default="1x32,32x64")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--onnxruntime", action="store_true",
                    help="also time ONNX Runtime (f32) in every round")
    args = ap.parse_args()
    if args.onnxruntime and args.dtype != "f32":
        sys.exit("--onnxruntime runs f32 only")
    if not os.path.exists(args.cli):
        sys.exit(f"{args.cli} not found: build it with `cargo build --release -p tokken-cli` "
                 "or pass --cli")

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=VOCAB, num_labels=9)  # BertConfig's defaults are BERT-base
    model = BertForSequenceClassification(config).eval()

    session = None
    if args.onnxruntime:
        workdir = tempfile.TemporaryDirectory(prefix="tokken-bench-onnx-")
        session, fusions = onnx_session(model, args.threads, workdir.name)
        print(json.dumps({"onnxruntime_fusions": fusions}), flush=True)

    ratios = {s: [] for s in args.shapes.split(",")}
    ort_ratios = {s: [] for s in ratios}
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
            if session is not None:
                o_med, o_best, o_runs, o_diff = run_onnx(session, model, shape, args.seconds)
                row.update({
                    "onnxruntime_ms_median": round(o_med, 3),
                    "onnxruntime_ms_best": round(o_best, 3), "onnxruntime_runs": o_runs,
                    "onnxruntime_max_abs_logit_diff_vs_torch": o_diff,
                    "onnxruntime_fraction_of_peak": round(torch_gflop / o_med * 1e3 / peak, 3),
                    "onnxruntime_over_tokken": round(o_med / fwd["ms_median"], 3),
                })
                ort_ratios[shape].append(row["onnxruntime_over_tokken"])
            print(json.dumps(row), flush=True)
    for shape, rs in ratios.items():
        summary = {"shape": shape, "dtype": args.dtype,
                   "torch_over_tokken_median": statistics.median(rs), "per_round": rs}
        if session is not None:
            summary["onnxruntime_over_tokken_median"] = statistics.median(ort_ratios[shape])
            summary["onnxruntime_per_round"] = ort_ratios[shape]
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
