//! `BPF_PROG_TEST_RUN` (alias `BPF_PROG_RUN`): a loaded program run on a frame in
//! the kernel, without attaching it; used by the tier's harness and the bench sink's
//! checks.

use std::io;

/// `BPF_PROG_TEST_RUN`'s command number (uapi/linux/bpf.h).
const BPF_PROG_TEST_RUN: libc::c_long = 10;

/// The `test` member of `union bpf_attr`.
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct TestRunAttr {
    pub prog_fd: u32,
    pub retval: u32,
    pub data_size_in: u32,
    pub data_size_out: u32,
    pub data_in: u64,
    pub data_out: u64,
    pub repeat: u32,
    pub duration: u32,
    pub ctx_size_in: u32,
    pub ctx_size_out: u32,
    pub ctx_in: u64,
    pub ctx_out: u64,
    pub flags: u32,
    pub cpu: u32,
    pub batch_size: u32,
    pub _pad: u32,
}

/// `struct xdp_md` as `ctx_in` of a test run.
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct XdpMd {
    pub data: u32,
    pub data_end: u32,
    pub data_meta: u32,
    pub ingress_ifindex: u32,
    pub rx_queue_index: u32,
    pub egress_ifindex: u32,
}

/// `bpf(cmd, attr, sizeof attr)`: the crate's raw BPF commands (test runs, link
/// detach, batched lookups, devmap deletes) that aya does not offer.
///
/// # Safety
/// `attr` is a valid, initialised `union bpf_attr` prefix for `cmd`, and every pointer
/// in it points to a buffer as large as the command reads or writes, alive for the
/// call.
pub(crate) unsafe fn bpf_call<A>(cmd: libc::c_long, attr: &mut A) -> io::Result<libc::c_long> {
    // SAFETY: the caller vouches for attr and the buffers it points to.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut A,
            std::mem::size_of::<A>() as libc::c_uint,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r)
}

/// Runs the test run `attr` describes; the kernel writes `retval`, `data_size_out`
/// and the output buffers.
///
/// # Safety
/// Every pointer in `attr` (`data_in`, `data_out`, `ctx_in`, `ctx_out`) is null with a
/// size of 0, or points to a buffer of at least the size `attr` gives for it that
/// outlives the call.
pub(crate) unsafe fn prog_test_run(attr: &mut TestRunAttr) -> io::Result<()> {
    // SAFETY: attr is a test run's bpf_attr; the caller vouches for its buffers.
    unsafe { bpf_call(BPF_PROG_TEST_RUN, attr) }.map(|_| ())
}
