#!/usr/bin/env bash
# Install edgeprune's device side (numpy, pillow, typer, rich and a TFLite runtime; no TensorFlow) in a venv
# on Raspberry Pi OS. Usage: bash setup.sh edgeprune-0.1.0-py3-none-any.whl [VENV]
set -euo pipefail
WHEEL=${1:?usage: setup.sh edgeprune-<version>-py3-none-any.whl [venv folder]}
VENV=${2:-$HOME/edgeprune-venv}
[ -f "$WHEEL" ] || { echo "error: $WHEEL not found; build it on the workbench with: pip wheel --no-deps . -w dist" >&2; exit 2; }
command -v python3 >/dev/null || { echo "error: python3 is missing; sudo apt install python3 python3-venv" >&2; exit 2; }
python3 -m venv "$VENV" || { echo "error: could not create a venv; sudo apt install python3-venv" >&2; exit 2; }
"$VENV/bin/python" -m pip install -q --upgrade pip
case "$(uname -m)" in
  aarch64|arm64|x86_64)
    # LiteRT publishes wheels for 64-bit Arm and x86-64; it comes with edgeprune's device dependencies.
    "$VENV/bin/python" -m pip install "$WHEEL" ;;
  armv7l|armv6l)
    # 32-bit Raspberry Pi OS: no LiteRT wheels. tflite-runtime 2.14 is the fallback, and it needs numpy < 2.
    "$VENV/bin/python" -m pip install --no-deps "$WHEEL"
    "$VENV/bin/python" -m pip install "numpy<2" pillow typer rich "tflite-runtime==2.14.*" ;;
  *) echo "error: unsupported machine $(uname -m)" >&2; exit 2 ;;
esac
"$VENV/bin/python" -c "import sys; import edgeprune.device.runtime as r; rt = r.load(); print('runtime:', rt.name, rt.version); assert 'tensorflow' not in sys.modules"
echo "ready: $VENV/bin/edgeprune bench BUNDLE/*.tflite --threads 1,2,4 --json pi.json"
