"""PyTorch + PEFT reference figures for the CUDA benches (issue #6), on the GPU machine.

Builds BERT-base with the cl-tohoku/bert-base-japanese-v3 shape (random weights: the GPU
machines have no network; speed does not depend on the values), wraps it in PEFT LoRA with
tokken's defaults (r 8, alpha 8, query + value) and times:
  - LoRA fine-tune steps at batch 32 x 128 under bf16 autocast (AdamW, fused where
    available), tokens/s over 20 steps after 5 warm-ups;
  - predict latency for one headline (1 x 24 tokens), f32 and bf16 autocast, median of 50.
Prints one JSON object per line prefixed `TORCH `.

    python3 scripts/reference/peft_lora_baseline.py
"""

import json
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import BertConfig, BertForSequenceClassification


def bert_base_v3(num_labels: int) -> BertForSequenceClassification:
    cfg = BertConfig(
        vocab_size=32768,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        max_position_embeddings=512,
        type_vocab_size=2,
        num_labels=num_labels,
        attn_implementation="sdpa",
    )
    torch.manual_seed(0)
    return BertForSequenceClassification(cfg)


def sync_time(fn, iters: int) -> list:
    out = []
    for _ in range(iters):
        torch.cuda.synchronize()
        s = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        out.append(time.perf_counter() - s)
    return sorted(out)


def finetune(batch: int, seq: int, num_labels: int) -> dict:
    model = bert_base_v3(num_labels).cuda()
    model = get_peft_model(
        model,
        LoraConfig(r=8, lora_alpha=8, lora_dropout=0.0, target_modules=["query", "value"]),
    )
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, fused=True)
    ids = torch.randint(5, 32768, (batch, seq), device="cuda")
    mask = torch.ones_like(ids)
    labels = torch.randint(0, num_labels, (batch,), device="cuda")

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(5):
        step()
    t = sync_time(step, 20)
    med = t[len(t) // 2]
    return {
        "what": "peft lora finetune step, bf16 autocast, dropout 0.1 (HF default)",
        "batch": batch,
        "seq": seq,
        "step_ms": round(med * 1e3, 3),
        "tokens_per_s": round(batch * seq / med, 1),
        "trainable_params": sum(p.numel() for p in params),
    }


def predict_latency(num_labels: int) -> list:
    model = bert_base_v3(num_labels).cuda().eval()
    ids = torch.randint(5, 32768, (1, 24), device="cuda")
    mask = torch.ones_like(ids)
    rows = []
    for name, ctx in [
        ("f32", torch.autocast("cuda", enabled=False)),
        ("bf16_autocast", torch.autocast("cuda", dtype=torch.bfloat16)),
    ]:
        with torch.inference_mode(), ctx:
            for _ in range(10):
                model(input_ids=ids, attention_mask=mask)
            t = sync_time(lambda: model(input_ids=ids, attention_mask=mask), 50)
        rows.append(
            {"what": "predict one headline 1 x 24 tokens", "dtype": name, "ms": round(t[25] * 1e3, 4)}
        )
    return rows


if __name__ == "__main__":
    print("TORCH " + json.dumps({"torch": torch.__version__, "device": torch.cuda.get_device_name()}))
    print("TORCH " + json.dumps(finetune(32, 128, 9)), flush=True)
    for row in predict_latency(9):
        print("TORCH " + json.dumps(row), flush=True)
