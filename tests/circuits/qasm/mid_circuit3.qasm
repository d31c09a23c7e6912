OPENQASM 3.0;
include "stdgates.inc";
qubit[3] q;
bit[3] c;
h q[0];
c = measure q;  // REFUSED: a gate acts on q[2] after this measurement
cx q[2], q[1];
