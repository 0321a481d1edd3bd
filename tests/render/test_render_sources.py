"""Rows from local JSONL and CSV files: streaming, line numbers, fingerprints, located errors."""

from __future__ import annotations

import pytest
from render_helpers import file_source

from runner.dataio.sources import open_rows
from runner.errors import SpecError
from runner.spec.model import SourceRef


def _source(repo, name, data: bytes):
    (repo / "data" / name).write_bytes(data)
    return open_rows(file_source(repo, f"../data/{name}"), None)


def test_jsonl_rows_carry_their_line_numbers_skipping_blank_lines(repo):
    rows = _source(repo, "a.jsonl", b'{"a": 1}\n\n  \n{"a": 2}')  # no final newline
    assert list(rows.numbered()) == [(1, {"a": 1}), (4, {"a": 2})]
    assert rows.columns() is None


def test_jsonl_line_that_is_not_an_object_is_located(repo):
    rows = _source(repo, "a.jsonl", b'{"a": 1}\n[1, 2]\n')
    with pytest.raises(SpecError, match=r"^repo/data/a\.jsonl:2: not a JSON object"):
        list(rows)


def test_jsonl_line_that_is_not_json_is_located_at_its_line_and_column_from_the_working_folder(repo):
    rows = _source(repo, "a.jsonl", b'{"id":1}\n{"id":2,"body":\n')
    with pytest.raises(SpecError) as err:
        list(rows)
    assert err.value.exit_code == 1
    assert str(err.value) == (
        "repo/data/a.jsonl:2:16: not valid JSON: unexpected end of data "
        "(each line of a .jsonl input must be one JSON object, "
        'e.g. {"id": 1, "text": "..."})'
    )


def test_a_file_outside_the_working_folder_is_named_by_its_absolute_path(repo, monkeypatch):
    monkeypatch.chdir(repo / "jobs")
    rows = _source(repo, "a.jsonl", b"[1]\n")
    with pytest.raises(SpecError) as err:
        list(rows)
    assert str(err.value).startswith(f"{(repo / 'data' / 'a.jsonl').resolve()}:1: not a JSON object")


def test_jsonl_lines_longer_than_a_read_chunk_are_whole(repo):
    long = "x" * (3 << 20)
    rows = _source(repo, "a.jsonl", b'{"t": "%s"}\n{"t": "y"}\n' % long.encode())
    assert [row["t"][:3] for row in rows] == ["xxx", "y"]


def test_csv_rows_are_numbered_by_their_first_line_even_with_multiline_fields(repo):
    rows = _source(repo, "t.csv", '\ufeffid,body\n1,"two\nlines"\n2,plain\n'.encode())
    assert rows.columns() == ["id", "body"]
    assert list(rows.numbered()) == [
        (2, {"id": "1", "body": "two\nlines"}),
        (4, {"id": "2", "body": "plain"}),
    ]


def test_csv_row_with_the_wrong_field_count_is_located(repo):
    rows = _source(repo, "t.csv", b"id,body\n1,ok\n2,a,b\n")
    with pytest.raises(SpecError, match=r"^repo/data/t\.csv:3: 3 fields where the header has 2"):
        list(rows)


def test_missing_file_is_a_spec_error_with_a_fix(repo):
    rows = open_rows(file_source(repo, "../data/nope.jsonl"), None)
    with pytest.raises(SpecError, match="no such file.*relative to the spec file's folder"):
        list(rows)


def test_unsupported_file_type_is_refused(repo):
    with pytest.raises(SpecError, match="unsupported file type"):
        open_rows(file_source(repo, "../data/x.parquet"), None)


def test_file_fingerprint_follows_the_content(repo):
    first = _source(repo, "a.jsonl", b'{"a": 1}\n').fingerprint()
    again = _source(repo, "a.jsonl", b'{"a": 1}\n').fingerprint()
    changed = _source(repo, "a.jsonl", b'{"a": 2}\n').fingerprint()
    assert first == again != changed
    assert first.startswith("sha256:")


def test_remote_sources_need_a_target(repo):
    from runner.errors import ConfigError

    rows = open_rows(SourceRef("gcs", "gs://b/x.jsonl"), None)
    with pytest.raises(ConfigError, match="needs a Google Cloud target"):
        list(rows)


def test_rows_are_streamed_not_loaded(repo, monkeypatch):
    """Iterating stops reading when the consumer stops: the rest of the file is never parsed."""
    import orjson

    import runner.dataio.sources as sources

    path = repo / "data" / "big.jsonl"
    with open(path, "wb") as fh:
        for i in range(200_000):
            fh.write(b'{"i": %d}\n' % i)
    monkeypatch.setattr(sources, "_READ_CHUNK", 1 << 16)
    parsed = []
    real = orjson.loads
    monkeypatch.setattr(orjson, "loads", lambda b: parsed.append(1) or real(b))
    rows = iter(open_rows(file_source(repo, "../data/big.jsonl"), None))
    assert [next(rows)["i"] for _ in range(3)] == [0, 1, 2]
    assert len(parsed) < 10_000


def test_jsonl_with_a_byte_order_mark_reads_its_first_line(repo):
    rows = _source(repo, "a.jsonl", b'\xef\xbb\xbf{"a": 1}\n')
    assert list(rows) == [{"a": 1}]
