//! Hosts as Linux network namespaces on a bridge, made and removed by the test: each namespace has
//! its own loopback, its own abstract Unix sockets and one address on the bridge's subnet, so
//! `oryx up FILE --host NAME` inside it is a machine of its own. Names and the subnet are unique per
//! test process; everything is removed on drop, even when the test panics. Needs root (`ip netns`).

use std::net::Ipv4Addr;
use std::process::Command;

/// One namespace ("host") on the bridge.
pub struct Host {
    pub name: String,
    pub ns: String,
    pub address: Ipv4Addr,
    /// The veth end on the bridge (outside the namespace): down cuts the host's link.
    veth: String,
}

/// A bridge with its hosts; the test process reaches every host through the bridge's own address.
pub struct Hosts {
    bridge: String,
    pub hosts: Vec<Host>,
}

/// Whether this process may make namespaces (root, with `ip`).
pub fn available() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"];
    root && ip.iter().any(|p| std::path::Path::new(p).exists())
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip runs");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Hosts {
    /// Namespaces named after `names` on a fresh bridge and /24.
    pub fn new(names: &[&str]) -> Hosts {
        let id = std::process::id() % 100_000;
        let (a, b) = (200 + (id / 250 % 50) as u8, (id % 250) as u8);
        let bridge = format!("oxb{id}");
        let mut hosts = Hosts {
            bridge: bridge.clone(),
            hosts: Vec::new(),
        };
        ip(&["link", "add", &bridge, "type", "bridge"]);
        ip(&["addr", "add", &format!("10.{a}.{b}.254/24"), "dev", &bridge]);
        ip(&["link", "set", &bridge, "up"]);
        for (i, name) in names.iter().enumerate() {
            let ns = format!("ox{id}-{name}");
            let veth = format!("oxv{id}x{i}");
            let peer = format!("oxp{id}x{i}");
            let address = Ipv4Addr::new(10, a, b, i as u8 + 1);
            ip(&["netns", "add", &ns]);
            // Registered before the rest can fail, so drop removes it.
            hosts.hosts.push(Host {
                name: name.to_string(),
                ns: ns.clone(),
                address,
                veth: veth.clone(),
            });
            ip(&["link", "add", &veth, "type", "veth", "peer", "name", &peer]);
            ip(&["link", "set", &peer, "netns", &ns]);
            ip(&["link", "set", &veth, "master", &bridge]);
            ip(&["link", "set", &veth, "up"]);
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{address}/24"),
                "dev",
                &peer,
            ]);
            ip(&["-n", &ns, "link", "set", &peer, "up"]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        hosts
    }

    pub fn host(&self, name: &str) -> &Host {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .expect("a host of the test")
    }

    /// Cut (`false`) or restore (`true`) a host's link to the bridge.
    pub fn link(&self, name: &str, up: bool) {
        let veth = &self.host(name).veth;
        ip(&["link", "set", veth, if up { "up" } else { "down" }]);
    }
}

impl Host {
    /// `program args…` run inside this host's namespace.
    pub fn command(&self, program: &std::path::Path) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.ns]).arg(program);
        command
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for host in &self.hosts {
            let _ = Command::new("ip").args(["netns", "del", &host.ns]).output();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
    }
}
