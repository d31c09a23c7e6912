"""The report ranks fidelities beside their own kind: a state's overlap, a noiseless histogram's
classical fidelity (a backend without a state, e.g. lret-pennylane) and a noisy histogram's."""
import json

from qbench.results import summary as summarize


def record(backend: str, fidelity: float, method: str, noise: str = "none") -> dict:
    return {"status": "success", "backend": backend,
            "config": {"n_qubits": 4, "circuit_type": "ghz", "noise_model": noise, "noise_strength": 0.0 if noise == "none" else 0.05},
            "metrics": {"execution_time_seconds": 0.01, "fidelity": fidelity, "fidelity_method": method}}


def section(report: str, title: str) -> str:
    start = report.index(f"### {title}")
    end = report.find("\n#", start + 4)
    return report[start:end if end > 0 else None]


def test_state_and_histogram_fidelities_are_ranked_apart(tmp_path):
    points = [record("cirq", 1 - 1e-7, "statevector"), record("qsim", 0.99, "statevector"),
              record("lret-pennylane", 0.995, "distribution"),  # would top qsim in one mixed ranking
              record("cirq", 0.90, "distribution", "depolarizing"),
              record("lret-pennylane", 0.91, "distribution", "depolarizing")]
    directory = tmp_path / "outputs" / "bench_kinds"
    for i, point in enumerate(points):
        (directory / f"p{i}").mkdir(parents=True)
        (directory / f"p{i}" / "result.json").write_text(json.dumps(point))
    summarize.summarize(directory)
    report = (directory / "report.md").read_text()

    state = section(report, "Highest state fidelity (noiseless points)")
    assert "| 1 | cirq | 1 − 1.0e-07 | 1 − 1.0e-07 | 1 |" in state and "| 2 | qsim | 0.9900 |" in state
    assert "lret-pennylane" not in state
    histogram = section(report, "Highest histogram fidelity (noiseless points)")
    assert "| 1 | lret-pennylane | 0.9950 |" in histogram and "cirq" not in histogram and "qsim" not in histogram
    noisy = section(report, "Highest histogram fidelity (noisy points)")
    assert "| 1 | lret-pennylane | 0.9100 |" in noisy and "| 2 | cirq | 0.9000 |" in noisy
    assert "`|⟨ideal|ψ⟩|²`" in state and "Classical fidelity of the backend's shots" in histogram and "what the noise cost" in noisy
    assert "### Highest fidelity\n" not in report  # no ranking that mixes the kinds
