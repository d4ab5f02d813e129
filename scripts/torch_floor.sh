#!/usr/bin/env bash
# Does stylebank work with an older torch? The evidence for pyproject's floors (torch>=2.6 for the package,
# torch>=2.10 for the onnx extra's export):
#
#     bash scripts/torch_floor.sh 2.6.0      # training, stylizing, files: pass (2.5.1: get_total_norm is missing)
#     bash scripts/torch_floor.sh 2.10.0     # also the ONNX export (2.9.1 and older: torch.export refuses the
#                                            # dynamic-size graph, "Cannot create Dim with inconsistent min")
#
# PyPI has only the CUDA builds of old torch versions: this installs the wheel with its nvidia-* libraries
# (about 2 GB, no triton) into a scratch venv under /tmp, runs the suite's tests there on this checkout's code
# (not installed: PYTHONPATH), then tries the ONNX export. Nothing in the checkout or its .venv changes.
set -euo pipefail
version=${1:?give a torch version, e.g. 2.6.0}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/torch-floor.XXXX)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
pip=("$work/venv/bin/pip" install -q --no-cache-dir)
"$work/venv/bin/pip" download -q --no-deps --no-cache-dir -d "$work/wheels" "torch==$version"
wheel=$(ls "$work"/wheels/torch-*.whl)
unzip -p "$wheel" "torch-$version.dist-info/METADATA" | grep "^Requires-Dist: nvidia" \
    | sed -E 's/Requires-Dist: ([^ ;]+) ?\(?([^);]*)\)?.*/\1\2/' > "$work/nvidia.txt"
"${pip[@]}" --no-deps -r "$work/nvidia.txt" "$wheel"
sympy="sympy>=1.13.3"
[[ $version == 2.6.* || $version == 2.5.* ]] && sympy="sympy==1.13.1"
"${pip[@]}" filelock typing-extensions networkx jinja2 fsspec "$sympy" mpmath MarkupSafe numpy pillow safetensors \
    tqdm scikit-image h5py pytest hypothesis onnx onnxscript onnxruntime
cp -r "$root/tests" "$work/tests"
cd "$work/tests"
export PYTHONPATH="$root/src" PYTHONDONTWRITEBYTECODE=1
"$work/venv/bin/python" -m pytest -q -p no:cacheprovider -m "not slow" \
    test_model.py test_losses.py test_train.py test_api.py test_lossnet.py test_fusion.py test_golden.py test_styles.py \
    test_config.py test_backends.py
"$work/venv/bin/python" - <<'EOF'
import tempfile
from pathlib import Path
import torch
import stylebank
from stylebank.backends.stylizer import StylizeOptions
model = stylebank.load(None, "cpu")
with tempfile.TemporaryDirectory() as folder:
    try:
        onnx_model = stylebank.load_onnx(model.export_onnx(Path(folder) / "m.onnx"))
    except Exception as error:
        raise SystemExit(f"torch {torch.__version__}: ONNX export FAILED: {type(error).__name__}: {str(error)[:200]}")
    image, options = torch.rand(1, 3, 70, 101), StylizeOptions(1, precision="fp32")
    difference = (model.stylize_batch(image, options) - onnx_model.stylize_batch(image, options)).abs().max()
    print(f"torch {torch.__version__}: ONNX export OK; max |ONNX Runtime - PyTorch| = {difference:.2g}")
EOF
