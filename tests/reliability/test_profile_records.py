"""A profile record names its statistic and unit ("median_ms"), and old records (only "value") still read."""

from __future__ import annotations

from profilers.profile import ProfileReport
from profilers.statistic_names import record_value, statistic_key


def test_records_name_their_statistic_and_unit():
    records = [
        {"metric": "latency", "value": 1.5, "unit": "ms"},
        {"metric": "energy_per_image", "value": 2.0, "unit": "mJ"},
        {"metric": "power", "value": 30.0, "unit": "W"},
        {"metric": "peak_memory", "value": 12.0, "unit": "MB"},
        {"metric": "something_new", "value": 3.0, "unit": "parsecs"},
    ]
    report = ProfileReport(records=records, settings={})
    lat, energy, power, mem, other = report.records
    assert lat["statistic"] == "median" and lat["median_ms"] == 1.5 and lat["value"] == 1.5
    assert energy["median_mj"] == 2.0 and power["mean_w"] == 30.0 and mem["peak_mb"] == 12.0
    assert "statistic" not in other  # no statistic is claimed for a metric this table does not know


def test_old_records_keep_reading():
    assert record_value({"metric": "latency", "value": 4.0, "unit": "ms"}) == 4.0  # written before the names
    assert record_value({"metric": "latency", "value": 4.0, "unit": "ms", "median_ms": 4.0}) == 4.0
    assert statistic_key("latency", "ms") == "median_ms" and statistic_key("latency", "furlongs") is None
