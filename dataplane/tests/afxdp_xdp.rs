//! The XDP program on real veths (root): a SIGKILLed datapath leaves nothing attached
//! (bpf_link), and underlay mode steers only GRE and VXLAN for our addresses to the
//! sockets while the kernel keeps everything else.

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;
use xvs_dataplane::afxdp::{AfXdpDatapath, DatapathConfig, PortMode};
use xvs_dataplane::cache::CachedFlow;
use xvs_dataplane::testnet::{
    enter_netns, in_netns, require_root, test_frame, test_frame_tag, RawSocket, SwitchNet,
};
use xvs_dataplane::worker::{Worker, WorkerCmd};
use xvs_dataplane::{DpAction, FlowKey};

const CHILD_ENV: &str = "XVS_AFXDP_SIGKILL_CHILD";
const READY: &str = "XVS-CHILD-READY";

/// Not a test by itself: the process `sigkill_leaves_no_xdp_program_attached` starts
/// and kills. Attaches a datapath port in the given namespace, says so, and waits.
#[test]
#[ignore = "child process of sigkill_leaves_no_xdp_program_attached"]
fn sigkill_child() {
    let spec =
        std::env::var(CHILD_ENV).expect("only run by sigkill_leaves_no_xdp_program_attached");
    let (ns, ifname) = spec.split_once(':').expect("NS:IFNAME");
    enter_netns(ns);
    let (_cmd_tx, cmd_rx) = bounded(16);
    let (up_tx, _up_rx) = bounded(16);
    let worker = Worker::new(0, 16, cmd_rx, up_tx);
    let dp = AfXdpDatapath::start(DatapathConfig::default(), vec![worker], || 0).unwrap();
    dp.add_port(1, ifname, PortMode::All).unwrap();
    println!("{READY}");
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn sigkill_leaves_no_xdp_program_attached() {
    require_root();
    let net = SwitchNet::new(1);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "sigkill_child", "--ignored", "--nocapture"])
        .env(
            CHILD_ENV,
            format!("{}:{}", net.ns_switch.name(), net.hosts[0].switch_if),
        )
        .stdout(Stdio::piped())
        .spawn()
        .expect("re-exec the test binary");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = bounded(1);
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if line.map(|l| l.contains(READY)).unwrap_or(false) {
                let _ = tx.send(());
                return;
            }
        }
    });
    let ready = rx.recv_timeout(Duration::from_secs(20));
    if ready.is_err() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the child did not attach (see its output above)");
    }
    let before = net.switch_link(0);
    assert!(before.contains("prog/xdp"), "child attached XDP: {before}");

    child.kill().unwrap(); // SIGKILL: no destructor runs
    let status = child.wait().unwrap();
    assert!(!status.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let after = net.switch_link(0);
        if !after.contains("xdp") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "XDP still attached after SIGKILL: {after}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn csum(data: &[u8]) -> u16 {
    let mut s: u32 = data
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32)
        .sum();
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Ethernet [802.1Q] IPv4 GRE(key) carrying `inner`.
fn gre_frame(
    dst: [u8; 6],
    src: [u8; 6],
    vlan: Option<u16>,
    ip_src: Ipv4Addr,
    ip_dst: Ipv4Addr,
    inner: &[u8],
) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    if let Some(vid) = vlan {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&vid.to_be_bytes());
    }
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + 8 + inner.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0x40, 0, 64, 47, 0, 0]);
    ip.extend_from_slice(&ip_src.octets());
    ip.extend_from_slice(&ip_dst.octets());
    let c = csum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&[0x20, 0x00, 0x65, 0x58, 0, 0, 0x03, 0xe7]);
    f.extend_from_slice(inner);
    f
}

/// Ethernet [802.1Q] IPv4 (with `ip_options`, a multiple of 4 bytes) UDP to `dst_port`
/// carrying VXLAN (VNI 0x3e7) and `inner`; `frag_off` is the IPv4 flags/offset word.
#[allow(clippy::too_many_arguments)]
fn vxlan_frame(
    dst: [u8; 6],
    src: [u8; 6],
    vlan: Option<u16>,
    ip_src: Ipv4Addr,
    ip_dst: Ipv4Addr,
    ip_options: &[u8],
    frag_off: u16,
    dst_port: u16,
    inner: &[u8],
) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    if let Some(vid) = vlan {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&vid.to_be_bytes());
    }
    f.extend_from_slice(&[0x08, 0x00]);
    let ihl = 5 + ip_options.len() / 4;
    let udp_len = (8 + 8 + inner.len()) as u16;
    let total = (ihl * 4) as u16 + udp_len;
    let mut ip = vec![0x40 | ihl as u8, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 1]);
    ip.extend_from_slice(&frag_off.to_be_bytes());
    ip.extend_from_slice(&[64, 17, 0, 0]);
    ip.extend_from_slice(&ip_src.octets());
    ip.extend_from_slice(&ip_dst.octets());
    ip.extend_from_slice(ip_options);
    let c = csum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&50000u16.to_be_bytes());
    f.extend_from_slice(&dst_port.to_be_bytes());
    f.extend_from_slice(&udp_len.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&[0x08, 0, 0, 0, 0, 0x03, 0xe7, 0]);
    f.extend_from_slice(inner);
    f
}

fn arp_request(src_mac: [u8; 6], spa: Ipv4Addr, tpa: Ipv4Addr) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&spa.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&tpa.octets());
    f
}

/// Frames on `s` within `quiet`: (ours by payload tag, ARP replies).
fn collect(s: &RawSocket, quiet: Duration) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let all = s.recv_all(quiet);
    let arp = all
        .iter()
        .filter(|f| f.len() >= 22 && f[12..14] == [0x08, 0x06] && f[20..22] == [0, 2])
        .cloned()
        .collect();
    (all, arp)
}

#[test]
fn underlay_mode_steers_only_local_gre_and_vxlan() {
    require_root();
    let net = SwitchNet::new(2);
    let local: Ipv4Addr = "10.77.0.1".parse().unwrap();
    let peer: Ipv4Addr = "10.77.0.2".parse().unwrap();
    net.ns_switch.ip(&[
        "addr",
        "add",
        "10.77.0.1/24",
        "dev",
        &net.hosts[0].switch_if,
    ]);
    net.hosts[0]
        .ns
        .ip(&["addr", "add", "10.77.0.2/24", "dev", &net.hosts[0].host_if]);

    // The worker forwards whatever reaches it from port 1 to port 2 (it is not told
    // port 1 is an underlay, so it does not decapsulate): what arrives on host 1 is
    // exactly what the XDP program steered to the socket.
    let (cmd_tx, cmd_rx) = bounded(16);
    let (up_tx, _up_rx) = bounded(16);
    let worker = Worker::new(0, 16, cmd_rx, up_tx);
    let key = FlowKey {
        in_port: 1,
        ..Default::default()
    };
    let mask = FlowKey {
        in_port: u32::MAX,
        ..Default::default()
    };
    cmd_tx
        .send(WorkerCmd::Install(Arc::new(CachedFlow::new(
            1,
            &key,
            mask,
            &[DpAction::Output(2)],
            0,
        ))))
        .unwrap();
    let dp = in_netns(&net.ns_switch, || {
        let dp = AfXdpDatapath::start(DatapathConfig::default(), vec![worker], || 0).unwrap();
        dp.add_port(1, &net.hosts[0].switch_if, PortMode::Underlay)
            .unwrap();
        dp.add_port(2, &net.hosts[1].switch_if, PortMode::All)
            .unwrap();
        dp
    });
    dp.add_underlay_ip(1, local).unwrap();

    let s0 = net.host_socket(0);
    let s1 = net.host_socket(1);
    let (m0, xm0) = (
        net.hosts[0].host_mac,
        xvs_dataplane::testnet::mac_of(Some(&net.ns_switch), &net.hosts[0].switch_if),
    );
    let inner = test_frame([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1], 7, 80);
    let gre_local = gre_frame(xm0, m0, None, peer, local, &inner);
    let gre_tagged = gre_frame(xm0, m0, Some(5), peer, local, &inner);
    let gre_other = gre_frame(xm0, m0, None, peer, "10.77.0.9".parse().unwrap(), &inner);
    let plain = test_frame(xm0, m0, 9, 64);
    let other: Ipv4Addr = "10.77.0.9".parse().unwrap();
    let vx = |vlan, dst, opts: &[u8], frag, port| {
        vxlan_frame(xm0, m0, vlan, peer, dst, opts, frag, port, &inner)
    };
    let vx_local = vx(None, local, &[], 0x4000, 4789);
    let vx_tagged = vx(Some(5), local, &[], 0x4000, 4789);
    // IHL 6 (NOP NOP NOP EOL): the UDP header is found past the options.
    let vx_options = vx(None, local, &[1, 1, 1, 0], 0, 4789);
    let vx_other = vx(None, other, &[], 0x4000, 4789);
    let udp_other_port = vx(None, local, &[], 0x4000, 4790);
    let vx_first_frag = vx(None, local, &[], 0x2000, 4789);
    let vx_later_frag = vx(None, local, &[], 0x0010, 4789);

    // ARP for the switch's address: answered by its kernel, not steered.
    s0.send(&arp_request(m0, peer, local)).unwrap();
    let (_, replies) = collect(&s0, Duration::from_millis(300));
    assert_eq!(replies.len(), 1, "the kernel answered ARP for {local}");
    let (on1, _) = collect(&s1, Duration::from_millis(100));
    assert!(on1.is_empty(), "ARP was not steered to the socket: {on1:?}");

    for f in [&gre_local, &gre_tagged, &gre_other, &plain] {
        s0.send(f).unwrap();
    }
    let (on1, _) = collect(&s1, Duration::from_millis(300));
    assert_eq!(
        on1,
        vec![gre_local.clone(), gre_tagged.clone()],
        "only GRE to {local} (untagged and tagged) reaches the datapath"
    );

    for f in [
        &vx_local,
        &vx_other,
        &vx_tagged,
        &udp_other_port,
        &vx_options,
        &vx_first_frag,
        &vx_later_frag,
    ] {
        s0.send(f).unwrap();
    }
    let (on1, _) = collect(&s1, Duration::from_millis(300));
    assert_eq!(
        on1,
        vec![vx_local.clone(), vx_tagged.clone(), vx_options.clone()],
        "only unfragmented UDP to port 4789 of {local} (untagged, tagged, with IPv4 \
         options) reaches the datapath"
    );

    // Without the address, GRE to it goes to the kernel too.
    dp.remove_underlay_ip(1, local).unwrap();
    s0.send(&gre_local).unwrap();
    s0.send(&vx_local).unwrap();
    let (on1, _) = collect(&s1, Duration::from_millis(200));
    assert!(
        on1.is_empty(),
        "GRE and VXLAN to a removed address are not steered"
    );
    let c = dp.xdp_counters(1).unwrap();
    assert_eq!(c.to_xsk, 5, "{c:?}");
    // ARP, gre_other, plain, 4 VXLAN-like refusals, and the 2 after the removal.
    assert!(c.to_kernel >= 9, "{c:?}");
    assert!(test_frame_tag(&inner).is_some());
    dp.stop();
}

/// The id of the XDP program attached to switch port `i` (`ip -d link show`: `prog/xdp
/// id N`), None without one.
fn xdp_prog_id(net: &SwitchNet, i: usize) -> Option<u32> {
    let link = net.switch_link(i);
    let rest = &link[link.find("prog/xdp id ")? + "prog/xdp id ".len()..];
    rest.split_whitespace().next()?.parse().ok()
}

/// Frames with `tag` in their payload among `frames`.
fn tagged(frames: &[Vec<u8>], tag: u32) -> usize {
    frames
        .iter()
        .filter(|f| test_frame_tag(f) == Some(tag))
        .count()
}

/// One datapath loads the XDP program once and attaches that same program to every port
/// (the kernel's dispatcher only takes a reference for a program it already runs), and
/// the shared maps still steer per port: a frame reaches only its own port's socket, an
/// underlay keeps its non-tunnel traffic for the kernel while a normal port takes
/// everything, a removed port leaves the others forwarding, and the last one takes the
/// program with it.
#[test]
fn ports_share_one_xdp_program_and_steer_per_port() {
    require_root();
    let net = SwitchNet::new(4);
    let local: Ipv4Addr = "10.78.0.1".parse().unwrap();
    let peer: Ipv4Addr = "10.78.0.2".parse().unwrap();
    net.ns_switch.ip(&[
        "addr",
        "add",
        "10.78.0.1/24",
        "dev",
        &net.hosts[0].switch_if,
    ]);
    net.hosts[0]
        .ns
        .ip(&["addr", "add", "10.78.0.2/24", "dev", &net.hosts[0].host_if]);

    // Port 1 (underlay) and port 3 forward to port 2, port 2 to port 3: where a frame
    // comes out says which port's socket it reached.
    let (cmd_tx, cmd_rx) = bounded(16);
    let (up_tx, _up_rx) = bounded(16);
    let worker = Worker::new(0, 16, cmd_rx, up_tx);
    for (id, (inp, out)) in [(1u32, 2u32), (2, 3), (3, 2), (4, 2)]
        .into_iter()
        .enumerate()
    {
        let key = FlowKey {
            in_port: inp,
            ..Default::default()
        };
        let mask = FlowKey {
            in_port: u32::MAX,
            ..Default::default()
        };
        cmd_tx
            .send(WorkerCmd::Install(Arc::new(CachedFlow::new(
                id as u64 + 1,
                &key,
                mask,
                &[DpAction::Output(out)],
                0,
            ))))
            .unwrap();
    }
    let dp = in_netns(&net.ns_switch, || {
        let dp = AfXdpDatapath::start(DatapathConfig::default(), vec![worker], || 0).unwrap();
        assert!(
            dp.xdp_program_ids().is_empty(),
            "nothing loaded before a port"
        );
        dp.add_port(1, &net.hosts[0].switch_if, PortMode::Underlay)
            .unwrap();
        dp.add_port(2, &net.hosts[1].switch_if, PortMode::All)
            .unwrap();
        dp.add_port(3, &net.hosts[2].switch_if, PortMode::All)
            .unwrap();
        // A second underlay, without port 1's address.
        dp.add_port(4, &net.hosts[3].switch_if, PortMode::Underlay)
            .unwrap();
        dp
    });
    dp.add_underlay_ip(1, local).unwrap();

    let ids = dp.xdp_program_ids();
    assert_eq!(ids.len(), 1, "one program for the namespace: {ids:?}");
    let id = ids[0];
    for i in 0..4 {
        assert_eq!(
            xdp_prog_id(&net, i),
            Some(id),
            "port {} runs the datapath's one program: {}",
            i + 1,
            net.switch_link(i)
        );
    }

    let s0 = net.host_socket(0);
    let s1 = net.host_socket(1);
    let s2 = net.host_socket(2);
    let s3 = net.host_socket(3);
    let xm =
        |i: usize| xvs_dataplane::testnet::mac_of(Some(&net.ns_switch), &net.hosts[i].switch_if);
    let mh = |i: usize| net.hosts[i].host_mac;
    let inner = test_frame([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1], 101, 80);
    let gre_local = gre_frame(xm(0), mh(0), None, peer, local, &inner);

    // Each normal port takes everything, into its own socket.
    s1.send(&test_frame(xm(1), mh(1), 20, 64)).unwrap();
    s2.send(&test_frame(xm(2), mh(2), 30, 64)).unwrap();
    let on1 = s1.recv_all(Duration::from_millis(300));
    let on2 = s2.recv_all(Duration::from_millis(100));
    assert_eq!(
        tagged(&on2, 20),
        1,
        "port 2's frame came in on port 2: {on2:?}"
    );
    assert_eq!(
        tagged(&on1, 30),
        1,
        "port 3's frame came in on port 3: {on1:?}"
    );
    assert_eq!(tagged(&on1, 20) + tagged(&on2, 30), 0);

    // The underlay: a plain frame stays with the kernel, GRE to its address is steered.
    s0.send(&test_frame(xm(0), mh(0), 10, 64)).unwrap();
    s0.send(&gre_local).unwrap();
    let on1 = s1.recv_all(Duration::from_millis(300));
    let on2 = s2.recv_all(Duration::from_millis(100));
    assert_eq!(
        tagged(&on1, 10) + tagged(&on2, 10),
        0,
        "not steered on the underlay"
    );
    assert_eq!(
        on1.iter().filter(|f| **f == gre_local).count(),
        1,
        "GRE to {local} reached port 1's socket: {on1:?}"
    );
    let c1 = dp.xdp_counters(1).unwrap();
    let c2 = dp.xdp_counters(2).unwrap();
    let c3 = dp.xdp_counters(3).unwrap();
    assert!(c1.to_xsk == 1 && c1.to_kernel >= 1, "port 1: {c1:?}");
    assert!(c2.to_xsk >= 1, "port 2: {c2:?}");
    assert!(c3.to_xsk >= 1, "port 3: {c3:?}");

    // A local address is its underlay's only: GRE to port 1's address on port 4 stays
    // with the kernel.
    s3.send(&gre_frame(xm(3), mh(3), None, peer, local, &inner))
        .unwrap();
    let on1 = s1.recv_all(Duration::from_millis(300));
    assert!(on1.is_empty(), "not steered on port 4: {on1:?}");
    let c4 = dp.xdp_counters(4).unwrap();
    assert!(c4.to_xsk == 0 && c4.to_kernel >= 1, "port 4: {c4:?}");
    assert_eq!(
        dp.xdp_counters(1).unwrap().to_xsk,
        1,
        "port 1's counters are its own"
    );

    // Port 3 goes: port 1 still forwards to port 2, the others keep the same program.
    dp.remove_port(3).unwrap();
    assert_eq!(xdp_prog_id(&net, 2), None, "{}", net.switch_link(2));
    assert_eq!(xdp_prog_id(&net, 0), Some(id));
    assert_eq!(xdp_prog_id(&net, 1), Some(id));
    s0.send(&gre_local).unwrap();
    let on1 = s1.recv_all(Duration::from_millis(300));
    assert_eq!(
        on1.iter().filter(|f| **f == gre_local).count(),
        1,
        "port 1 still forwards after port 3 left: {on1:?}"
    );
    let c1 = dp.xdp_counters(1).unwrap();
    assert_eq!(c1.to_xsk, 2, "{c1:?}");

    // A port added again gets the same program and fresh counters.
    in_netns(&net.ns_switch, || {
        dp.add_port(3, &net.hosts[2].switch_if, PortMode::All)
            .unwrap()
    });
    assert_eq!(xdp_prog_id(&net, 2), Some(id));
    assert_eq!(dp.xdp_counters(3).unwrap().to_xsk, 0);

    // The last port takes the program with it.
    for p in [1, 2, 3, 4] {
        dp.remove_port(p).unwrap();
    }
    for i in 0..4 {
        assert_eq!(xdp_prog_id(&net, i), None, "{}", net.switch_link(i));
        assert!(
            !net.switch_link(i).contains("xdp"),
            "{}",
            net.switch_link(i)
        );
    }
    assert!(dp.xdp_program_ids().is_empty());
    dp.stop();
}

/// A port's XDP program is gone from its netdev the moment its handle is dropped, even
/// while another reference to the bpf_link is alive. A `fork` in any thread copies the
/// link's descriptor into the child until its `exec`; here a descriptor opened by the
/// link's id stands for that child (closing the handle's own descriptor alone would
/// leave the program attached until this one closes: a CI run saw it).
#[test]
fn a_dropped_port_detaches_at_once_while_its_link_is_held_elsewhere() {
    require_root();
    let net = SwitchNet::new(1);
    let set = xvs_ebpf::XdpSet::new();
    let prog = in_netns(&net.ns_switch, || {
        set.attach(&net.hosts[0].switch_if, xvs_ebpf::XdpMode::Auto, 1)
            .unwrap()
    });
    let link_id = prog.link_id().expect("the kernel names the link");
    assert!(xdp_prog_id(&net, 0).is_some(), "{}", net.switch_link(0));

    #[repr(C)]
    struct GetFdById {
        link_id: u32,
        next_id: u32,
        open_flags: u32,
    }
    let mut attr = GetFdById {
        link_id,
        next_id: 0,
        open_flags: 0,
    };
    // SAFETY: BPF_LINK_GET_FD_BY_ID (30) reads this plain bpf_attr prefix.
    let held = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            30 as libc::c_long,
            &mut attr as *mut GetFdById,
            std::mem::size_of::<GetFdById>() as libc::c_uint,
        )
    };
    assert!(held >= 0, "{}", std::io::Error::last_os_error());

    drop(prog);
    assert_eq!(xdp_prog_id(&net, 0), None, "{}", net.switch_link(0));
    assert!(set.program_ids().is_empty());
    // SAFETY: our own descriptor, closed once.
    unsafe { libc::close(held as i32) };
}

/// The kernel says whether a veth takes frames redirected from XDP: only while its
/// peer can receive them (GRO or an XDP program there turns its NAPI on). The XDP tier
/// outputs only to ports that say so.
#[test]
fn a_veth_takes_redirects_only_while_its_peer_has_napi() {
    require_root();
    let net = SwitchNet::new(1);
    let host = &net.hosts[0];
    let ifindex = in_netns(&net.ns_switch, || {
        xvs_ebpf::ifindex(&host.switch_if).unwrap()
    });
    let probe = || {
        in_netns(&net.ns_switch, || {
            xvs_dataplane::afxdp::xdp_features::XdpFeatures::open()
                .unwrap()
                .takes_redirects(ifindex)
        })
    };
    // The test nets turn GRO on for every veth end.
    assert!(probe(), "the peer's GRO is on");
    host.ns
        .exec("ethtool", &["-K", &host.host_if, "gro", "off"]);
    assert!(!probe(), "a veth whose peer has neither GRO nor XDP");
    host.ns.exec("ethtool", &["-K", &host.host_if, "gro", "on"]);
    assert!(probe(), "GRO on again");
}
