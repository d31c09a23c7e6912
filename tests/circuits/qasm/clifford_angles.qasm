OPENQASM 2.0;
include "qelib1.inc";
// Clifford gates written as rotations: stim runs this file
qreg q[3];
creg c[3];
h q[0];
rz(pi/2) q[0];
cx q[0],q[1];
u3(pi/2,0,pi) q[2];
rx(-pi/2) q[1];
ry(3*pi/2) q[2];
cu1(pi) q[1],q[2];
measure q -> c;
