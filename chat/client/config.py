"""The client's config file (TOML): where it is, the settings it may hold, and reading them.

``~/.config/tcpchat/client.toml`` (under ``$XDG_CONFIG_HOME`` when that is
set), or the file ``--config`` names. Every setting is optional; the
command line overrides each one. :data:`SETTINGS` is the one table of them:
reading checks against it and ``tcpchat-client --help`` lists it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_NAME = Path("tcpchat") / "client.toml"
BELL_CHOICES = ("private", "all", "off")


@dataclass(frozen=True)
class Setting:
    """One key of the config file: the TOML types it takes and what it means."""

    key: str
    types: tuple[type, ...]
    meaning: str


SETTINGS = (
    Setting("server", (str,), "host name, address or endpoint string, as HOST"),
    Setting("port", (int,), "port, as PORT"),
    Setting("tls", (bool,), "connect with TLS, as --tls"),
    Setting("tls_verify", (bool,), "check the certificate (default true); false: --tls-no-verify"),
    Setting("nick", (str,), "nickname, as --nick"),
    Setting("password_file", (str,), "the account's password file, as --password-file"),
    Setting("colour", (bool,), "colours (default true; false when NO_COLOR is set)"),
    Setting("bell", (str, bool), 'the bell: "private" messages (default), "all" (mentions), "off"'),
    Setting("timestamp", (str,), 'strftime format of each line\'s time (default "%H:%M")'),
    Setting("log_dir", (str,), "keep a log of the conversation in this directory, as --log-dir"),
    Setting("log", (str,), "append a diagnostic log to this file, as --log"),
    Setting("greeting_timeout", (int, float), "seconds, as --greeting-timeout"),
    Setting("paste_ask_above", (int,), "a paste of more lines asks first, as --paste-ask-above"),
    Setting("scrollback", (int,), "lines PageUp reaches back, as --scrollback"),
    Setting("leave_timeout", (int, float), "seconds, as --leave-timeout"),
    Setting("retry_max", (int, float), "seconds, as --retry-max"),
    Setting("rejoin_patience", (int, float), "seconds, as --rejoin-patience"),
)
_BY_KEY = {setting.key: setting for setting in SETTINGS}


def default_config_path(environ: Mapping[str, str]) -> Path:
    """``$XDG_CONFIG_HOME/tcpchat/client.toml``, or ``~/.config/tcpchat/client.toml``."""
    base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "~")) / ".config")
    return Path(base).expanduser() / CONFIG_NAME


def read_config(path: Path, *, must_exist: bool) -> dict[str, Any]:
    """The settings in the file at ``path``, checked against :data:`SETTINGS`.

    A missing file gives no settings unless ``must_exist``; any other
    problem (unreadable, not TOML, an unknown key, a wrong type) is a
    ValueError saying what and where.
    """
    try:
        with path.open("rb") as file:
            settings = tomllib.load(file)
    except FileNotFoundError:
        if must_exist:
            raise ValueError(f"no config file {path}") from None
        return {}
    except OSError as error:
        raise ValueError(f"cannot read the config file {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"the config file {path} is not TOML: {error}") from None
    for key, value in settings.items():
        setting = _BY_KEY.get(key)
        if setting is None:
            known = ", ".join(_BY_KEY)
            raise ValueError(f"unknown setting {key!r} in {path} (known: {known})")
        # bool is an int to Python, not to TOML.
        if not isinstance(value, setting.types) or (
            isinstance(value, bool) and bool not in setting.types
        ):
            raise ValueError(f"setting {key!r} in {path}: {value!r} is not {_type_names(setting)}")
    bell = settings.get("bell")
    if isinstance(bell, str) and bell not in BELL_CHOICES:
        choices = ", ".join(BELL_CHOICES)
        raise ValueError(f"setting 'bell' in {path}: {bell!r} is not one of {choices}")
    return settings


def _type_names(setting: Setting) -> str:
    names = {bool: "true or false", str: "a string", int: "a number", float: "a number"}
    return " or ".join(dict.fromkeys(names[kind] for kind in setting.types))


def settings_help() -> str:
    """The config file's settings, for ``--help``."""
    width = max(len(setting.key) for setting in SETTINGS)
    return "\n".join(f"  {setting.key:<{width}}  {setting.meaning}" for setting in SETTINGS)
