"""The summarizer on real sweeps: the files it writes, `latest`, broken and killed sweeps, bad input."""
import copy
import csv
import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pytest

from qbench.results import records
from qbench.results import summary as summarize
from tests.helpers import run_qbench, sweep_records

PNG = b"\x89PNG\r\n\x1a\n"
STIM_SKIP = "stim simulates Clifford circuits only"


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """One real sweep, summarized by the multirun callback: cirq succeeds, stim skips qft,
    the test-only faulty backend raises inside the library call."""
    workdir = tmp_path_factory.mktemp("sweep")
    result = run_qbench("-m", "backend=cirq,stim,faulty_raise", "circuit=ghz,qft", "n_qubits=3,5", "execution=quick",
                        cwd=workdir, plugins=True)
    assert result.returncode == 1, result.stdout + result.stderr  # the faulty points failed, as meant
    (directory,) = (workdir / "outputs").glob("bench_*")
    return workdir, directory, sweep_records(workdir), result.stdout + result.stderr


def _copy(directory: Path, tmp_path: Path) -> Path:
    target = tmp_path / "outputs" / directory.name
    shutil.copytree(directory, target)
    return target


def test_multirun_end_writes_every_file(sweep):
    workdir, directory, results, output = sweep
    assert "Traceback" not in output and "could not summarize" not in output
    assert f"report: {Path('outputs', directory.name, 'report.md')}" in output
    latest = workdir / "outputs" / "latest"
    assert latest.is_symlink() and os.readlink(latest) == directory.name  # relative link

    summary = json.loads((directory / "summary.json").read_text())
    statuses = Counter(r["status"] for r in results)
    assert statuses == {"success": 6, "skipped": 2, "error": 4}
    assert summary["benchmark_id"] == directory.name
    assert (summary["total_runs"], summary["successful"], summary["failed"]) == (12, 6, 4)
    assert (summary["skipped"], summary["unavailable"], summary["unreadable"]) == (2, 0, 0)
    assert summary["started_at"] <= summary["completed_at"] and summary["missing_points"] == []
    assert len(summary["results"]) == 12 and summary["dropped_fields"] == ["measurements.histogram"]
    assert all("histogram" not in r["measurements"] for r in summary["results"])

    comparison = json.loads((directory / "comparison.json").read_text())
    successes = Counter(r["backend"] for r in results if r["status"] == "success")
    assert {b: v["num_runs"] for b, v in comparison["backends"].items()} == successes == {"cirq": 4, "stim": 2}
    cirq = [r["metrics"] for r in results if r["backend"] == "cirq"]
    times = [m["execution_time_seconds"] for m in cirq]
    assert comparison["backends"]["cirq"]["min_time"] == min(times)
    assert comparison["backends"]["cirq"]["max_time"] == max(times)
    assert comparison["backends"]["cirq"]["avg_time"] == pytest.approx(sum(times) / 4)
    assert comparison["backends"]["cirq"]["avg_fidelity"] == pytest.approx(sum(m["fidelity"] for m in cirq) / 4)
    assert comparison["backends"]["cirq"]["avg_memory_mb"] > 0
    ghz5 = next(r for r in results if r["backend"] == "stim" and r["config"]["n_qubits"] == 5
                and r["config"]["circuit_type"] == "ghz")
    assert comparison["times"]["ghz"]["5"]["stim"] == ghz5["metrics"]["execution_time_seconds"]
    assert set(comparison["times"]["qft"]["3"]) == {"cirq"}  # stim skipped qft; faulty failed
    (step,) = comparison["scalability"]["ghz"]["stim"]
    assert (step["from"], step["to"]) == (3, 5)
    assert step["factor"] == pytest.approx(comparison["times"]["ghz"]["5"]["stim"] / comparison["times"]["ghz"]["3"]["stim"])

    with open(directory / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(results) == 12
    assert Counter(r["status"] for r in rows) == statuses
    assert {"backend", "n_qubits", "circuit_type", "noise_model", "noise_strength", "execution_time_seconds",
            "dry_run_seconds", "fidelity", "memory_peak_mb", "memory_baseline_mb", "memory_run_mb",
            "memory_estimate_mb", "verify_seconds", "precision", "reason"} <= set(rows[0])
    by_run = {r["run_id"]: r for r in results}
    for row in (r for r in rows if r["status"] == "success"):
        metrics = by_run[row["run_id"]]["metrics"]
        assert float(row["memory_run_mb"]) == pytest.approx(metrics["memory_run_mb"])
        assert float(row["memory_estimate_mb"]) == pytest.approx(metrics["memory_estimate_mb"])
        assert float(row["verify_seconds"]) == pytest.approx(metrics["verify_seconds"]) and metrics["verify_seconds"] > 0
    assert comparison["memory"]["estimate_mb"]["ghz"]["5"]["stim"] == ghz5["metrics"]["memory_estimate_mb"]
    assert comparison["memory"]["run_mb"]["ghz"]["5"]["stim"] == ghz5["metrics"]["memory_run_mb"]
    assert all("simulated library failure" in r["reason"] for r in rows if r["status"] == "error")

    report = (directory / "report.md").read_text()
    assert "12 points: 6 successful, 2 skipped/unavailable, 4 failed" in report
    assert "## Scalability: t(N+2)/t(N)" in report and "3→5" in report
    skip_lines = [line for line in report.splitlines() if line.startswith("| skipped | stim | qft |")]
    assert len(skip_lines) == 2 and all(STIM_SKIP in line for line in skip_lines)
    assert report.count("| error | faulty |") == 4
    assert "| 1 | stim |" in report or "| 1 | cirq |" in report  # fidelity ranking
    assert "AMD" in report or "Intel" in report or "| cores |" in report  # environment table
    assert "| cirq-core | 1.7.0 |" in report

    for name in ("scalability.png", "fidelity_comparison.png", "memory.png"):
        data = (directory / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 20_000, name
        assert f"]({name})" in report
    assert not (directory / "noise_tolerance.png").exists()  # the sweep does not vary noise


def test_summarize_latest_after_a_sweep(sweep):
    workdir, directory, _, _ = sweep
    result = run_qbench("summarize", "latest", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "12 points: 6 successful, 2 skipped/unavailable, 4 failed" in result.stdout
    assert "report.md" in result.stdout and directory.name in os.readlink(workdir / "outputs" / "latest")


def test_truncated_record_and_killed_points_are_reported(sweep, tmp_path):
    _, directory, _, _ = sweep
    broken = _copy(directory, tmp_path)
    victim = next(broken.glob("cirq_5q_qft_*/result.json"))
    victim.write_text(victim.read_text()[:200])  # a half-written file, as after a crash
    (broken / "qsim_9q_ghz_none_99" / ".hydra").mkdir(parents=True)  # started, killed before its record
    for name in ("summary.json", "report.md", "scalability.png"):
        (broken / name).unlink()

    result = run_qbench("summarize", str(broken), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "12 points: 5 successful, 2 skipped/unavailable, 5 failed, 1 without a result" in result.stdout
    summary = json.loads((broken / "summary.json").read_text())
    assert (summary["unreadable"], summary["failed"], len(summary["results"])) == (1, 5, 11)
    assert summary["missing_points"] == ["qsim_9q_ghz_none_99"]
    report = (broken / "report.md").read_text()
    unreadable = [line for line in report.splitlines() if line.startswith("| unreadable |")]
    assert len(unreadable) == 1 and victim.parent.name in unreadable[0] and "truncated" in unreadable[0]
    assert "qsim_9q_ghz_none_99" in report and "killed" in report
    assert (broken / "scalability.png").read_bytes().startswith(PNG)
    assert os.readlink(tmp_path / "outputs" / "latest") == broken.name


def test_noise_sweep_gets_tolerance_table_and_chart(sweep, tmp_path):
    """Records of a noise-strength sweep, made from the real ones (only the noise fields differ)."""
    _, directory, results, _ = sweep
    noisy = tmp_path / "outputs" / "bench_noise"
    decay = {0.0: 1.0, 0.01: 0.9, 0.05: 0.6}
    for record in results:
        if record["status"] != "success":
            continue
        for strength, factor in decay.items():
            r = copy.deepcopy(record)
            r["config"].update(noise_model="depolarizing", noise_strength=strength)
            r["metrics"]["fidelity"] *= factor
            point = noisy / f"{r['backend']}_{r['config']['n_qubits']}q_{r['config']['circuit_type']}_{strength}"
            point.mkdir(parents=True)
            (point / "result.json").write_text(json.dumps(r))

    result, written = summarize.summarize(noisy)
    assert noisy / "noise_tolerance.png" in written
    assert (noisy / "noise_tolerance.png").read_bytes().startswith(PNG)
    comparison = json.loads((noisy / "comparison.json").read_text())
    entry = next(e for e in comparison["noise_tolerance"]
                 if (e["series"], e["workload"], e["n_qubits"]) == ("cirq", "ghz", 5))
    assert entry["tolerance"]["0.05"] == pytest.approx(0.6) and entry["tolerance"]["0.01"] == pytest.approx(0.9)
    # depolarizing(0) still inserts its channels (qbench.noise): timed apart from the others
    assert set(comparison["times"]) == {f"{c} depolarizing({s:g})" for c in ("ghz", "qft") for s in decay}
    report = (noisy / "report.md").read_text()
    assert "## Noise tolerance" in report and "F(0.05)/F(0)" in report
    cirq_row = next(line for line in report.splitlines() if line.startswith("| cirq | 12 |"))
    assert cirq_row.rstrip(" |").endswith("0.6")  # the summary table's noise-tolerance column


def test_empty_sweep_at_multirun_end_writes_nothing(tmp_path):
    empty = tmp_path / "outputs" / "bench_empty"
    empty.mkdir(parents=True)
    summarize.after_multirun(empty)  # logs "nothing to summarize", raises nothing
    assert sorted(p.name for p in empty.iterdir()) == []


@pytest.mark.parametrize("args,message", [
    (["summarize", "no/such/dir"], "qbench: error: no/such/dir: no such sweep directory"),
    (["summarize", "outputs/bench_empty"], "qbench: error: outputs/bench_empty has no result.json: nothing to summarize"),
    (["summarize"], "qbench: error: outputs/latest does not exist: no outputs/bench_* sweep here; name a sweep directory"),
])
def test_bad_sweep_dir_is_one_line_exit_2(args, message, tmp_path):
    if "bench_empty" in args[-1]:
        (tmp_path / "outputs" / "bench_empty" / "cirq_4q_ghz_none_0").mkdir(parents=True)
    else:
        (tmp_path / "outputs").mkdir()
    result = run_qbench(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == message and result.stdout == ""


def test_odd_records_never_break_it(tmp_path):
    """Valid JSON that is not quite a record (hand-edited, another tool's, an older schema)."""
    odd = [{"status": "success"}, [], "text", {"config": {}},
           {"status": "success", "backend": "x", "config": [], "metrics": {"execution_time_seconds": "fast"}},
           {"status": 5, "backend": ["a"], "timestamps": {"started_at": 3}, "environment": {"packages": []}},
           {"status": "success", "backend": "y", "config": {"n_qubits": 4.5, "circuit_type": {"a": 1}},
            "metrics": {"execution_time_seconds": 0.1, "fidelity": None}, "measurements": None}]
    directory = tmp_path / "outputs" / "bench_odd"
    for i, record in enumerate(odd):
        (directory / f"p{i}").mkdir(parents=True)
        (directory / f"p{i}" / "result.json").write_text(json.dumps(record))
    summary, written = summarize.summarize(directory)
    assert summary.counts == {"success": 3, "unreadable": 3, 5: 1}
    assert {p.name for p in written} >= {"summary.json", "comparison.json", "results.csv", "report.md"}


def test_fast_reader_equals_the_ordinary_one_without_histogram(sweep, tmp_path):
    _, directory, _, _ = sweep
    for path in directory.glob("*/result.json"):
        full = records.read(path)
        full["measurements"]["histogram"] = {}
        assert summarize.read_without_histogram(path) == full
    odd = tmp_path / "result.json"  # a key with "}" inside: the cut text does not parse, the whole file is read
    odd.write_text(json.dumps({"status": "success", "measurements": {"histogram": {"a}": 1, "b": 2}, "total_shots": 3}},
                              indent=2))
    assert summarize.read_without_histogram(odd)["measurements"] == {"histogram": {"a}": 1, "b": 2}, "total_shots": 3}


def test_latest_follows_a_killed_sweep(sweep, tmp_path):
    """A killed sweep never reaches the multirun callback: `latest` must still find it."""
    _, directory, _, _ = sweep
    older = _copy(directory, tmp_path)
    (tmp_path / "outputs" / "latest").symlink_to(older.name)
    killed = tmp_path / "outputs" / "bench_29991231_235959"
    for point in sorted(older.glob("cirq_*"))[:2]:
        shutil.copytree(point, killed / point.name)
    (killed / "cirq_9q_qft_none_9" / ".hydra").mkdir(parents=True)
    result = run_qbench("summarize", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "2 points: 2 successful, 0 skipped/unavailable, 0 failed, 1 without a result" in result.stdout
    assert os.readlink(tmp_path / "outputs" / "latest") == killed.name
    assert "cirq_9q_qft_none_9" in (killed / "report.md").read_text()


def test_every_timing_carries_its_statistics(tmp_path):
    """A real sweep's records, results.csv, comparison.json and MLflow child runs carry the statistics
    of the timed repetitions; then, with the samples of two records rewritten into a known tie and a
    noisy point (statistics removed, as in a record from before they were recorded), the report marks
    the tie and lists the noisy point with its advice."""
    from qbench.results import stats
    from tests.helpers import client_for

    result = run_qbench("-m", "backend=cirq,qsim", "n_qubits=4", "execution.repetitions=7", "execution.min_time=0",
                        cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    (directory,) = (tmp_path / "outputs").glob("bench_*")
    results = {r["backend"]: r for r in sweep_records(tmp_path)}
    for record in results.values():
        m = record["metrics"]
        assert len(m["execution_times_seconds"]) == 7 and m["repetitions_stop"] == "repetitions"
        assert {k: m[k] for k in stats.FIELDS} == pytest.approx(stats.describe(m["execution_times_seconds"]))
        ordered = sorted(m["execution_times_seconds"])
        assert (m["execution_time_ci_low_seconds"], m["execution_time_ci_high_seconds"]) == (ordered[0], ordered[6])

    with open(directory / "results.csv", newline="") as f:
        rows = {r["backend"]: r for r in csv.DictReader(f)}
    for backend, record in results.items():
        for key in stats.FIELDS:
            assert float(rows[backend][key]) == pytest.approx(record["metrics"][key]), key
        assert rows[backend]["repetitions_stop"] == "repetitions"

    cells = json.loads((directory / "comparison.json").read_text())["intervals"]["ghz"]["4"]
    for backend, record in results.items():
        m = record["metrics"]
        assert cells[backend]["ci_low"] == m["execution_time_ci_low_seconds"]
        assert cells[backend]["ci_high"] == m["execution_time_ci_high_seconds"]
        assert cells[backend]["samples"] == 7 and cells[backend]["median"] == m["execution_time_seconds"]

    client = client_for(tmp_path)
    experiment = client.get_experiment_by_name("qbench")
    children = [r for r in client.search_runs([experiment.experiment_id]) if "mlflow.parentRunId" in r.data.tags]
    assert len(children) == 2
    for run in children:
        m = results[run.data.tags["backend"]]["metrics"]
        for key in stats.FIELDS:
            assert run.data.metrics[key] == pytest.approx(m[key]), key

    # cirq: one slow repetition (an outlier, CV > 10 %); qsim's interval overlaps cirq's: a tie.
    samples = {"cirq": [1.0e-3, 1.1e-3, 1.2e-3, 1.3e-3, 1.4e-3, 1.2e-3, 14e-3],
               "qsim": [1.2e-3, 1.22e-3, 1.25e-3, 1.28e-3, 1.3e-3, 1.32e-3, 1.35e-3]}
    for path in directory.glob("*/result.json"):
        record = json.loads(path.read_text())
        m = record["metrics"]
        for key in stats.FIELDS:
            m.pop(key)
        m["execution_times_seconds"] = samples[record["backend"]]
        m["execution_time_seconds"] = sorted(samples[record["backend"]])[3]
        path.write_text(json.dumps(record))
    summarize.summarize(directory)
    report = (directory / "report.md").read_text()
    assert "| ghz | 4 | cirq ~ qsim | 1.2 ms [1 ms, 14 ms] |" in report
    assert "| 4 | **1.2 ms [1 ms, 14 ms]** | ~ 1.28 ms [1.2 ms, 1.35 ms] |" in report
    noisy = report[report.index("## Noisy points"):]
    noisy = noisy[:noisy.index("\n## ", 3)]
    assert "| cirq | ghz | 4 | 1.2 ms [1 ms, 14 ms] | 7 | 160% | 1 | something else ran during the point" in noisy
    assert "| qsim |" not in noisy  # CV 4 %, no outlier
