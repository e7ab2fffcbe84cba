"""MiniLM's forward pass on ONNX Runtime: the same graph as matching.encoder's numpy pass, fed the weights
the encoder read out of the installed model package (no export step, no torch).

ONNX Runtime runs the six layers' matrix products about twice as fast as numpy on one thread (one short
text: ~5 ms against ~9 ms here; benchmark/bench_encoders.py), and its vectors are numpy's to float32
rounding, so stored vectors stay valid (tests/matching/test_encoder.py compares them).

The graph takes the token ids of a batch, their positions and the attention's key bias (0 for a real
token, -1e9 for padding) and returns the last layer's hidden states; pooling and normalisation stay in
numpy (matching.encoder), so both runtimes share them.

The graph alone (no weights: they are declared as external data and handed to the session as arrays) is
``matching/minilm.onnx``, 13 KB, written by ``python -m matching.onnx_runtime`` with the ``onnx`` package
(a development dependency: importing it costs about a second of every start). Its metadata records the
model shape it was built for; a model of another shape (``PARTNERBOT_MODEL_DIR``) runs in numpy.
tests/matching/test_encoder.py checks that the file is what the script builds.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matching.encoder import MiniLMEncoder

import importlib.util
import sys
from pathlib import Path

OPSET = 18
GRAPH = Path(__file__).with_name("minilm.onnx")


class GraphMismatch(RuntimeError):
    """The shipped graph was built for a model of another shape."""


def available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None and GRAPH.is_file()


def shape_of(enc: MiniLMEncoder) -> dict[str, str]:
    """What the graph depends on besides the weights: recorded in its metadata, checked at load."""
    return {
        "layers": str(len(enc.layers)),
        "hidden": str(enc.hidden),
        "heads": str(enc.heads),
        "eps": repr(enc.eps),
    }


def weights_of(enc: MiniLMEncoder) -> dict[str, np.ndarray]:
    """The model's weights by the names the graph gives them (all float32, contiguous)."""
    named = {
        "word": enc.word,
        "position": enc.position,
        "token_type": enc.token_type[0],
        "emb_ln_w": enc.emb_ln_w,
        "emb_ln_b": enc.emb_ln_b,
    }
    for i, layer in enumerate(enc.layers):
        named.update({f"l{i}.{name}": getattr(layer, name) for name in layer.__slots__})
    return {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in named.items()}


def build_model(enc: MiniLMEncoder) -> bytes:
    """The serialized ONNX graph of ``enc``'s forward pass (BERT encoder: embeddings, post-norm layers with
    exact GELU). The weights (``weights_of``) are declared as external data: the session is handed the
    arrays themselves (``OnnxForward``), so they are never serialized."""
    from onnx import TensorProto, helper, numpy_helper

    weights = weights_of(enc)
    initializers: list = []
    nodes: list = []
    for name, value in weights.items():
        tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=value.shape)
        tensor.data_location = TensorProto.EXTERNAL
        for key, text in (("location", "weights"), ("offset", "0"), ("length", str(value.nbytes))):
            tensor.external_data.add(key=key, value=text)
        initializers.append(tensor)

    def const(name: str, value) -> str:
        initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(kind: str, inputs: list[str], outputs: int = 1, **attrs) -> str | list[str]:
        names = [f"t{len(nodes)}_{i}" for i in range(outputs)]
        nodes.append(helper.make_node(kind, inputs, names, **attrs))
        return names[0] if outputs == 1 else names

    hidden, heads = enc.hidden, enc.heads
    size = hidden // heads
    const("split_heads", np.array([0, 0, 3, heads, size], dtype=np.int64))
    const("merge_heads", np.array([0, 0, hidden], dtype=np.int64))
    const("first", np.array([0], dtype=np.int64))
    const("scale", np.float32(1.0 / math.sqrt(size)))
    const("half", np.float32(0.5))
    const("one", np.float32(1.0))
    const("inv_sqrt2", np.float32(1.0 / math.sqrt(2.0)))

    def linear(x: str, weight: str, bias: str) -> str:
        return op("Add", [op("MatMul", [x, weight]), bias])

    def norm(x: str, weight: str, bias: str) -> str:
        return op("LayerNormalization", [x, weight, bias], axis=-1, epsilon=enc.eps)

    x = op(
        "Add",
        [
            op("Add", [op("Gather", ["word", "input_ids"]), op("Gather", ["position", "positions"])]),
            "token_type",
        ],
    )
    x = norm(x, "emb_ln_w", "emb_ln_b")
    for i, layer in enumerate(enc.layers):
        w = {name: f"l{i}.{name}" for name in layer.__slots__}
        qkv = op(
            "Transpose",
            [op("Reshape", [linear(x, w["qkv_w"], w["qkv_b"]), "split_heads"])],
            perm=[2, 0, 3, 1, 4],
        )
        q, k, v = (
            op("Squeeze", [part, "first"]) for part in op("Split", [qkv], outputs=3, axis=0, num_outputs=3)
        )
        scores = op(
            "Add",
            [op("Mul", [op("MatMul", [q, op("Transpose", [k], perm=[0, 1, 3, 2])]), "scale"]), "key_bias"],
        )
        context = op("MatMul", [op("Softmax", [scores], axis=-1), v])
        context = op("Reshape", [op("Transpose", [context], perm=[0, 2, 1, 3]), "merge_heads"])
        x = norm(op("Add", [linear(context, w["out_w"], w["out_b"]), x]), w["ln1_w"], w["ln1_b"])
        up = linear(x, w["up_w"], w["up_b"])
        gelu = op(
            "Mul", [op("Mul", [up, "half"]), op("Add", [op("Erf", [op("Mul", [up, "inv_sqrt2"])]), "one"])]
        )
        x = norm(op("Add", [linear(gelu, w["down_w"], w["down_b"]), x]), w["ln2_w"], w["ln2_b"])
    nodes.append(helper.make_node("Identity", [x], ["hidden"]))
    graph = helper.make_graph(
        nodes,
        "minilm",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "length"]),
            helper.make_tensor_value_info("positions", TensorProto.INT64, ["length"]),
            helper.make_tensor_value_info("key_bias", TensorProto.FLOAT, ["batch", 1, 1, "length"]),
        ],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "length", hidden])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 9
    helper.set_model_props(model, shape_of(enc))
    return model.SerializeToString()


class OnnxForward:
    """``enc``'s forward pass as an ONNX Runtime session; ``run`` is thread-safe. ``threads`` intra-op
    threads (1: the calling thread only, so the session starts no thread pool and survives a fork)."""

    def __init__(self, enc: MiniLMEncoder, threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        weights = weights_of(enc)
        # The session copies the weights in (then packs the matrices for its products): the arrays may go.
        options.add_external_initializers(
            list(weights), [ort.OrtValue.ortvalue_from_numpy(value) for value in weights.values()]
        )
        self.session = ort.InferenceSession(GRAPH.read_bytes(), options, providers=["CPUExecutionProvider"])
        built_for = self.session.get_modelmeta().custom_metadata_map
        if built_for != shape_of(enc):
            raise GraphMismatch(f"{GRAPH.name} was built for {built_for}, the model is {shape_of(enc)}")

    def run(self, ids: np.ndarray, key_bias: np.ndarray) -> np.ndarray:
        positions = np.arange(ids.shape[1], dtype=np.int64)
        return self.session.run(None, {"input_ids": ids, "positions": positions, "key_bias": key_bias})[0]


def main() -> None:
    """Writes GRAPH from the installed model package (needs the onnx package: pip install -e '.[dev]')."""
    from matching.encoder import MiniLMEncoder

    graph = build_model(MiniLMEncoder(runtime="numpy"))
    GRAPH.write_bytes(graph)
    print(f"wrote {GRAPH} ({len(graph):,} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
