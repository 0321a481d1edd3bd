"""Images: files and gs:// objects become base64 blocks, read once, checked against their bytes."""

from __future__ import annotations

import base64

import pytest
from render_helpers import file_source, gif, inline_spec, jpeg, png, template_spec, webp, write_jsonl

from runner.errors import SpecError
from runner.render.requests import render_requests


def _image_prompt(source: dict) -> list[dict]:
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image", "source": source, "cache_control": {"type": "ephemeral"}},
            ],
        }
    ]


def _render_inline(repo, source):
    spec = inline_spec(repo, [{"custom_id": "a", "messages": _image_prompt(source)}])
    [request] = render_requests(spec)
    return request.body["messages"][0]["content"][1]


@pytest.mark.parametrize(
    "name,data,media",
    [
        ("shot.png", png(), "image/png"),
        ("shot.JPG", jpeg(), "image/jpeg"),
        ("shot.jpeg", jpeg(), "image/jpeg"),
        ("shot.gif", gif(), "image/gif"),
        ("shot.webp", webp(), "image/webp"),
    ],
)
def test_file_image_becomes_base64_with_the_media_type_of_its_extension(repo, name, data, media):
    (repo / "jobs" / "img").mkdir()
    (repo / "jobs" / "img" / name).write_bytes(data)
    block = _render_inline(repo, {"type": "file", "path": f"img/{name}"})
    assert block == {
        "type": "image",
        "cache_control": {"type": "ephemeral"},
        "source": {"type": "base64", "media_type": media, "data": base64.b64encode(data).decode()},
    }


def test_image_whose_bytes_do_not_match_its_extension_is_refused(repo):
    (repo / "jobs" / "fake.png").write_bytes(gif())
    with pytest.raises(SpecError) as err:
        _render_inline(repo, {"type": "file", "path": "fake.png"})
    assert str(err.value).startswith(
        "repo/jobs/job.yaml:1:1: $.prompts[0].messages[0].content[1]"
        ".source.path: fake.png is not image/png (its bytes say "
        "image/gif)"
    )


def test_unsupported_extension_without_media_type_is_refused(repo):
    (repo / "jobs" / "x.bmp").write_bytes(b"BM....")
    with pytest.raises(SpecError, match="cannot tell the media type of x.bmp"):
        _render_inline(repo, {"type": "file", "path": "x.bmp"})


def test_given_media_type_wins_over_the_extension(repo):
    (repo / "jobs" / "x.bin").write_bytes(png())
    block = _render_inline(repo, {"type": "file", "path": "x.bin", "media_type": "image/png"})
    assert block["source"]["media_type"] == "image/png"


def test_image_outside_the_repository_is_refused(repo):
    outside = repo.parent / "secret.png"
    outside.write_bytes(png())
    with pytest.raises(SpecError, match="outside the repository"):
        _render_inline(repo, {"type": "file", "path": "../../secret.png"})


def test_missing_image_file_is_located(repo):
    with pytest.raises(SpecError, match=r"source\.path: cannot read image repo/jobs/nope\.png"):
        _render_inline(repo, {"type": "file", "path": "nope.png"})


def test_base64_image_is_checked_and_its_media_type_sniffed(repo):
    data = base64.b64encode(webp()).decode()
    block = _render_inline(repo, {"type": "base64", "data": data})
    assert block["source"] == {"type": "base64", "media_type": "image/webp", "data": data}
    with pytest.raises(SpecError, match="the data is not image/png"):
        _render_inline(repo, {"type": "base64", "media_type": "image/png", "data": data})


def test_templated_image_paths_read_each_distinct_file_once(repo, monkeypatch):
    from pathlib import Path

    for name in ("a", "b"):
        (repo / "data" / f"{name}.png").write_bytes(png())
    write_jsonl(repo / "data" / "rows.jsonl", [{"id": i, "shot": "ab"[i % 2]} for i in range(6)])
    spec = template_spec(
        repo,
        file_source(repo, "../data/rows.jsonl"),
        _image_prompt({"type": "file", "path": "../data/{{ shot }}.png"}),
    )
    reads = []
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: reads.append(self.name) or real(self))
    requests = list(render_requests(spec))
    assert sorted(reads) == ["a.png", "b.png"]
    sources = [r.body["messages"][0]["content"][1]["source"] for r in requests]
    assert sources[0] is sources[2] and sources[1] is sources[3]


def test_templated_image_error_names_the_row(repo):
    write_jsonl(repo / "data" / "rows.jsonl", [{"id": 1, "shot": "missing"}])
    spec = template_spec(
        repo,
        file_source(repo, "../data/rows.jsonl"),
        _image_prompt({"type": "file", "path": "{{ shot }}.png"}),
    )
    with pytest.raises(SpecError) as err:
        list(render_requests(spec))
    assert str(err.value).startswith(
        "repo/jobs/job.yaml:1:1: $.template.messages[0].content[1]"
        ".source.path: cannot read image repo/jobs/missing.png: "
        "No such file or directory in repo/data/rows.jsonl:1"
    )


def test_image_cache_is_bounded_in_bytes(repo):
    from runner.render.image_blocks import Images

    for i in range(5):
        (repo / "jobs" / f"{i}.png").write_bytes(png() + bytes(3000))
    images = Images(inline_spec(repo, []), None, budget=10_000)
    for i in range(5):
        images.load("file", f"{i}.png", None, "$.x")
    assert images._bytes <= 10_000
    assert len(images._cache) == 2


def test_image_over_the_api_size_limit_is_refused(repo):
    (repo / "jobs" / "big.png").write_bytes(png() + bytes(5 << 20))
    with pytest.raises(SpecError, match="over the 5 MB limit"):
        _render_inline(repo, {"type": "file", "path": "big.png"})


SPEC_WITH_A_ROW_IMAGE = """\
name: job
model: claude-x
mode: batch
destination: out.jsonl
template:
  source: ../data/tickets.csv
  custom_id: "t-{{ id }}"
  messages:
    - role: user
      content:
        - type: text
          text: "What is this?"
        - type: image
          source:
            type: file
            path: "{{ shot }}"
"""


def test_a_bad_row_image_names_the_spec_line_the_json_path_and_the_data_row(repo):
    (repo / "jobs" / "ok.png").write_bytes(png())
    (repo / "jobs" / "crash.png").write_bytes(gif())
    (repo / "data" / "tickets.csv").write_text("id,shot\n1,ok.png\n2,crash.png\n")
    spec = template_spec(
        repo,
        file_source(repo, "../data/tickets.csv"),
        _image_prompt({"type": "file", "path": "{{ shot }}"}),
        custom_id="t-{{ id }}",
        text=SPEC_WITH_A_ROW_IMAGE,
    )
    with pytest.raises(SpecError) as err:
        list(render_requests(spec))
    assert err.value.exit_code == 1
    assert str(err.value) == (
        "repo/jobs/job.yaml:16:19: $.template.messages[0].content[1].source.path: crash.png is not "
        "image/png (its bytes say image/gif) in repo/data/tickets.csv:3 "
        "(fix the file, its extension, or media_type)"
    )
