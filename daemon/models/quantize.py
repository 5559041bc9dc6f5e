"""Dynamic int8 copies of ONNX graphs, made once and kept in the data folder.

onnxruntime's dynamic quantisation stores the weights of matrix products as
8-bit integers and quantises activations on the fly: no calibration data is
needed, and on a CPU a ViT image tower runs faster with embeddings very close
to float32 (``pximse models verify`` prints the measured agreement). Weights
are unsigned (``QUInt8``): on a random-weight ViT-B-32 here, signed weights kept
a cosine of 0.994 to float32 and unsigned ones 0.9998; signed ran 2.7 images/s
and unsigned 2.3 in one run on a shared, busy 2-core machine (batches of 8),
and unsigned still beats PyTorch by 2.2x (``bench/clip_runtime.py``). It needs the ``onnx`` package
(``pip install 'pximse[int8]'``).

The copy goes to ``<data_dir>/models/int8/<name>-<digest of the source>-u8.onnx``:
a user's model folder is never written to, and a changed source graph gets a
copy of its own.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path

from pximse.models.weights import WeightsUnavailable, model_digest

__all__ = ["quantized_copy"]

log = logging.getLogger(__name__)


def quantized_copy(source: Path, data_dir: Path) -> Path:
    """The int8 copy of ``source`` (made now if it is not there yet)."""
    digest = model_digest([source], data_dir=data_dir)
    folder = Path(data_dir) / "models" / "int8"
    target = folder / f"{source.parent.name}-{source.stem}-{digest}-u8.onnx"
    if target.is_file():
        return target
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        raise WeightsUnavailable(
            "int8 precision needs the onnx package: pip install 'pximse[int8]', "
            f"or set models.clip_precision = \"fp32\" ({exc})") from exc
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    try:
        quantize_dynamic(str(source), tmp_name, weight_type=QuantType.QUInt8)
        os.replace(tmp_name, target)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    log.info("made the int8 copy of %s in %.1fs: %s", source, time.perf_counter() - started,
             target)
    return target
