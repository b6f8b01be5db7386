"""Strict config structuring: types, unknown keys, paths, files, overrides."""

from __future__ import annotations

import attrs
import pytest

from pptrain_core.config import (
    FieldValueError,
    at_least,
    in_range,
    load_file,
    one_of,
    parse_override,
    set_dotted,
    structure,
    unstructure,
)
from pptrain_core.errors import ConfigError, UserError


@attrs.frozen
class Inner:
    k: int = attrs.field(default=4, validator=at_least(1))
    p: float = attrs.field(default=0.5, validator=in_range(0.0, 1.0))
    mode: str = attrs.field(default="a", validator=one_of("a", "b"))
    flag: bool = False
    sizes: tuple[int, ...] = (1, 2)

    def __attrs_post_init__(self):
        if self.k > 100 and self.flag:
            raise FieldValueError("flag", "cannot be true when k > 100")


@attrs.frozen
class Outer:
    inner: Inner = attrs.Factory(Inner)
    name: str = "x"


@pytest.mark.parametrize(
    "data, path, fragment",
    [
        ({"k": "3"}, "$.task.params.k", "expected an integer, got str '3'"),
        ({"k": True}, "$.task.params.k", "expected an integer"),
        ({"k": 2.0}, "$.task.params.k", "expected an integer"),
        ({"p": "0.5"}, "$.task.params.p", "expected a number"),
        ({"mode": 1}, "$.task.params.mode", "expected a string"),
        ({"flag": 1}, "$.task.params.flag", "expected true or false"),
        ({"sizes": [1, "2"]}, "$.task.params.sizes[1]", "expected an integer"),
        ({"k": 0}, "$.task.params.k", "must be at least 1"),
        ({"p": 1.5}, "$.task.params.p", "must be in [0.0, 1.0]"),
        ({"mode": "aa"}, "$.task.params.mode", "did you mean 'a'"),
        ({"k": 200, "flag": True}, "$.task.params.flag", "cannot be true"),
    ],
)
def test_errors_name_the_path_and_the_problem(data, path, fragment):
    with pytest.raises(ConfigError) as info:
        structure(data, Inner, "$.task.params")
    assert info.value.path == path
    assert fragment in info.value.message
    assert "\n" not in str(info.value)


def test_unknown_keys_are_rejected_with_the_closest_names():
    with pytest.raises(ConfigError) as info:
        structure({"inner": {"kk": 3}}, Outer)
    assert info.value.path == "$.inner.kk"
    assert "unknown key 'kk'" in info.value.message and "'k'" in info.value.message


def test_int_is_accepted_as_float_and_values_round_trip():
    cfg = structure({"p": 1, "sizes": [3, 4]}, Inner)
    assert cfg.p == 1.0 and isinstance(cfg.p, float) and cfg.sizes == (3, 4)
    assert structure(unstructure(cfg), Inner) == cfg


def test_several_problems_are_counted_in_one_line():
    with pytest.raises(ConfigError) as info:
        structure({"k": "x", "p": "y"}, Inner)
    assert "1 more problem" in str(info.value)


def test_non_mapping_is_refused():
    with pytest.raises(ConfigError, match="expected a mapping"):
        structure([1, 2], Inner, "$.task.params")


def test_yaml_and_toml_files(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("inner:\n  k: 7\nname: hello\n")
    t = tmp_path / "c.toml"
    t.write_text('name = "hello"\n[inner]\nk = 7\n')
    assert structure(load_file(y), Outer) == structure(load_file(t), Outer) == Outer(Inner(k=7), "hello")
    j = tmp_path / "c.json"  # what `pptrain replicate --dry-run` prints
    j.write_text('{"inner": {"k": 7}, "name": "hello"}')
    assert structure(load_file(j), Outer) == Outer(Inner(k=7), "hello")


@pytest.mark.parametrize(
    "name, text, fragment",
    [
        ("bad.yaml", "a: [1, 2", "is not valid YAML"),
        ("bad.toml", "a = ", "is not valid TOML"),
        ("c.ini", "{}", "must end in .yaml, .yml, .toml or .json"),
        ("bad.json", '{"a": ', "is not valid JSON"),
        ("list.json", "[1, 2]", "mapping"),
        ("list.yaml", "- 1\n- 2\n", "mapping"),
    ],
)
def test_bad_files_are_one_sentence(tmp_path, name, text, fragment):
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(UserError) as info:
        load_file(p)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_missing_file():
    with pytest.raises(UserError, match="does not exist"):
        load_file("/no/such/file.yaml")


def test_a_directory_given_for_a_file_is_named_as_such(tmp_path):
    (tmp_path / "job.yaml").mkdir()
    with pytest.raises(UserError) as info:
        load_file(tmp_path / "job.yaml")
    assert "is a directory" in str(info.value) and "does not exist" not in str(info.value)


def _alias_bomb(levels: int = 8) -> str:
    """A YAML value of nested aliases: a few hundred bytes that expand to 10**levels strings."""
    items = ["&a0 [x, x, x, x, x, x, x, x, x, x]"]
    items += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels + 1)]
    return "[" + ", ".join(items) + "]"


@pytest.mark.parametrize("where", ["int", "str", "literal", "attrs"])
def test_errors_quote_values_shortened(tmp_path, where):
    from pptrain_core.training.config import JobConfig

    bomb = _alias_bomb(6)  # 10**6 strings: a 6 MB message before values were shortened
    text = {
        "int": f"task: {{name: t}}\nrun: {{max_steps: {bomb}}}\n",
        "str": f"task: {{name: {bomb}}}\n",
        "literal": f"task: {{name: t}}\nrun: {{max_steps: 1, collation: {bomb}}}\n",
        "attrs": f"task: {bomb}\n",
    }[where]
    p = tmp_path / "job.yaml"
    p.write_text(text)
    assert len(text) < 1000
    with pytest.raises(ConfigError) as info:
        structure(load_file(p), JobConfig)
    message = str(info.value)
    assert len(message) < 300 and "..." in message and "\n" not in message


def test_quote_cuts_long_values():
    from pptrain_core.errors import quote

    assert "..." in quote("x" * 1000) and len(quote("x" * 1000)) <= 80
    assert quote(list(range(10**6))).endswith("...]") and len(quote([[1] * 50] * 50)) <= 80
    assert quote(17) == "17" and quote("ab") == "'ab'"


def test_overrides_parse_as_yaml_scalars():
    assert parse_override("k=8") == ("k", 8)
    assert parse_override("p=0.25") == ("p", 0.25)
    assert parse_override("mode=b") == ("mode", "b")
    assert parse_override("flag=true") == ("flag", True)
    assert parse_override("name='8'") == ("name", "8")
    with pytest.raises(UserError, match="key=value"):
        parse_override("novalue")
    data = {}
    set_dotted(data, "inner.k", 3)
    assert data == {"inner": {"k": 3}}


def test_a_string_is_not_a_list_and_missing_fields_have_one_path():
    @attrs.frozen
    class Needs:
        k: int
        prefixes: tuple[str, ...] = ()

    with pytest.raises(ConfigError) as info:
        structure({"k": 1, "prefixes": "lm_head"}, Needs, "$.transfer.params")
    assert info.value.path == "$.transfer.params.prefixes" and "expected a list" in info.value.message
    with pytest.raises(ConfigError) as info:
        structure({}, Needs, "$.p")
    assert info.value.path == "$.p.k" and "required" in info.value.message


def test_compare_accepts_what_replicate_dry_run_prints(tmp_path):
    """`pptrain replicate --dry-run` prints JSON; `pptrain compare` reads it as a study file."""
    import json

    pytest.importorskip("pptrain_analytics")
    from pptrain_analytics.compare import load_compare
    from pptrain_analytics.replicate import study_for
    from pptrain_core.plugins import get_registry

    study = study_for("test", registry=get_registry(), output_dir=str(tmp_path / "out"), seeds=None)
    path = tmp_path / "study.json"
    path.write_text(json.dumps(study, indent=2) + "\n")
    resolved = load_compare(path)
    assert [a.name for a in resolved.arms] == [arm["name"] for arm in study["arms"]]
