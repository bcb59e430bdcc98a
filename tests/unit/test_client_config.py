"""The client's config file and how the command line and the environment override it."""

from __future__ import annotations

import re

import pytest

from chat.client.config import SETTINGS, default_config_path
from chat.client.options import parse_options


@pytest.fixture
def config(tmp_path):
    """Write a config file; the environment that makes it the default one."""

    def write(text: str) -> dict[str, str]:
        path = tmp_path / "tcpchat" / "client.toml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        return {"XDG_CONFIG_HOME": str(tmp_path)}

    return write


def test_default_config_path_follows_xdg_config_home():
    """``$XDG_CONFIG_HOME/tcpchat/client.toml``, else ``~/.config/tcpchat/client.toml``."""
    assert str(default_config_path({"XDG_CONFIG_HOME": "/x"})) == "/x/tcpchat/client.toml"
    assert str(default_config_path({"HOME": "/home/a"})) == "/home/a/.config/tcpchat/client.toml"


def test_settings_come_from_the_default_config_file(config, tmp_path):
    """Every setting of the file is taken when the command line gives none."""
    (tmp_path / "pw").write_text("secret\n")
    environ = config(
        'server = "chat.example.org"\nport = 5000\ntls = true\nnick = "alice"\n'
        f'password_file = "{tmp_path / "pw"}"\ncolour = false\nbell = "all"\n'
        'timestamp = "%H:%M:%S"\nlog_dir = "/tmp/logs"\ngreeting_timeout = 3\n'
    )
    options = parse_options([], environ)
    assert (options.host, options.port, options.tls, options.nick) == (
        "chat.example.org", 5000, True, "alice"
    )
    assert options.password == "secret"
    assert (options.colour, options.bell, options.timestamp) == (False, "all", "%H:%M:%S")
    assert (options.log_dir, options.greeting_timeout) == ("/tmp/logs", 3.0)


def test_command_line_overrides_the_config_file(config):
    """Each option given on the command line wins over the file's setting."""
    environ = config(
        'server = "chat.example.org"\nport = 5000\ntls = true\nnick = "alice"\n'
        'colour = false\nbell = "off"\n'
    )
    options = parse_options(
        ["--nick", "bob", "--no-tls", "--color", "--bell", "127.0.0.1", "6000"], environ
    )
    assert (options.host, options.port, options.tls, options.nick) == ("127.0.0.1", 6000, False,
                                                                       "bob")
    assert (options.colour, options.bell) == (True, "all")


def test_no_color_is_overridden_by_the_config_file_and_the_command_line(config):
    """NO_COLOR turns colours off unless the config file or the command line turns them on."""
    assert not parse_options([], {**config(""), "NO_COLOR": "1"}).colour
    assert parse_options([], {**config("colour = true\n"), "NO_COLOR": "1"}).colour
    assert parse_options(["--color"], {**config(""), "NO_COLOR": "1"}).colour
    assert not parse_options(["--no-color"], config("colour = true\n")).colour
    assert parse_options([], {**config(""), "NO_COLOR": ""}).colour


def test_bell_rings_for_private_messages_by_default(config):
    """Without a setting the bell is for private messages; --no-bell turns it off."""
    assert parse_options([], config("")).bell == "private"
    assert parse_options(["--no-bell"], config("bell = true\n")).bell == "off"
    assert parse_options([], config("bell = true\n")).bell == "all"


def test_every_limit_of_the_client_is_a_setting_and_an_option(config):
    """The paste threshold, the scrollback, the leave timeout, the longest retry delay and
    the rejoin patience come from the file, and the command line overrides them."""

    def limits(options):
        return (options.paste_ask_above, options.scrollback, options.leave_timeout,
                options.retry_max, options.rejoin_patience)

    assert limits(parse_options([], config(""))) == (3, 5000, 5.0, 30.0, 30.0)
    environ = config(
        "paste_ask_above = 10\nscrollback = 200\nleave_timeout = 2\nretry_max = 5\n"
        "rejoin_patience = 60\n"
    )
    assert limits(parse_options([], environ)) == (10, 200, 2.0, 5.0, 60.0)
    given = ["--paste-ask-above", "0", "--scrollback", "50", "--leave-timeout", "1.5",
             "--retry-max", "4", "--rejoin-patience", "9"]
    assert limits(parse_options(given, environ)) == (0, 50, 1.5, 4.0, 9.0)


def test_environment_password_overrides_the_config_files_password_file(config, tmp_path):
    """TCPCHAT_PASSWORD wins over password_file, which is then not even read."""
    environ = config(f'password_file = "{tmp_path / "missing"}"\n')
    assert parse_options([], {**environ, "TCPCHAT_PASSWORD": "env"}).password == "env"


def test_an_endpoint_string_in_the_config_file_is_overridden_by_host_and_port(config):
    """server may be an endpoint string; HOST PORT on the command line replace it."""
    environ = config('server = "unix:/run/tcpchat.sock"\n')
    assert parse_options([], environ).endpoint == "unix:/run/tcpchat.sock"
    options = parse_options(["127.0.0.1", "6000"], environ)
    assert (options.endpoint, options.host, options.port) == (None, "127.0.0.1", 6000)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("nick = 3\n", "'nick'"),
        ("colour = 1\n", "'colour'"),
        ("port = 70000\n", "not a port number"),
        ("shout = true\n", "unknown setting 'shout'"),
        ("bell = \"loud\"\n", "'loud' is not one of"),
        ("nick = \n", "not TOML"),
        ("scrollback = 0\n", "not a number of lines (1 or more)"),
        ("paste_ask_above = -1\n", "not a number of lines (0 or more)"),
        ("retry_max = 0\n", "not a positive number of seconds"),
        ("leave_timeout = \"soon\"\n", "'leave_timeout'"),
    ],
)
def test_a_wrong_config_file_is_a_usage_error_saying_what(config, capsys, text, problem):
    """Unknown keys, wrong types, bad values and bad TOML end with status 2 and the reason."""
    environ = config(text)
    with pytest.raises(SystemExit) as stopped:
        parse_options([], environ)
    assert stopped.value.code == 2
    assert problem in capsys.readouterr().err


def test_a_config_file_named_on_the_command_line_must_exist(tmp_path, capsys):
    """--config FILE that does not exist is an error; the default file may be missing."""
    assert parse_options([], {"XDG_CONFIG_HOME": str(tmp_path)}).nick is None
    with pytest.raises(SystemExit):
        parse_options(["--config", str(tmp_path / "none.toml")], {})
    assert "no config file" in capsys.readouterr().err


def test_help_documents_every_setting(capsys):
    """``--help`` lists each config key with what it means."""
    with pytest.raises(SystemExit):
        parse_options(["--help"], {})
    shown = capsys.readouterr().out
    for setting in SETTINGS:
        assert re.search(rf"^  {setting.key} +\S", shown, re.MULTILINE), setting.key
    assert "~/.config/tcpchat/client.toml" in shown
