// SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-only
/*
 * xvs XDP program: steers a port's frames into the AF_XDP socket bound to the
 * frame's rx queue.
 *
 * One instance (object + maps) is loaded per datapath and the same program is
 * attached to every port: attaching one bpf_prog to another netdev only takes a
 * reference in the kernel's BPF dispatcher, where a different program per
 * netdev makes it wait for an RCU grace period on each attach. So everything
 * per port is keyed by the ingress ifindex (the datapath's netdevs are in one
 * network namespace):
 *   xsk_ports  ifindex -> {xsk_base, n_queues, mode, port_slot}; a frame of an
 *              ifindex that is not there is passed to the kernel;
 *   xsks       XSKMAP, key xsk_base + rx_queue_index (each port has its range);
 *   local_ips  {ifindex, IPv4 address} -> 1: an underlay's tunnel addresses;
 *   counters   per-CPU, key port_slot * XVS_N_COUNTERS + counter.
 * Modes (xsk_ports.mode):
 *   XVS_MODE_ALL      every frame goes to the XSK of its queue;
 *   XVS_MODE_UNDERLAY only tunnel packets addressed to one of the port's
 *                     addresses in `local_ips` go to the XSK: IPv4 GRE
 *                     (protocol 47), and IPv4 UDP to port 4789 (VXLAN) that is
 *                     not a fragment (a later fragment has no UDP header to look
 *                     at, and the datapath does not reassemble); everything
 *                     else (ARP, SSH, ICMP to the host, other UDP, ...) is
 *                     passed to the kernel stack untouched.
 * With no socket registered for a queue (or a queue beyond the port's range),
 * the frame goes to the kernel (bpf_redirect_map's flags argument is XDP_PASS).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define XVS_MODE_ALL 0
#define XVS_MODE_UNDERLAY 1

/* Keep in step with src/lib.rs (XSK_SLOTS, MAX_PORTS, MAX_LOCAL_IPS). */
#define XVS_XSK_SLOTS 4096
#define XVS_MAX_PORTS 1024
#define XVS_MAX_LOCAL_IPS 4096

#define XVS_VXLAN_PORT 4789
/* IPv4 frag_off bits that make a packet a fragment: MF and the offset. */
#define XVS_IP_MF_OFFSET 0x3fff

/* Counter slots in `counters` (per CPU); keep in step with src/lib.rs. */
#define XVS_CNT_TO_XSK 0
#define XVS_CNT_TO_KERNEL 1
#define XVS_N_COUNTERS 2

struct xvs_port {
	__u32 xsk_base;
	__u32 n_queues;
	__u32 mode;
	__u32 port_slot;
};

/* Not preallocated: a replaced element is freed after an RCU grace period, so a
 * program that looked up the old one still reads it whole. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XVS_MAX_PORTS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct xvs_port);
} xsk_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, XVS_XSK_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

/* addr as it appears on the wire (network byte order). */
struct xvs_local_ip {
	__u32 ifindex;
	__u32 addr;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XVS_MAX_LOCAL_IPS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xvs_local_ip);
	__type(value, __u8);
} local_ips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XVS_MAX_PORTS * XVS_N_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct vlan_hdr {
	__be16 tci;
	__be16 encapsulated_proto;
};

static __always_inline void count(__u32 port_slot, __u32 which)
{
	__u32 slot = port_slot * XVS_N_COUNTERS + which;
	__u64 *c = bpf_map_lookup_elem(&counters, &slot);

	if (c)
		*c += 1;
}

/* True for an IPv4 GRE packet, or an unfragmented IPv4 UDP packet to port
 * 4789 (VXLAN), after Ethernet and at most one 802.1Q tag, whose destination
 * is one of ours. Every header is bounds-checked against data_end before it is
 * read, as the verifier requires; the UDP header's offset depends on the IHL
 * (at most 60 bytes), which the check after it covers. */
static __always_inline int is_local_tunnel(void *data, void *data_end, __u32 ifindex)
{
	struct xvs_local_ip key = { .ifindex = ifindex };
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct udphdr *udp;
	__be16 proto;
	void *l3;

	if ((void *)(eth + 1) > data_end)
		return 0;
	proto = eth->h_proto;
	l3 = eth + 1;
	if (proto == bpf_htons(ETH_P_8021Q)) {
		struct vlan_hdr *vh = l3;

		if ((void *)(vh + 1) > data_end)
			return 0;
		proto = vh->encapsulated_proto;
		l3 = vh + 1;
	}
	if (proto != bpf_htons(ETH_P_IP))
		return 0;
	ip = l3;
	if ((void *)(ip + 1) > data_end)
		return 0;
	if (ip->version != 4 || ip->ihl < 5)
		return 0;
	if (ip->protocol == IPPROTO_UDP) {
		if (ip->frag_off & bpf_htons(XVS_IP_MF_OFFSET))
			return 0;
		udp = (void *)ip + ip->ihl * 4;
		if ((void *)(udp + 1) > data_end)
			return 0;
		if (udp->dest != bpf_htons(XVS_VXLAN_PORT))
			return 0;
	} else if (ip->protocol != IPPROTO_GRE) {
		return 0;
	}
	key.addr = ip->daddr;
	return bpf_map_lookup_elem(&local_ips, &key) != NULL;
}

#include "xvs_tier.h"

SEC("xdp")
int xvs_xdp(struct xdp_md *ctx)
{
	void *data;
	void *data_end;
	__u32 ifindex = ctx->ingress_ifindex;
	__u32 queue = ctx->rx_queue_index;
	struct xvs_port *port;
	__u32 xsk_base, n_queues, mode, port_slot;
	long verdict;

	/* The XDP tier (xvs_tier.h): a hot cache entry it can carry out forwards the
	 * frame here; anything else (tier off, not a tier port, miss, precondition
	 * unmet) comes back untouched as XVS_TIER_PUNT and goes on as before. */
	verdict = xvs_tier(ctx);
	if (verdict != XVS_TIER_PUNT)
		return verdict;

	port = bpf_map_lookup_elem(&xsk_ports, &ifindex);
	if (!port)
		return XDP_PASS;
	xsk_base = port->xsk_base;
	n_queues = port->n_queues;
	mode = port->mode;
	port_slot = port->port_slot;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;

	if (mode == XVS_MODE_UNDERLAY && !is_local_tunnel(data, data_end, ifindex)) {
		count(port_slot, XVS_CNT_TO_KERNEL);
		return XDP_PASS;
	}
	if (queue >= n_queues) {
		count(port_slot, XVS_CNT_TO_KERNEL);
		return XDP_PASS;
	}
	verdict = bpf_redirect_map(&xsks, xsk_base + queue, XDP_PASS);
	count(port_slot, verdict == XDP_REDIRECT ? XVS_CNT_TO_XSK : XVS_CNT_TO_KERNEL);
	return verdict;
}

char _license[] SEC("license") = "GPL";
