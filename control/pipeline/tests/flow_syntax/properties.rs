//! Properties: any flow prints and parses back to itself.

use super::*;
use xvs_pipeline::ofp::check::check_actions;

fn ones(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

fn ones128(bits: u32) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

fn fields_where(pred: impl Fn(Field) -> bool) -> Vec<Field> {
    ALL_FIELDS.iter().copied().filter(|&f| pred(f)).collect()
}

/// Any slice of one of `fields`.
fn arb_slice_of(fields: Vec<Field>) -> impl Strategy<Value = FieldSlice> {
    prop::sample::select(fields)
        .prop_flat_map(|f| (Just(f), 0..f.width()))
        .prop_flat_map(|(f, ofs)| (Just(f), Just(ofs), 1..=f.width() - ofs))
        .prop_map(|(field, ofs, n_bits)| FieldSlice { field, ofs, n_bits })
}

/// A slice `n` bits wide of one of `fields` (that are at least that wide).
fn arb_slice_n(n: u32, fields: Vec<Field>) -> impl Strategy<Value = FieldSlice> {
    let wide: Vec<Field> = fields.into_iter().filter(|f| f.width() >= n).collect();
    prop::sample::select(wide)
        .prop_flat_map(move |f| (Just(f), 0..=f.width() - n))
        .prop_map(move |(field, ofs)| FieldSlice {
            field,
            ofs,
            n_bits: n,
        })
}

fn arb_any_slice() -> impl Strategy<Value = FieldSlice> {
    arb_slice_of(ALL_FIELDS.to_vec())
}

fn writable() -> Vec<Field> {
    fields_where(|f| f.is_writable())
}

fn arb_out_port() -> impl Strategy<Value = OfPort> {
    prop_oneof![
        1..=4u32,
        1..=0xff00u32,
        prop::sample::select(vec![
            OFPP_IN_PORT,
            OFPP_TABLE,
            OFPP_NORMAL,
            OFPP_FLOOD,
            OFPP_ALL,
            OFPP_CONTROLLER,
            OFPP_LOCAL
        ]),
    ]
}

fn arb_mac() -> impl Strategy<Value = u64> {
    any::<u64>().prop_map(|v| v & ones(48))
}

fn arb_nonzero_mask(bits: u32) -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(ones(bits)),
        any::<u64>().prop_map(move |m| m & ones(bits))
    ]
    .prop_filter("nonzero", |m| *m != 0)
}

#[derive(Clone, Debug)]
enum Proto {
    Any,
    Ip(Option<u8>),
    Ip6(Option<u8>),
    /// ICMPv6 neighbour solicitation (135) or advertisement (136), code 0.
    Nd(u16),
    Arp,
    Other(u16),
}

fn arb_proto() -> impl Strategy<Value = Proto> {
    prop_oneof![
        Just(Proto::Any),
        prop::option::of(any::<u8>()).prop_map(Proto::Ip),
        prop::option::of(prop::sample::select(vec![1u8, 6, 17, 132])).prop_map(Proto::Ip),
        prop::option::of(prop::sample::select(vec![6u8, 17, 58, 132, 0])).prop_map(Proto::Ip6),
        prop::sample::select(vec![135u16, 136]).prop_map(Proto::Nd),
        Just(Proto::Arp),
        any::<u16>()
            .prop_filter("not ip, ipv6, arp or rarp", |t| {
                ![0x0800, 0x0806, 0x86dd, 0x8035].contains(t)
            })
            .prop_map(Proto::Other),
    ]
}

type Masked128 = Option<(u128, u128)>;

fn arb_masked128(bits: u32) -> impl Strategy<Value = Masked128> {
    prop::option::of((
        any::<u128>(),
        prop_oneof![
            Just(ones128(bits)),
            any::<u128>().prop_map(move |m| m & ones128(bits))
        ]
        .prop_filter("nonzero", |m| *m != 0),
    ))
}

type Masked = Option<(u64, u64)>;

fn arb_masked(bits: u32) -> impl Strategy<Value = Masked> {
    prop::option::of((any::<u64>(), arb_nonzero_mask(bits)))
}

fn arb_vlan() -> impl Strategy<Value = Masked> {
    let present = u64::from(VLAN_PRESENT);
    prop_oneof![
        Just(None),
        (0..4096u64).prop_map(move |vid| Some((present | vid, 0x1fff))),
        (0..8u64).prop_map(move |pcp| Some((present | pcp << 13, 0xf000))),
        (0..4096u64, 0..8u64).prop_map(move |(vid, pcp)| Some((present | pcp << 13 | vid, 0xffff))),
        Just(Some((0, 0xffff))),
        (any::<u64>(), arb_nonzero_mask(16)).prop_map(Some),
    ]
}

/// The fields OpenFlow 1.3 added (registers, metadata, IPv6, L4, ICMP, ND), generated
/// apart (one strategy with every field overflows the stack in debug builds).
#[derive(Clone, Debug)]
struct Extra {
    regs: Vec<(u8, Masked)>,
    metadata: Masked,
    ipv6_src: Masked128,
    ipv6_dst: Masked128,
    nd_target: Masked128,
    tp_src: Masked,
    tp_dst: Masked,
    icmp: Option<(u8, Option<u8>)>,
    tos: Option<u8>,
    ecn: Option<u8>,
    ttl: Option<u8>,
}

fn arb_extra() -> BoxedStrategy<Extra> {
    (
        prop::collection::vec((0..16u8, arb_masked(32)), 0..3),
        arb_masked(64),
        (arb_masked128(128), arb_masked128(128), arb_masked128(128)),
        (arb_masked(16), arb_masked(16)),
        prop::option::of((any::<u8>(), prop::option::of(any::<u8>()))),
        (
            prop::option::of(0..64u8),
            prop::option::of(0..4u8),
            prop::option::of(any::<u8>()),
        ),
    )
        .prop_map(
            |(
                regs,
                metadata,
                (ipv6_src, ipv6_dst, nd_target),
                (tp_src, tp_dst),
                icmp,
                (tos, ecn, ttl),
            )| Extra {
                regs,
                metadata,
                ipv6_src,
                ipv6_dst,
                nd_target,
                tp_src,
                tp_dst,
                icmp,
                tos,
                ecn,
                ttl,
            },
        )
        .boxed()
}

prop_compose! {
    fn arb_match()(
        in_port in prop::option::of(0..=0xffffu64),
        tun_id in arb_masked(64),
        vlan in arb_vlan(),
        dl_src in prop::option::of((arb_mac(), arb_nonzero_mask(48))),
        dl_dst in prop::option::of((arb_mac(), arb_nonzero_mask(48))),
        proto in arb_proto(),
        nw_src in arb_masked(32),
        nw_dst in arb_masked(32),
        arp_op in prop::option::of(any::<u8>()),
        arp_sha in prop::option::of((arb_mac(), arb_nonzero_mask(48))),
        arp_tha in prop::option::of((arb_mac(), arb_nonzero_mask(48))),
        extra in arb_extra(),
    ) -> Match {
        let Extra { regs, metadata, ipv6_src, ipv6_dst, nd_target, tp_src, tp_dst, icmp, tos, ecn, ttl } = extra;
        let mut m = Match::default();
        let mut set = |f: Field, x: Masked| {
            if let Some((v, k)) = x {
                m.set_masked(f, v.into(), k.into());
            }
        };
        for (r, x) in regs {
            set(Field::Reg(r), x);
        }
        set(Field::Metadata, metadata);
        let ip_any = |set: &mut dyn FnMut(Field, Masked)| {
            set(Field::IpDscp, tos.map(|t| (u64::from(t), u64::MAX)));
            set(Field::NwEcn, ecn.map(|e| (u64::from(e), u64::MAX)));
            set(Field::NwTtl, ttl.map(|t| (u64::from(t), u64::MAX)));
        };
        let l4 = |set: &mut dyn FnMut(Field, Masked), proto: Option<u8>, v6: bool| match proto {
            Some(6 | 17 | 132) => {
                set(Field::TcpSrc, tp_src);
                set(Field::TcpDst, tp_dst);
            }
            Some(1) if !v6 => {
                if let Some((t, c)) = icmp {
                    set(Field::Icmpv4Type, Some((t.into(), u64::MAX)));
                    set(Field::Icmpv4Code, c.map(|c| (c.into(), u64::MAX)));
                }
            }
            Some(58) if v6 => {
                if let Some((t, c)) = icmp {
                    set(Field::Icmpv6Type, Some((t.into(), u64::MAX)));
                    set(Field::Icmpv6Code, c.map(|c| (c.into(), u64::MAX)));
                }
            }
            _ => {}
        };
        set(Field::InPort, in_port.map(|p| (p, u64::MAX)));
        set(Field::TunId, tun_id);
        set(Field::VlanTci, vlan);
        set(Field::DlSrc, dl_src);
        set(Field::DlDst, dl_dst);
        match proto {
            Proto::Any => {}
            Proto::Other(t) => set(Field::DlType, Some((u64::from(t), u64::MAX))),
            Proto::Ip(p) => {
                set(Field::DlType, Some((0x0800, u64::MAX)));
                set(Field::NwProto, p.map(|p| (u64::from(p), u64::MAX)));
                set(Field::NwSrc, nw_src);
                set(Field::NwDst, nw_dst);
                ip_any(&mut set);
                l4(&mut set, p, false);
            }
            Proto::Ip6(_) | Proto::Nd(_) => {
                let p = match proto {
                    Proto::Ip6(p) => p,
                    _ => Some(58),
                };
                set(Field::DlType, Some((0x86dd, u64::MAX)));
                set(Field::NwProto, p.map(|p| (u64::from(p), u64::MAX)));
                ip_any(&mut set);
                if let Proto::Nd(t) = proto {
                    set(Field::Icmpv6Type, Some((t.into(), u64::MAX)));
                    set(Field::NwTtl, None);
                } else {
                    l4(&mut set, p, true);
                }
                for (f, x) in [(Field::Ipv6Src, ipv6_src), (Field::Ipv6Dst, ipv6_dst)] {
                    if let Some((v, k)) = x {
                        m.set_masked(f, v, k);
                    }
                }
                if let Proto::Nd(t) = proto {
                    if let Some((v, k)) = nd_target {
                        m.set_masked(Field::NdTarget, v, k);
                    }
                    let (f, x) = if t == 135 { (Field::NdSll, arp_sha) } else { (Field::NdTll, arp_tha) };
                    if let Some((v, k)) = x {
                        m.set_masked(f, v.into(), k.into());
                    }
                }
            }
            Proto::Arp => {
                set(Field::DlType, Some((0x0806, u64::MAX)));
                set(Field::ArpSpa, nw_src);
                set(Field::ArpTpa, nw_dst);
                set(Field::ArpOp, arp_op.map(|p| (u64::from(p), u64::MAX)));
                set(Field::ArpSha, arp_sha);
                set(Field::ArpTha, arp_tha);
            }
        }
        m
    }
}

/// A learned value for `dst`: a slice of the same width, or a number that fits.
fn arb_learn_src(dst: FieldSlice) -> impl Strategy<Value = LearnSrc> {
    prop_oneof![
        Just(LearnSrc::Field(dst)),
        arb_slice_n(dst.n_bits, ALL_FIELDS.to_vec()).prop_map(LearnSrc::Field),
        any::<u128>().prop_map(move |v| LearnSrc::Immediate(v & ones128(dst.n_bits))),
    ]
}

fn arb_learn_item(match_fields: Vec<Field>) -> impl Strategy<Value = LearnItem> {
    prop_oneof![
        arb_slice_of(match_fields).prop_flat_map(
            |dst| arb_learn_src(dst).prop_map(move |src| LearnItem::Match { dst, src })
        ),
        arb_slice_of(writable()).prop_flat_map(
            |dst| arb_learn_src(dst).prop_map(move |src| LearnItem::Load { src, dst })
        ),
        arb_any_slice().prop_map(|src| LearnItem::Output { src }),
    ]
}

prop_compose! {
    fn arb_learn()(
        table in 0..=254u8,
        priority in any::<u16>(),
        idle_timeout in prop_oneof![Just(0u16), any::<u16>()],
        hard_timeout in prop_oneof![Just(0u16), any::<u16>()],
        cookie in prop_oneof![Just(0u64), any::<u64>()],
        arp in any::<bool>(),
        items in prop::collection::vec(
            arb_learn_item(fields_where(|f| f.prerequisite() == xvs_pipeline::ofp::Prerequisite::None && f != Field::DlType)),
            0..5,
        ),
        arp_items in prop::collection::vec(
            arb_learn_item(fields_where(|f| f != Field::DlType)),
            0..4,
        ),
    ) -> LearnSpec {
        let mut items = items;
        if arp {
            // A learned flow may match ARP fields once it matches the ARP type.
            items.push(LearnItem::Match {
                dst: FieldSlice::whole(Field::DlType),
                src: LearnSrc::Immediate(0x0806),
            });
            items.extend(arp_items);
        }
        LearnSpec { table, priority, idle_timeout, hard_timeout, cookie, items }
    }
}

fn arb_action() -> impl Strategy<Value = Action> {
    let port = arb_out_port().prop_filter("not in_port", |p| *p != OFPP_IN_PORT);
    prop_oneof![
        arb_out_port()
            .prop_filter("the controller is its own action", |p| *p
                != OFPP_CONTROLLER)
            .prop_map(Action::Output),
        arb_any_slice().prop_map(Action::OutputField),
        (0..4096u16).prop_map(Action::ModVlanVid),
        (0..8u8).prop_map(Action::ModVlanPcp),
        Just(Action::StripVlan),
        prop::sample::select(vec![0x8100u16, 0x88a8]).prop_map(Action::PushVlan),
        (0..=u64::from(u32::MAX)).prop_map(|id| Action::SetTunnel { id, wide: false }),
        any::<u64>().prop_map(|id| Action::SetTunnel { id, wide: true }),
        (prop::option::of(port), prop::option::of(0..=254u8))
            .prop_filter("port or table", |(p, t)| p.is_some() || t.is_some())
            .prop_map(|(port, table)| Action::Resubmit { port, table }),
        arb_mac().prop_map(|m| Action::ModDlSrc(MacAddr::from_u64(m))),
        arb_mac().prop_map(|m| Action::ModDlDst(MacAddr::from_u64(m))),
        (
            arb_slice_of(writable()).prop_filter("at most 64 bits", |s| s.n_bits <= 64),
            any::<u128>()
        )
            .prop_map(|(dst, v)| Action::Load {
                value: v & ones128(dst.n_bits),
                dst
            }),
        (1..=64u32)
            .prop_flat_map(|n| (
                arb_slice_n(n, ALL_FIELDS.to_vec()),
                arb_slice_n(n, writable())
            ))
            .prop_map(|(src, dst)| Action::Move { src, dst }),
        arb_learn().prop_map(|l| Action::Learn(Box::new(l))),
        any::<u16>().prop_map(|max_len| Action::Controller { max_len }),
        (0..4096u16).prop_map(Action::SetVlanVid),
        (0..8u8).prop_map(Action::SetVlanPcp),
        Just(Action::PopVlan),
        any::<u32>().prop_map(Action::ModNwSrc),
        any::<u32>().prop_map(Action::ModNwDst),
        (0..64u8).prop_map(|t| Action::ModNwTos(t << 2)),
        any::<u16>().prop_map(Action::ModTpSrc),
        any::<u16>().prop_map(Action::ModTpDst),
        arb_set_field(),
        prop::collection::vec(any::<u16>(), 0..3).prop_map(Action::DecTtl),
        prop::collection::vec(any::<u8>(), 0..9).prop_map(Action::Note),
    ]
}

/// `set_field` on any writable field but the 32-bit port, with a valid value (and a
/// mask where the field takes one).
fn arb_set_field() -> impl Strategy<Value = Action> {
    let fields = fields_where(|f| f.is_writable() && f != Field::InPortOxm);
    (
        prop::sample::select(fields),
        any::<u128>(),
        any::<u128>(),
        any::<bool>(),
    )
        .prop_map(|(field, v, m, masked)| {
            let info = field.info();
            let all = ones128(info.n_bytes * 8);
            let mask = if masked && info.maskable && m & all != 0 {
                m & all
            } else {
                all
            };
            let mut value = v & info.valid & mask;
            if field == Field::InPort {
                value = value % 0xff00 + 1;
            }
            Action::SetField { field, value, mask }
        })
}

/// What OVS would take of `actions` after a flow with match `m` in table `table`: each
/// action (and each learn item) kept if the list so far stays valid.
fn keep_valid(actions: Vec<Action>, m: &Match, table: Option<u8>) -> Vec<Action> {
    let table = Some(table.unwrap_or(0));
    let ok = |list: &[Action]| check_actions(list, m, table).is_ok();
    let mut kept: Vec<Action> = Vec::new();
    for a in actions {
        let a = match a {
            Action::Learn(spec) => {
                let mut s = (*spec).clone();
                s.items.clear();
                for item in spec.items {
                    s.items.push(item);
                    let mut list = kept.clone();
                    list.push(Action::Learn(Box::new(s.clone())));
                    if !ok(&list) {
                        s.items.pop();
                    }
                }
                Action::Learn(Box::new(s))
            }
            a => a,
        };
        kept.push(a);
        if !ok(&kept) {
            kept.pop();
        }
    }
    kept
}

prop_compose! {
    fn arb_flow_mod()(
        table in prop::option::of(0..=254u8),
        priority in prop_oneof![Just(DEFAULT_PRIORITY), any::<u16>()],
        cookie in prop_oneof![Just(0u64), any::<u64>()],
        idle_timeout in prop_oneof![Just(0u16), any::<u16>()],
        hard_timeout in prop_oneof![Just(0u16), any::<u16>()],
        matcher in arb_match(),
        actions in prop::collection::vec(arb_action(), 0..6),
        metadata in prop::option::of((any::<u64>(), prop_oneof![Just(u64::MAX), any::<u64>()])),
        goto in prop::option::of(1..=254u8),
        flags in prop_oneof![Just(0u16), 0..32u16],
    ) -> FlowMod {
        let mut actions = actions;
        if let Some((value, mask)) = metadata {
            actions.push(Action::WriteMetadata { value: value & mask, mask });
        }
        if let Some(t) = goto.filter(|_| table != Some(254)) {
            actions.push(Action::GotoTable(t.max(table.unwrap_or(0) + 1)));
        }
        let actions = keep_valid(actions, &matcher, table);
        FlowMod {
            table,
            priority,
            cookie,
            cookie_mask: 0,
            idle_timeout,
            hard_timeout,
            flags: xvs_pipeline::ofp::FlowFlags(flags),
            matcher,
            actions: Some(actions),
            out_port: None,
        }
    }
}

prop_compose! {
    fn arb_del_flow_mod()(
        table in prop::option::of(0..=254u8),
        priority in any::<u16>(),
        cookie in any::<u64>(),
        cookie_mask in prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>()],
        out_port in prop::option::of(prop_oneof![arb_out_port(), 0..=0xffffu32]),
        matcher in arb_match(),
    ) -> FlowMod {
        FlowMod {
            table,
            priority,
            // Without a mask, a cookie in del-flows selects exactly that cookie.
            cookie: if cookie_mask == 0 { 0 } else { cookie },
            cookie_mask,
            idle_timeout: 0,
            hard_timeout: 0,
            flags: Default::default(),
            matcher,
            actions: None,
            out_port,
        }
    }
}

/// Valid flow lines to mutate.
fn corpus() -> Vec<String> {
    let mut v: Vec<String> = FOLSOM
        .iter()
        .chain(NEUTRON.iter())
        .map(|s| s.to_string())
        .collect();
    v.push(LEARN_IN.to_string());
    v.push(
        "cookie=0x5/-1,table=3,out_port=gre-1,in_port=\"patch-int\",tcp,nw_src=10.0.0.0/8"
            .to_string(),
    );
    v.push("actions=learn(NXM_OF_ETH_TYPE[]=0x0806,arp_tpa=10.0.0.1,load:NXM_OF_IN_PORT[]->NXM_NX_TUN_ID[0..15]),resubmit(gre-2,4)".to_string());
    v
}

#[derive(Clone, Debug)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, char),
    Replace(usize, char),
    Duplicate(usize, usize),
}

fn arb_edit() -> impl Strategy<Value = Edit> {
    let ch = prop_oneof![
        prop::sample::select(
            ",=:()[]./->\" \\0x123456789abcdefNXM_"
                .chars()
                .collect::<Vec<_>>()
        ),
        any::<char>(),
    ];
    prop_oneof![
        (any::<usize>(), 0..8usize).prop_map(|(a, n)| Edit::Delete(a, n)),
        (any::<usize>(), ch.clone()).prop_map(|(a, c)| Edit::Insert(a, c)),
        (any::<usize>(), ch).prop_map(|(a, c)| Edit::Replace(a, c)),
        (any::<usize>(), 0..16usize).prop_map(|(a, n)| Edit::Duplicate(a, n)),
    ]
}

fn apply(s: &str, e: &Edit) -> String {
    let mut c: Vec<char> = s.chars().collect();
    let at = |a: usize, len: usize| if len == 0 { 0 } else { a % (len + 1) };
    match *e {
        Edit::Delete(a, n) => {
            let i = at(a, c.len());
            let j = (i + n).min(c.len());
            c.drain(i..j);
        }
        Edit::Insert(a, ch) => {
            let i = at(a, c.len());
            c.insert(i, ch);
        }
        Edit::Replace(a, ch) => {
            if !c.is_empty() {
                let i = a % c.len();
                c[i] = ch;
            }
        }
        Edit::Duplicate(a, n) => {
            let i = at(a, c.len());
            let j = (i + n).min(c.len());
            let dup: Vec<char> = c[i..j].to_vec();
            c.splice(i..i, dup);
        }
    }
    c.into_iter().collect()
}

const MODES: [ParseMode; 4] = [
    ParseMode::Add,
    ParseMode::Modify,
    ParseMode::Delete,
    ParseMode::Dump,
];

/// Whatever parses prints to text that parses to the same thing, in the same mode.
fn check_stable(text: &str) -> Result<(), TestCaseError> {
    for mode in MODES {
        if let Ok(fm) = parse_flow(text, mode, &TestPorts) {
            for names in [false, true] {
                let printed = format_flow(&fm, &TestPorts, names);
                let again = parse_flow(&printed, mode, &TestPorts);
                prop_assert_eq!(
                    again.as_ref(),
                    Ok(&fm),
                    "{:?} in {} printed as {:?}",
                    text,
                    mode,
                    printed
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn add_flows_round_trip(fm in arb_flow_mod(), names in any::<bool>()) {
        let text = format_flow(&fm, &TestPorts, names);
        let parsed = parse_flow(&text, ParseMode::Add, &TestPorts);
        prop_assert_eq!(parsed.as_ref(), Ok(&fm), "printed as {:?}", text);
        // And as mod-flows.
        let parsed = parse_flow(&text, ParseMode::Modify, &TestPorts);
        prop_assert_eq!(parsed.as_ref(), Ok(&fm), "printed as {:?}", text);
    }

    #[test]
    fn del_flows_round_trip(fm in arb_del_flow_mod(), names in any::<bool>()) {
        let text = format_flow(&fm, &TestPorts, names);
        for mode in [ParseMode::Delete, ParseMode::Dump] {
            let parsed = parse_flow(&text, mode, &TestPorts);
            prop_assert_eq!(parsed.as_ref(), Ok(&fm), "printed as {:?}", text);
        }
    }

    #[test]
    fn random_text_never_panics(text in ".{0,200}") {
        check_stable(&text)?;
    }

    #[test]
    fn flowish_text_never_panics(text in "[a-z_=,:()\\[\\]0-9x./ \"-]{0,120}") {
        check_stable(&text)?;
    }

    #[test]
    fn mutated_flows_never_panic(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec(arb_edit(), 1..6),
    ) {
        let corpus = corpus();
        let mut text = corpus[pick.index(corpus.len())].clone();
        for e in &edits {
            text = apply(&text, e);
        }
        check_stable(&text)?;
    }
}
