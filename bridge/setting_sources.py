"""Where setting values come from: the environment, secret files, systemd credentials and a TOML file.

Each value keeps where it came from, so a bad one is named as the operator wrote it. Any name
that is not a setting is refused with the nearest real one.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.errors import ConfigError

PREFIX = "FAXBRIDGE_"
CONFIG_VAR = PREFIX + "CONFIG"
# Where the default configuration file lives; a variable so packagers (and tests) can move it.
SYSTEM_CONFIG_VAR = PREFIX + "SYSTEM_CONFIG"
SYSTEM_CONFIG = Path("/etc/faxbridge/faxbridge.toml")
FILE_SUFFIX = "_FILE"
CREDENTIALS_VAR = "CREDENTIALS_DIRECTORY"


@dataclass(frozen=True)
class Given:
    """One value as found, and how to name it in an error (never showing a secret)."""

    value: Any
    where: str

    def named(self, secret: bool) -> str:
        if secret:
            return self.where
        return (
            f"{self.where}={self.value!r}"
            if self.where.startswith(PREFIX)
            else f"{self.where} = {self.value!r}"
        )


def env_name(name: str) -> str:
    return PREFIX + name.upper()


def gather(
    names: Mapping[str, bool],
    environ: Mapping[str, str],
    *,
    config: Path | None = None,
) -> dict[str, Given]:
    """Every value given for the settings named in `names` (name -> is it a secret), by precedence.

    The environment (a value or its _FILE) wins over the TOML file; a secret comes from the
    environment, its _FILE or a systemd credential, never from the TOML file, and from one of them only.
    """
    found: dict[str, Given] = {}
    path, how = _config_path(environ, config)
    if path is not None:
        found.update(_from_toml(path, how, names))
    found.update(_from_environ(environ, names))
    found.update(_from_credentials(environ, names, found))
    return found


def config_file(environ: Mapping[str, str], config: Path | None = None) -> Path | None:
    """The TOML file the settings are read from, if any."""
    return _config_path(environ, config)[0]


def _config_path(environ: Mapping[str, str], config: Path | None) -> tuple[Path | None, str]:
    if config is not None:
        return config, "--config"
    if environ.get(CONFIG_VAR):
        return Path(environ[CONFIG_VAR]), CONFIG_VAR
    system = Path(environ.get(SYSTEM_CONFIG_VAR) or SYSTEM_CONFIG)
    # The default file is optional: read when present, so every command on this host shares it.
    return (system, "default") if system.is_file() else (None, "")


def _from_environ(environ: Mapping[str, str], names: Mapping[str, bool]) -> dict[str, Given]:
    variables = {env_name(n): n for n in names}
    files = {env_name(n) + FILE_SUFFIX: n for n, secret in names.items() if secret}
    known = {*variables, *files, CONFIG_VAR, SYSTEM_CONFIG_VAR}
    unknown = sorted(k for k in environ if k.startswith(PREFIX) and k not in known)
    if unknown:
        raise ConfigError("unknown settings: " + ", ".join(_suggest(k, known) for k in unknown))
    found: dict[str, Given] = {}
    for var, name in variables.items():
        if var in environ:
            found[name] = Given(environ[var], var)
    for var, name in files.items():
        if var not in environ:
            continue
        if name in found:
            raise ConfigError(f"{env_name(name)} and {var} are both set: keep one")
        found[name] = Given(_read_secret(Path(environ[var]), var), f"{var} ({environ[var]})")
    return found


def _from_credentials(
    environ: Mapping[str, str], names: Mapping[str, bool], found: Mapping[str, Given]
) -> dict[str, Given]:
    """Secrets systemd hands over with LoadCredential=NAME:PATH, as $CREDENTIALS_DIRECTORY/NAME."""
    folder = environ.get(CREDENTIALS_VAR)
    if not folder:
        return {}
    out: dict[str, Given] = {}
    for name, secret in names.items():
        path = Path(folder) / name
        if not secret or not path.exists():
            continue
        if name in found and found[name].where.startswith(PREFIX):
            raise ConfigError(
                f"{found[name].where.split(' ')[0]} is set and so is the credential {name} in "
                f"${CREDENTIALS_VAR}: keep one"
            )
        out[name] = Given(_read_secret(path, f"credential {name}"), f"credential {name} ({path})")
    return out


def _read_secret(path: Path, what: str) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{what}: cannot read {path}: {reason}") from exc
    # One trailing newline is how editors and `echo` end a file; it is not part of the secret.
    value = text.removesuffix("\n").removesuffix("\r")
    if not value:
        raise ConfigError(f"{what}: {path} is empty")
    return value


# Settings whose TOML form is a table of their own (number = destinations), not a section.
TABLE_SETTINGS = frozenset({"inbound_routes"})


def _from_toml(path: Path, how: str, names: Mapping[str, bool]) -> dict[str, Given]:
    named = path if how == "default" else f"{path} (from {how})"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {named}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {named} is not valid TOML: {exc}") from exc
    found: dict[str, Given] = {}
    problems: list[str] = []
    for key, value in data.items():
        if isinstance(value, dict) and key not in TABLE_SETTINGS:
            problems.append(_table_problem(key, value, names))
        elif key not in names:
            problems.append(_suggest_key(key, names))
        elif names[key]:
            problems.append(
                f"{key} is a secret and does not belong in the config file every command reads;"
                f" use {env_name(key)}{FILE_SUFFIX} or the systemd credential {key}"
            )
        else:
            found[key] = Given(value, f"{path}: {key}")
    if problems:
        raise ConfigError(f"config file {named}: " + "; ".join(problems))
    return found


def _table_problem(table: str, content: Mapping[str, Any], names: Mapping[str, bool]) -> str:
    # One layout: top-level keys. A [faxbridge] table (an older layout) or a section is refused whole.
    if table == "faxbridge":
        return "[faxbridge] table: write the settings as top-level keys (data_dir = ...), without a table"
    first = next(iter(content), "")
    joined = f"{table}_{first}".lower()
    hint = f" (did you mean {joined} = ...?)" if joined in names else ""
    return f"[{table}] table: settings are top-level keys such as smtp_port = 2525{hint}"


def _suggest_key(key: str, names: Mapping[str, bool]) -> str:
    bare = key.lower().removeprefix(PREFIX.lower())
    if bare in names:
        return f"unknown key {key} (did you mean {bare}? keys are written without {PREFIX}, in lower case)"
    close = difflib.get_close_matches(bare, list(names), n=1)
    return f"unknown key {key}" + (f" (did you mean {close[0]}?)" if close else "")


def _suggest(name: str, known: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return name + (f" (did you mean {close[0]}?)" if close else "")
