"""No input makes validation raise: random bytes, random YAML, and mutated valid specs."""

from __future__ import annotations

import random

import orjson
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.spec.check import check_file
from spec.support import EXAMPLES, SPECS

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)

SPEC_KEYS = [
    "name",
    "model",
    "mode",
    "region",
    "request",
    "prompts",
    "template",
    "prepared",
    "destination",
    "stream",
    "batch",
    "budget",
    "labels",
    "messages",
    "source",
    "custom_id",
    "type",
    "max_tokens",
    "content",
    "role",
    "path",
    "data",
    "media_type",
    "input",
    "output",
]


def _check(spec_file, raw: bytes) -> None:
    path = spec_file("")
    path.write_bytes(raw)
    report = check_file(path)
    assert all(f.line >= 1 and f.column >= 1 for f in report.findings)
    assert report.ok == (report.spec is not None)
    "\n".join(report.lines()).encode("utf-8")  # printable as is
    orjson.dumps(report.to_dict())  # and as --format json


@SETTINGS
@given(raw=st.binary(max_size=400))
def test_random_bytes_never_raise(spec_file, raw):
    _check(spec_file, raw)


@SETTINGS
@given(document=st.dictionaries(st.sampled_from(SPEC_KEYS), json_values, max_size=8))
def test_random_documents_with_spec_keys_never_raise(spec_file, document):
    _check(spec_file, yaml.safe_dump(document, allow_unicode=True).encode())


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1))
def test_mutated_valid_specs_never_raise(spec_file, seed):
    """Replace one value anywhere in a real spec by something of another type."""
    rng = random.Random(seed)
    sources = sorted(EXAMPLES.glob("*.yaml")) + sorted((SPECS / "valid").glob("*.yaml"))
    document = yaml.safe_load(rng.choice(sources).read_text(encoding="utf-8-sig"))
    slots = []

    def collect(node, parent=None, key=None):
        if parent is not None:
            slots.append((parent, key))
        if isinstance(node, dict):
            for k, v in node.items():
                collect(v, node, k)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                collect(v, node, i)

    collect(document)
    parent, key = rng.choice(slots)
    parent[key] = rng.choice(
        [
            None,
            -1,
            0,
            2**70,
            1.5,
            True,
            "",
            "{{ x }",
            "../../../x.png",
            "gs://",
            "bq://a",
            "a\x00b.png",
            ".",
            "/",
            "\ud800",
            [],
            {},
            {"type": "image"},
            ["x"],
            "é" * 70,
        ]
    )
    _check(spec_file, yaml.safe_dump(document, allow_unicode=True).encode())


@SETTINGS
@given(
    text=st.lists(
        st.sampled_from(list("ab:- \n\t'\"[]{}&*!|>%@`#,?") + ["<<", "\x07", "name", "\n  "]), max_size=80
    ).map("".join)
)
def test_yaml_punctuation_soup_never_raises(spec_file, text):
    _check(spec_file, text.encode())


def test_numbers_too_long_to_convert_are_reported_not_raised(spec_file):
    spec = (
        (EXAMPLES / "stream-inline.yaml").read_text().replace("max_tokens: 256", "max_tokens: " + "9" * 5000)
    )
    path = spec_file(spec)
    report = check_file(path)
    assert [f.json_path for f in report.errors] == ["$.request.max_tokens"]
    assert len(report.lines()[0]) < 300
