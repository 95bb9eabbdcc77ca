#!/usr/bin/env bash
# One-shot GPU check for a machine with an NVIDIA GPU (written for an H200, CUDA 13 driver,
# nvcc + PyTorch present, no network). Budget: well under 8 minutes.
#   1. build tokken-kernels with --features cuda (cudarc loads libcuda / NVRTC at run time)
#   2. NVRTC compile test + every CUDA kernel against the CPU reference
#   3. kernel benches (BENCH JSON lines) and the card's bf16 ceiling measured with PyTorch
# Everything is written to $OUT (default target/gpu-check) as well as stdout.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-target/gpu-check}
mkdir -p "$OUT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
# NVRTC: the toolkit's, else the one next to PyTorch's CUDA wheels.
if [ -z "${TOKKEN_NVRTC:-}" ]; then
  for f in /usr/local/cuda/lib64/libnvrtc.so /usr/local/cuda/lib64/libnvrtc.so.13 /usr/local/cuda/lib64/libnvrtc.so.12; do
    [ -e "$f" ] && export TOKKEN_NVRTC=$f && break
  done
fi
echo "TOKKEN_NVRTC=${TOKKEN_NVRTC:-<loader search>}" | tee "$OUT/env.txt"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee -a "$OUT/env.txt"

status=0
step() { echo "== $*"; }

step "build (release, --features cuda)"
timeout 240 cargo build --release -p tokken-kernels --features cuda --tests 2>&1 | tail -3 || status=1

step "NVRTC compile test"
timeout 120 cargo test --release -p tokken-kernels --features cuda --test cuda_nvrtc_compile -- --nocapture 2>&1 | tee "$OUT/nvrtc.txt" | tail -20 || status=1

step "CUDA kernels vs CPU reference"
timeout 180 cargo test --release -p tokken-kernels --features cuda --test cuda_kernels -- --nocapture --test-threads=1 2>&1 | tee "$OUT/cuda_kernels.txt" | grep -E "^test |skipping|panicked|result" || status=1
grep -q "skipping:" "$OUT/cuda_kernels.txt" && { echo "CUDA tests were skipped: no usable device"; status=1; }
grep -q "test result: ok" "$OUT/cuda_kernels.txt" || status=1

step "bf16 ceiling (PyTorch matmul, 8192^3)"
timeout 90 python3 - <<'PY' 2>&1 | tee "$OUT/ceiling.txt"
import json, time
try:
    import torch
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    for _ in range(3): a @ b
    torch.cuda.synchronize()
    t = []
    for _ in range(10):
        s = time.perf_counter(); a @ b; torch.cuda.synchronize(); t.append(time.perf_counter() - s)
    t.sort()
    print("CEILING " + json.dumps({"what": "torch bf16 matmul 8192^3", "tflops": 2 * 8192**3 / t[5] / 1e12}))
except Exception as e:
    print("CEILING " + json.dumps({"error": str(e)}))
PY

step "kernel benches"
timeout 180 cargo test --release -p tokken-kernels --features cuda --test cuda_bench -- --ignored --nocapture 2>&1 | tee "$OUT/bench_raw.txt" | grep -E "^BENCH|skipping|panicked" || status=1

step "summary"
python3 - "$OUT" <<'PY' | tee "$OUT/summary.json"
import json, sys, os
out = sys.argv[1]
ceil = None
for l in open(os.path.join(out, "ceiling.txt")):
    if l.startswith("CEILING "):
        ceil = json.loads(l[8:]).get("tflops")
rows = [json.loads(l[6:]) for l in open(os.path.join(out, "bench_raw.txt")) if l.startswith("BENCH ")]
for r in rows:
    if ceil and "tflops" in r:
        r["fraction_of_bf16_ceiling"] = round(r["tflops"] / ceil, 3)
print(json.dumps({"bf16_ceiling_tflops": ceil, "results": rows}, indent=1))
PY
echo "gpu-check status: $status (0 = all CUDA tests passed)"
exit $status
