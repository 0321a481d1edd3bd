"""`load_spec`: a valid file becomes a JobSpec with defaults filled in; an invalid one lists every error."""

from __future__ import annotations

import pytest

from runner.errors import SpecErrors
from runner.spec import load_spec
from spec.support import EXAMPLES

INLINE = """\
name: t
model: claude-haiku-4-5@20251001
mode: stream
prompts:
  - custom_id: a
    messages: [{role: user, content: hi}]
    max_tokens: 10
    temperature: 0.5
destination: results/t.jsonl
"""


def test_request_defaults_are_filled_in(spec_file):
    spec = load_spec(spec_file(INLINE))
    assert spec.request == {"max_tokens": 1024, "anthropic_version": "vertex-2023-10-16"}
    assert spec.region == "us-east5"
    assert spec.stream.concurrency == 8 and spec.stream.request_timeout == 600.0


def test_prompt_keys_other_than_id_and_messages_are_overrides(spec_file):
    [prompt] = load_spec(spec_file(INLINE)).prompts
    assert prompt.custom_id == "a"
    assert prompt.messages == [{"role": "user", "content": "hi"}]
    assert prompt.overrides == {"max_tokens": 10, "temperature": 0.5}


def test_spec_keeps_its_exact_text_and_path(spec_file):
    path = spec_file(INLINE)
    spec = load_spec(path)
    assert spec.text == INLINE and spec.path == path.resolve()


@pytest.mark.parametrize(
    "written, seconds",
    [(45, 45.0), ("45", 45.0), ("90s", 90.0), ("15m", 900.0), ("24h", 86400.0), ("2d", 172800.0)],
)
def test_durations_become_seconds(spec_file, written, seconds):
    text = INLINE.replace("mode: stream", "mode: batch").replace(
        "destination: results/t.jsonl",
        f"destination: results/t.jsonl\nbatch:\n  input: gs://b-1/staging\n  poll_interval: {written!r}",
    )
    assert load_spec(spec_file(text)).batch.poll_interval == seconds


def test_batch_output_defaults_to_the_input_location(spec_file):
    text = INLINE.replace("mode: stream", "mode: batch") + "batch:\n  input: bq://my-project.staging\n"
    batch = load_spec(spec_file(text)).batch
    assert batch.input == batch.output == "bq://my-project.staging"


def test_template_source_kinds(spec_file):
    (spec_file.root / "data").mkdir()
    (spec_file.root / "data" / "rows.csv").write_text("id,body\n1,hello\n")
    base = (
        INLINE.split("prompts:")[0] + "template:\n  source: {}\n  custom_id_column: id\n"
        "  messages: [{{role: user, content: '{{{{ body }}}}'}}]\ndestination: r.jsonl\n"
    )
    file_ref = load_spec(spec_file(base.format("data/rows.csv"))).template.source
    assert (file_ref.kind, file_ref.format, file_ref.path) == (
        "file",
        "csv",
        (spec_file.root / "data/rows.csv").resolve(),
    )
    assert load_spec(spec_file(base.format("gs://b-1/rows.jsonl"))).template.source.kind == "gcs"
    assert load_spec(spec_file(base.format("bq://my-project.d.t"))).template.source.kind == "bigquery"
    query = load_spec(spec_file(base.format("{query: 'SELECT 1 AS id', project: my-project}")))
    assert (query.template.source.kind, query.template.source.uri, query.template.source.project) == (
        "query",
        "SELECT 1 AS id",
        "my-project",
    )


def test_template_overrides_exclude_source_and_custom_id(spec_file):
    spec = load_spec(EXAMPLES / "stream-template-csv-image.yaml")
    assert spec.template.custom_id_template == "ticket-{{ id }}"
    assert set(spec.template.overrides) == {"system"}


def test_every_error_of_the_file_is_raised_at_once(spec_file):
    path = spec_file(INLINE.replace("max_tokens: 10", "max_tokens: -1").replace("mode: stream", "mode: x"))
    with pytest.raises(SpecErrors) as caught:
        load_spec(path)
    lines = [str(e) for e in caught.value.errors]
    assert lines == [
        f"{path}:3:7: $.mode: 'x' is not one of ['batch', 'stream']",
        f"{path}:7:17: $.prompts[0].max_tokens: -1 is less than the minimum of 1",
    ]
    assert str(caught.value) == "\n".join(lines)


def test_warnings_travel_on_the_spec(spec_file):
    spec = load_spec(spec_file(INLINE.replace("claude-haiku-4-5@20251001", "claude-3-5-haiku@20241022")))
    assert len(spec.warnings) == 1 and "retired" in spec.warnings[0]


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_example_loads(example):
    spec = load_spec(example)
    assert spec.name == example.stem and not spec.warnings
