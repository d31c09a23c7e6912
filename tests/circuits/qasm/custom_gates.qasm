OPENQASM 2.0;
include "qelib1.inc";
// a custom gate, and the qelib1 gates qbench has no canonical twin for
gate majority a,b,c { cx c,b; cx c,a; ccx a,b,c; }
qreg q[4];
creg c[4];
h q[0];
u3(0.1,0.2,0.3) q[1];
cu1(pi/4) q[0],q[1];
rzz(0.5) q[2],q[3];
cswap q[0],q[1],q[2];
majority q[0],q[1],q[3];
barrier q;
u(0.4,-0.2,1.1) q[2];
rz(pi/2) q[3];
measure q -> c;
