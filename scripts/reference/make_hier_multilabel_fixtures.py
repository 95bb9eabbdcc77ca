#!/usr/bin/env python3
"""Gradient fixtures for tokken's hierarchical loss and multi-label head (torch autograd).

Same tiny model, batch and file layout as make_grad_fixtures.py (dropout off, float64):
  input_ids, token_type_ids, attention_mask [B, T] int64; labels [B] int64 or [B, NL] f32
  param.<name>, grad.<name>  every trainable tensor and d loss / d tensor
  loss [1]; level_weights [levels] (hierarchical cases)

The label tree (nodes numbered in level order, as tokken's Hierarchy does):
  {"国内": ["政治", "経済"], "国際": ["政治", "経済", "紛争"], "スポーツ": []}
  0 国内  1 国際  2 スポーツ  3 国内/政治  4 国内/経済  5 国際/政治  6 国際/経済  7 国際/紛争
The classifier is a fresh Linear(C, 8): rows 0-2 are the level-1 head, rows 3-7 level 2.

Hierarchical loss, written independently of tokken's (masked_fill + cross_entropy):
  level 1: cross_entropy(logits[:, :3], top, reduction="sum")
  level 2: logits[:, 3:] with every node outside the gold parent's children set to -inf,
           cross_entropy(..., ignore_index=-100, reduction="sum") (スポーツ rows ignored)
  loss = (w1 * level1 + w2 * level2) / B

Cases:
  hier_lora        LoRA r=4 alpha=8 on query,value + the classifier; level weights 1, 0.5
  hier_head        the classifier only; level weights 0.7, 1.3
  multilabel_head  the classifier only, Linear(C, 4), BCE with logits on [B, 4] 0/1
                   targets with two labels in some rows (mean over B·NL, as HF)

Run from the repo root:  .venv-ref/bin/python scripts/reference/make_hier_multilabel_fixtures.py
"""

import sys

import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model

# the tiny model, batch layout and fixture file of the plain gradient fixtures
from make_grad_fixtures import make_batch, save_fixture
from make_grad_fixtures import load_model as load_tiny_model

SEED = 2468

TOP = 3  # level-1 nodes: 国内, 国際, スポーツ
PARENT = {3: 0, 4: 0, 5: 1, 6: 1, 7: 1}  # level-2 node -> its parent
CHILDREN = {0: [3, 4], 1: [5, 6, 7], 2: []}



def load_model(num_labels, gen):
    """The tiny model with a fresh random classifier of `num_labels` rows."""
    model = load_tiny_model()
    c = model.config.hidden_size
    model.classifier = torch.nn.Linear(c, num_labels)
    with torch.no_grad():
        model.classifier.weight.copy_(0.5 * torch.randn((num_labels, c), generator=gen))
        model.classifier.bias.copy_(0.5 * torch.randn((num_labels,), generator=gen))
    model.config.num_labels = num_labels
    model.eval()  # no dropout anywhere
    return model


def hierarchical_loss(logits, leaves, weights):
    b = logits.shape[0]
    top = torch.tensor([PARENT.get(int(l), int(l)) for l in leaves])
    level1 = F.cross_entropy(logits[:, :TOP], top, reduction="sum")
    y2 = torch.tensor([int(l) - TOP if int(l) in PARENT else -100 for l in leaves])
    allowed = torch.ones((b, logits.shape[1] - TOP), dtype=torch.bool)
    for i, l in enumerate(leaves):
        if int(l) in PARENT:
            allowed[i] = False
            for c in CHILDREN[PARENT[int(l)]]:
                allowed[i, c - TOP] = True
    masked = logits[:, TOP:].masked_fill(~allowed, float("-inf"))
    level2 = F.cross_entropy(masked, y2, ignore_index=-100, reduction="sum")
    return (weights[0] * level1 + weights[1] * level2) / b



def run_case(case, gen, batch):
    ids, types, mask = batch
    b = ids.shape[0]
    extra = {}
    if case.startswith("hier"):
        model = load_model(8, gen)
        y = torch.tensor([4, 7, 2, 5, 3], dtype=torch.long)
        weights = [1.0, 0.5] if case == "hier_lora" else [0.7, 1.3]
        extra["level_weights"] = torch.tensor(weights, dtype=torch.float32)
    else:
        model = load_model(4, gen)
        y = torch.tensor(
            [[1, 0, 0, 1], [0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 1]],
            dtype=torch.float32,
        )
    if case == "hier_lora":
        cfg = LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=8, lora_dropout=0.0,
                         target_modules=["query", "value"])
        model = get_peft_model(model, cfg)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "lora_" in name:  # non-zero A and B so both gradients are non-trivial
                    p.copy_(0.3 * torch.randn(p.shape, generator=gen))
    else:
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith("classifier."))
    model = model.double()
    logits = model(input_ids=ids, token_type_ids=types, attention_mask=mask).logits
    if case.startswith("hier"):
        loss = hierarchical_loss(logits, y, weights)
    else:
        loss = F.binary_cross_entropy_with_logits(logits, y.double())
    loss.backward()
    n = save_fixture(case, model, batch, y, loss, seed=SEED, extra=extra)
    print(f"{case}: loss {loss.item():.6f}, {n} trainable tensors, {b} rows", file=sys.stderr)


def main():
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    vocab = load_tiny_model().config.vocab_size
    batch = make_batch(gen, vocab)
    for case in ["hier_lora", "hier_head", "multilabel_head"]:
        run_case(case, gen, batch)


if __name__ == "__main__":
    main()
