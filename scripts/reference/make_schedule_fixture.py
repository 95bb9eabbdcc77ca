"""Write model/tests/fixtures/schedules_transformers.json: learning rates from transformers'
schedulers (get_linear_schedule_with_warmup, get_cosine_schedule_with_warmup,
get_constant_schedule_with_warmup) as a training loop sees them: lrs[s] is the lr used by
optimizer step s (read before scheduler.step()), for s = 0 .. num_training_steps + 2.

Usage: .venv-ref/bin/python scripts/reference/make_schedule_fixture.py
"""

import json
import pathlib

import torch
import transformers
from transformers import (
    get_constant_schedule_with_warmup,
    get_cosine_schedule_with_warmup,
    get_linear_schedule_with_warmup,
)

OUT = pathlib.Path(__file__).resolve().parents[2] / "model/tests/fixtures/schedules_transformers.json"
BASE_LR = 5e-5

CASES = [
    {"kind": "linear", "warmup": 3, "total": 10},
    {"kind": "linear", "warmup": 0, "total": 5},
    {"kind": "linear", "warmup": 10, "total": 10},
    {"kind": "cosine", "warmup": 2, "total": 10, "num_cycles": 0.5},
    {"kind": "cosine", "warmup": 0, "total": 7, "num_cycles": 0.5},
    {"kind": "cosine", "warmup": 1, "total": 9, "num_cycles": 1.5},
    {"kind": "constant_with_warmup", "warmup": 4, "total": 8},
    {"kind": "constant_with_warmup", "warmup": 0, "total": 3},
]


def make(opt, c):
    if c["kind"] == "linear":
        return get_linear_schedule_with_warmup(opt, c["warmup"], c["total"])
    if c["kind"] == "cosine":
        return get_cosine_schedule_with_warmup(opt, c["warmup"], c["total"], c["num_cycles"])
    return get_constant_schedule_with_warmup(opt, c["warmup"])


def main():
    out = []
    for c in CASES:
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.AdamW([p], lr=BASE_LR)
        sched = make(opt, c)
        lrs = []
        for _ in range(c["total"] + 3):
            lrs.append(sched.get_last_lr()[0])
            opt.step()
            sched.step()
        out.append({**c, "lrs": lrs})
    OUT.write_text(
        json.dumps(
            {"transformers": transformers.__version__, "base_lr": BASE_LR, "cases": out}, indent=1
        )
        + "\n"
    )
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
