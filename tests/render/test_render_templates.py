"""Templates: one request per source row, Jinja semantics, located errors, shared constants."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from render_helpers import file_source, template_spec, write_jsonl

from runner.errors import SpecError
from runner.render.requests import render_requests

TOOLS = [{"name": "classify", "input_schema": {"type": "object"}}]


def _rows_spec(repo, rows, messages, **kwargs):
    write_jsonl(repo / "data" / "rows.jsonl", rows)
    return template_spec(repo, file_source(repo, "../data/rows.jsonl"), messages, **kwargs)


def test_each_row_becomes_one_request_with_defaults_overrides_and_messages(repo):
    spec = _rows_spec(
        repo,
        [{"id": 1, "product": "Mail", "body": "it broke"}],
        [{"role": "user", "content": "Ticket: {{ body }}"}],
        request={"max_tokens": 50, "temperature": 0.5},
        overrides={"max_tokens": 10, "system": "You support {{ product }}."},
    )
    [request] = list(render_requests(spec))
    assert request.custom_id == "row-1"
    assert request.body == {
        "anthropic_version": "vertex-2023-10-16",
        "max_tokens": 10,
        "temperature": 0.5,
        "system": "You support Mail.",
        "messages": [{"role": "user", "content": "Ticket: it broke"}],
    }


def test_anthropic_version_from_the_spec_wins_over_the_default(repo):
    spec = _rows_spec(
        repo,
        [{"id": 1}],
        [{"role": "user", "content": "hi"}],
        request={"anthropic_version": "vertex-2099-01-01"},
    )
    [request] = list(render_requests(spec))
    assert request.body["anthropic_version"] == "vertex-2099-01-01"


def test_request_defaults_are_not_templates(repo):
    spec = _rows_spec(
        repo,
        [{"id": 1}],
        [{"role": "user", "content": "hi"}],
        request={"system": "Reply with {{ braces }} literally."},
    )
    [request] = list(render_requests(spec))
    assert request.body["system"] == "Reply with {{ braces }} literally."


def test_content_blocks_and_row_variable_render(repo):
    spec = _rows_spec(
        repo,
        [{"id": 7, "meta": {"lang": "fr"}, "text": "bonjour"}],
        [
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": "{{ text | upper }} in {{ row.meta.lang }}",
                        "cache_control": {"type": "ephemeral"},
                    },
                    {"type": "text", "text": "constant"},
                ],
            }
        ],
    )
    [request] = list(render_requests(spec))
    assert request.body["messages"][0]["content"] == [
        {"type": "text", "text": "BONJOUR in fr", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "constant"},
    ]


def test_constant_parts_are_shared_between_bodies_not_copied(repo):
    spec = _rows_spec(
        repo,
        [{"id": 1}, {"id": 2}],
        [
            {
                "role": "user",
                "content": [{"type": "text", "text": "{{ id }}"}, {"type": "text", "text": "same"}],
            }
        ],
        request={"tools": TOOLS},
    )
    first, second = render_requests(spec)
    assert first.body["tools"] is second.body["tools"]
    assert first.body["messages"][0]["content"][1] is second.body["messages"][0]["content"][1]
    assert first.body["messages"] is not second.body["messages"]


def test_custom_id_can_come_from_a_column(repo):
    spec = _rows_spec(
        repo, [{"key": "abc-1"}, {"key": 42}], [{"role": "user", "content": "x"}], custom_id_column="key"
    )
    assert [r.custom_id for r in render_requests(spec)] == ["abc-1", "42"]


def test_missing_custom_id_column_is_located_at_the_row(repo):
    spec = _rows_spec(
        repo, [{"key": "a"}, {"other": "b"}], [{"role": "user", "content": "x"}], custom_id_column="key"
    )
    with pytest.raises(SpecError) as err:
        list(render_requests(spec))
    assert str(err.value).startswith(
        "repo/jobs/job.yaml:1:1: $.template.custom_id_column: the row has no column 'key' in repo/data/rows.jsonl:2"
    )


def test_invalid_custom_id_is_located_at_its_source_row(repo):
    spec = _rows_spec(
        repo, [{"id": "ok"}, {"id": "a b"}], [{"role": "user", "content": "x"}], custom_id="{{ id }}"
    )
    with pytest.raises(SpecError) as err:
        list(render_requests(spec))
    assert str(err.value).startswith(
        "repo/data/rows.jsonl:2: custom_id 'a b' does not match ^[a-zA-Z0-9_-]{1,64}$"
    )


def test_too_long_custom_id_is_rejected(repo):
    spec = _rows_spec(repo, [{"id": "x" * 65}], [{"role": "user", "content": "x"}], custom_id="{{ id }}")
    with pytest.raises(SpecError, match="does not match"):
        list(render_requests(spec))


def test_duplicate_custom_id_names_both_rows(repo):
    spec = _rows_spec(repo, [{"id": 1}, {"id": 2}, {"id": 1}], [{"role": "user", "content": "x"}])
    with pytest.raises(SpecError) as err:
        list(render_requests(spec))
    assert str(err.value).startswith(
        "repo/data/rows.jsonl:3: custom_id 'row-1' is not unique: also at repo/data/rows.jsonl:1"
    )


def test_undefined_variable_is_located_at_the_spec_path_and_the_row(repo):
    spec = _rows_spec(
        repo,
        [{"id": 1, "body": "a"}, {"id": 2}],
        [
            {
                "role": "user",
                "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "{{ body }}"}],
            }
        ],
    )
    with pytest.raises(SpecError) as err:
        list(render_requests(spec))
    assert str(err.value).startswith(
        "repo/jobs/job.yaml:1:1: $.template.messages[0].content[1].text: "
        "undefined variable 'body' in repo/data/rows.jsonl:2"
    )


def test_undefined_variable_in_a_jinja_expression_is_located_too(repo):
    spec = _rows_spec(repo, [{"id": 1}], [{"role": "user", "content": "{{ body | upper }}"}])
    with pytest.raises(SpecError) as err:
        list(render_requests(spec))
    assert str(err.value).startswith(
        "repo/jobs/job.yaml:1:1: $.template.messages[0].content: undefined variable 'body'"
        " in repo/data/rows.jsonl:1"
    )


def test_unknown_csv_column_fails_before_the_first_row(repo):
    (repo / "data" / "t.csv").write_text("id,body\n1,hello\n")
    spec = template_spec(repo, file_source(repo, "../data/t.csv"), [{"role": "user", "content": "{{ bdy }}"}])
    with pytest.raises(SpecError) as err:
        render_requests(spec)
    assert str(err.value).startswith(
        "repo/jobs/job.yaml:1:1: $.template.messages[0].content: undefined variable 'bdy'"
    )


def test_template_syntax_error_fails_before_the_first_row(repo):
    spec = _rows_spec(repo, [{"id": 1}], [{"role": "user", "content": "{{ body "}])
    with pytest.raises(
        SpecError, match=r"^repo/jobs/job\.yaml:1:1: \$\.template\.messages\[0\]\.content: template syntax"
    ):
        render_requests(spec)


def test_sandbox_refuses_unsafe_attribute_access(repo):
    spec = _rows_spec(repo, [{"id": 1, "s": "x"}], [{"role": "user", "content": "{{ s.__class__.__mro__ }}"}])
    with pytest.raises(SpecError, match="unsafe|undefined"):
        list(render_requests(spec))


def test_a_template_cannot_change_the_row(repo):
    spec = _rows_spec(
        repo, [{"id": 1, "s": "x"}], [{"role": "user", "content": "{{ row.update({'s': 'y'}) }}{{ s }}"}]
    )
    with pytest.raises(SpecError, match=r"job\.yaml:\d+:\d+: \$\.template\.messages\[0\]\.content: unsafe"):
        list(render_requests(spec))


@pytest.mark.parametrize(
    "template",
    [
        "{{ 'a' * 1000000000 }}",
        "{{ ['a'] * 1000000000 }}",
        "{{ 'x' | center(1000000000) }}",
        "{{ '%0999999999d' % 1 }}",
        "{{ '{:>999999999}'.format(1) }}",
        "{{ 10 ** 1000000 }}",
        "{{ range(1000000000) | list }}",
    ],
)
def test_a_template_cannot_build_huge_values(repo, template):
    spec = _rows_spec(repo, [{"id": 1}], [{"role": "user", "content": template}])
    with pytest.raises(SpecError, match=r"\$\.template\.messages\[0\]\.content: template too costly"):
        list(render_requests(spec))


def test_nested_loops_stop_at_the_time_budget_with_a_located_error(repo, monkeypatch):
    monkeypatch.setattr("runner.template_sandbox.RENDER_SECONDS", 0.2)
    loops = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
    spec = _rows_spec(repo, [{"id": 1}], [{"role": "user", "content": loops}])
    with pytest.raises(SpecError, match=r"content: template too costly: rendering took longer than 0.2 s"):
        list(render_requests(spec))


def test_jinja_tags_and_loops_work(repo):
    spec = _rows_spec(
        repo,
        [{"id": 1, "items": ["a", "b"]}],
        [{"role": "user", "content": "{% for i in items %}[{{ i }}]{% endfor %}"}],
    )
    [request] = list(render_requests(spec))
    assert request.body["messages"][0]["content"] == "[a][b]"


def test_a_filter_that_raises_is_a_located_spec_error(repo):
    spec = _rows_spec(repo, [{"id": 1, "n": "x"}], [{"role": "user", "content": "{{ n / 2 }}"}])
    with pytest.raises(SpecError) as err:
        list(render_requests(spec))
    assert "template error: TypeError" in str(err.value)
    assert "repo/data/rows.jsonl:1" in str(err.value)


_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
_names = st.sampled_from(["a", "b", "row_x"])
_literal = st.text(alphabet=st.sampled_from(list("ab {}%#\n\t-é")), max_size=6).filter(
    lambda t: "{" not in t and "}" not in t and "%" not in t and "#" not in t
)
_value = st.one_of(
    st.text(max_size=5),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.none(),
    st.booleans(),
    st.lists(st.integers(0, 99), max_size=2),
)


@pytest.mark.early
@settings(max_examples=150, deadline=None)
@given(
    parts=st.lists(st.one_of(_literal, _names.map(lambda n: "{{ " + n + " }}")), min_size=1, max_size=5),
    values=st.fixed_dictionaries({"a": _value, "b": _value, "row_x": _value}),
)
def test_fast_path_renders_exactly_like_jinja(tmp_path_factory, parts, values):
    repo = tmp_path_factory.mktemp("repo")
    (repo / ".git").mkdir()
    text = "".join(parts)
    spec = _rows_spec(repo, [{"id": 1, **values}], [{"role": "user", "content": text}])
    [request] = list(render_requests(spec))
    expected = _env.from_string(text).render({"id": 1, **values})
    assert request.body["messages"][0]["content"] == expected


def test_bodies_serialize_as_vertex_batch_lines(repo):
    spec = _rows_spec(
        repo,
        [{"id": i, "t": f"text {i}"} for i in range(3)],
        [{"role": "user", "content": "{{ t }}"}],
        request={"max_tokens": 5},
    )
    lines = [
        orjson.loads(orjson.dumps({"custom_id": r.custom_id, "request": r.body}))
        for r in render_requests(spec)
    ]
    assert [line["custom_id"] for line in lines] == ["row-0", "row-1", "row-2"]
    assert all("model" not in line["request"] for line in lines)


def test_a_final_newline_is_kept_in_templated_and_constant_strings(repo):
    spec = _rows_spec(
        repo,
        [{"id": 1, "b": "x"}],
        [
            {
                "role": "user",
                "content": [{"type": "text", "text": "{{ b }}\n"}, {"type": "text", "text": "plain\n"}],
            }
        ],
    )
    [request] = list(render_requests(spec))
    assert [c["text"] for c in request.body["messages"][0]["content"]] == ["x\n", "plain\n"]


def test_a_null_custom_id_column_is_an_error_not_the_string_none(repo):
    spec = _rows_spec(repo, [{"key": None}], [{"role": "user", "content": "x"}], custom_id_column="key")
    with pytest.raises(SpecError, match="custom_id column value None is not a string or an integer"):
        list(render_requests(spec))


def test_each_distinct_template_string_is_parsed_once_and_constants_never(repo, monkeypatch):
    parsed = []
    real = SandboxedEnvironment.parse
    monkeypatch.setattr(
        SandboxedEnvironment,
        "parse",
        lambda self, source, *a, **k: parsed.append(source) or real(self, source, *a, **k),
    )
    spec = _rows_spec(
        repo,
        [{"id": i, "x": i} for i in range(5)],
        [
            {"role": "user", "content": "{{ x }}"},
            {"role": "assistant", "content": "plain text"},
            {"role": "user", "content": "{{ x }}"},
        ],
        overrides={"system": "{{ x }}"},
    )
    assert len(list(render_requests(spec))) == 5
    assert sorted(parsed) == ["row-{{ id }}", "{{ x }}"]
