//! Benchmarks for xvs. The criterion micro-benchmarks come with the fast-path issue, the
//! packet-rate harness for veth and NIC pairs with the benchmarking issue.
