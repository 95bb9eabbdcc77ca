"""Per-example weighted losses from torch autograd, for model/tests/bias_weights.rs.

Writes model/tests/fixtures/weighted_loss_torch.json: logits, targets, per-example weights
s, class weights w, label smoothing eps, and for each case the loss and d loss / d logits of
  CE:  (s * F.cross_entropy(z, y, weight=w, label_smoothing=eps, reduction='none')).sum() / w[y].sum()
  BCE: (s[:, None] * F.binary_cross_entropy_with_logits(z, t, reduction='none')).mean()
(the group re-weighting of `finetune --group-weights`).

Run: .venv-ref/bin/python scripts/reference/make_weighted_loss_fixture.py
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(20261129)
OUT = os.path.join(os.path.dirname(__file__), "../../model/tests/fixtures/weighted_loss_torch.json")
n, k = 6, 4
z = (torch.randn(n, k, dtype=torch.float64) * 2.5).float().double()
y = torch.randint(0, k, (n,))
s = torch.tensor([0.5, 2.0, 0.0, 1.0, 3.0, 0.75], dtype=torch.float64)
w = torch.tensor([0.5, 1.0, 2.0, 0.25], dtype=torch.float64)
t = (torch.rand(n, k) > 0.5).double()

cases = []
for name, weight, eps in [("ce", None, 0.0), ("ce_class_weights", w, 0.0), ("ce_class_weights_smoothing", w, 0.1)]:
    zz = z.clone().requires_grad_(True)
    per = F.cross_entropy(zz, y, weight=weight, label_smoothing=eps, reduction="none")
    norm = (weight[y] if weight is not None else torch.ones(n, dtype=torch.float64)).sum()
    loss = (s * per).sum() / norm
    loss.backward()
    cases.append({"name": name, "class_weights": weight is not None, "label_smoothing": eps,
                  "loss": loss.item(), "dlogits": zz.grad.flatten().tolist()})
zz = z.clone().requires_grad_(True)
loss = (s[:, None] * F.binary_cross_entropy_with_logits(zz, t, reduction="none")).mean()
loss.backward()
bce = {"loss": loss.item(), "dlogits": zz.grad.flatten().tolist()}

with open(OUT, "w") as f:
    json.dump({"n": n, "k": k, "logits": z.flatten().tolist(), "targets": y.tolist(),
               "sample_weights": s.tolist(), "class_weights": w.tolist(),
               "multi_hot": t.flatten().tolist(), "ce": cases, "bce": bce,
               "torch": torch.__version__}, f, indent=1)
    f.write("\n")
print("wrote", os.path.normpath(OUT))
