"""fixtures/build.py regenerates the committed files exactly; expected.json covers everything."""
from __future__ import annotations

from importlib.resources import files

import fixtures
from fixtures import build

TOPICS = {"trd-criteria-met", "trd-criteria-not-met", "trd-criteria-insufficient-data", "contraindication",
          "rems-prerequisites", "blood-pressure", "dose-check", "diagnosis-caution", "pregnancy",
          "substance-use", "drug-interaction", "data-unavailable",
          # decision-rules v2 (§7, §9)
          "pediatric", "lactation", "hepatic-impairment", "duplicate-therapy", "treatment-course"}
INDICATORS = {"info", "warning", "critical"}


def test_build_regenerates_byte_identical_files(tmp_path):
    build.write(tmp_path)
    generated = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.json"))
    package = files("fixtures")
    committed = sorted(f"{folder}/{p.name}" for folder in ("patients", "requests")
                       for p in package.joinpath(folder).iterdir() if p.name.endswith(".json"))
    assert generated == sorted(committed + ["expected.json"])
    for path in generated:
        assert (tmp_path / path).read_bytes() == package.joinpath(path).read_bytes(), path


def test_expected_covers_every_request_and_every_topic():
    expected = fixtures.expected()
    assert set(expected) == set(fixtures.request_files())
    seen = set()
    for file_name, entry in expected.items():
        assert entry["hook"] == file_name.split(".")[-2]
        assert entry["patient"] in fixtures.patient_names()
        assert entry["status"] == 200 and entry["why"]
        for topic, indicator in entry["cards"]:
            assert topic in TOPICS and indicator in INDICATORS
            seen.add(topic)
        trd = [t for t, _ in entry["cards"] if t.startswith("trd-criteria-")]
        assert len(trd) == (1 if entry["cards"] else 0), file_name  # the TRD card comes with any advice
    assert seen == TOPICS


def test_every_patient_has_both_hooks():
    requests = set(fixtures.request_files())
    for name in fixtures.patient_names():
        assert {f"{name}.order-select.json", f"{name}.order-sign.json"} <= requests
