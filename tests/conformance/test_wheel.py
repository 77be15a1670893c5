"""Firmware teams need no clone: the wheel, installed into a fresh venv outside the repository,
runs `needlepen conformance` against the simulator (in-process and on a pty) and passes.

The wheel is built from a copy of the source tree (`pip wheel --no-deps`) and installed with
`--no-deps --no-index`; the venv sees the dependencies this environment already has through
a .pth file naming a directory of links to them (needlepen's own editable install left out),
so nothing is downloaded and the code that runs is the wheel's (checked)."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", ".venv", "build", ".hypothesis", ".pytest_cache", ".mypy_cache"}


def _run(cmd: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def _deps_dir(tmp: Path) -> Path:
    """Links to everything in this environment's site-packages but needlepen itself."""
    deps = tmp / "deps"
    deps.mkdir()
    for sp in site.getsitepackages():
        for entry in Path(sp).iterdir():
            name = entry.name.lower()
            own = name.startswith(("needlepen", "__editable__", "protocol", "driver"))
            if own or name in ("simulator", "tui") or (deps / entry.name).exists():
                continue
            (deps / entry.name).symlink_to(entry)
    return deps


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv outside the repository with the needlepen wheel installed: its bin directory."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=lambda d, names: [n for n in names if n in SKIP_DIRS])
    built = _run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-q", "-w", str(tmp)], tmp
    )
    wheels = list(tmp.glob("needlepen-*.whl"))
    assert built.returncode == 0 and len(wheels) == 1, built.stderr
    venv = tmp / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q"]
    done = _run([*install, "--no-deps", "--no-index", str(wheels[0])], tmp)
    assert done.returncode == 0, done.stderr
    purelib = _run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp
    )
    (Path(purelib.stdout.strip()) / "_needlepen_test_deps.pth").write_text(f"{_deps_dir(tmp)}\n")
    where = _run(
        [str(python), "-c", "import driver.testing, sys; print(driver.testing.__file__)"], tmp
    )
    assert where.stdout.strip().startswith(str(venv)), where.stdout + where.stderr
    return venv / "bin"


def _conformance(bin_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _run([str(bin_dir / "needlepen"), "conformance", *args], cwd, timeout=150)


@pytest.mark.slow
def test_the_installed_wheel_passes_the_simulator_over_sim_url(
    installed: Path, tmp_path: Path
) -> None:
    t0 = time.monotonic()
    out = _conformance(installed, tmp_path, "--port", "sim://")
    report = out.stdout[out.stdout.find("Conformance of the pen on") :]
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert report.startswith("Conformance of the pen on sim://: ")
    assert " 0 failed, 0 not run, " in report.splitlines()[0]
    assert "Verdict: PASS." in report
    assert list(tmp_path.iterdir()) == []  # nothing written where it ran
    print(f"needlepen conformance --port sim:// from the wheel: {time.monotonic() - t0:.1f} s")


@pytest.mark.slow
def test_the_installed_wheel_passes_a_needlepen_sim_pty(installed: Path, tmp_path: Path) -> None:
    """A few checks of each kind (the ICD's, the driver's, one physical) over a kernel pty from
    the installed wheel; the whole suite runs on a pty in tests/conformance already."""
    sim = subprocess.Popen(
        [str(installed / "needlepen"), "sim", "--pty", "--device-class", "home"],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert sim.stdout is not None
        path = sim.stdout.readline().strip()
        assert path.startswith("/dev/"), path
        out = _conformance(
            installed,
            tmp_path,
            "--port",
            path,
            "--device-class",
            "home",
            "-k",
            "host or hello_opens or estop_from_running or without_a_cartridge",
        )
        # no hook on a pty: the physical steps are not run, and said so: not a pass (exit 3)
        assert out.returncode == 3, out.stdout[-3000:] + out.stderr[-2000:]
        first = out.stdout[out.stdout.find("Conformance of the pen on") :].splitlines()[0]
        assert " 0 failed, " in first
        assert "Not run (which is not a pass):" in out.stdout
        assert "Verdict: INCOMPLETE" in out.stdout
    finally:
        sim.terminate()
        sim.wait(timeout=10)


#: The shipped test kit used from the installed wheel, as a firmware or integration team would.
KIT_SCRIPT = """
import tempfile
from hypothesis import HealthCheck, given, settings
from driver.testing.host import VirtualHost
from driver.testing.safety import COUNTS, Rig, machine_for
from driver.testing.sim import SimProcess
from driver.testing.stores import STAFF, StoreMaker
from driver.testing.strategies import any_message, host_commands

info = VirtualHost().hello()
print("host", info.device_class.name)

# bounds for a loaded machine: a slow first generation is no failure of the kit
RELAXED = dict(database=None, deadline=None, suppress_health_check=list(HealthCheck))

@settings(max_examples=20, **RELAXED)
@given(any_message, host_commands)
def property_runs(msg, cmd):
    pass

property_runs()
Machine = machine_for(Rig)
Machine.TestCase.settings = settings(max_examples=3, stateful_step_count=5, **RELAXED)
Machine.TestCase("runTest").runTest()
print("machine", COUNTS.examples)
with tempfile.TemporaryDirectory() as tmp:
    make = StoreMaker(tmp)
    print("store", [op.id for op in make(staff=STAFF).list_operators()])
    make.close_all()
with SimProcess("--pty", "--log-json", "--seed", "3") as sim:
    print("sim", sim.path.startswith("/dev/"), sim.control("status") != "")
"""


@pytest.mark.slow
def test_the_installed_wheel_ships_the_test_kit(installed: Path, tmp_path: Path) -> None:
    """Strategies, the ICD host, the safety machine on its rig, the store factory and the sim
    launcher (which finds the venv's own `needlepen`) all work from the wheel alone."""
    out = _run([str(installed / "python"), "-c", KIT_SCRIPT], tmp_path, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert lines[0] == "host PROFESSIONAL"
    assert lines[1].startswith("machine ") and int(lines[1].split()[1]) >= 3
    assert lines[2] == "store ['a1', 'c1', 'e1']"
    assert lines[3] == "sim True True"
