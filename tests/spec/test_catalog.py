"""The model catalog: data validated by its schema, looked up by the id a spec writes."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from runner.errors import ConfigError
from runner.spec import catalog
from runner.spec.catalog import CATALOG_FILE, load_catalog

SEEDS = ["claude-3-7-sonnet@20250219", "claude-3-5-sonnet-v2@20241022", "claude-3-5-haiku@20241022"]


def test_catalog_file_validates_against_its_schema():
    assert len(load_catalog(CATALOG_FILE)) >= 10


def test_catalog_is_loaded_once_per_process():
    assert catalog() is catalog()


@pytest.mark.parametrize("model_id", SEEDS)
def test_seed_models_are_in_the_catalog_and_need_a_pinned_version(model_id):
    info = catalog().get(model_id)
    assert info is not None and info.requires_version and info.id == model_id


@pytest.mark.parametrize(
    "model_id",
    [
        "claude-sonnet-4-6",
        "claude-opus-4-6",
        "claude-opus-4-7",
        "claude-sonnet-5",
        "claude-opus-5-5",
        "claude-sonnet-5-5",
    ],
)
def test_models_from_the_4_6_generation_on_carry_no_version(model_id):
    info = catalog().get(model_id)
    assert info is not None and not info.requires_version and info.version is None


def test_unversioned_id_of_a_model_that_needs_a_version_is_not_found():
    assert catalog().get("claude-3-5-haiku") is None
    assert [m.id for m in catalog().versions_of("claude-3-5-haiku")] == ["claude-3-5-haiku@20241022"]


def test_retired_and_deprecated_models_are_marked():
    statuses = {m.id: m.effective_status() for m in catalog().models}
    assert statuses["claude-3-5-sonnet-v2@20241022"] == "retired"
    assert statuses["claude-sonnet-4-6"] == "current"


def test_a_passed_retirement_date_makes_a_model_retired_even_if_marked_current():
    info = catalog().get("claude-3-5-haiku@20241022")
    from dataclasses import replace

    stale = replace(info, status="current")
    assert stale.effective_status(dt.date(2026, 2, 1)) == "deprecated"
    assert stale.effective_status(dt.date(2026, 7, 5)) == "retired"
    assert stale.effective_status(dt.date(2025, 1, 1)) == "current"


def test_prices_and_quotas_read_as_attributes_or_keys():
    info = catalog().get("claude-haiku-4-5@20251001")
    assert info.prices.input == info.prices["input"] == 1.0
    assert info.quota["requests_per_minute"] == info.quota.requests_per_minute > 0


def test_batch_rows_cost_the_batch_discount_fraction():
    info = catalog().get("claude-sonnet-4-6")
    online = info.cost_usd(1_000_000, 1_000_000)
    assert online == pytest.approx(18.0)
    assert info.cost_usd(1_000_000, 1_000_000, batch=True) == pytest.approx(online * info.batch_discount)


def test_batch_regions_are_never_global():
    assert all("global" not in m.batch_regions for m in catalog().models)


def test_max_output_tokens_never_exceed_the_context_window():
    assert all(m.max_output_tokens < m.context_window for m in catalog().models)


def test_an_invalid_catalog_is_refused_with_its_json_path(tmp_path):
    data = yaml.safe_load(CATALOG_FILE.read_text())
    data["models"][2]["prices"]["input"] = -1
    bad = tmp_path / "models.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"\$\.models\[2\]\.prices\.input"):
        load_catalog(bad)


def test_a_model_listed_twice_is_refused(tmp_path):
    data = yaml.safe_load(CATALOG_FILE.read_text())
    data["models"].append(data["models"][0])
    bad = tmp_path / "models.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="listed twice"):
        load_catalog(bad)
