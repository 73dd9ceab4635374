"""The container image's install steps, done into a clean virtualenv, give a bridge that starts and stops cleanly.

No container engine runs here, so this repeats what deploy/Dockerfile does: copy only the files
it copies, `pip install .` them into a fresh venv, run `faxbridge serve` with the image's
environment, probe it with the image's HEALTHCHECK command, and stop it with SIGTERM. The
dependencies come from this test environment (tests reach no network), so pip installs the
project alone.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import site
import subprocess
import sys
import time
import venv
from pathlib import Path

import pytest

from tests.helpers.environment import clean_env
from tests.helpers.ports import free_port

pytestmark = pytest.mark.slow  # pip installs the project into a fresh virtualenv

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"


def _copied_paths() -> list[str]:
    """Sources of the build stage's COPY lines (not the final stage's --from copy)."""
    paths: list[str] = []
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            paths.extend(line.split()[1:-1])
    return paths


def _image_env() -> dict[str, str]:
    """The ENV block of the final stage."""
    text = DOCKERFILE.read_text()
    block = text[text.rindex("\nENV ") :].split("\nUSER")[0]
    return dict(re.findall(r"(FAXBRIDGE_[A-Z_]+)=(\S+)", block))


def _healthcheck() -> list[str]:
    """The HEALTHCHECK's command, from its exec form."""
    text = DOCKERFILE.read_text()
    found = re.search(r"^\s*CMD (\[.*\])$", text[text.index("HEALTHCHECK") :], re.M)
    assert found, "HEALTHCHECK has no exec-form CMD"
    command: list[str] = json.loads(found[1])
    return command


def _unit_documentation() -> list[Path]:
    """The files the systemd unit's Documentation= names (file:// URLs under /opt/faxbridge)."""
    unit = (ROOT / "deploy" / "faxbridge.service").read_text()
    found = re.search(r"^Documentation=(.+)$", unit, re.M)
    assert found, "the unit has no Documentation="
    urls = found[1].split()
    assert urls and all(url.startswith("file:///opt/faxbridge/") for url in urls), urls
    return [Path(url.removeprefix("file://")) for url in urls]


def test_dockerfile_install_starts_answers_healthcheck_and_stops(tmp_path: Path) -> None:
    """An install from only the Dockerfile's files runs serve, passes the HEALTHCHECK command and exits 0 on SIGTERM."""
    source = tmp_path / "src"
    source.mkdir()
    for name in _copied_paths():
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, source / name)
    target = tmp_path / "opt" / "faxbridge"
    # No pip of its own: pip, setuptools and the dependencies all come from this test environment.
    venv.create(target, with_pip=False)
    python = target / "bin" / "python"
    # Dependencies are those of this test environment: make them visible instead of downloading them.
    purelib = next(Path(p) for p in site.getsitepackages() if p.endswith("site-packages"))
    own = Path(
        subprocess.check_output(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    (own / "test-deps.pth").write_text(str(purelib) + "\n")
    subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-cache-dir",
            str(source),
        ],
        check=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert (target / "bin" / "faxbridge").exists()

    port = free_port()
    env = clean_env(**_image_env())
    env.update(
        PATH=f"{target / 'bin'}:{env['PATH']}",
        FAXBRIDGE_DATA_DIR=str(tmp_path / "data"),
        FAXBRIDGE_HTTP_HOST="127.0.0.1",
        FAXBRIDGE_SMTP_HOST="127.0.0.1",
        FAXBRIDGE_HTTP_PORT=str(port),
        FAXBRIDGE_SMTP_PORT=str(free_port()),
    )
    serve = subprocess.Popen(
        [str(target / "bin" / "faxbridge"), "serve"], env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True
    )
    try:
        # The image's own HEALTHCHECK command, with this environment's port (not 8080).
        healthcheck = [str(python) if word == "python" else word for word in _healthcheck()]
        deadline = time.monotonic() + 60
        while subprocess.run(healthcheck, env=env, cwd=tmp_path, capture_output=True).returncode != 0:
            assert serve.poll() is None, serve.stderr.read() if serve.stderr else ""
            assert time.monotonic() < deadline, "the installed bridge never became healthy"
            time.sleep(0.3)
        # The installed package carries its data files (the cover fonts), not the checkout's.
        found = subprocess.check_output(
            [python, "-c", "import bridge, pathlib; print(pathlib.Path(bridge.__file__).parent)"],
            text=True,
            cwd=tmp_path,
        ).strip()
        assert Path(found).is_relative_to(target)
        assert (Path(found) / "fonts" / "DejaVuSans.ttf").exists()
        # The systemd unit's Documentation= files are part of the install, not only of a checkout.
        for doc in _unit_documentation():
            assert (target / doc.relative_to("/opt/faxbridge")).is_file(), doc
    finally:
        serve.send_signal(signal.SIGTERM)
        _, err = serve.communicate(timeout=30)
    assert serve.returncode == 0, err
    # With serve gone the same probe reports unhealthy (mutation: a probe that always says yes).
    assert subprocess.run(healthcheck, env=env, cwd=tmp_path, capture_output=True).returncode == 1
    assert sys.version_info >= (3, 11)
