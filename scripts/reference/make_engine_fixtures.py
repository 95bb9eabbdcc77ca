"""Write the tokken-engine weight-loading fixtures (small: a few KB).

Requirements: torch, safetensors (see requirements.txt). Run from the repo root:

    .venv-ref/bin/python scripts/reference/make_engine_fixtures.py

Writes engine/tests/fixtures/:
  tiny_pytorch_model.bin  torch.save of a state dict (zip format) exercising what the Rust
                          pickle reader must handle: f32 / bf16 / f16 storages, a
                          Parameter, a transposed (non-contiguous) view, a view at a storage
                          offset sharing storage with another entry, a 0-d scalar, an int64
                          buffer, and the state dict's `_metadata` attribute.
  tiny_pytorch_model_legacy.bin     the same state dict in the legacy (torch < 1.6, non-zip)
                                    layout: `_use_new_zipfile_serialization=False`.
  tiny_pytorch_model_legacy_p4.bin  the same, legacy layout with pickle protocol 4 (framed).
  tiny_model.safetensors  the same tensors, each made contiguous (what the .bin must load as).
Deterministic (fixed seed): re-running rewrites identical tensors (the legacy files' storage
keys are memory addresses, so their bytes differ from run to run).
"""

from collections import OrderedDict
from pathlib import Path

import torch
from safetensors.torch import save_file

OUT = Path(__file__).resolve().parents[2] / "engine" / "tests" / "fixtures"


def main() -> None:
    torch.manual_seed(1234)
    base = torch.randn(3, 4)
    shared = torch.randn(10)
    sd = OrderedDict()
    sd["f32.weight"] = torch.randn(2, 3)
    sd["param.weight"] = torch.nn.Parameter(torch.randn(4), requires_grad=True)
    sd["bf16.weight"] = torch.randn(3, 2).to(torch.bfloat16)
    sd["f16.bias"] = torch.randn(5).to(torch.float16)
    sd["base"] = base
    sd["transposed"] = base.t()  # [4, 3], strides (1, 4): same storage, not contiguous
    sd["shared.full"] = shared
    sd["shared.tail"] = shared[6:].view(2, 2)  # storage offset 6
    sd["shared.strided"] = shared[1::3]  # offset 1, stride 3
    sd["scalar"] = torch.tensor(2.5)
    sd["embeddings.position_ids"] = torch.arange(6).unsqueeze(0)  # int64 buffer
    sd._metadata = OrderedDict({"": {"version": 1}})

    OUT.mkdir(parents=True, exist_ok=True)
    torch.save(sd, OUT / "tiny_pytorch_model.bin")
    torch.save(sd, OUT / "tiny_pytorch_model_legacy.bin", _use_new_zipfile_serialization=False)
    torch.save(sd, OUT / "tiny_pytorch_model_legacy_p4.bin", pickle_protocol=4,
               _use_new_zipfile_serialization=False)
    flat = {k: v.detach().contiguous().clone() for k, v in sd.items()}
    save_file(flat, OUT / "tiny_model.safetensors", metadata={"format": "pt"})
    for k, v in sd.items():
        print(f"{k:28} {str(v.dtype):15} {list(v.shape)} stride={v.stride()} "
              f"offset={v.storage_offset()}")


if __name__ == "__main__":
    main()
