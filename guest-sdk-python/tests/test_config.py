"""Settings, mirroring ``guest-sdk/src/config.rs``: strings, parsed the way Rust parses them."""

import math

import pytest

from kiln_sdk import Config, ConfigError, NoWorkspace
from kiln_sdk.testing import MockWorkspace


def test_values_defaults_and_typed_getters() -> None:
    config = Config({"min_admins": "3", "share": " 0.25 ", "strict": "true", "column": "Email"})
    assert config.get("column") == "Email"
    assert config.get("other") is None
    assert config.get("other", "Name") == "Name"
    assert config["column"] == "Email"
    assert config.get_int("min_admins", 2) == 3
    assert config.get_int("missing", 2) == 2
    assert config.get_float("share") == 0.25
    assert config.get_bool("strict") is True
    assert config.get_bool("missing", False) is False
    assert config.require("column") == "Email"
    assert config.parse("column", str.upper) == "EMAIL"
    assert list(config) == ["column", "min_admins", "share", "strict"]
    assert len(config) == 4 and dict(config)["share"] == " 0.25 "


def test_pairs_make_a_config_too() -> None:
    assert Config([("a", "1"), ("b", "2")]) == Config({"a": "1", "b": "2"})
    assert Config() == Config({})


@pytest.mark.parametrize(
    "getter, raw, reason",
    [
        ("get_int", "3.0", "expected a whole number, e.g. 3"),
        ("get_int", "1_000", "expected a whole number, e.g. 3"),
        ("get_float", "lots", "expected a number, e.g. 0.5"),
        ("get_float", "1_0", "expected a number, e.g. 0.5"),
        ("get_bool", "True", "expected `true` or `false`"),
        ("get_bool", "yes", "expected `true` or `false`"),
    ],
)
def test_a_value_that_does_not_parse_is_an_error_naming_the_key(
    getter: str, raw: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as e:
        getattr(Config({"share": raw}), getter)("share", 1)
    assert e.value.key == "share" and e.value.value == raw
    assert str(e.value) == f"config key `share` has value `{raw}`: {reason}"


def test_numbers_follow_rusts_grammar() -> None:
    c = Config({"a": "+7", "b": "-2", "c": "1e3", "d": "INF", "e": "nan", "f": ".5"})
    assert (c.get_int("a"), c.get_int("b")) == (7, -2)
    assert (c.get_float("c"), c.get_float("d"), c.get_float("f")) == (1000.0, math.inf, 0.5)
    assert math.isnan(c.get_float("e"))


def test_an_unset_key_without_a_default_is_an_error() -> None:
    with pytest.raises(ConfigError, match="config key `top` is not set"):
        Config().get_int("top")
    with pytest.raises(ConfigError):
        Config().require("top")


def test_lists_split_on_commas() -> None:
    assert Config({"cols": " Email, ,Phone "}).get_list("cols") == ["Email", "Phone"]
    assert Config().get_list("cols", ["A"]) == ["A"]


def test_from_host_reads_the_installed_workspace() -> None:
    ws = MockWorkspace("Acme")
    ws.set_config("min_admins", "3")
    with ws.install():
        assert Config.from_host().get("min_admins") == "3"
    with pytest.raises(NoWorkspace, match="MockWorkspace"):
        Config.from_host()
