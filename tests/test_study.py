"""benchmarks/study.py on tiny settings (--quick): each variant trained, measured, saved, resumed and reported."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def study(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "study.py"), *args], capture_output=True,
                          text=True, timeout=600, check=True)


def test_the_quick_study_measures_each_variant_and_reports_it(tmp_path):
    out = tmp_path / "study"
    study("--quick", "--out", str(out), "--work", str(tmp_path / "work"), "carry", "kernel5")
    results = {p.stem: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}
    assert sorted(results) == ["baseline", "carry", "kernel5"]  # the baseline always comes along
    carry = results["carry"]
    assert carry["changes"] == {"exposure": "carry"} and carry["group"] == "exposure"
    assert set(carry["eval"]["styles"]) == {"mosaic", "strokes"} and carry["eval"]["reconstruction"]["psnr"] > 0
    assert set(carry["exposures"]) == {"as is", "darker 0.6x", "contrast 0.5x+0.25", "brighter 0.7x+0.3"}
    assert carry["texture_period"]["style images"] > 0
    for name in results:
        assert (out / "logs" / f"{name}.log.jsonl").stat().st_size > 0 and (out / "rows" / f"{name}.png").exists()
    # a second run keeps what is done (no training: the results are read back as they are)
    before = {name: (out / "results" / f"{name}.json").stat().st_mtime_ns for name in results}
    study("--quick", "--out", str(out), "--work", str(tmp_path / "work"), "carry", "kernel5")
    assert {name: (out / "results" / f"{name}.json").stat().st_mtime_ns for name in results} == before
    study("--quick", "--speed", "--out", str(out), "--work", str(tmp_path / "work"))
    speeds = {p.stem: json.loads(p.read_text())["inference_ms"]["32"] for p in (out / "results").glob("*.json")}
    assert sorted(speeds) == ["baseline", "carry", "kernel5"] and all(ms > 0 for ms in speeds.values())
    report = study("--report", "--out", str(out)).stdout
    carry_row = next(line for line in report.splitlines() if line.startswith("| carry | "))
    assert carry_row.endswith(f"| {speeds['carry']:.0f} |")
    assert "## bank" in report and "## exposure" in report and "| carry | " in report and "| kernel5 | " in report
    assert (out / "exposure_curves.png").exists() and (out / "bank_pictures.png").exists()
