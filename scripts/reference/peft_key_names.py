"""Make model/tests/fixtures/peft-tiny-adapter/ with PEFT on the tiny fixture model and print
what PEFT writes: every adapter_config.json field and every adapter_model.safetensors key.

The adapter is LoRA r=2, alpha=4, dropout 0 on query and value (init_lora_weights=False so A
and B are random and the adapter changes the logits), task SEQ_CLS, so PEFT also saves the
classifier head (modules_to_save). Written with a fixed seed. After saving, the script loads
the dir back with PeftModel.from_pretrained and records logits of fixed input ids in
expected_logits.json (for interop tests). base_model_name_or_path is rewritten to
"../tiny-bert" (the fixture's relative location) so the fixture holds no absolute path, and
target_modules is sorted (PEFT saves it from a set, in varying order).

Usage: .venv-ref/bin/python scripts/reference/peft_key_names.py
"""

import json
import pathlib

import peft
import torch
from peft import LoraConfig, PeftModel, TaskType, get_peft_model
from safetensors.torch import load_file
from transformers import BertForSequenceClassification

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "model/tests/fixtures"
BASE = FIXTURES / "tiny-bert"
OUT = FIXTURES / "peft-tiny-adapter"


def main():
    torch.manual_seed(0)
    base = BertForSequenceClassification.from_pretrained(BASE)
    config = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=2,
        lora_alpha=4,
        lora_dropout=0.0,
        target_modules=["query", "value"],
        init_lora_weights=False,
    )
    model = get_peft_model(base, config)
    # Make the saved head differ from the base head, as after training.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "modules_to_save" in name:
                p.add_(0.05 * torch.randn_like(p))
    model.save_pretrained(OUT)

    cfg_path = OUT / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["base_model_name_or_path"] = "../tiny-bert"
    # PEFT keeps target_modules in a Python set, so its saved order varies between runs.
    cfg["target_modules"] = sorted(cfg["target_modules"])
    cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    readme = OUT / "README.md"
    if readme.exists():
        readme.unlink()  # PEFT's model-card template, not needed

    print("peft", peft.__version__)
    print("adapter_config.json:")
    for k in sorted(cfg):
        print(f"  {k}: {cfg[k]!r}")
    print("adapter_model.safetensors:")
    tensors = load_file(OUT / "adapter_model.safetensors")
    for k in sorted(tensors):
        print(f"  {k} {list(tensors[k].shape)} {tensors[k].dtype}")

    # Load back as a user would and record logits (from_pretrained wraps its base in place,
    # so the base-only logits come first).
    ids = torch.tensor([[2, 10, 20, 30, 40, 3, 0, 0], [2, 50, 60, 70, 80, 90, 100, 3]])
    mask = (ids != 0).long()
    base2 = BertForSequenceClassification.from_pretrained(BASE).eval()
    with torch.no_grad():
        base_logits = base2(input_ids=ids, attention_mask=mask).logits
    loaded = PeftModel.from_pretrained(base2, OUT).eval()
    with torch.no_grad():
        logits = loaded(input_ids=ids, attention_mask=mask).logits

    # The fields PEFT needs: a config with only these loads to the same logits.
    minimal_dir = pathlib.Path("/tmp/peft-minimal-adapter")
    minimal_dir.mkdir(exist_ok=True)
    keep = ["peft_type", "task_type", "r", "lora_alpha", "target_modules", "modules_to_save"]
    (minimal_dir / "adapter_config.json").write_text(json.dumps({k: cfg[k] for k in keep}))
    (minimal_dir / "adapter_model.safetensors").write_bytes(
        (OUT / "adapter_model.safetensors").read_bytes()
    )
    base3 = BertForSequenceClassification.from_pretrained(BASE)
    minimal = PeftModel.from_pretrained(base3, minimal_dir).eval()
    with torch.no_grad():
        minimal_logits = minimal(input_ids=ids, attention_mask=mask).logits
    print(f"minimal config {keep} loads; max |diff| logits:",
          (minimal_logits - logits).abs().max().item())
    (OUT / "expected_logits.json").write_text(
        json.dumps(
            {
                "input_ids": ids.tolist(),
                "attention_mask": mask.tolist(),
                "logits": logits.tolist(),
                "note": "PeftModel.from_pretrained(tiny-bert, this dir) in eval mode",
            }
        )
        + "\n"
    )
    print("logits with adapter:", logits.tolist())
    print("max |adapter - base| logits:", (logits - base_logits).abs().max().item())


if __name__ == "__main__":
    main()
