//! The bounds of one translation (OVS's `xlate_resubmit_resource_check`,
//! ofproto/ofproto-dpif-xlate.c). Without them one flow such as
//! `actions=resubmit(,0),resubmit(,0)` makes a translation that never ends: the control
//! thread would hang and its memory grow until the host runs out. A translation that
//! hits a bound stops at once and its packet is dropped, counted under the bound's name
//! ([`crate::switch::DropStats`]); the rest of the switch goes on.

use super::{Ctx, TraceEvent};

/// Nested resubmits and patch crossings deeper than this are a loop. OVS uses 64 too,
/// but counts only resubmits to the same or an earlier table (and patch ports); xvs
/// counts every resubmit, which also bounds how deep its translation recurses.
pub const MAX_DEPTH: u32 = 64;

/// Table lookups that found a rule after the first one (resubmits, `goto_table`,
/// patch crossings), in all, per translation: OVS's `MAX_RESUBMITS`. A binary tree of
/// 13 tables (each rule resubmitting twice to the next) needs 8,190 and is stopped here.
pub const MAX_RESUBMITS: u32 = MAX_DEPTH * MAX_DEPTH;

/// Datapath actions one translation may produce. OVS stops at 64 kB of netlink
/// actions, 8,192 of its 8-byte outputs; xvs counts actions.
pub const MAX_ACTIONS: usize = 8192;

/// Flows the `learn` actions of one translation may ask for (OVS has no such bound;
/// its learned flows are installed as the translation goes). Each is installed again
/// for every packet of a cached translation, so their number is what a translation
/// costs again and again.
pub const MAX_LEARNED: usize = 1024;

/// A bound a translation hit (OVS's `enum xlate_error`, the ones of its resources).
/// The texts are OVS's `xlate_strerror`'s where OVS has the bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum XlateError {
    /// Over [`MAX_DEPTH`] nested resubmits or patch crossings.
    #[error("Recursion too deep")]
    RecursionTooDeep,
    /// Over [`MAX_RESUBMITS`] resubmits in all.
    #[error("Too many resubmits")]
    TooManyResubmits,
    /// Over [`MAX_ACTIONS`] datapath actions.
    #[error("Too many datapath actions")]
    TooManyActions,
    /// Over [`MAX_LEARNED`] learned flows.
    #[error("Too many learned flows")]
    TooManyLearned,
}

impl XlateError {
    /// What `ofproto/trace` says where the bound was hit (OVS's words where it has them).
    pub fn trace_text(self) -> String {
        match self {
            XlateError::RecursionTooDeep => format!("over max translation depth {MAX_DEPTH}"),
            XlateError::TooManyResubmits => format!("over {MAX_RESUBMITS} resubmit actions"),
            XlateError::TooManyActions => {
                format!("translation yielded over {MAX_ACTIONS} datapath actions")
            }
            XlateError::TooManyLearned => {
                format!("translation yielded over {MAX_LEARNED} learned flows")
            }
        }
    }

    /// Its name in `dp-show` and the counters.
    pub fn counter_name(self) -> &'static str {
        match self {
            XlateError::RecursionTooDeep => "recursion-too-deep",
            XlateError::TooManyResubmits => "too-many-resubmits",
            XlateError::TooManyActions => "too-many-actions",
            XlateError::TooManyLearned => "too-many-learned",
        }
    }
}

impl Ctx<'_> {
    /// Whether the translation may look up another table (a resubmit, `goto_table`,
    /// a patch crossing): the depth and resubmit bounds, and what it has produced so
    /// far. Past a bound the translation has failed.
    pub(super) fn may_resubmit(&mut self) -> bool {
        if self.error.is_some() {
            return false;
        }
        if self.depth >= MAX_DEPTH {
            self.fail(XlateError::RecursionTooDeep);
        } else if self.resubmits >= MAX_RESUBMITS {
            self.fail(XlateError::TooManyResubmits);
        } else {
            self.check_produced();
        }
        self.error.is_none()
    }

    /// After each action: whether its outputs and learned flows are still within bounds.
    /// One action adds at most a flood's worth, so the lists stay near their bounds.
    pub(super) fn check_produced(&mut self) {
        if self.out.actions.len() > MAX_ACTIONS {
            self.fail(XlateError::TooManyActions);
        } else if self.out.learned.len() > MAX_LEARNED {
            self.fail(XlateError::TooManyLearned);
        }
    }

    /// Stops the translation: every action of every rule still running returns, and
    /// [`Ctx::finish`] makes the outcome a drop.
    pub(super) fn fail(&mut self, e: XlateError) {
        if self.error.is_none() {
            self.error = Some(e);
            self.note(|| TraceEvent::Failed(e));
        }
    }
}
