"""Model rules against a catalog made for the test: batch support per region, deprecation warnings."""

from __future__ import annotations

import dataclasses

import pytest

from runner.spec import catalog
from runner.spec.catalog import Catalog
from runner.spec.check import check_file

SPEC = """\
name: t
model: {model}
mode: {mode}
{region}prompts:
  - custom_id: a
    messages: [{{role: user, content: hi}}]
destination: results/t.jsonl
{batch}"""


@pytest.fixture
def fake_catalog(monkeypatch):
    real = catalog().get("claude-haiku-4-5@20251001")
    online_only = dataclasses.replace(
        real,
        name="claude-test",
        version=None,
        id="claude-test",
        requires_version=False,
        regions=["us-east5", "us-central1"],
        batch_regions=["us-east5"],
    )
    fading = dataclasses.replace(
        online_only,
        name="claude-old",
        id="claude-old",
        status="deprecated",
        retirement_date="2999-01-01",
        replacement="claude-test",
    )
    europe = dataclasses.replace(
        online_only,
        name="claude-europe",
        id="claude-europe",
        regions=["europe-west1"],
        batch_regions=["europe-west1"],
    )
    fake = Catalog([online_only, fading, europe])
    monkeypatch.setattr("runner.spec.rules.catalog", lambda: fake)


def lines(spec_file, **values) -> list[str]:
    values = {"mode": "stream", "region": "", "batch": "", **values}
    return check_file(spec_file(SPEC.format(**values)), display="t.yaml").lines()


def test_batch_in_a_region_without_batch_support_is_an_error(spec_file, fake_catalog):
    assert lines(
        spec_file,
        model="claude-test",
        mode="batch",
        region="region: us-central1\n",
        batch="batch: {input: gs://b-1/staging}\n",
    ) == [
        "t.yaml:4:9: $.region: claude-test does not support batch prediction in us-central1 "
        "(batch prediction works in: us-east5)"
    ]


def test_the_same_region_is_fine_for_stream(spec_file, fake_catalog):
    assert lines(spec_file, model="claude-test", region="region: us-central1\n") == []


def test_a_region_error_points_at_the_model_when_the_region_is_the_default(spec_file, fake_catalog):
    assert lines(spec_file, model="claude-europe") == [
        "t.yaml:2:8: $.model: claude-europe is not available in us-east5 (available in: europe-west1)"
    ]


def test_a_deprecated_model_warns_with_its_retirement_date_and_replacement(spec_file, fake_catalog):
    assert lines(spec_file, model="claude-old") == [
        "t.yaml:2:8: $.model: warning: claude-old is deprecated and will be retired on 2999-01-01 "
        "(use claude-test)"
    ]
