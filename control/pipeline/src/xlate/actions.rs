//! The semantics of each OpenFlow action and instruction on the translation's `flow`
//! (OVS's `do_xlate_actions()`, ofproto/ofproto-dpif-xlate.c): what it changes, what it
//! consults, and whether the rule's actions go on.

use xvs_dataplane::flow_key::{VLAN_PCP_MASK, VLAN_PRESENT, VLAN_VID_MASK};
use xvs_dataplane::wire::ethertype;
use xvs_dataplane::Tpid;

use super::{Ctx, DropReason, Step, TraceEvent};
use crate::ofp::{
    Action, Field, FieldSlice, LearnItem, LearnSpec, LearnSrc, Match, OfPort, Prerequisite,
    OFPP_ALL, OFPP_FLOOD, OFPP_IN_PORT, OFPP_LOCAL, OFPP_MAX,
};
use crate::ofproto::LearnedFlow;

impl<'a> Ctx<'a> {
    pub(super) fn run_one(&mut self, a: &'a Action) -> Step {
        match a {
            Action::Output(p) => self.output(*p),
            Action::OutputField(slice) => {
                slice.mark(&mut self.out.consulted);
                let p = slice.read(&self.flow) as OfPort;
                self.output(p);
            }
            Action::Controller { .. } => self.punt_to_controller(DropReason::Controller),
            Action::ModVlanVid(vid) | Action::SetVlanVid(vid) => {
                let tagged = self.flow.vlan_tci & VLAN_PRESENT != 0;
                if tagged {
                    self.flow.vlan_tci = (self.flow.vlan_tci & !VLAN_VID_MASK) | vid;
                } else if matches!(a, Action::ModVlanVid(_)) {
                    self.flow.vlan_tci = VLAN_PRESENT | vid;
                }
            }
            Action::ModVlanPcp(pcp) | Action::SetVlanPcp(pcp) => {
                let tagged = self.flow.vlan_tci & VLAN_PRESENT != 0;
                let pcp = (*pcp as u16) << 13;
                if tagged {
                    self.flow.vlan_tci = (self.flow.vlan_tci & !VLAN_PCP_MASK) | pcp;
                } else if matches!(a, Action::ModVlanPcp(_)) {
                    self.flow.vlan_tci = VLAN_PRESENT | pcp;
                }
            }
            Action::StripVlan | Action::PopVlan => {
                self.flow.vlan_tci = 0;
                self.flow_tpid = None;
            }
            Action::PushVlan(tpid) => {
                if self.flow.vlan_tci & VLAN_PRESENT != 0 {
                    self.dropped(|| DropReason::SecondVlanTag);
                } else {
                    self.flow.vlan_tci = VLAN_PRESENT;
                    self.flow_tpid = Some(Tpid::Is(*tpid));
                }
            }
            Action::SetTunnel { id, .. } => self.flow.tun_id = *id,
            Action::Resubmit { port, table } => {
                let saved_in_port = self.flow.in_port;
                if let Some(p) = port {
                    self.flow.in_port = *p;
                }
                self.depth += 1;
                self.lookup_and_run(table.unwrap_or(self.table));
                self.depth -= 1;
                self.flow.in_port = saved_in_port;
            }
            Action::ModDlSrc(m) => self.write(FieldSlice::whole(Field::DlSrc), m.to_u64().into()),
            Action::ModDlDst(m) => self.write(FieldSlice::whole(Field::DlDst), m.to_u64().into()),
            Action::ModNwSrc(ip) | Action::ModNwDst(ip) => {
                if Prerequisite::Ipv4.check(&self.flow, &mut self.out.consulted) {
                    let f = match a {
                        Action::ModNwSrc(_) => Field::NwSrc,
                        _ => Field::NwDst,
                    };
                    self.write(FieldSlice::whole(f), (*ip).into());
                }
            }
            Action::ModNwTos(tos) => {
                if Prerequisite::IpAny.check(&self.flow, &mut self.out.consulted) {
                    self.write(FieldSlice::whole(Field::NwTos), (*tos).into());
                }
            }
            Action::ModTpSrc(p) | Action::ModTpDst(p) => {
                if Prerequisite::IpAny.check(&self.flow, &mut self.out.consulted) {
                    let f = match a {
                        Action::ModTpSrc(_) => Field::TcpSrc,
                        _ => Field::TcpDst,
                    };
                    self.write(FieldSlice::whole(f), (*p).into());
                }
            }
            Action::SetField { .. } | Action::Load { .. } => {
                let (field, value, mask) = a.set_field_parts().expect("a set_field");
                self.set_field(field, value, mask);
            }
            Action::Move { src, dst } => {
                // As OVS's mf_subfield_copy(): nothing unless both fields exist here.
                let consulted = &mut self.out.consulted;
                if dst.field.prerequisite().check(&self.flow, consulted)
                    && src.field.prerequisite().check(&self.flow, consulted)
                {
                    src.mark(consulted);
                    let v = src.read(&self.flow);
                    self.write(*dst, v);
                }
            }
            Action::DecTtl(_) => return self.dec_ttl(),
            Action::Note(_) => {}
            Action::Learn(spec) => self.learn(spec),
            Action::WriteMetadata { value, mask } => {
                self.flow.metadata = (self.flow.metadata & !mask) | (value & mask);
            }
            Action::GotoTable(t) => {
                if *t <= self.table {
                    let from = self.table;
                    self.dropped(|| DropReason::GotoTableNotForward { from, to: *t });
                    return Step::Stop;
                }
                return Step::Goto(*t);
            }
        }
        Step::Next
    }

    /// set_field and load, as OVS's xlate: only when the packet has the field (its
    /// prerequisites, and a tag for `vlan_vid`), which is then consulted.
    fn set_field(&mut self, field: Field, value: u128, mask: u128) {
        let consulted = &mut self.out.consulted;
        if !field.prerequisite().check(&self.flow, consulted) {
            return;
        }
        if field == Field::VlanVid {
            consulted.vlan_tci |= VLAN_PRESENT;
            if self.flow.vlan_tci & VLAN_PRESENT == 0 {
                return;
            }
        }
        let old = field.get(&self.flow);
        field.set(&mut self.flow, (old & !mask) | (value & mask));
        self.mark_dirty(field, mask);
    }

    /// `dec_ttl`: IPv4 or IPv6 only; a TTL of 0 or 1 ends the rule's actions (OVS sends
    /// the packet to the controller).
    fn dec_ttl(&mut self) -> Step {
        if !Prerequisite::IpAny.check(&self.flow, &mut self.out.consulted) {
            return Step::Next;
        }
        self.out.consulted.nw_ttl = u8::MAX;
        self.out.consulted.nw_proto = u8::MAX;
        if self.flow.nw_ttl > 1 {
            self.flow.nw_ttl -= 1;
            self.dirty.nw_ttl = u8::MAX;
            Step::Next
        } else {
            let ipv6 = self.flow.dl_type == ethertype::IPV6;
            self.punt_to_controller(DropReason::InvalidTtl { ipv6 });
            Step::Stop
        }
    }

    pub(super) fn punt_to_controller(&mut self, why: DropReason) {
        self.note(|| TraceEvent::Dropped(why.clone()));
        self.out.to_controller.push(why);
    }

    fn write(&mut self, dst: FieldSlice, v: u128) {
        dst.write(&mut self.flow, v);
        self.mark_dirty(dst.field, dst.field_mask());
    }

    /// Marks `bits` of `field` as written, for the commit. The pipeline's own state
    /// (metadata, registers) is no packet field: writing it needs no commit.
    fn mark_dirty(&mut self, field: Field, bits: u128) {
        if !matches!(field, Field::Metadata | Field::Reg(_)) {
            field.add_to_mask(&mut self.dirty, bits);
        }
    }

    fn learn(&mut self, spec: &LearnSpec) {
        let mut matcher = Match::default();
        let mut actions = Vec::new();
        let read = |src: &LearnSrc, ctx: &mut Ctx<'_>| match src {
            LearnSrc::Field(s) => {
                s.mark(&mut ctx.out.consulted);
                s.read(&ctx.flow)
            }
            LearnSrc::Immediate(v) => *v,
        };
        for item in &spec.items {
            match item {
                LearnItem::Match { dst, src } => {
                    let v = read(src, self);
                    matcher.set_masked(dst.field, v << dst.ofs, dst.field_mask());
                }
                LearnItem::Load { src, dst } => {
                    let value = read(src, self);
                    actions.push(Action::Load { value, dst: *dst });
                }
                LearnItem::Output { src } => {
                    // As OVS's learn_execute(): a port that fits 16 bits and is a real
                    // port or one of the reserved ports an output may name.
                    let p = read(&LearnSrc::Field(*src), self);
                    if let Ok(p) = u16::try_from(p) {
                        let p = OfPort::from(p);
                        if p < OFPP_MAX
                            || matches!(p, OFPP_IN_PORT | OFPP_FLOOD | OFPP_LOCAL | OFPP_ALL)
                        {
                            actions.push(Action::Output(p));
                        }
                    }
                }
            }
        }
        let learned = LearnedFlow {
            bridge: self.bridge.id,
            table: spec.table,
            priority: spec.priority,
            idle_timeout: spec.idle_timeout,
            hard_timeout: spec.hard_timeout,
            cookie: spec.cookie,
            matcher,
            actions,
        };
        self.note(|| TraceEvent::Learn(learned.clone()));
        self.out.learned.push(learned);
    }
}
