"""The one table of settings (voweler/settings.py) against the README, uwsgi.ini and the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from voweler import create_app, settings
from voweler.settings import SETTINGS

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()
INI = (REPO / "uwsgi.ini").read_text()


def readme_table() -> dict[str, tuple[str, str]]:
    section = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(VOWELER_\w+)` \| (.+?) \| (.+?) \|$", section, re.M)
    return {env: (meaning, default) for env, meaning, default in rows}


def test_the_readme_configuration_table_is_the_settings_table():
    assert readme_table() == {s.env: (s.help, s.shown_default) for s in SETTINGS}


def test_uwsgi_ini_defaults_are_the_table_s():
    for setting in SETTINGS:
        if setting.read_by == "uwsgi.ini" and setting.default:
            default = re.search(rf"^if-not-env = {setting.env}\n[\w-]+ = (.+)$", INI, re.M)
            assert default and default.group(1) == setting.default, setting.env


def test_every_variable_the_code_reads_is_in_the_table():
    code = INI + "".join(path.read_text() for path in (REPO / "voweler").rglob("*.py"))
    named = set(re.findall(r"\bVOWELER_[A-Z_]+[A-Z]\b", code))
    assert named == {s.env for s in SETTINGS}


@pytest.mark.parametrize(
    "env, raw, fragment",
    [
        ("VOWELER_SECRET", "short", "VOWELER_SECRET must be at least 16 bytes"),
        ("VOWELER_TICKET_TTL", "0", "VOWELER_TICKET_TTL must be a whole number of seconds from 1 to 2592000"),
        ("VOWELER_TICKET_TTL", "1.5", "VOWELER_TICKET_TTL must be a whole number"),
        ("VOWELER_FLUSH_SECONDS", "0", "VOWELER_FLUSH_SECONDS must be a number of seconds from 0.05 to 3600"),
        ("VOWELER_FLUSH_SECONDS", "nan", "VOWELER_FLUSH_SECONDS must be a number"),
        ("VOWELER_STATE", "postgres://db/voweler", "VOWELER_STATE is not a state URL voweler can use: unknown state URL"),
        ("VOWELER_STATE", "redis://127.0.0.1:1/0?atomic=lock", "atomic='lock' is not one of script, watch"),
    ],
)
def test_a_setting_out_of_range_stops_the_app_from_starting(monkeypatch, env, raw, fragment):
    monkeypatch.setenv(env, raw)
    with pytest.raises(ValueError, match=re.escape(fragment)):
        create_app()


def test_the_environment_is_read_once_into_the_app_config(monkeypatch):
    monkeypatch.setenv("VOWELER_TICKET_TTL", "60")
    monkeypatch.setenv("VOWELER_SECRET", "s" * 16)
    app = create_app({"STATE_URL": "memory://"})
    assert (app.config["TICKET_TTL"], app.config["SECRET"], app.config["FLUSH_SECONDS"]) == (60, b"s" * 16, 1.0)
    assert settings.load({}, {"TICKET_TTL": 5})["TICKET_TTL"] == 5  # a test's own value is checked too
    with pytest.raises(ValueError, match="VOWELER_TICKET_TTL"):
        settings.load({}, {"TICKET_TTL": 0})
