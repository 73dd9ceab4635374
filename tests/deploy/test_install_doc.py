"""The commands docs/install.md gives run as written: the env example read by the shell, `check` on
the same data directory as `serve`, and commands under systemd run as the service runs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.helpers.executable import FAXBRIDGE, operator_env

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "docs" / "install.md"
EXAMPLE = ROOT / "deploy" / "faxbridge.env.example"
UNIT = ROOT / "deploy" / "faxbridge.service"


def _block(heading: str) -> str:
    """The first ```sh block after a heading of docs/install.md."""
    section = INSTALL.read_text().split(heading, 1)[1]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


def test_env_example_reads_the_same_in_the_shell_as_in_systemd(tmp_path: Path) -> None:
    """Every line of the example, uncommented, is exported by `set -a; . file` with exactly the value
    written (what systemd's EnvironmentFile= reads too): no quoting a shell would read otherwise."""
    lines = re.findall(r"^#(FAXBRIDGE_[A-Z0-9_]+)=(.*)$", EXAMPLE.read_text(), flags=re.M)
    env_file = tmp_path / "faxbridge.env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in lines))
    shown = subprocess.run(
        ["bash", "-c", f'set -euo pipefail; set -a; . "{env_file}"; set +a; env -0'],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    exported = dict(item.split("=", 1) for item in shown.stdout.split("\0") if item.startswith("FAXBRIDGE_"))
    assert exported == dict(lines)


def test_pip_section_check_runs_as_written(tmp_path: Path) -> None:
    """The pip section's lines, with the example copied as the page says, give a `check` that exits 0
    and looks at ./var, where `serve` from the same shell keeps its data (mutation: `xargs` reading)."""
    (tmp_path / "faxbridge.env").write_text(EXAMPLE.read_text())
    script = [
        line.replace(".venv/bin/faxbridge", str(FAXBRIDGE))
        for line in _block("## pip (any machine)").splitlines()
        if not line.startswith("python3 -m venv") and not line.endswith(" serve")
    ]
    assert any(line.endswith(" check") for line in script), script
    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + "\n".join(script)],
        cwd=tmp_path,
        env={k: v for k, v in operator_env(tmp_path).items() if k != "FAXBRIDGE_DATA_DIR"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"data directory: {tmp_path / 'var'} is writable" in done.stdout


def _unit(key: str) -> list[str]:
    return re.findall(rf"^{key}=(.+)$", UNIT.read_text(), flags=re.M)


def test_systemd_commands_run_as_the_service() -> None:
    """The page's wrapper runs a command with the unit's user, environment file, state directory and
    data directory (mutation: a wrapper without FAXBRIDGE_DATA_DIR finds no store), and is valid shell."""
    block = _block("## systemd\n")
    wrapper = _block("Run every other command")
    assert "systemctl enable --now faxbridge" in block
    subprocess.run(["bash", "-n", "-c", wrapper], check=True)
    properties = dict(re.findall(r"-p (\w+)=(\S+)", wrapper))
    assert properties["User"] == _unit("User")[0]
    assert properties["DynamicUser"] == _unit("DynamicUser")[0] == "yes"
    assert properties["StateDirectory"] == _unit("StateDirectory")[0]
    assert properties["EnvironmentFile"] == _unit("EnvironmentFile")[0]
    assert f"Environment={properties['Environment']}" in {f"Environment={v}" for v in _unit("Environment")}
    assert properties["Environment"] == "FAXBRIDGE_DATA_DIR=/var/lib/faxbridge"
    assert "xargs" not in wrapper
