"""A non-editable install ships conf/ (and the Hydra plugins) inside the package."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_install_composes_configs_from_the_installed_copy(tmp_path):
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(wheels), str(ROOT)], check=True, capture_output=True)
    (wheel,) = wheels.glob("qbench-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    assert (target / "qbench" / "conf" / "backend" / "qsim.yaml").exists()
    assert (target / "hydra_plugins" / "qbench_plugins" / "submitit_launcher.py").exists()
    env = dict(os.environ, PYTHONPATH=str(target))
    where = subprocess.run([sys.executable, "-c", "import qbench; print(qbench.__file__)"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, check=True)
    assert where.stdout.strip().startswith(str(target))
    shown = subprocess.run([sys.executable, "-m", "qbench", "--cfg", "job", "backend=qsim", "circuit=qft"],
                           cwd=tmp_path, env=env, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert "QsimBackend" in shown.stdout and "name: qft" in shown.stdout
    run = subprocess.run([sys.executable, "-m", "qbench", "backend=stim", "execution=quick", "tracking.enabled=false"],
                         cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert list(tmp_path.glob("outputs/runs/*/result.json"))
