"""The bot's MiniLM encoder: the reference implementation's vectors, without PyTorch; the string fallback
with one clear log line when the model cannot load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from matching import encoder
from matching.normalize import normalize

ROOT = Path(__file__).resolve().parents[2]
PARAPHRASES = ROOT / "benchmark" / "data" / "paraphrases.json"

pytestmark = pytest.mark.embeddings


@pytest.fixture(scope="module")
def texts() -> list[str]:
    groups = json.loads(PARAPHRASES.read_text())["groups"]
    raw = [p for g in groups for p in g["phrasings"]]
    odd = ["", "a", "ÉTÉ à Zürich", "数据导出", "x " * 400, "<@U1> :tada: https://x.io ok"]
    return raw + [normalize(t) or t for t in raw] + odd


@pytest.fixture(scope="module")
def ours():
    if encoder.missing_reason():
        pytest.skip(encoder.missing_reason())
    return encoder.load_encoder()


@pytest.mark.reference
def test_vectors_match_sentence_transformers(ours, texts):
    st = pytest.importorskip(
        "sentence_transformers", reason="the reference needs torch (make install-embeddings)"
    )
    reference = st.SentenceTransformer(str(encoder.model_dir()), device="cpu", local_files_only=True)
    expected = reference.encode(
        texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    got = ours.encode(texts)
    assert len(texts) > 400
    cosines = (got * expected).sum(axis=1)
    assert float(cosines.min()) > 0.999, texts[int(cosines.argmin())]
    assert np.allclose(got, expected, atol=1e-4)


def test_one_text_or_a_batch_give_the_same_vector(ours, texts):
    batch = ours.encode(texts[:40])
    for i in (0, 7, 39):
        assert float(ours.encode([texts[i]])[0] @ batch[i]) > 0.9999
    assert ours.encode([]).shape == (0, encoder.EMBEDDING_DIM)


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_bot_never_imports_torch(ours):
    done = _run(
        "import sys, logging\n"
        "from matching.index import Matcher\n"
        "m = Matcher()\n"
        "assert m.backend == 'embedding', m.backend\n"
        "m.add(request_id=1, scope=(1, 1), text='Export reports to CSV')\n"
        "assert m.suggest(scope=(1, 1), text='csv download of the report')[0][0] == 1\n"
        "print(sorted(k for k in sys.modules if k.split('.')[0] in ('torch', 'transformers', 'sentence_transformers')))\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_without_the_model_the_bot_matches_strings_and_says_so_once(tmp_path):
    done = _run(
        "import logging\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "from matching.index import Matcher\n"
        "m = Matcher()\n"
        "m.add(request_id=1, scope=(1, 1), text='Export reports to CSV')\n"
        "print(m.backend, m.suggest(scope=(1, 1), text='export the reports as csv')[0][0])\n",
        PARTNERBOT_MODEL_DIR=str(tmp_path / "nowhere"),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "string 1"
    warnings = [line for line in done.stderr.splitlines() if "semantic matcher unavailable" in line]
    assert len(warnings) == 1, done.stderr
    assert "string similarity" in warnings[0] and "nowhere" in warnings[0]


def test_the_bot_runs_the_encoder_on_onnx_runtime_with_numpys_vectors(ours, texts):
    """ONNX Runtime (the default when installed) and the numpy pass give the same vectors, so vectors stored
    by either stay valid with the other."""
    assert ours.runtime == "onnx"
    in_numpy = encoder.MiniLMEncoder(runtime="numpy")
    assert in_numpy.runtime == "numpy"
    got, expected = ours.encode(texts), in_numpy.encode(texts)
    cosines = (got * expected).sum(axis=1)
    assert float(cosines.min()) > 0.99999, texts[int(cosines.argmin())]
    assert np.allclose(got, expected, atol=1e-5)


def test_the_runtime_is_chosen_by_the_setting(monkeypatch):
    monkeypatch.setenv("PARTNERBOT_ENCODER_RUNTIME", "numpy")
    assert encoder.chosen_runtime() == "numpy"
    monkeypatch.setenv("PARTNERBOT_ENCODER_RUNTIME", "ONNX")
    assert encoder.chosen_runtime() == "onnx"
    monkeypatch.setenv("PARTNERBOT_ENCODER_RUNTIME", "gpu")
    with pytest.raises(ValueError, match="onnx or numpy"):
        encoder.chosen_runtime()


def test_the_shipped_graph_is_what_the_script_builds(ours):
    onnx = pytest.importorskip(
        "onnx", reason="writing the graph needs the onnx package (pip install -e '.[dev]')"
    )
    from matching import onnx_runtime

    built = onnx.load_from_string(onnx_runtime.build_model(encoder.MiniLMEncoder(runtime="numpy")))
    shipped = onnx.load(str(onnx_runtime.GRAPH), load_external_data=False)
    assert built == shipped, "matching/minilm.onnx is stale: run python -m matching.onnx_runtime"
    assert {p.key: p.value for p in shipped.metadata_props}["layers"] == "6"


def test_a_graph_built_for_another_model_shape_runs_in_numpy_and_says_so(monkeypatch, caplog):
    from matching import onnx_runtime

    monkeypatch.setattr(onnx_runtime, "shape_of", lambda enc: {"layers": "12"})
    with caplog.at_level("WARNING"):
        other = encoder.MiniLMEncoder(runtime="onnx")
    assert other.runtime == "numpy"
    assert any("runs in numpy" in r.getMessage() for r in caplog.records)
    assert other.encode(["export reports to CSV"]).shape == (1, encoder.EMBEDDING_DIM)


def test_an_encoder_loaded_before_a_fork_encodes_in_the_child(ours):
    """gunicorn loads the app (and the model) once, then forks its workers: the session must work there."""
    done = _run(
        "import os\n"
        "from matching import encoder\n"
        "enc = encoder.load_encoder()\n"
        "before = enc.encode(['SSO with Okta'])[0]\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    after = enc.encode(['SSO with Okta', 'export reports to CSV'])[0]\n"
        "    os._exit(0 if float(after @ before) > 0.99999 else 3)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "print(enc.runtime, os.waitstatus_to_exitcode(status))\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["onnx", "0"]
