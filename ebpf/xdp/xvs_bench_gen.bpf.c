// SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-only
/*
 * xvs_bench_gen: the packet-rate harness's traffic generator, in XDP.
 *
 * Why not from userspace: a frame sent by a socket (AF_XDP in copy mode, or
 * AF_PACKET) is an skb, which the receiving veth copies again to run XDP on
 * it; on this kind of machine one core then offers about 0.66 Mpps, less
 * than a userspace switch forwards, so every switch would measure the same.
 * BPF_PROG_RUN's live-frame mode, the usual in-kernel generator, is refused
 * here (EPERM). What remains is to make frames in XDP itself: a few seed
 * frames circulate on a veth pair (`loop` <-> `bounce`), and each time one
 * comes by, `xvs_bench_gen` on `loop` makes it the next frame of the flow
 * set and broadcasts it (a devmap with BPF_F_BROADCAST clones XDP frames)
 * to the generator's interface, toward the switch, and back out of `loop`,
 * where `xvs_bench_bounce` on `bounce` sends it straight back. The switch
 * gets XDP frames, as from a NIC, and the loop runs in the softirq of the
 * core the seeds were sent from.
 *
 * Frame k (k = 0, 1, ... over the generator's life) is flow k mod flows with
 * sequence number k, written exactly as FlowSet::restamp (bench/src/traffic/
 * frames.rs) writes it: the destination MAC (base + flow, 48-bit big endian)
 * or the GRE key (base + flow) where the set has one, and the 16-byte stamp
 * (magic, flow, sequence; big endian). Every byte that differs between frames
 * is written every time.
 *
 * While `gen_state.run` is 0 (before the start, after the stop, or once
 * `limit` frames were made), frames arriving on `loop` are dropped: the loop
 * dies out. The loop runs on one core, so the counter needs no atomics.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define GEN_NONE 0xffffffffu
#define GEN_STAMP_MAGIC 0x58565342u
/* Offsets are bounded for the verifier: frames are at most 1500 bytes. */
#define GEN_OFFSET_MASK 0x7ff

/* Keep in step with GenConfig in src/bench.rs. */
struct gen_config {
	__u32 flows;
	__u32 mac_at;		/* destination MAC that varies per flow, or GEN_NONE */
	__u32 key_at;		/* GRE key that varies per flow, or GEN_NONE */
	__u32 stamp_at;
	__u64 mac_base;		/* the MAC of flow 0, in the low 48 bits */
	__u32 key_base;
	__u32 len;		/* the frames' length: others are not ours */
	__u64 limit;		/* frames to make in all */
};

struct gen_state {
	__u64 run;		/* set by userspace to start and stop */
	__u64 made;		/* frames made so far: the next sequence number */
	__u64 foreign;		/* frames of another length, dropped */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gen_config);
} gen_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gen_state);
} gen_state SEC(".maps");

/* The generator's interface and `loop` itself. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct bpf_devmap_val);
} gen_out SEC(".maps");

SEC("xdp")
int xvs_bench_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct gen_config *c = bpf_map_lookup_elem(&gen_config, &zero);
	struct gen_state *st = bpf_map_lookup_elem(&gen_state, &zero);

	if (!c || !st || c->flows == 0 || !st->run)
		return XDP_DROP;
	if ((__u64)(data_end - data) != c->len) {
		st->foreign++;
		return XDP_DROP;
	}
	__u64 seq = st->made;
	if (seq >= c->limit) {
		st->run = 0;
		return XDP_DROP;
	}
	st->made = seq + 1;
	__u32 flow = seq % c->flows;

	if (c->mac_at != GEN_NONE) {
		__u8 *m = data + (c->mac_at & GEN_OFFSET_MASK);
		if ((void *)(m + 6) > data_end)
			return XDP_DROP;
		__u64 mac = c->mac_base + flow;
		m[0] = mac >> 40;
		m[1] = mac >> 32;
		m[2] = mac >> 24;
		m[3] = mac >> 16;
		m[4] = mac >> 8;
		m[5] = mac;
	}
	if (c->key_at != GEN_NONE) {
		__u8 *k = data + (c->key_at & GEN_OFFSET_MASK);
		if ((void *)(k + 4) > data_end)
			return XDP_DROP;
		__u32 key = bpf_htonl(c->key_base + flow);
		__builtin_memcpy(k, &key, 4);
	}
	__u8 *s = data + (c->stamp_at & GEN_OFFSET_MASK);
	if ((void *)(s + 16) > data_end)
		return XDP_DROP;
	__u32 magic = bpf_htonl(GEN_STAMP_MAGIC);
	__u32 flow_be = bpf_htonl(flow);
	__u64 seq_be = bpf_cpu_to_be64(seq);
	__builtin_memcpy(s, &magic, 4);
	__builtin_memcpy(s + 4, &flow_be, 4);
	__builtin_memcpy(s + 8, &seq_be, 8);
	return bpf_redirect_map(&gen_out, 0, BPF_F_BROADCAST);
}

SEC("xdp")
int xvs_bench_bounce(struct xdp_md *ctx)
{
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
