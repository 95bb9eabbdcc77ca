#!/usr/bin/env python3
"""Write the golden fixtures for tokken's BERT forward pass.

Outputs (paths relative to the repo root):
  model/tests/fixtures/tiny-bert/          a tiny BertForSequenceClassification model dir:
      config.json, model.safetensors, pytorch_model.bin (torch.save of the state dict, to
      test that loader), vocab.txt, tokenizer_config.json
  model/tests/fixtures/tiny-bert-forward.safetensors
      inputs:  input_ids, token_type_ids, attention_mask   [B, T] int64
      outputs: hidden_states.{i} [B, T, C] (i = 0 embeddings output .. L),
               attentions.{l} [B, NH, T, T], pooler_output [B, C], logits [B, num_labels],
               logits.{act} [B, num_labels]: the same weights with hidden_act = act
               (gelu_new, relu, silu) to check the other activations

Every parameter (LayerNorm and biases included) is drawn at random with a fixed seed, so a
swapped gamma/beta or a missing bias cannot pass unnoticed (HF's own init sets those to
1 / 0). Run from the repo root:  .venv-ref/bin/python scripts/reference/make_forward_fixtures.py
"""

import json
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertForSequenceClassification

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIX = os.path.join(ROOT, "model", "tests", "fixtures")
MODEL_DIR = os.path.join(FIX, "tiny-bert")

SEED = 1234
VOCAB = 120
PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4


def tiny_vocab():
    """[PAD] [UNK] [CLS] [SEP] [MASK], then single kana so the dir is a complete model dir."""
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = [chr(c) for c in range(ord("ぁ"), ord("ぁ") + VOCAB - len(specials))]
    return specials + chars


def randomize(model, gen):
    """Replace every parameter with random values of a realistic scale."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias") or "LayerNorm.bias" in name:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))


def make_batch(gen):
    """Three texts of lengths 12, 7 and 16 (the last one a pair with type ids 1), padded to 16."""
    t = 16
    rows = []
    # single text of 12 tokens
    rows.append(([CLS] + list(torch.randint(5, VOCAB, (10,), generator=gen)) + [SEP], None))
    # single text of 7 tokens, one [UNK]
    body = list(torch.randint(5, VOCAB, (5,), generator=gen))
    body[2] = UNK
    rows.append(([CLS] + body + [SEP], None))
    # a pair: [CLS] a(6) [SEP] b(7) [SEP] = 16 tokens, second segment type 1
    a = list(torch.randint(5, VOCAB, (6,), generator=gen))
    b = list(torch.randint(5, VOCAB, (7,), generator=gen))
    rows.append(([CLS] + a + [SEP] + b + [SEP], 8))
    ids = torch.full((len(rows), t), PAD, dtype=torch.long)
    types = torch.zeros((len(rows), t), dtype=torch.long)
    mask = torch.zeros((len(rows), t), dtype=torch.long)
    for i, (toks, second_start) in enumerate(rows):
        n = len(toks)
        ids[i, :n] = torch.tensor([int(x) for x in toks])
        mask[i, :n] = 1
        if second_start is not None:
            types[i, second_start:n] = 1
    return ids, types, mask


def main():
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    labels = ["経済", "スポーツ", "映画"]
    config = BertConfig(
        vocab_size=VOCAB,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=64,
        type_vocab_size=2,
        hidden_act="gelu",
        layer_norm_eps=1e-12,
        pad_token_id=PAD,
        num_labels=len(labels),
        id2label={i: l for i, l in enumerate(labels)},
        label2id={l: i for i, l in enumerate(labels)},
    )
    # eager attention: the only implementation that returns attention probabilities
    config._attn_implementation = "eager"
    model = BertForSequenceClassification(config)
    randomize(model, gen)
    model.eval()

    os.makedirs(MODEL_DIR, exist_ok=True)
    model.save_pretrained(MODEL_DIR, safe_serialization=True)
    torch.save(model.state_dict(), os.path.join(MODEL_DIR, "pytorch_model.bin"))
    with open(os.path.join(MODEL_DIR, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(tiny_vocab()) + "\n")
    with open(os.path.join(MODEL_DIR, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(
            {
                "tokenizer_class": "BertJapaneseTokenizer",
                "model_max_length": 64,
                "do_lower_case": False,
                "word_tokenizer_type": "mecab",
                "subword_tokenizer_type": "character",
                "mecab_kwargs": {"mecab_dic": "unidic_lite"},
            },
            f,
            ensure_ascii=False,
            indent=2,
        )

    ids, types, mask = make_batch(gen)
    with torch.no_grad():
        out = model(
            input_ids=ids,
            token_type_ids=types,
            attention_mask=mask,
            output_hidden_states=True,
            output_attentions=True,
        )
        pooled = model.bert(input_ids=ids, token_type_ids=types, attention_mask=mask).pooler_output
    assert len(out.attentions) == config.num_hidden_layers and out.attentions[0] is not None, \
        "attentions missing: eager attention is required"
    tensors = {
        "input_ids": ids,
        "token_type_ids": types,
        "attention_mask": mask,
        "pooler_output": pooled.contiguous(),
        "logits": out.logits.contiguous(),
    }
    for i, h in enumerate(out.hidden_states):
        tensors[f"hidden_states.{i}"] = h.contiguous()
    for l, a in enumerate(out.attentions):
        tensors[f"attentions.{l}"] = a.contiguous()
    for act in ["gelu_new", "relu", "silu"]:
        variant_config = BertConfig.from_dict(config.to_dict())
        variant_config.hidden_act = act
        variant_config._attn_implementation = "eager"
        variant = BertForSequenceClassification(variant_config)
        variant.load_state_dict(model.state_dict())
        variant.eval()
        with torch.no_grad():
            logits = variant(input_ids=ids, token_type_ids=types, attention_mask=mask).logits
        tensors[f"logits.{act}"] = logits.contiguous()
    meta = {
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "seed": str(SEED),
    }
    save_file(tensors, os.path.join(FIX, "tiny-bert-forward.safetensors"), metadata=meta)
    print("logits", out.logits)
    print("wrote", MODEL_DIR, "and tiny-bert-forward.safetensors", meta, file=sys.stderr)


if __name__ == "__main__":
    main()
