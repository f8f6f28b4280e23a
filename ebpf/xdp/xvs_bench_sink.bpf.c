// SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-only
/*
 * xvs_bench_sink: the packet-rate harness's sink check, in XDP on the sink's
 * interface. A frame that is exactly what the flow set says must arrive is
 * counted here and dropped; every other frame goes to the AF_XDP socket of
 * its rx queue (XSKMAP `xsks`), where the userspace Checker (bench/src/
 * traffic/frames.rs) says what is wrong with it, or that it is not ours.
 *
 * Why in XDP: on a 2-core machine the generator has one core and the switch
 * under test the other; a userspace sink checking every frame would take its
 * cycles from one of them. The sink's NAPI runs where the switch transmits,
 * so what this program costs is charged to every switch alike, as an XDP
 * drop counter would be.
 *
 * "Exactly what must arrive" (the same test as Checker::check, which a test
 * runs side by side with this program on the same frames):
 *  - the length is the expected length;
 *  - every byte equals the expected frame of flow 0 where `mask` has ones:
 *    the frame is compared as `words` 8-byte words at 0, 8, 16, ... with the
 *    last one at len - 8 (it may overlap the one before);
 *  - the stamp's flow id is below `flows`, and the per-flow fields the mask
 *    leaves out are those of that flow: the destination MAC (base + flow) and
 *    the GRE key (base + flow) where the expectation has them;
 *  - an outer IPv4 header the switch wrote (`csum_at`) has a correct checksum
 *    (the mask leaves out the fields a switch may choose: TOS, id, flags,
 *    fragment offset, TTL, checksum).
 * The sequence number is not checked (any value is right).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define SINK_NONE 0xffffffffu
#define SINK_OFFSET_MASK 0x7ff
/* Keep in step with src/bench.rs. */
#define SINK_MAX_WORDS 200	/* 1600 bytes */
#define SINK_MAX_QUEUES 64
#define SINK_SEEN_ENTRIES 128
#define SINK_SEEN_WORDS 128	/* u64 per entry: 128 * 128 * 64 = 1,048,576 flows */

struct sink_expect {
	__u32 len;
	__u32 flows;
	__u32 stamp_at;
	__u32 mac_at;		/* per-flow destination MAC, or SINK_NONE */
	__u32 key_at;		/* per-flow GRE key, or SINK_NONE */
	__u32 csum_at;		/* outer IPv4 header to verify, or SINK_NONE */
	__u64 mac_base;
	__u32 key_base;
	__u32 words;
	__u64 expected[SINK_MAX_WORDS];
	__u64 mask[SINK_MAX_WORDS];
};

/* Counter slots (per CPU). */
#define SINK_CNT_OK 0
#define SINK_CNT_TO_USER 1
#define SINK_N_COUNTERS 2

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sink_expect);
} expect SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SINK_N_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* One bit per flow id that arrived intact at least once. */
struct seen_words {
	__u64 w[SINK_SEEN_WORDS];
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SINK_SEEN_ENTRIES);
	__type(key, __u32);
	__type(value, struct seen_words);
} seen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, SINK_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

static __always_inline void count(__u32 slot)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &slot);
	if (c)
		*c += 1;
}

static __always_inline __u32 be32_at(const __u8 *p)
{
	__u32 v;
	__builtin_memcpy(&v, p, 4);
	return bpf_ntohl(v);
}

/* 1 when the frame is exactly as expected; its flow id in *flow. */
static __always_inline int intact(struct sink_expect *e, void *data, void *data_end,
				  __u32 *flow)
{
	__u32 len = data_end - data;

	if (len != e->len || len < 8)
		return 0;
	for (__u32 i = 0; i < SINK_MAX_WORDS; i++) {
		if (i >= e->words)
			break;
		__u32 off = i * 8;
		if (off > len - 8)
			off = len - 8;
		__u8 *p = data + (off & SINK_OFFSET_MASK);
		if ((void *)(p + 8) > data_end)
			return 0;
		__u64 w;
		__builtin_memcpy(&w, p, 8);
		if ((w ^ e->expected[i]) & e->mask[i])
			return 0;
	}

	__u8 *s = data + (e->stamp_at & SINK_OFFSET_MASK);
	if ((void *)(s + 16) > data_end)
		return 0;
	__u32 f = be32_at(s + 4);
	if (f >= e->flows)
		return 0;

	if (e->mac_at != SINK_NONE) {
		__u8 *m = data + (e->mac_at & SINK_OFFSET_MASK);
		if ((void *)(m + 6) > data_end)
			return 0;
		__u64 want = e->mac_base + f;
		__u64 got = (__u64)m[0] << 40 | (__u64)m[1] << 32 | (__u64)m[2] << 24 |
			    (__u64)m[3] << 16 | (__u64)m[4] << 8 | (__u64)m[5];
		if (got != (want & 0xffffffffffffULL))
			return 0;
	}
	if (e->key_at != SINK_NONE) {
		__u8 *k = data + (e->key_at & SINK_OFFSET_MASK);
		if ((void *)(k + 4) > data_end)
			return 0;
		if (be32_at(k) != e->key_base + f)
			return 0;
	}
	if (e->csum_at != SINK_NONE) {
		__u8 *h = data + (e->csum_at & SINK_OFFSET_MASK);
		if ((void *)(h + 20) > data_end)
			return 0;
		__u32 sum = 0;
		for (int j = 0; j < 20; j += 2)
			sum += (__u32)h[j] << 8 | h[j + 1];
		sum = (sum & 0xffff) + (sum >> 16);
		sum = (sum & 0xffff) + (sum >> 16);
		if (sum != 0xffff)
			return 0;
	}
	*flow = f;
	return 1;
}

SEC("xdp")
int xvs_bench_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct sink_expect *e = bpf_map_lookup_elem(&expect, &zero);
	__u32 flow = 0;

	if (e && intact(e, data, data_end, &flow)) {
		count(SINK_CNT_OK);
		__u32 word = flow / 64;
		__u32 entry = word / SINK_SEEN_WORDS;
		struct seen_words *sw = bpf_map_lookup_elem(&seen, &entry);
		if (sw) {
			__u64 bit = 1ULL << (flow % 64);
			__u64 *w = &sw->w[word % SINK_SEEN_WORDS];
			/* Set once per flow: the atomic is off the common path. */
			if (!(*w & bit))
				__sync_fetch_and_or(w, bit);
		}
		return XDP_DROP;
	}
	count(SINK_CNT_TO_USER);
	return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
