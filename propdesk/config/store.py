"""The settings file: `config.toml` in the platform's user config dir.

Saving is all or nothing: the whole new Config is validated first, secrets go to the keyring (rolled
back if that fails), and the file is replaced atomically (a temporary file beside it, fsync, rename),
so a crash or a refusal never leaves a half-written file or half-saved settings. An existing file's
comments are kept for the tables that survive (tomlkit).
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomlkit
from platformdirs import user_config_dir

from propdesk.config.model import Config, ConfigError, Issue, config_to_data
from propdesk.config.parse import NESTED_TOO_DEEP, parse_config
from propdesk.config.secrets import SecretStore
from propdesk.domain.firms import ProfileSet

HEADER = (
    "propdesk settings: edit them in the console (Settings), or here while propdesk is closed.\n"
    "Passwords and API keys are never stored in this file: they live in the OS keyring.\n"
)


def default_config_path() -> Path:
    override = os.environ.get("PROPDESK_CONFIG")
    if override:
        return Path(override)
    return Path(user_config_dir("propdesk", appauthor=False)) / "config.toml"


def load_config(path: Path, profiles: ProfileSet) -> Config | None:
    """The settings in `path`; None when there is no file (first run: the demo)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError([Issue(str(path), f"not valid TOML: {exc}")]) from exc
    except RecursionError as exc:
        # tomllib reads nested arrays and inline tables by recursion: a few hundred deep end it.
        raise ConfigError([Issue(str(path), NESTED_TOO_DEEP)]) from exc
    return parse_config(data, profiles)


def _document(path: Path, data: dict[str, Any]) -> tomlkit.TOMLDocument:
    """`data` as a TOML document, keeping the existing file's comments where its tables remain."""
    try:
        document = tomlkit.parse(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, tomlkit.exceptions.TOMLKitError, UnicodeDecodeError):
        document = tomlkit.document()
        for line in HEADER.splitlines():
            document.add(tomlkit.comment(line))
    for key in list(document.keys()):
        if key not in data:
            del document[key]
    for key, value in data.items():
        if isinstance(value, list):
            table_array = tomlkit.aot()
            for row in value:
                table_array.append(tomlkit.item(row))
            document[key] = table_array
        elif isinstance(value, dict) and isinstance(document.get(key), dict):
            table = document[key]
            for inner in list(table.keys()):
                if inner not in value:
                    del table[inner]
            for inner, inner_value in value.items():
                table[inner] = inner_value
        else:
            document[key] = value
    return document


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_config(
    path: Path,
    config: Config,
    profiles: ProfileSet,
    secrets: SecretStore,
    secret_changes: Mapping[tuple[str, str], str | None],
) -> None:
    """Validate, store the secrets, write the file: all of it or nothing.

    Raises ConfigError (field-level issues; nothing changed) or NoSecureKeyring (nothing changed).
    """
    data = config_to_data(config)
    parse_config(data, profiles)  # the same checks as loading: never write what cannot be read back
    missing = missing_secrets(config, secrets, secret_changes)
    if missing:
        raise ConfigError(missing)
    text = tomlkit.dumps(_document(path, data))
    undo = secrets.store(secret_changes)
    try:
        write_atomically(path, text)
    except OSError as exc:
        undo()
        raise ConfigError([Issue(str(path), f"could not be written: {exc}")]) from exc


def missing_secrets(
    config: Config,
    secrets: SecretStore,
    changes: Mapping[tuple[str, str], str | None],
) -> list[Issue]:
    """Every secret a connection needs that is neither being entered now nor already in the keyring."""
    issues: list[Issue] = []
    for i, connection in enumerate(config.connections):
        for spec in connection.spec.secrets:
            key = (connection.id, spec.key)
            if key in changes:
                if not changes[key]:
                    issues.append(
                        Issue(f"connections[{i}].{spec.key}", f"{spec.label} is required")
                    )
                continue
            if not secrets.has(*key):
                issues.append(Issue(f"connections[{i}].{spec.key}", f"{spec.label} is required"))
    return issues
