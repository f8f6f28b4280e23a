//! An XDP attachment held through a bpf_link, detached the moment it is dropped.
//!
//! Closing a link's file descriptor detaches the program only when the kernel drops the
//! link's last reference, and a `fork` in any other thread of the process copies the
//! descriptor into the child until the child's `exec` closes it (O_CLOEXEC). A daemon
//! or test that spawns processes while a port goes would then see the program stay
//! attached for a moment after `remove_port` returned (a CI run saw exactly that).
//! `BPF_LINK_DETACH` (Linux 5.9, the same kernels that have XDP bpf_links) detaches it
//! from the netdev at once, whoever else still holds the link.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use aya::programs::links::FdLink;

/// `BPF_LINK_GET_FD_BY_ID` and `BPF_LINK_DETACH` (uapi/linux/bpf.h).
const BPF_LINK_GET_FD_BY_ID: libc::c_long = 30;
const BPF_LINK_DETACH: libc::c_long = 34;

/// An attached XDP program; detaches on drop.
pub struct XdpAttachment {
    link: Option<FdLink>,
    /// The kernel's id of the link (valid while we hold it), to reach it by a
    /// descriptor of our own: aya does not lend out the link's.
    link_id: Option<u32>,
}

impl XdpAttachment {
    pub(crate) fn new(link: FdLink) -> XdpAttachment {
        let link_id = link.info().ok().map(|i| i.id());
        XdpAttachment {
            link: Some(link),
            link_id,
        }
    }
}

impl XdpAttachment {
    /// The kernel's id of the link (`bpftool link show`), None if the kernel did not
    /// say it.
    pub fn link_id(&self) -> Option<u32> {
        self.link_id
    }
}

impl std::fmt::Debug for XdpAttachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpAttachment")
            .field("link_id", &self.link_id)
            .finish()
    }
}

impl Drop for XdpAttachment {
    fn drop(&mut self) {
        if let Some(id) = self.link_id {
            if let Err(e) = detach_by_id(id) {
                // The close below still detaches it, only perhaps a little later.
                tracing::debug!("BPF_LINK_DETACH of link {id}: {e}");
            }
        }
        drop(self.link.take());
    }
}

/// `union bpf_attr` for the two commands (the kernel reads only its first words; the
/// size passed covers them).
#[repr(C)]
#[derive(Default)]
struct LinkAttr {
    /// link_id for GET_FD_BY_ID, link_fd for LINK_DETACH.
    first: u32,
    next_id: u32,
    open_flags: u32,
}

fn bpf(cmd: libc::c_long, attr: &mut LinkAttr) -> io::Result<libc::c_long> {
    // SAFETY: a link command's bpf_attr, with no pointers in it.
    unsafe { crate::test_run::bpf_call(cmd, attr) }
}

fn detach_by_id(link_id: u32) -> io::Result<()> {
    let fd = bpf(
        BPF_LINK_GET_FD_BY_ID,
        &mut LinkAttr {
            first: link_id,
            ..Default::default()
        },
    )?;
    // SAFETY: the kernel just gave us this descriptor; nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    use std::os::fd::AsRawFd;
    bpf(
        BPF_LINK_DETACH,
        &mut LinkAttr {
            first: fd.as_raw_fd() as u32,
            ..Default::default()
        },
    )?;
    Ok(())
}
