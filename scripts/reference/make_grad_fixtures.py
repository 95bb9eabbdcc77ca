#!/usr/bin/env python3
"""Write the gradient fixtures for tokken's backward pass (torch autograd + peft).

For the tiny model at model/tests/fixtures/tiny-bert, a fixed padded batch and labels,
dropout off, each case writes model/tests/fixtures/grads-<case>.safetensors with:
  input_ids, token_type_ids, attention_mask [B, T] int64; labels [B] int64 or [B, NL] f32
  param.<name>   every trainable tensor's value (tokken loads them with load_state)
  grad.<name>    d loss / d param (computed in float64, stored f32)
  loss           [1]
Names are the HF BertForSequenceClassification state-dict keys (PEFT's file keys minus
`base_model.model.`; `.default` adapter names dropped).

Cases:
  lora        r=4, alpha=8, target query,value; A and B random non-zero; classifier trained
              (PEFT SEQ_CLS modules_to_save)
  lora_all    r=4, alpha=8, targets query,key,value,dense (PEFT's suffix rule also adapts
              attention.output.dense, intermediate.dense, output.dense and pooler.dense)
  full        every parameter
  head        classifier only
  weighted    lora as above, cross-entropy with class weights and label smoothing 0.1
  multilabel  lora as above, BCE with logits on [B, NL] 0/1 targets

Run from the repo root:  .venv-ref/bin/python scripts/reference/make_grad_fixtures.py
"""

import os
import sys

import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from transformers import BertForSequenceClassification

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIX = os.path.join(ROOT, "model", "tests", "fixtures")
MODEL_DIR = os.path.join(FIX, "tiny-bert")
SEED = 4321
PAD, CLS, SEP = 0, 2, 3


def make_batch(gen, vocab):
    """Five sequences of lengths 9, 4, 12, 6, 12 padded to 12; the third is a pair."""
    lengths = [9, 4, 12, 6, 12]
    t = max(lengths)
    ids = torch.full((len(lengths), t), PAD, dtype=torch.long)
    types = torch.zeros((len(lengths), t), dtype=torch.long)
    mask = torch.zeros((len(lengths), t), dtype=torch.long)
    for i, n in enumerate(lengths):
        body = torch.randint(5, vocab, (n - 2,), generator=gen)
        ids[i, :n] = torch.cat([torch.tensor([CLS]), body, torch.tensor([SEP])])
        mask[i, :n] = 1
        if i == 2:
            types[i, 6:n] = 1
    return ids, types, mask


def load_model():
    model = BertForSequenceClassification.from_pretrained(
        MODEL_DIR,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        classifier_dropout=0.0,
        attn_implementation="eager",
    )
    model.eval()  # no dropout anywhere
    return model


def clean(name):
    name = name.removeprefix("base_model.model.")
    name = name.replace(".lora_A.default.", ".lora_A.").replace(".lora_B.default.", ".lora_B.")
    name = name.replace(".modules_to_save.default.", ".")
    return name


def save_fixture(case, model, batch, y, loss, seed, extra=None):
    """Write grads-<case>.safetensors (batch, labels, loss, every trainable tensor and its
    gradient, plus `extra` tensors); returns how many trainable tensors it holds."""
    ids, types, mask = batch
    tensors = {
        "input_ids": ids,
        "token_type_ids": types,
        "attention_mask": mask,
        "labels": y.contiguous(),
        "loss": loss.detach().float().reshape(1),
        **(extra or {}),
    }
    n = 0
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        key = clean(name)
        tensors[f"param.{key}"] = p.detach().float().contiguous()
        tensors[f"grad.{key}"] = p.grad.float().contiguous()
        n += 1
    # one metadata key: safetensors writes a multi-key map in random order (not reproducible)
    meta = {"made_with": f"torch {torch.__version__}, transformers "
            f"{__import__('transformers').__version__}, peft {__import__('peft').__version__}, "
            f"seed {seed}"}
    save_file(tensors, os.path.join(FIX, f"grads-{case}.safetensors"), metadata=meta)
    return n


def run_case(case, gen, batch, labels_single, labels_multi):
    ids, types, mask = batch
    model = load_model()
    if case in ("lora", "lora_all", "weighted", "multilabel"):
        targets = ["query", "key", "value", "dense"] if case == "lora_all" else ["query", "value"]
        cfg = LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=8, lora_dropout=0.0,
                         target_modules=targets)
        model = get_peft_model(model, cfg)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "lora_" in name:  # non-zero A and B so both gradients are non-trivial
                    p.copy_(0.3 * torch.randn(p.shape, generator=gen))
    elif case == "head":
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith("classifier."))
    model = model.double()
    out = model(input_ids=ids, token_type_ids=types, attention_mask=mask)
    logits = out.logits
    if case == "multilabel":
        y = labels_multi
        loss = F.binary_cross_entropy_with_logits(logits, y.double())
    elif case == "weighted":
        y = labels_single
        w = torch.tensor([0.5, 2.0, 1.25], dtype=torch.float64)
        loss = F.cross_entropy(logits, y, weight=w, label_smoothing=0.1)
    else:
        y = labels_single
        loss = F.cross_entropy(logits, y)
    loss.backward()
    n = save_fixture(case, model, batch, y, loss, seed=SEED)
    print(f"{case}: loss {loss.item():.6f}, {n} trainable tensors", file=sys.stderr)


def main():
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    vocab = load_model().config.vocab_size
    batch = make_batch(gen, vocab)
    b = batch[0].shape[0]
    labels_single = torch.tensor([0, 2, 1, 1, 0], dtype=torch.long)
    labels_multi = (torch.rand((b, 3), generator=gen) < 0.5).float()
    for case in ["lora", "lora_all", "full", "head", "weighted", "multilabel"]:
        run_case(case, gen, batch, labels_single, labels_multi)


if __name__ == "__main__":
    main()
