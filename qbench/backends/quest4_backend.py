"""quest: QuEST 4 (github.com/QuEST-Kit/QuEST) from a user's own source build, in the worker itself.

qbench ships no QuEST code. It finds a build's `libQuEST.so` (backend.library, else
backends/quest/build/ under the cwd, else $QBENCH_QUEST_LIBRARY), compiles its small driver
`quest4_driver.cpp` against that build's headers once (cached under ~/.cache/qbench/quest4, keyed
by the driver, the library and the header), and loads the driver with ctypes in the worker's
`load()`: no process of its own, the register lives in the worker (its RSS is the point's memory).

Why a compiled driver and not ctypes straight onto libQuEST: QuEST 4's C API passes `Qureg`
structs by value and takes `qreal`/`qcomp` whose C types are fixed by the build's FLOAT_PRECISION,
so a pure ctypes binding would copy the struct's layout and guess the precision; compiled against
the build's own generated quest.h the compiler gets both right. The driver also installs QuEST's
documented throwing input-error handler (the default one exits the process) and captures
`reportQuESTEnv`, so the library itself reports its qreal type, OpenMP and threads.

The timed `run`: initZeroState, the circuit as QuEST calls (one driver call looping over them as
a C user's program would), calcProbsOfAllMultiQubitOutcomes over all qubits, and `shots` outcomes
drawn from those exact probabilities by a NumPy generator seeded by `seed` (QuEST 4 has no
multi-shot sampler). Gates: applyHadamard, applyPauliX/Y/Z, applyS, applyT, applyPhaseShift
(sdg = -pi/2, tdg = -pi/4, exact), applyRotateX/Y/Z, applyCompMatr1 (u), applyControlledPauliX/Z, applySwap,
applyTwoQubitPhaseShift (cp). Noise needs a density matrix in QuEST (createDensityQureg):
mixDepolarising, mixDephasing, mixDamping and mixPaulis(p, 0, 0) for bit flips; strengths past a
channel's maximally mixing point are refused by QuEST and skipped here. Readout noise flips sampled
bits. QuEST indexes qubit 0 as the least significant bit: states and samples are reordered.

Precision is the build's (FLOAT_PRECISION in its quest.h, checked at load against the library's
own report): a point whose backend.precision differs is `skipped`. Threads: OMP_NUM_THREADS before
the library loads and omp_set_num_threads per point; QuEST's own report of them is recorded.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import math
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from qbench.backends.base import Backend, RunSpec, little_endian_to_canonical
from qbench.backends.quest_common import QuestChannels
from qbench.circuits.canonical import Circuit, Gate
from qbench.circuits.noise import Noise, placed

LIBRARY_ENV = "QBENCH_QUEST_LIBRARY"
LIBRARY = "libQuEST.so"
DRIVER = Path(__file__).with_name("quest4_driver.cpp")
REPOSITORY = "https://github.com/QuEST-Kit/QuEST"
BUILD_HELP = ("build QuEST 4 from source with CMake, offline: `cmake -S QUEST_SRC -B backends/quest/build "
              "-DCMAKE_BUILD_TYPE=Release -DFLOAT_PRECISION=2 -DENABLE_MULTITHREADING=ON && cmake --build "
              "backends/quest/build -j` (FLOAT_PRECISION=1: single precision; `make quest4 QUEST_SRC=...` does "
              f"this), QUEST_SRC a checkout of {REPOSITORY}; or set backend.library or {LIBRARY_ENV} to a "
              f"build's {LIBRARY}")

# Operation codes of the driver (enum Op in quest4_driver.cpp), and the QuEST 4 function each calls.
OPS = {name: code for code, name in enumerate(
    ("h", "x", "y", "z", "s", "t", "phase", "rx", "ry", "rz", "cx", "cz", "swap", "cp",
     "depolarizing", "phase_flip", "amplitude_damping", "bit_flip", "u"))}
FUNCTIONS = {"h": "applyHadamard", "x": "applyPauliX", "y": "applyPauliY", "z": "applyPauliZ", "s": "applyS",
             "t": "applyT", "sdg": "applyPhaseShift(-pi/2)", "tdg": "applyPhaseShift(-pi/4)",
             "rx": "applyRotateX", "ry": "applyRotateY", "rz": "applyRotateZ", "u": "applyCompMatr1", "cx": "applyControlledPauliX",
             "cz": "applyControlledPauliZ", "swap": "applySwap", "cp": "applyTwoQubitPhaseShift",
             "depolarizing": "mixDepolarising", "phase_flip": "mixDephasing",
             "amplitude_damping": "mixDamping", "bit_flip": "mixPaulis(p, 0, 0)"}
PHASES = {"sdg": -math.pi / 2, "tdg": -math.pi / 4}  # diag(1, e^{i phi}) exactly
# QuEST 4's validation: a channel may not pass its maximally mixing point.
STRENGTH_LIMITS = {"depolarizing": (0.75, "mixDepolarising"), "bit_flip": (0.5, "mixPaulis"),
                   "phase_flip": (0.5, "mixDephasing")}
PRECISIONS = {1: "single", 2: "double", 4: "quad"}
QREAL = {1: ("float", np.float32, np.complex64), 2: ("double", np.float64, np.complex128)}
# Tr(rho^2) = 1 within the build's rounding: a noiseless density matrix is checked through its state.
PURITY_TOLERANCE = {1: 1e-4, 2: 1e-9}


class QuestError(RuntimeError):
    """QuEST refused an input, or the build cannot be used."""


def to_quest4(circuit: Circuit, noise: Noise) -> list[tuple[int, int, int, tuple[float, float, float]]]:
    """The canonical circuit with the channels of `noise`, as driver operations (code, a, b, 3 parameters)."""
    ops = []
    for item in placed(circuit, noise):
        if not isinstance(item, Gate):
            ops.append((OPS[item.name], item.qubit, -1, (item.strength, 0.0, 0.0)))
        elif item.name in PHASES:
            ops.append((OPS["phase"], item.qubits[0], -1, (PHASES[item.name], 0.0, 0.0)))
        else:
            a, b = (*item.qubits, -1)[:2]
            ops.append((OPS[item.name], a, b, tuple((*item.params, 0.0, 0.0, 0.0)[:3])))
    return ops


def canonical_indices(indices: np.ndarray, n_qubits: int) -> np.ndarray:
    """Basis indices with qubit 0 least significant (QuEST) -> qubit 0 most significant (canonical)."""
    indices = np.asarray(indices, dtype=np.uint64)
    out = np.zeros_like(indices)
    for q in range(n_qubits):
        out |= ((indices >> np.uint64(q)) & np.uint64(1)) << np.uint64(n_qubits - 1 - q)
    return out


@functools.lru_cache(maxsize=None)
def _text(path: str, mtime_ns: int) -> str:
    return Path(path).read_text(errors="replace")


def read_text(path: Path) -> str:
    return _text(str(path), path.stat().st_mtime_ns)


def headers(library: Path, include: list[str] | None = None) -> tuple[list[Path], Path] | str:
    """The include directories for the driver and the build's generated quest.h, or why not found.

    A CMake build tree has include/quest.h beside the library and the rest of the headers in its
    source (QuEST_SOURCE_DIR of its CMakeCache.txt); an installed QuEST has both under PREFIX/include."""
    if include:
        dirs = [Path(d).expanduser().absolute() for d in include]
        found = next((d / "quest.h" for d in dirs if (d / "quest.h").is_file()), None)
        return (dirs, found) if found else f"quest.h not found in backend.include {', '.join(map(str, dirs))}"
    build = library.parent
    looked = []
    generated = build / "include" / "quest.h"
    looked.append(str(generated))
    if generated.is_file() and (build / "CMakeCache.txt").is_file():
        source = re.search(r"^QuEST_SOURCE_DIR:\w+=(.*)$", read_text(build / "CMakeCache.txt"), re.M)
        if source and (Path(source[1]) / "quest" / "include" / "version.h").is_file():
            return [generated.parent, Path(source[1])], generated
    installed = build.parent / "include"
    looked.append(str(installed / "quest.h"))
    if (installed / "quest.h").is_file() and (installed / "quest" / "include" / "version.h").is_file():
        return [installed], installed / "quest.h"
    return (f"the headers of the QuEST build at {library} were not found (looked for {' and '.join(looked)} with "
            f"quest/include/version.h from its CMake source or install prefix): set backend.include")


def header_precision(header: Path) -> int | None:
    found = re.search(r"^\s*#define\s+FLOAT_PRECISION\s+(\d)\b", read_text(header), re.M)
    return int(found[1]) if found else None


def header_version(dirs: list[Path]) -> str | None:
    for d in dirs:
        path = d / "quest" / "include" / "version.h"
        if path.is_file():
            found = re.search(r'QUEST_VERSION_STRING\s+"([^"]+)"', read_text(path))
            return found[1] if found else None
    return None


def compiler() -> str | None:
    return next((shutil.which(c) for c in (os.environ.get("CXX"), "c++", "g++", "clang++") if c and shutil.which(c)),
                None)


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "qbench" / "quest4"


def driver_path(library: Path, dirs: list[Path], header: Path) -> Path:
    """Where the driver for this build is cached: a new library, header or driver source is a new key."""
    stat = library.resolve().stat()
    key = hashlib.sha256(b"\0".join([DRIVER.read_bytes(), str(library.resolve()).encode(),
                                      f"{stat.st_size}:{stat.st_mtime_ns}".encode(), header.read_bytes(),
                                      repr(dirs).encode()])).hexdigest()[:16]
    return cache_dir() / f"libqbench_quest4-{key}.so"


def compile_driver(library: Path, dirs: list[Path], header: Path) -> Path:
    """The driver compiled against this build (once; concurrent workers race to the same atomic rename)."""
    target = driver_path(library, dirs, header)
    if target.is_file():
        return target
    cxx = compiler()
    if cxx is None:
        raise QuestError("no C++ compiler (c++, g++, clang++ or $CXX) to compile qbench's QuEST driver")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".so.tmp")
    os.close(fd)
    command = [cxx, "-O2", "-std=c++14", "-shared", "-fPIC", *(f"-I{d}" for d in dirs), str(DRIVER),
               str(library.resolve()), f"-Wl,-rpath,{library.resolve().parent}", "-o", tmp]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        os.unlink(tmp)
        raise QuestError(f"compiling qbench's QuEST driver failed ({' '.join(command)}):\n{done.stderr[-2000:]}")
    os.replace(tmp, target)
    return target


class Register:
    """One QuEST register of a point; destroyed when the point's prepared state is dropped."""

    def __init__(self, lib, handle: int):
        self.lib, self.handle = lib, handle

    def close(self) -> None:
        if self.handle:
            self.lib.qb_destroy(self.handle)
            self.handle = None

    def __del__(self):
        self.close()


class Quest4Backend(QuestChannels, Backend):
    strength_limits = STRENGTH_LIMITS
    precisions = ("single", "double")  # one per build: supports() checks the build's
    noise_methods = ("density_matrix",)
    extra_options = ()  # its options are the constructor's named ones
    forkable = False  # load() starts QuEST (and its OpenMP runtime) in the worker

    def __init__(self, *args, library: str | None = None, include: list[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.library_option = library
        self.include = list(include) if include else None
        self.lib = None
        self.hello: dict = {}
        self.point: dict = {}

    # -- cheap checks ------------------------------------------------------------------------
    def candidates(self) -> list[str]:
        """backend.library (a file or a build folder), else backends/<name>/build/ under the cwd, then
        $QBENCH_QUEST_LIBRARY: the places LRET's binary is looked for, in the same order."""
        def file(place: str) -> str:
            path = Path(place).expanduser().absolute()
            return str(path / LIBRARY if path.is_dir() else path)
        if self.library_option:
            return [file(self.library_option)]
        places = [str(Path.cwd() / "backends" / self.name / "build" / LIBRARY)]
        return [*places, file(os.environ[LIBRARY_ENV])] if os.environ.get(LIBRARY_ENV) else places

    def library(self) -> Path | None:
        return next((Path(p) for p in self.candidates() if os.path.isfile(p)), None)

    def build(self) -> tuple[Path, list[Path], Path] | str:
        """(library, include directories, generated quest.h) of the build in use, or why there is none."""
        library = self.library()
        if library is None:
            looked = " or ".join(self.candidates())
            unset = "" if self.library_option or os.environ.get(LIBRARY_ENV) else f" (${LIBRARY_ENV} is not set)"
            return f"QuEST 4 library not found at {looked}{unset}: {BUILD_HELP}"
        found = headers(library, self.include)
        if isinstance(found, str):
            return found
        return library, *found

    def available(self):
        if self.device == "GPU":
            return "qbench drives QuEST 4's CPU deployment (OpenMP); a CUDA build's GPU deployment is not wired here"
        build = self.build()
        if isinstance(build, str):
            return build
        library, dirs, header = build
        if header_precision(header) is None:
            return (f"{header} does not define FLOAT_PRECISION (a VERBOSE_LIB_NAME build?): build QuEST with "
                    f"VERBOSE_LIB_NAME=OFF")
        if not driver_path(library, dirs, header).is_file() and compiler() is None:
            return "no C++ compiler (c++, g++, clang++ or $CXX) to compile qbench's QuEST driver against the build"
        return None

    def build_precision(self) -> int | None:
        build = self.build()
        return None if isinstance(build, str) else header_precision(build[2])

    def versions(self):
        build = self.build()
        return {"quest": None if isinstance(build, str) else header_version(build[1])}

    def supports(self, circuit: Circuit, spec: RunSpec):
        built = self.build_precision()
        if built is not None and PRECISIONS.get(built) != self.precision:
            want = {v: k for k, v in PRECISIONS.items()}.get(self.precision, "?")
            return (f"this QuEST build ({self.library()}) is {PRECISIONS.get(built, built)} precision "
                    f"(FLOAT_PRECISION={built}); backend.precision={self.precision} needs a build with "
                    f"-DFLOAT_PRECISION={want}")
        return self.refused_strength(spec) or super().supports(circuit, spec)

    def describe(self):
        library = self.library()
        return {**super().describe(), "library": str(library.resolve()) if library else None,
                "quest": {**self.hello, **self.point}, "functions": FUNCTIONS,
                "sampler": "exact probabilities from QuEST, shots drawn by numpy.random.default_rng(seed)"}

    # -- the library, loaded once per worker ------------------------------------------------------
    def load(self) -> None:
        build = self.build()
        if isinstance(build, str):
            raise QuestError(build)
        library, dirs, header = build
        if self.threads:
            os.environ["OMP_NUM_THREADS"] = str(self.threads)  # read by the OpenMP runtime as it loads
        driver = compile_driver(library, dirs, header)
        lib = ctypes.CDLL(str(driver))
        lib.qb_error.restype = lib.qb_version.restype = ctypes.c_char_p
        lib.qb_create.restype = ctypes.c_void_p
        lib.qb_create.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.qb_destroy.argtypes = lib.qb_multithreaded.argtypes = [ctypes.c_void_p]
        lib.qb_probabilities.argtypes = lib.qb_amplitudes.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.qb_run.argtypes = [ctypes.c_void_p, ctypes.c_int] + [ctypes.c_void_p] * 4
        self.lib = lib
        self.set_threads(self.threads)
        report = ctypes.create_string_buffer(1 << 16)
        self.check(lib.qb_init(report, len(report)))
        report = report.value.decode()
        precision = lib.qb_precision()
        qreal = re.search(r"qreal\.+([\w ]+?) \(", report)
        if precision not in QREAL or not qreal or qreal[1] != QREAL[precision][0]:
            raise QuestError(f"QuEST at {library} reports qreal {qreal[1] if qreal else '?'}, its header {header} "
                             f"FLOAT_PRECISION={precision}: qbench drives single (1) and double (2) builds whose "
                             f"header matches the library")
        openmp = re.search(r"isOmpCompiled\.+(\d)", report)
        self.hello = {"version": lib.qb_version().decode(), "precision": precision, "qreal": qreal[1],
                      "openmp": bool(openmp and int(openmp[1])), "driver": str(driver)}

    def check(self, code: int) -> None:
        if code != 0:
            raise QuestError(f"QuEST: {self.lib.qb_error().decode()}")

    def set_threads(self, threads: int | None) -> None:
        if threads and hasattr(self.lib, "omp_set_num_threads"):  # the OpenMP runtime libQuEST links
            self.lib.omp_set_num_threads(int(threads))

    # -- the timed protocol --------------------------------------------------------------------
    def prepare(self, circuit: Circuit, spec: RunSpec):
        if self.lib is None:
            self.load()
        if PRECISIONS[self.hello["precision"]] != self.precision:
            raise QuestError(f"the QuEST build is {PRECISIONS[self.hello['precision']]} precision, "
                             f"backend.precision={self.precision}")
        self.set_threads(self.threads or spec.threads)
        noise = Noise.of(spec)
        density = self.density_matrix(spec)
        ops = to_quest4(circuit, noise)
        handle = self.lib.qb_create(circuit.n_qubits, int(density))
        if not handle:
            self.check(-1)
        environment = ctypes.create_string_buffer(256)
        self.check(self.lib.qb_environment(environment))
        register = Register(self.lib, handle)
        # QuEST's own report: "CUDA=0 OpenMP=1 MPI=0 threads=2 ..."; its choice for this register.
        report = dict(pair.split("=") for pair in environment.value.decode().split())
        self.point = {"threads": int(report["threads"]), "environment": environment.value.decode(),
                      "register_multithreaded": bool(self.lib.qb_multithreaded(handle))}
        _, real, _ = QREAL[self.hello["precision"]]
        return {"register": register, "n_qubits": circuit.n_qubits, "density_matrix": density,
                "count": len(ops), "codes": np.array([o[0] for o in ops], dtype=np.intc),
                "a": np.array([o[1] for o in ops], dtype=np.intc), "b": np.array([o[2] for o in ops], dtype=np.intc),
                "params": np.array([o[3] for o in ops], dtype=np.float64).reshape(-1, 3),
                "probabilities": np.empty(2**circuit.n_qubits, dtype=real), "shots": spec.shots,
                "readout": noise.readout, "rng": np.random.default_rng(spec.seed)}

    def simulate(self, prepared) -> None:
        p = prepared
        self.check(self.lib.qb_run(p["register"].handle, p["count"], p["codes"].ctypes.data, p["a"].ctypes.data,
                                   p["b"].ctypes.data, p["params"].ctypes.data))

    def run(self, prepared):
        """Simulate, then draw `shots` outcomes (QuEST's indices) from QuEST's exact probabilities."""
        self.simulate(prepared)
        probabilities = prepared["probabilities"]
        self.check(self.lib.qb_probabilities(prepared["register"].handle, probabilities.ctypes.data))
        cdf = np.cumsum(probabilities, dtype=np.float64)
        rng = prepared["rng"]
        outcomes = np.searchsorted(cdf, rng.random(prepared["shots"]) * cdf[-1], side="right")
        outcomes = np.minimum(outcomes, len(cdf) - 1).astype(np.uint64)
        if prepared["readout"]:
            # Readout noise: every measured bit flips independently with probability p (qbench.noise).
            n = prepared["n_qubits"]
            flips = rng.random((prepared["shots"], n)) < prepared["readout"]
            outcomes ^= (flips.astype(np.uint64) << np.arange(n, dtype=np.uint64)).sum(axis=1, dtype=np.uint64)
        return outcomes

    def histogram(self, prepared, raw):
        n = prepared["n_qubits"]
        outcomes, counts = np.unique(canonical_indices(raw, n), return_counts=True)
        return {format(int(i), f"0{n}b"): int(c) for i, c in zip(outcomes, counts)}

    def final_state(self, prepared):
        """QuEST's amplitudes in canonical order.

        A density matrix (backend.method=density_matrix, noiseless) is returned as its state vector when
        it is pure, Tr(rho^2) = 1: then every column j is psi * conj(psi_j), so the largest column is psi.
        """
        self.simulate(prepared)
        n, precision = prepared["n_qubits"], self.hello["precision"]
        _, _, complex_type = QREAL[precision]
        dim = 2**n
        data = np.empty((dim, dim) if prepared["density_matrix"] else dim, dtype=complex_type)
        self.check(self.lib.qb_amplitudes(prepared["register"].handle, data.ctypes.data))
        data = data.astype(np.complex128)
        if not prepared["density_matrix"]:
            return little_endian_to_canonical(data, n)
        if abs(np.vdot(data, data).real - 1) > PURITY_TOLERANCE[precision]:  # Tr(rho^2) of a Hermitian rho
            return None
        column = data[:, int(np.argmax(np.diagonal(data).real))]
        return little_endian_to_canonical(column / np.linalg.norm(column), n)
