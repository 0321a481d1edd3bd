"""A batch spec's first run never replaces a destination that holds someone else's data."""

from __future__ import annotations

import pytest
from batch_harness import jobs_of, run

from runner.errors import StateError

pytestmark = pytest.mark.usefixtures("server")


@pytest.fixture(autouse=True)
def _repository(tmp_path, monkeypatch):
    """Local destinations must sit inside the repository: here, the test's folder."""
    monkeypatch.chdir(tmp_path)


def test_first_run_refuses_a_destination_holding_data_and_submits_nothing(local_stack, make_spec, tmp_path):
    (tmp_path / "kept.jsonl").write_text('{"someone": "else"}\n')
    spec = make_spec(destination="kept.jsonl")
    with pytest.raises(StateError) as caught:
        run(spec, local_stack)
    assert str(caught.value).endswith(
        "$.destination: kept.jsonl already holds results this spec's runs did not write; nothing "
        "was sent (choose a new destination, or pass --restart to replace it)"
    )
    assert (tmp_path / "kept.jsonl").read_text() == '{"someone": "else"}\n'
    assert jobs_of(spec, local_stack) == []


def test_restart_replaces_a_destination_holding_data(local_stack, make_spec, tmp_path):
    (tmp_path / "replaced.jsonl").write_text('{"someone": "else"}\n')
    spec = make_spec(destination="replaced.jsonl")
    summary = run(spec, local_stack, restart=True)
    assert summary.state == "done"
    assert "someone" not in (tmp_path / "replaced.jsonl").read_text()


def test_a_later_revision_may_replace_what_an_earlier_one_wrote(local_stack, make_spec, tmp_path):
    spec = make_spec(destination="own.jsonl")
    assert run(spec, local_stack).state == "done"
    changed = tmp_path / f"{spec.name}.yaml"
    changed.write_text(changed.read_text().replace("max_tokens: 32", "max_tokens: 33"))
    from runner.spec import load_spec

    assert run(load_spec(str(changed)), local_stack).state == "done"
