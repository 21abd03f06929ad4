"""Build src/suanli/data/series/*.csv.gz and src/suanli/data/traces/ from ../shared/data.

Run from the repository root: ``.venv/bin/python tools/build_series.py``. The package never reads
../shared at run time; this script is the record of how the embedded copies were made.

For each partner zone it keeps 2023-06-01 00:00 to 2023-08-01 23:00 UTC (1,488 hours) of
- Electricity Maps hourly carbon intensity, column "Carbon Intensity gCO2eq/kWh (direct)",
- the hourly wholesale price (standardized files: USD/MWh, UTC; GB: EUR/MWh, see below),
unconverted, so that the scenario file states every conversion. Gaps are filled by linear
interpolation and counted in what the script prints (none in this window).

From job-traces it keeps the PAI 2020 job lengths (hours, 5 significant digits), the Philly
runtimes (whole seconds), cluster_summary.csv and the GAIA MIT licence.
"""

from __future__ import annotations

import csv
import gzip
import io
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "carbon-price-2023"
TRACES = ROOT.parent / "shared" / "data" / "job-traces"
OUT = ROOT / "src" / "suanli" / "data" / "series"
TRACES_OUT = ROOT / "src" / "suanli" / "data" / "traces"
START = datetime(2023, 6, 1, tzinfo=UTC)
#: 62 days: June and July 2023 and August 1st (the embedded files were made with this)
HOURS = 62 * 24

#: site file name -> (carbon zone file, price file, price column name in our file)
ZONES = {
    "SG": ("SG", "SG_electricity_prices_2023.csv", "price_usd_per_mwh"),
    "KR": ("KR", "KR_electricity_prices_2023.csv", "price_usd_per_mwh"),
    "JP-TK": ("JP-TK", "JP-TK_electricity_prices_2023.csv", "price_usd_per_mwh"),
    "DE-LU": ("DE-LU", "DE-LU_electricity_prices_2023.csv", "price_usd_per_mwh"),
    "GB": ("GB", "GB_electricity_prices_2023_from_scripts_dir.csv", "price_eur_per_mwh"),
    "BR-SP": ("BR-SP", "BR-SP_electricity_prices_2023.csv", "price_usd_per_mwh"),
}


def _hour(text: str) -> datetime:
    """Parse '2023-01-01 00:00:00' or '2023-01-01 00:00:00+00:00' as a UTC hour."""
    stamp = datetime.fromisoformat(text.strip())
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC)


def _read(path: Path, time_col: str, value_col: str) -> dict[datetime, float]:
    values: dict[datetime, float] = {}
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            raw = row[value_col].strip()
            if raw:
                values[_hour(row[time_col])] = float(raw)
    return values


def _window(values: dict[datetime, float]) -> tuple[list[float], int]:
    """The June-July window, gaps filled linearly; returns (series, number filled)."""
    series = np.array([values.get(START + timedelta(hours=h), np.nan) for h in range(HOURS)])
    gaps = np.isnan(series)
    if gaps.any():
        hours = np.arange(HOURS)
        series[gaps] = np.interp(hours[gaps], hours[~gaps], series[~gaps])
    return [float(v) for v in series], int(gaps.sum())


def _write_gz(path: Path, header: str, lines: list[str]) -> None:
    raw = gzip.GzipFile(path, "wb", mtime=0)  # reproducible bytes
    with io.TextIOWrapper(raw, encoding="utf-8", newline="") as f:
        f.write(header + "\n")
        f.writelines(line + "\n" for line in lines)


def build_traces() -> None:
    TRACES_OUT.mkdir(parents=True, exist_ok=True)
    with (TRACES / "pai-100k.csv").open(newline="", encoding="utf-8") as f:
        lengths = [f"{float(r['length']):.5g}" for r in csv.DictReader(f)]
    _write_gz(TRACES_OUT / "pai_lengths_h.csv.gz", "length_h", lengths)
    philly = TRACES / "philly_runtime_seconds_from_alibaba_v2020_analysis.csv"
    with philly.open(newline="", encoding="utf-8") as f:
        runtimes = [f"{float(r['runtime']):.0f}" for r in csv.DictReader(f)]
    _write_gz(TRACES_OUT / "philly_runtime_s.csv.gz", "runtime_s", runtimes)
    for name in ("cluster_summary.csv", "LICENSE_MIT_GAIA"):
        (TRACES_OUT / name).write_bytes((TRACES / name).read_bytes())
    print(f"traces: {len(lengths)} PAI lengths, {len(runtimes)} Philly runtimes")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    carbon_col = "Carbon Intensity gCO₂eq/kWh (direct)"
    for site, (zone, price_file, price_col) in ZONES.items():
        carbon = _read(
            SHARED / "carbon_intensity_2023" / f"{zone}_2023_hourly.csv",
            "Datetime (UTC)",
            carbon_col,
        )
        price_path = SHARED / "electricity_prices_2023" / price_file
        if price_col == "price_eur_per_mwh":
            price = _read(price_path, "Datetime", "Price (EUR/MWh)")
        else:
            price = _read(price_path, "Datetime (UTC)", "Price (USD/MWh)")
        c, c_filled = _window(carbon)
        p, p_filled = _window(price)
        rows = [
            f"{(START + timedelta(hours=h)).strftime('%Y-%m-%dT%H:%M:%SZ')},{c[h]:.2f},{p[h]:.4f}"
            for h in range(HOURS)
        ]
        _write_gz(OUT / f"{site}.csv.gz", f"datetime_utc,carbon_direct_g_per_kwh,{price_col}", rows)
        print(
            f"{site}: carbon filled {c_filled} h, price filled {p_filled} h, "
            f"carbon mean {sum(c) / HOURS:.1f} g/kWh, price mean {sum(p) / HOURS:.2f}"
        )
    (OUT / "LICENSE_MIT").write_bytes((SHARED / "LICENSE_MIT").read_bytes())
    build_traces()
    return 0


if __name__ == "__main__":
    sys.exit(main())
