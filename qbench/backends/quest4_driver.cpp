// qbench's driver for QuEST 4 (github.com/QuEST-Kit/QuEST): a flat C ABI over QuEST's own API,
// compiled by qbench (qbench/backends/quest4_backend.py) against a user's build and its generated
// quest.h, then loaded with ctypes. Why a driver and not ctypes on libQuEST itself: QuEST 4 passes
// Qureg structs by value and takes qreal/qcomp whose C types are fixed by the build's
// FLOAT_PRECISION; compiled against the build's header, the compiler gets both right, and
// QuEST's documented C++ way of surviving invalid input (an error handler that throws) works.
//
// Every entry returns 0 on success, -1 with qb_error() set when QuEST refused the input.
#include "quest.h"

#include <cmath>
#include <complex>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

char error_text[2048];

// QuEST's default handler exits the process; this one throws back to the entry point (QuEST's
// examples/isolated/setting_errorhandler.cpp).
void throwing_handler(const char* func, const char* msg) {
    throw std::runtime_error(std::string(func) + ": " + msg);
}

template <class F>
int guarded(F body) {
    try {
        body();
        return 0;
    } catch (const std::exception& e) {
        std::snprintf(error_text, sizeof error_text, "%s", e.what());
        return -1;
    }
}

Qureg& reg(void* handle) { return *static_cast<Qureg*>(handle); }

// Operation codes: qbench/backends/quest4_backend.py OPS lists the same numbers.
enum Op {
    H, X, Y, Z, S, T, PHASE, RX, RY, RZ, CX, CZ, SWAP, CPHASE,
    DEPOLARISING, DEPHASING, DAMPING, PAULIS_X, U
};

// u(theta, phi, lambda) = [[cos t/2, -e^{i l} sin t/2], [e^{i p} sin t/2, e^{i(p+l)} cos t/2]], in double
CompMatr1 u_matrix(const double* angles) {
    const double c = std::cos(angles[0] / 2), s = std::sin(angles[0] / 2);
    const std::complex<double> elems[2][2] = {{c, -std::polar(s, angles[2])},
                                              {std::polar(s, angles[1]), std::polar(c, angles[1] + angles[2])}};
    qcomp m[2][2];
    for (int r = 0; r < 2; r++)
        for (int k = 0; k < 2; k++) m[r][k] = qcomp(static_cast<qreal>(elems[r][k].real()), static_cast<qreal>(elems[r][k].imag()));
    return getCompMatr1(m);
}

}  // namespace

extern "C" {

const char* qb_error() { return error_text; }
int qb_precision() { return FLOAT_PRECISION; }  // the build's header: 1 float, 2 double, 4 long double
const char* qb_version() { return QUEST_VERSION_STRING; }

// initCustomQuESTEnv(no MPI, no GPU, multithreading chosen by QuEST as initQuESTEnv does), then
// QuEST's own report of the environment (reportQuESTEnv prints to std::cout: captured here).
int qb_init(char* report, int size) {
    return guarded([&] {
        // (the handler can be set only once the environment exists; no MPI, no GPU: always valid)
        if (!isQuESTEnvInit()) initCustomQuESTEnv(0, 0, -1);
        setInputErrorHandler(throwing_handler);
        std::ostringstream text;
        std::streambuf* stdout_buffer = std::cout.rdbuf(text.rdbuf());
        try {
            reportQuESTEnv();
        } catch (...) {
            std::cout.rdbuf(stdout_buffer);
            throw;
        }
        std::cout.rdbuf(stdout_buffer);
        std::snprintf(report, size, "%s", text.str().c_str());
    });
}

int qb_environment(char* out200) {
    return guarded([&] { getEnvironmentString(out200); });
}

void* qb_create(int n_qubits, int density) {
    Qureg* handle = new Qureg;
    if (guarded([&] { *handle = density ? createDensityQureg(n_qubits) : createQureg(n_qubits); }) != 0) {
        delete handle;
        return nullptr;
    }
    return handle;
}

int qb_multithreaded(void* q) { return reg(q).isMultithreaded; }

void qb_destroy(void* q) {
    guarded([&] { destroyQureg(reg(q)); });
    delete static_cast<Qureg*>(q);
}

// From |0...0> (or |0><0|), the operations in order: code, first and second qubit, three parameters.
int qb_run(void* q, int count, const int* codes, const int* a, const int* b, const double* params) {
    return guarded([&] {
        Qureg& r = reg(q);
        initZeroState(r);
        for (int i = 0; i < count; i++) {
            const qreal p = static_cast<qreal>(params[3 * i]);
            switch (codes[i]) {
                case H: applyHadamard(r, a[i]); break;
                case X: applyPauliX(r, a[i]); break;
                case Y: applyPauliY(r, a[i]); break;
                case Z: applyPauliZ(r, a[i]); break;
                case S: applyS(r, a[i]); break;
                case T: applyT(r, a[i]); break;
                case PHASE: applyPhaseShift(r, a[i], p); break;
                case RX: applyRotateX(r, a[i], p); break;
                case RY: applyRotateY(r, a[i], p); break;
                case RZ: applyRotateZ(r, a[i], p); break;
                case CX: applyControlledPauliX(r, a[i], b[i]); break;
                case CZ: applyControlledPauliZ(r, a[i], b[i]); break;
                case SWAP: applySwap(r, a[i], b[i]); break;
                case CPHASE: applyTwoQubitPhaseShift(r, a[i], b[i], p); break;
                case DEPOLARISING: mixDepolarising(r, a[i], p); break;
                case DEPHASING: mixDephasing(r, a[i], p); break;
                case DAMPING: mixDamping(r, a[i], p); break;
                case PAULIS_X: mixPaulis(r, a[i], p, 0, 0); break;
                case U: applyCompMatr1(r, a[i], u_matrix(params + 3 * i)); break;
                default: throw std::runtime_error("qbench driver: unknown operation code " + std::to_string(codes[i]));
            }
        }
    });
}

// The probability of every basis state, indexed as QuEST indexes them (qubit 0 least significant).
int qb_probabilities(void* q, qreal* out) {
    return guarded([&] {
        std::vector<int> qubits(reg(q).numQubits);
        for (int i = 0; i < reg(q).numQubits; i++) qubits[i] = i;
        calcProbsOfAllMultiQubitOutcomes(out, reg(q), qubits.data(), reg(q).numQubits);
    });
}

// The amplitudes (a state vector), or the density matrix row by row: out[row * 2^n + column].
int qb_amplitudes(void* q, qcomp* out) {
    return guarded([&] {
        Qureg& r = reg(q);
        const qindex dim = qindex(1) << r.numQubits;
        if (!r.isDensityMatrix) {
            getQuregAmps(out, r, 0, dim);
            return;
        }
        std::vector<qcomp*> rows(dim);
        for (qindex i = 0; i < dim; i++) rows[i] = out + i * dim;
        getDensityQuregAmps(rows.data(), r, 0, 0, dim, dim);
    });
}

}  // extern "C"
