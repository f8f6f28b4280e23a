// SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-only
/*
 * The XDP tier: hot entries of the workers' flow cache, carried out in the kernel.
 * A cache of the cache; the design, and what the tier punts, is in ebpf/README.md.
 * The byte layouts below are written by dataplane/src/xdp_tier.rs (offsets asserted
 * on both sides): keep them in step.
 *
 * xvs_tier() returns an XDP verdict when it forwarded or dropped the frame, or
 * XVS_TIER_PUNT, with the frame exactly as it came, for the AF_XDP path. Every check
 * that can fail is made before the first byte of the frame changes.
 */
#ifndef XVS_TIER_H
#define XVS_TIER_H

#define XVS_TIER_PUNT (-1)

#define XVS_TIER_MAX_MASKS 16
#define XVS_TIER_MAX_FLOWS 65536
#define XVS_TIER_MAX_PORTS 1024
#define XVS_TIER_MAX_TX 1024
#define XVS_TIER_ENCAP_MAX 56

/* tier_port.flags */
#define XVS_TIER_PORT_ON 1
/* Frames of the port are tunnel packets: decapsulated, then looked up as their
 * tunnel port's (needs `local_ips` of the steering program). */
#define XVS_TIER_PORT_UNDERLAY 2

/* tier_tunnel_key.kind (dataplane's TunnelType) and .key_mode (TunnelKeyMatch) */
#define XVS_TIER_TUN_GRE 0
#define XVS_TIER_TUN_VXLAN 1
#define XVS_TIER_KEY_ANY 0
#define XVS_TIER_KEY_EXACTLY 1
#define XVS_TIER_KEY_NONE 2
#define XVS_TEB 0x6558

/* tier_actions.terminal */
#define XVS_TIER_DROP 0
#define XVS_TIER_OUTPUT 1
#define XVS_TIER_ENCAP 2

/* Outer header lengths the tier writes: Ethernet + IPv4 + GRE (no key: 4 bytes,
 * key: 8) or + UDP + VXLAN. GRE with a checksum is not expressible. */
#define XVS_TIER_GRE_LEN 38
#define XVS_TIER_GRE_KEY_LEN 42
#define XVS_TIER_VXLAN_LEN 50

/* tier_trace.kind */
#define XVS_TIER_TRACE_PUNT 1
#define XVS_TIER_TRACE_DROP 2
#define XVS_TIER_TRACE_REDIRECT 3

#define XVS_ETH_P_8021AD 0x88a8
/* The wire's DEI bit, the flow key's "present" bit. */
#define XVS_VLAN_DEI 0x1000

/* The fields of dataplane's FlowKey the tier keys on, host byte order as in FlowKey
 * (MACs as on the wire). tun_id is 0: the tier punts underlay frames. */
struct tier_key {
	__u64 tun_id;
	__u32 in_port;
	__u16 vlan_tci;
	__u16 dl_type;
	__u8 dl_src[6];
	__u8 dl_dst[6];
	__u32 pad;
};

struct tier_flow_key {
	__u32 mask_id;
	__u32 pad;
	struct tier_key key; /* already masked by mask mask_id */
};

/* The canonical action program: [pop] [set vlan] [push] [set eth src/dst]
 * then one terminal (drop, output, or encapsulate and output). */
struct tier_actions {
	__u8 terminal;
	__u8 pop_vlan;
	__u8 set_vlan;
	__u8 push_vlan;
	__u16 set_vlan_tci;
	__u16 push_tci;
	__u16 push_tpid; /* 0: the popped tag's TPID, or 0x8100 (Tpid::Received) */
	__u8 set_eth_src;
	__u8 set_eth_dst;
	__u8 eth_src[6];
	__u8 eth_dst[6];
	__u32 tx_slot;      /* key in tier_tx */
	__u32 out_port;     /* datapath port, for the trace */
	__u32 counter_slot; /* key in tier_counters */
	__u16 encap_len;    /* 0, XVS_TIER_GRE_LEN, _GRE_KEY_LEN or _VXLAN_LEN */
	__u16 encap_mtu;    /* the largest outer IPv4 packet */
	__u32 encap_csum;   /* sum of the template's IPv4 words, length and checksum 0 */
	__u8 pad[4];
	__u64 entry_id;
	__u8 encap[XVS_TIER_ENCAP_MAX];
};

struct tier_port {
	__u32 port_no;
	__u32 flags;
};

/* A tunnel port's address: remote and local as on the wire (local 0: any of ours);
 * key only with XVS_TIER_KEY_EXACTLY. */
struct tier_tunnel_key {
	__u8 kind;
	__u8 key_mode;
	__u16 pad;
	__u32 remote;
	__u32 local;
	__u32 key;
};

struct tier_config {
	__u32 enabled;
	__u32 trace;
	__u32 n_masks;
	__u32 pad;
};

struct tier_counter {
	__u64 packets;
	__u64 bytes;
};

struct tier_trace {
	__u64 entry_id;
	__u32 out_port;
	__u32 kind;
};

_Static_assert(sizeof(struct tier_key) == 32, "tier_key");
_Static_assert(sizeof(struct tier_flow_key) == 40, "tier_flow_key");
_Static_assert(sizeof(struct tier_actions) == 112, "tier_actions");
_Static_assert(sizeof(struct tier_tunnel_key) == 16, "tier_tunnel_key");
_Static_assert(__builtin_offsetof(struct tier_actions, tx_slot) == 24, "tx_slot");
_Static_assert(__builtin_offsetof(struct tier_actions, entry_id) == 48, "entry_id");
_Static_assert(__builtin_offsetof(struct tier_actions, encap) == 56, "encap");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tier_config);
} tier_config SEC(".maps");

/* ingress ifindex -> datapath port; absent or without XVS_TIER_PORT_ON: punt. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XVS_TIER_MAX_PORTS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct tier_port);
} tier_ports SEC(".maps");

/* Tunnel addresses -> tunnel port, written so that the probes of tier_decap()
 * (local address before any, exact key before any key) answer what userspace's
 * TunnelMap::lookup_type answers (see dataplane/src/xdp_tier.rs). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XVS_TIER_MAX_PORTS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tier_tunnel_key);
	__type(value, __u32);
} tier_tunnels SEC(".maps");

/* Masks 0..n_masks-1 in use (tier_config.n_masks). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XVS_TIER_MAX_MASKS);
	__type(key, __u32);
	__type(value, struct tier_key);
} tier_masks SEC(".maps");

/* Not preallocated: a preallocated hash map may reuse a replaced or deleted element
 * at once, under a program still reading it (a torn action program); these are
 * freed after an RCU grace period. The cost is an allocation per update, on the
 * control side. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XVS_TIER_MAX_FLOWS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct tier_flow_key);
	__type(value, struct tier_actions);
} tier_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XVS_TIER_MAX_FLOWS);
	__type(key, __u32);
	__type(value, struct tier_counter);
} tier_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, XVS_TIER_MAX_TX);
	__type(key, __u32);
	__type(value, __u32);
} tier_tx SEC(".maps");

/* The last decision on this CPU, written only when tier_config.trace is set (tests). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tier_trace);
} tier_trace SEC(".maps");

static __always_inline int tier_is_tpid(__u16 t)
{
	return t == ETH_P_8021Q || t == XVS_ETH_P_8021AD;
}

static __always_inline __u16 tier_get16(const void *p)
{
	const __u8 *b = p;

	return (__u16)b[0] << 8 | b[1];
}

static __always_inline void tier_put16(void *p, __u16 v)
{
	__u8 *b = p;

	b[0] = v >> 8;
	b[1] = v & 0xff;
}

static __always_inline void tier_record(const struct tier_config *cfg, __u32 kind,
					const struct tier_actions *a)
{
	__u32 zero = 0;
	struct tier_trace *t;

	if (!cfg->trace)
		return;
	t = bpf_map_lookup_elem(&tier_trace, &zero);
	if (!t)
		return;
	t->kind = kind;
	t->entry_id = a ? a->entry_id : 0;
	t->out_port = a ? a->out_port : 0;
}

/* The IPv4 header checksum from the template's partial sum and the total length. */
static __always_inline __u16 tier_ip_csum(__u32 partial, __u32 tot_len)
{
	__u32 sum = partial + tot_len;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum & 0xffff;
}

/* Writes the outer headers (len bytes, a constant per branch) in front of the
 * inner frame of inner_len bytes at data + len. */
static __always_inline int tier_write_encap(void *data, void *data_end,
					    const struct tier_actions *a, __u32 len,
					    __u32 inner_len)
{
	__u32 tot_len = len - ETH_HLEN + inner_len;
	__u8 *ip = (__u8 *)data + ETH_HLEN;

	if (len == XVS_TIER_GRE_LEN) {
		if (data + XVS_TIER_GRE_LEN > data_end)
			return -1;
		__builtin_memcpy(data, a->encap, XVS_TIER_GRE_LEN);
	} else if (len == XVS_TIER_GRE_KEY_LEN) {
		if (data + XVS_TIER_GRE_KEY_LEN > data_end)
			return -1;
		__builtin_memcpy(data, a->encap, XVS_TIER_GRE_KEY_LEN);
	} else {
		if (data + XVS_TIER_VXLAN_LEN > data_end)
			return -1;
		__builtin_memcpy(data, a->encap, XVS_TIER_VXLAN_LEN);
		/* UDP length: the IPv4 payload. */
		tier_put16(ip + 20 + 4, tot_len - 20);
	}
	tier_put16(ip + 2, tot_len);
	tier_put16(ip + 10, tier_ip_csum(a->encap_csum, tot_len));
	return 0;
}

static __always_inline __u32 *tier_tunnel_probe(struct tier_tunnel_key *tk, __u32 local,
						   __u8 mode, __u32 key)
{
	tk->local = local;
	tk->key_mode = mode;
	tk->key = key;
	return bpf_map_lookup_elem(&tier_tunnels, tk);
}

/* Decapsulates in thought a frame of an underlay: what tunnel.rs's decap_tunnel and
 * the tunnel map accept, narrowed to what is cheap to check exactly here: Ethernet
 * without tag / IPv4 without options, its checksum right, no fragment, no padding
 * after it, to one of our addresses / GRE with no flag but K, protocol 0x6558, or UDP
 * to 4789 with no checksum and its length the IPv4 payload's, VXLAN with the I flag /
 * a whole inner Ethernet header. Anything else: -1, the frame is userspace's (which
 * checks it in full). Sets the inner frame's offset, tunnel port and tunnel id. */
static __always_inline int tier_decap(void *data, void *data_end, __u32 ifindex, __u32 *off,
				      __u32 *port, __u64 *tun_id)
{
	struct xvs_local_ip lk = { .ifindex = ifindex };
	struct tier_tunnel_key tk = {};
	__u8 *d = data;
	__u32 sum = 0, total, len = data_end - data, daddr, key = 0, inner, *p;
	int has_key = 0, i;

	if ((void *)(d + 50) > data_end) /* the longest outer header, and more */
		return -1;
	if (tier_get16(d + 12) != ETH_P_IP || d[14] != 0x45)
		return -1;
	total = tier_get16(d + 16);
	if (total + ETH_HLEN != len)
		return -1;
	if (tier_get16(d + 20) & XVS_IP_MF_OFFSET)
		return -1;
	for (i = 0; i < 10; i++)
		sum += tier_get16(d + ETH_HLEN + 2 * i);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	if (sum != 0xffff)
		return -1;
	__builtin_memcpy(&daddr, d + 30, 4);
	lk.addr = daddr;
	if (!bpf_map_lookup_elem(&local_ips, &lk))
		return -1;
	__builtin_memcpy(&tk.remote, d + 26, 4);
	if (d[23] == IPPROTO_GRE) {
		__u16 flags = tier_get16(d + 34);

		if (tier_get16(d + 36) != XVS_TEB)
			return -1;
		if (flags == 0x2000) {
			key = (__u32)tier_get16(d + 38) << 16 | tier_get16(d + 40);
			has_key = 1;
			inner = XVS_TIER_GRE_KEY_LEN;
		} else if (flags == 0) {
			inner = XVS_TIER_GRE_LEN;
		} else {
			return -1;
		}
		tk.kind = XVS_TIER_TUN_GRE;
	} else if (d[23] == IPPROTO_UDP) {
		if (tier_get16(d + 36) != XVS_VXLAN_PORT || tier_get16(d + 38) != total - 20 ||
		    tier_get16(d + 40) != 0 || !(d[42] & 0x08))
			return -1;
		key = (__u32)d[46] << 16 | (__u32)d[47] << 8 | d[48];
		has_key = 1;
		inner = XVS_TIER_VXLAN_LEN;
		tk.kind = XVS_TIER_TUN_VXLAN;
	} else {
		return -1;
	}
	if (len < inner + ETH_HLEN)
		return -1;
	p = tier_tunnel_probe(&tk, daddr, has_key ? XVS_TIER_KEY_EXACTLY : XVS_TIER_KEY_NONE,
			      key);
	if (!p)
		p = tier_tunnel_probe(&tk, daddr, XVS_TIER_KEY_ANY, 0);
	if (!p)
		p = tier_tunnel_probe(&tk, 0, has_key ? XVS_TIER_KEY_EXACTLY : XVS_TIER_KEY_NONE,
				      key);
	if (!p)
		p = tier_tunnel_probe(&tk, 0, XVS_TIER_KEY_ANY, 0);
	if (!p)
		return -1;
	*off = inner;
	*port = *p;
	*tun_id = key;
	return 0;
}

static __always_inline int xvs_tier(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0, ifindex = ctx->ingress_ifindex;
	struct tier_config *cfg = bpf_map_lookup_elem(&tier_config, &zero);
	struct tier_actions *a = NULL;
	struct tier_flow_key fk = {};
	struct tier_counter *cnt;
	struct tier_port *port;
	__u64 *kw = (__u64 *)&fk.key;
	__u8 macs[12], old_tag[2];
	__u32 len, n_masks, i, pop, push, encap_len, inner_len, tx_slot, counter_slot;
	__u32 off = 0, in_port;
	__u64 tun_id = 0;
	int grow;
	__u16 tpid1 = 0, push_tpid;
	int has_tag1, set_tag;
	__u8 *d;

	if (!cfg || !cfg->enabled)
		return XVS_TIER_PUNT;
	port = bpf_map_lookup_elem(&tier_ports, &ifindex);
	if (!port || !(port->flags & XVS_TIER_PORT_ON))
		goto punt;

	in_port = port->port_no;
	if ((port->flags & XVS_TIER_PORT_UNDERLAY) &&
	    tier_decap(data, data_end, ifindex, &off, &in_port, &tun_id))
		goto punt;
	/* For the verifier: off is 0 or an outer header's length. */
	if (off > XVS_TIER_VXLAN_LEN)
		goto punt;

	/* The key of the (inner) frame, as extract.rs takes its L2 part: one tag of
	 * either TPID, parsed only when whole; otherwise the TPID is dl_type and there
	 * is no tag. */
	d = (__u8 *)data + off;
	if ((void *)(d + ETH_HLEN) > data_end)
		goto punt; /* userspace drops it as malformed: its call */
	len = data_end - (void *)d;
	fk.key.in_port = in_port;
	fk.key.tun_id = tun_id;
	__builtin_memcpy(fk.key.dl_dst, d, 6);
	__builtin_memcpy(fk.key.dl_src, d + 6, 6);
	fk.key.dl_type = tier_get16(d + 12);
	has_tag1 = 0;
	if (tier_is_tpid(fk.key.dl_type) && (void *)(d + 18) <= data_end) {
		has_tag1 = 1;
		tpid1 = fk.key.dl_type;
		fk.key.vlan_tci = XVS_VLAN_DEI | (tier_get16(d + 14) & ~XVS_VLAN_DEI);
		fk.key.dl_type = tier_get16(d + 16);
	}

	n_masks = cfg->n_masks;
	for (i = 0; i < XVS_TIER_MAX_MASKS; i++) {
		__u32 idx = i;
		struct tier_flow_key probe;
		__u64 *mw, *pw = (__u64 *)&probe.key;
		int w;

		if (i >= n_masks)
			break;
		mw = bpf_map_lookup_elem(&tier_masks, &idx);
		if (!mw)
			break;
		probe.mask_id = i;
		probe.pad = 0;
		for (w = 0; w < 4; w++)
			pw[w] = kw[w] & mw[w];
		a = bpf_map_lookup_elem(&tier_flows, &probe);
		if (a)
			break;
	}
	if (!a)
		goto punt;

	counter_slot = a->counter_slot;
	cnt = bpf_map_lookup_elem(&tier_counters, &counter_slot);
	if (!cnt)
		goto punt;
	if (a->terminal == XVS_TIER_DROP) {
		cnt->packets += 1;
		cnt->bytes += len;
		tier_record(cfg, XVS_TIER_TRACE_DROP, a);
		return XDP_DROP;
	}

	/* Everything that can fail is checked here, before the frame changes. */
	pop = a->pop_vlan && has_tag1;
	push = a->push_vlan ? 1 : 0;
	/* The tag a set_vlan rewrites: the outer one once the pop is done. */
	set_tag = 0;
	if (a->set_vlan) {
		if (pop) {
			if ((void *)(d + 22) <= data_end && tier_is_tpid(tier_get16(d + 16))) {
				set_tag = 1;
				__builtin_memcpy(old_tag, d + 18, 2);
			}
		} else if (has_tag1) {
			set_tag = 1;
			__builtin_memcpy(old_tag, d + 14, 2);
		}
	}
	push_tpid = a->push_tpid ? a->push_tpid : (pop ? tpid1 : ETH_P_8021Q);
	inner_len = len + 4 * push - 4 * pop;
	encap_len = 0;
	if (a->terminal == XVS_TIER_ENCAP) {
		encap_len = a->encap_len;
		if (encap_len != XVS_TIER_GRE_LEN && encap_len != XVS_TIER_GRE_KEY_LEN &&
		    encap_len != XVS_TIER_VXLAN_LEN)
			goto punt;
		/* Over the underlay's MTU: userspace drops and counts it. */
		if (encap_len - ETH_HLEN + inner_len > a->encap_mtu)
			goto punt;
	} else if (a->terminal != XVS_TIER_OUTPUT) {
		goto punt;
	}
	/* The redirect is recorded now and done after the return: a missing port
	 * answers XDP_PASS while the frame is still untouched. */
	tx_slot = a->tx_slot;
	if (bpf_redirect_map(&tier_tx, tx_slot, XDP_PASS) != XDP_REDIRECT)
		goto punt;
	__builtin_memcpy(macs, d, 12);
	if (a->set_eth_dst)
		__builtin_memcpy(macs, a->eth_dst, 6);
	if (a->set_eth_src)
		__builtin_memcpy(macs + 6, a->eth_src, 6);

	/* One move of the start: grow is what goes in front of the (inner) frame's
	 * first byte after the moved part, less the outer header that goes. */
	grow = (int)encap_len + 4 * (int)push - 4 * (int)pop - (int)off;
	if (grow != 0 && bpf_xdp_adjust_head(ctx, -grow))
		goto punt; /* no headroom: nothing was changed */
	cnt->packets += 1;
	cnt->bytes += len;

	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	d = data;
	/* The inner frame starts at encap_len (at most XVS_TIER_VXLAN_LEN). */
	if (encap_len > XVS_TIER_VXLAN_LEN)
		return XDP_ABORTED;
	{
		__u8 *inner = d + encap_len;

		/* These checks are for the verifier: the inner frame is at least 14
		 * bytes, 18 with a pushed tag, and a rewritten tag was there whole. */
		if ((void *)(inner + ETH_HLEN) > data_end)
			return XDP_ABORTED;
		__builtin_memcpy(inner, macs, 12);
		if (push) {
			if ((void *)(inner + 16) > data_end)
				return XDP_ABORTED;
			tier_put16(inner + 12, push_tpid);
			tier_put16(inner + 14, a->push_tci & ~XVS_VLAN_DEI);
		}
		if (set_tag) {
			/* The rewritten tag follows the pushed one, if any. */
			__u8 *tci = inner + 14 + 4 * push;
			__u16 old = (__u16)old_tag[0] << 8 | old_tag[1];

			if ((void *)(tci + 2) > data_end)
				return XDP_ABORTED;
			tier_put16(tci, (old & XVS_VLAN_DEI) | (a->set_vlan_tci & ~XVS_VLAN_DEI));
		}
	}
	if (encap_len && tier_write_encap(data, data_end, a, encap_len, inner_len))
		return XDP_ABORTED;
	tier_record(cfg, XVS_TIER_TRACE_REDIRECT, a);
	return XDP_REDIRECT;

punt:
	tier_record(cfg, XVS_TIER_TRACE_PUNT, NULL);
	return XVS_TIER_PUNT;
}

#endif
