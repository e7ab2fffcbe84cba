"""The sentence-encoder runtimes side by side: quality on the labelled set, speed of one look-up, memory.

    .venv/bin/python benchmark/bench_encoders.py

Each runtime runs in a fresh process: its import + load time, the resident memory it adds to a bare
Python (RSS after loading, minus before importing it), the time to encode one short text (p50/p95 over
the 201 labelled phrasings, one thread), and recall@3 / heard@3 / false of bench_matching on the
labelled set with that runtime's vectors behind the same Matcher and cut-offs. Runtimes whose
libraries are not installed are skipped:

* ``onnx``: matching.encoder on ONNX Runtime (matching.onnx_runtime), what the bot runs;
* ``numpy``: matching.encoder's own numpy pass (the bot's runtime when onnxruntime is not installed);
* ``onnx-int8``: the same graph with its matrix products' weights quantised to int8 per channel
  (onnxruntime.quantization.quantize_dynamic), stored vectors and queries alike; its load time and memory
  include the onnx package and the quantisation itself (a candidate, not what the bot runs);
* ``torch``: sentence-transformers on a CPU torch (the reference; the bot's former runtime);
* ``torch-int8``: the same with torch's dynamic int8 quantisation of the Linear layers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, os, resource, statistics, sys, time
sys.path.insert(0, {root!r})
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
runtime = {runtime!r}
before = rss()
t0 = time.perf_counter()
import numpy as np
from matching import encoder
if runtime in ("numpy", "onnx"):
    os.environ["PARTNERBOT_ENCODER_RUNTIME"] = runtime
    enc = encoder.load_encoder()
elif runtime == "onnx-int8":
    import tempfile
    import onnx, onnxruntime as ort
    from onnx import numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from matching import onnx_runtime
    base = encoder.MiniLMEncoder(runtime="numpy")
    model = onnx.load_from_string(onnx_runtime.build_model(base))
    weights = onnx_runtime.weights_of(base)
    for tensor in model.graph.initializer:
        if tensor.name in weights:
            tensor.CopyFrom(numpy_helper.from_array(weights[tensor.name], tensor.name))
    folder = tempfile.mkdtemp()
    onnx.save(model, folder + "/fp32.onnx")
    quantize_dynamic(folder + "/fp32.onnx", folder + "/int8.onnx", op_types_to_quantize=["MatMul"],
                     per_channel=True, weight_type=QuantType.QInt8)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(folder + "/int8.onnx", options, providers=["CPUExecutionProvider"])
    class Int8:
        def run(self, ids, key_bias):
            feed = {{"input_ids": ids, "positions": np.arange(ids.shape[1], dtype=np.int64), "key_bias": key_bias}}
            return session.run(None, feed)[0]
    base._onnx = Int8()
    encoder._encoder = enc = base
else:
    import torch
    from sentence_transformers import SentenceTransformer
    torch.set_num_threads(1)
    model = SentenceTransformer(str(encoder.model_dir()), device="cpu", local_files_only=True)
    if runtime == "torch-int8":
        model = torch.quantization.quantize_dynamic(model, {{torch.nn.Linear}}, dtype=torch.qint8)
    class Wrapped:
        def encode(self, texts, batch_size=32):
            out = model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
            return out.astype(np.float32).reshape(len(texts), encoder.EMBEDDING_DIM)
    enc = Wrapped()
    encoder._encoder = enc
enc.encode(["warm up"])
load_s = time.perf_counter() - t0
memory = rss() - before
sys.path.insert(0, {bench!r})
import bench_matching as bm
from matching.normalize import normalize
groups = json.load(open(bm.DATA))["groups"]
texts = [normalize(p) or p for g in groups for p in g["phrasings"]]
times = []
for t in texts:
    s = time.perf_counter(); enc.encode([t]); times.append((time.perf_counter() - s) * 1000)
q = bm.quality("embedding", groups)
pct = statistics.quantiles(times, n=20)
print(json.dumps(dict(load_s=load_s, mem_mb=memory, p50=statistics.median(times), p95=pct[18],
                      r3=q["r3"], h3=q["h3"], false=q["false"])))
"""


def main() -> int:
    print(
        f"{'runtime':<11} {'load s':>7} {'mem MB':>7} {'p50 ms':>7} {'p95 ms':>7} {'recall@3':>8} {'heard@3':>8} {'false':>6}"
    )
    for runtime in ("onnx", "numpy", "onnx-int8", "torch", "torch-int8"):
        code = CHILD.format(root=str(ROOT), runtime=runtime, bench=str(ROOT / "benchmark"))
        env_threads = {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env_threads)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["?"])[-1]
            print(f"{runtime:<11} skipped: {last[:90]}")
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"{runtime:<11} {r['load_s']:>7.1f} {r['mem_mb']:>7.0f} {r['p50']:>7.1f} {r['p95']:>7.1f} "
            f"{r['r3']:>8.3f} {r['h3']:>8.3f} {r['false']:>6.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
