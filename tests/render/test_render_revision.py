"""Spec revision: changes with the spec text and every input it reads, and only with them."""

from __future__ import annotations

import re
import shutil

import pytest
from render_helpers import file_source, png, template_spec, write_jsonl

from runner.render.revision import revision_label, spec_revision

IMAGE = [
    {
        "role": "user",
        "content": [{"type": "image", "source": {"type": "file", "path": "../data/{{ shot }}.png"}}],
    }
]


def _spec(repo, text="spec"):
    return template_spec(repo, file_source(repo, "../data/rows.jsonl"), IMAGE, text=text)


def _setup(repo):
    write_jsonl(repo / "data" / "rows.jsonl", [{"id": 1, "shot": "a"}, {"id": 2, "shot": "b"}])
    (repo / "data" / "a.png").write_bytes(png(10, 10))
    (repo / "data" / "b.png").write_bytes(png(20, 20))
    (repo / "data" / "unused.png").write_bytes(png(30, 30))


def test_revision_is_stable_for_an_unchanged_spec_and_inputs(repo):
    _setup(repo)
    assert spec_revision(_spec(repo)) == spec_revision(_spec(repo))


def test_revision_changes_with_the_spec_text(repo):
    _setup(repo)
    assert spec_revision(_spec(repo)) != spec_revision(_spec(repo, text="spec 2"))


def test_revision_changes_with_the_source_rows(repo):
    _setup(repo)
    before = spec_revision(_spec(repo))
    write_jsonl(repo / "data" / "rows.jsonl", [{"id": 1, "shot": "a"}, {"id": 3, "shot": "b"}])
    assert spec_revision(_spec(repo)) != before


def test_revision_changes_with_an_image_a_templated_path_reads(repo):
    _setup(repo)
    before = spec_revision(_spec(repo))
    (repo / "data" / "b.png").write_bytes(png(21, 20))
    assert spec_revision(_spec(repo)) != before


def test_revision_ignores_files_the_render_does_not_read(repo):
    _setup(repo)
    before = spec_revision(_spec(repo))
    (repo / "data" / "unused.png").write_bytes(png(31, 30))
    assert spec_revision(_spec(repo)) == before


def test_revision_is_the_same_in_another_checkout(repo, tmp_path):
    _setup(repo)
    copy = tmp_path / "elsewhere" / "repo"
    shutil.copytree(repo, copy)
    assert spec_revision(_spec(repo)) == spec_revision(_spec(copy))


def test_label_is_16_label_safe_characters(repo):
    _setup(repo)
    label = revision_label(spec_revision(_spec(repo)))
    assert re.fullmatch(r"[0-9a-f]{16}", label)


def test_revision_reads_no_rows_when_image_paths_are_static(repo, monkeypatch):
    import runner.dataio.sources as sources

    _setup(repo)
    spec = template_spec(
        repo,
        file_source(repo, "../data/rows.jsonl"),
        [
            {
                "role": "user",
                "content": [{"type": "image", "source": {"type": "file", "path": "../data/a.png"}}],
            }
        ],
    )
    templated = spec_revision(_spec(repo))
    monkeypatch.setattr(sources.FileRows, "numbered", lambda self: pytest.fail("rows were read"))
    assert spec_revision(spec) != templated
