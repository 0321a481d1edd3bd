"""YAML with line marks: positions of values and keys, and the YAML features a spec may or may not use."""

from __future__ import annotations

from runner.spec.yamlload import MAX_EXPANDED_CHARS, MAX_NODES, load_yaml


def test_values_and_keys_keep_their_line_and_column():
    loaded = load_yaml(b"a:\n  - x: 1\n    y: [2, 3]\n")
    assert loaded.values[("a", 0, "y", 1)] == (3, 12)
    assert loaded.keys[("a", 0, "y")] == (3, 5)
    assert loaded.mark(("a", 0, "missing")) == (2, 5)


def test_dates_stay_strings():
    assert load_yaml(b"d: 2024-01-01\nt: 2001-12-14t21:59:43.10-05:00\n").data == {
        "d": "2024-01-01",
        "t": "2001-12-14t21:59:43.10-05:00",
    }


def test_numbers_booleans_and_null_keep_their_json_types():
    assert load_yaml(b"i: 3\nf: 0.5\nb: true\nn: null\ns: '3'\n").data == {
        "i": 3,
        "f": 0.5,
        "b": True,
        "n": None,
        "s": "3",
    }


def test_yaml_1_1_words_read_as_booleans_are_remembered():
    loaded = load_yaml(b"a: yes\nb: 'yes'\nc: true\n")
    assert loaded.data == {"a": True, "b": "yes", "c": True}
    assert loaded.coerced == {("a",): "yes"}


def test_merge_keys_merge_and_explicit_keys_win():
    loaded = load_yaml(b"base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n")
    assert loaded.data["use"] == {"x": 1, "y": 3}
    assert not loaded.findings


def test_every_duplicate_key_is_reported_with_the_first_line():
    loaded = load_yaml(b"a: 1\nb: 2\na: 3\nb: 4\n")
    assert [(f.line, f.message) for f in loaded.findings] == [
        (3, "duplicate key 'a' (first defined at line 1)"),
        (4, "duplicate key 'b' (first defined at line 2)"),
    ]
    assert loaded.data == {"a": 1, "b": 2}


def test_alias_expansion_is_bounded():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 7)]
    loaded = load_yaml("\n".join(lines).encode())
    assert loaded.fatal
    assert loaded.findings[0].message == f"more than {MAX_NODES} YAML nodes once aliases are expanded"


def test_text_expanded_from_aliases_is_bounded():
    big = "x" * (1 << 20)
    text = f"big: &big {big}\nmany: [" + ", ".join(["*big"] * 20) + "]\n"
    loaded = load_yaml(text.encode())
    assert loaded.fatal
    assert [f.rule for f in loaded.findings] == ["yaml.aliases"]
    assert loaded.findings[0].message == (
        f"more than {MAX_EXPANDED_CHARS // 1024 // 1024} MB of text once aliases are expanded"
    )


def test_a_recursive_alias_is_an_error_not_a_hang():
    loaded = load_yaml(b"a: &a [*a]\n")
    assert loaded.fatal and "nesting deeper" in loaded.findings[0].message


def test_a_byte_order_mark_is_accepted():
    assert load_yaml(b"\xef\xbb\xbfname: x\n").data == {"name": "x"}


def test_the_position_of_an_invalid_byte_is_reported():
    loaded = load_yaml(b"a: 1\nb: caf\xe9\n")
    assert (loaded.findings[0].line, loaded.findings[0].column) == (2, 7)


def test_a_million_nested_brackets_are_one_error_not_a_crash(tmp_path):
    """libyaml's composer recurses on the C stack: run in a child so a regression cannot kill pytest."""
    import subprocess
    import sys

    spec = tmp_path / "deep.yaml"
    spec.write_bytes(b"a: " + b"[" * 1_000_000 + b"]" * 1_000_000 + b"\n")
    probe = (
        "import sys; from runner.spec.yamlload import load_yaml; "
        "print(load_yaml(open(sys.argv[1], 'rb').read()).findings[0].message)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(spec)], capture_output=True, text=True, timeout=120
    )
    assert (result.returncode, result.stdout.strip()) == (0, "YAML nesting deeper than 64 levels")
