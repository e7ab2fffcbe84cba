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
