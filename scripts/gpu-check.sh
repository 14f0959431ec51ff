#!/usr/bin/env bash
# The GPU checks of this project, as one script for a lent GPU machine (CI has no GPU).
#
# Here: `bash ../shared/tools/gpu-bundle.sh` fills .gpu/ (ignored) with onnxruntime-gpu in
# parts, the runtime wheels and setup.sh. On the device: copy the parts to /tmp/parts one call
# at a time, then, carrying .gpu/whl and .gpu/setup.sh:
#     source .gpu/setup.sh && bash scripts/gpu-check.sh
# It writes under $OUT (or /tmp/gpu-check): the test suite on CUDA, then bench.gpu's page.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-/tmp/gpu-check}"
mkdir -p "$out"
python3 -c "import onnxruntime as o; print(o.__version__, o.get_available_providers())" \
  | tee "$out/providers.txt"
# The service's tests on CUDA (schemathesis and the soak need packages the bundle may lack).
RNN_SERVE_PROVIDER=cuda timeout 420 python3 -m pytest -q -x -p no:cacheprovider tests/service \
  tests/live --ignore=tests/service/http/test_schema_fuzz.py --ignore=tests/live/test_soak.py \
  > "$out/tests-cuda.txt" 2>&1
echo "tests on cuda: rc=$?" | tee -a "$out/tests-cuda.txt"
timeout 420 python3 -m bench.gpu > "$out/bench-gpu.txt" 2>&1
echo "bench.gpu: rc=$?" | tee -a "$out/bench-gpu.txt"
cp docs/benchmarks-gpu.md "$out/" 2>/dev/null || true
