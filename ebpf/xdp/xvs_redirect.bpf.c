// SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-only
/*
 * xvs_redirect: the in-kernel XDP redirect baseline of the packet-rate harness.
 * Every frame that arrives on the interface this program is attached to is
 * redirected, untouched, to the interface in entry 0 of the devmap `tx_port`.
 * No parsing, no counters: the ceiling of in-kernel forwarding.
 *
 * Redirecting into a veth needs NAPI on the target's peer (GRO on, or an XDP
 * program attached there). With no entry in the map the frame is dropped
 * (bpf_redirect_map's fallback action).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	/* The target's ifindex, and no program of its own (bpf_prog.fd 0): the
	 * value layout the loader (aya) expects on kernels >= 5.8. */
	__type(value, struct bpf_devmap_val);
} tx_port SEC(".maps");

SEC("xdp")
int xvs_redirect(struct xdp_md *ctx)
{
	return bpf_redirect_map(&tx_port, 0, XDP_DROP);
}

char _license[] SEC("license") = "GPL";
