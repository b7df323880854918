//! A private network for one run: a network namespace per node and one for the clients, joined
//! by a Linux bridge in a hub namespace.
//!
//! Addresses come from 10.77.0.0/24: clients at 10.77.0.2, node `i` (1-based) at 10.77.0.(10+i).
//! Every namespace is named `fc-<run>-…` so a leftover is recognisable, and every device is made
//! inside a namespace (never in the root one), so deleting the namespaces removes everything.
//!
//! Safety: traffic to these addresses must never leave the machine. From the root namespace they
//! are not local and would follow the default route, so nothing here ever sends to them from the
//! root namespace, and [`Network::verify`] checks from the client namespace (and each node's) that
//! every node address is reached directly over the namespace's own veth before anything is sent.

use super::state::RunRecord;
use super::tools;
use super::NemesisError;
use nix::sched::CloneFlags;
use std::fs::File;
use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// The first three octets of the run network, 10.77.0.0/24.
pub const SUBNET: [u8; 3] = [10, 77, 0];
/// The clients' address.
pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
/// The device name of a member's end of its veth pair, inside its namespace.
pub const MEMBER_DEVICE: &str = "fc0";
/// The bridge's name inside the hub namespace.
pub const BRIDGE: &str = "fcbr";
/// The most nodes one network holds (addresses .11 to .210).
pub const MAX_NODES: usize = 200;

/// Node `i`'s address (1-based: node 1 is 10.77.0.11).
pub fn node_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(SUBNET[0], SUBNET[1], SUBNET[2], (10 + i) as u8)
}

/// True when `addr` lies in the run network's range.
pub fn in_range(addr: Ipv4Addr) -> bool {
    addr.octets()[..3] == SUBNET
}

/// The prefix of every namespace run `run` makes.
pub fn namespace_prefix(run: &str) -> String {
    format!("fc-{run}-")
}

/// The network namespaces that exist now (the names under /run/netns).
pub fn list_namespaces() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// Deletes network namespace `name` (and with it every device and rule inside).
pub fn delete_namespace(name: &str) -> Result<(), NemesisError> {
    tools::ip(&["netns", "del", name], None).map(|_| ())
}

fn open_namespace(name: &str) -> Result<File, NemesisError> {
    let path = format!("/run/netns/{name}");
    File::open(&path).map_err(|source| NemesisError::Io {
        context: format!("opening network namespace {path} (does it exist?)"),
        source,
    })
}

/// Makes `cmd` run inside network namespace `name` (it joins the namespace between fork and
/// exec). Works whatever namespace the calling thread is in.
pub fn in_namespace(cmd: &mut Command, name: &str) -> Result<(), NemesisError> {
    let ns = open_namespace(name)?;
    // SAFETY: the closure only calls setns(2), which is async-signal-safe; `ns` is owned by
    // the closure, so the descriptor stays open until the command is dropped.
    unsafe {
        cmd.pre_exec(move || {
            nix::sched::setns(&ns, CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)
        });
    }
    Ok(())
}

/// The calling thread's stay in another network namespace; dropping it returns the thread to
/// the namespace it was in. Threads started meanwhile stay where they were born. Not `Send`: it
/// must be dropped on the thread that entered.
pub struct EnteredNamespace {
    original: File,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for EnteredNamespace {
    fn drop(&mut self) {
        if let Err(e) = nix::sched::setns(&self.original, CloneFlags::CLONE_NEWNET) {
            eprintln!("ferrocheck: could not return thread to its network namespace: {e}");
        }
    }
}

/// Moves the calling thread into network namespace `name`. Sockets it opens afterwards, and
/// threads it starts afterwards (a tokio runtime's workers), live in that namespace.
pub fn enter(name: &str) -> Result<EnteredNamespace, NemesisError> {
    let original = File::open("/proc/thread-self/ns/net").map_err(|source| NemesisError::Io {
        context: "opening /proc/thread-self/ns/net".into(),
        source,
    })?;
    let ns = open_namespace(name)?;
    // Affects only the calling thread.
    if let Err(e) = nix::sched::setns(&ns, CloneFlags::CLONE_NEWNET) {
        return Err(NemesisError::Io {
            context: format!("entering network namespace {name} (needs root)"),
            source: e.into(),
        });
    }
    Ok(EnteredNamespace {
        original,
        _not_send: std::marker::PhantomData,
    })
}

/// Runs `f` on a new thread inside namespace `name` and returns its result. Sockets `f` makes
/// belong to that namespace and may be used from any thread afterwards.
pub fn run_in<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, NemesisError> {
    let name = name.to_owned();
    std::thread::spawn(move || -> Result<T, NemesisError> {
        let _inside = enter(&name)?;
        Ok(f())
    })
    .join()
    .map_err(|_| NemesisError::Invalid("a thread inside a network namespace panicked".into()))?
}

/// Checks, from inside namespace `ns`, that each address in `addrs` is in the run range and is
/// reached directly over device `device` (no gateway) or is the namespace's own address, so
/// nothing sent there can leave the namespace network. Errors name the first address that fails.
pub fn verify_routes(ns: &str, device: &str, addrs: &[Ipv4Addr]) -> Result<(), NemesisError> {
    if !ns.starts_with("fc-") {
        return Err(NemesisError::UnsafeRoute(format!(
            "namespace {ns:?} was not made by ferrocheck (names start with fc-)"
        )));
    }
    for &addr in addrs {
        if !in_range(addr) {
            return Err(NemesisError::UnsafeRoute(format!(
                "{addr} is outside the run network 10.77.0.0/24; ferrocheck only sends to \
                 addresses of namespaces it made"
            )));
        }
        let a = addr.to_string();
        let route = tools::ip(&["-o", "-4", "route", "get", &a], Some(ns)).map_err(|e| {
            NemesisError::UnsafeRoute(format!("no route to {addr} inside {ns}: {e}"))
        })?;
        let words: Vec<&str> = route.split_whitespace().collect();
        let dev = words
            .windows(2)
            .find(|w| w[0] == "dev")
            .map(|w| w[1])
            .unwrap_or("");
        // A namespace's own address is delivered locally over its loopback: safe too.
        let own =
            words.first() == Some(&"local") && words.get(1) == Some(&a.as_str()) && dev == "lo";
        let direct = words.first() == Some(&a.as_str()) && dev == device;
        if !(own || direct) || words.contains(&"via") {
            return Err(NemesisError::UnsafeRoute(format!(
                "inside {ns} the route to {addr} is `{}`, not directly over {device}: traffic \
                 could leave the machine, refusing to run (run `ferrocheck cleanup` and retry)",
                route.trim()
            )));
        }
    }
    Ok(())
}

/// One node's place in the network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetNode {
    /// The node's name (`n1`, ...).
    pub name: String,
    /// Its network namespace.
    pub namespace: String,
    /// Its address.
    pub addr: Ipv4Addr,
}

/// The namespaces, bridge and addresses of one run. Dropping it destroys them.
#[derive(Debug)]
pub struct Network {
    run: String,
    hub: String,
    client: String,
    nodes: Vec<NetNode>,
    made: Vec<String>,
}

impl Network {
    /// Makes the network for the run of `record` with one namespace per node name and verifies
    /// its routes. The record (made first) lets `ferrocheck cleanup` find the namespaces if this
    /// process is killed. On any error everything made so far is removed.
    pub fn create(record: &RunRecord, node_names: &[String]) -> Result<Network, NemesisError> {
        let run = record.run();
        if let Some(why) = tools::Capabilities::detect().netns_unavailable() {
            return Err(NemesisError::Unavailable {
                what: "network namespaces".into(),
                why,
            });
        }
        if node_names.is_empty() || node_names.len() > MAX_NODES {
            return Err(NemesisError::Invalid(format!(
                "a network holds 1 to {MAX_NODES} nodes, not {}",
                node_names.len()
            )));
        }
        let prefix = namespace_prefix(run);
        let mut net = Network {
            run: run.to_owned(),
            hub: format!("{prefix}hub"),
            client: format!("{prefix}client"),
            nodes: node_names
                .iter()
                .enumerate()
                .map(|(i, name)| NetNode {
                    name: name.clone(),
                    namespace: format!("{prefix}{}", i + 1),
                    addr: node_addr(i + 1),
                })
                .collect(),
            made: Vec::new(),
        };
        net.build()?;
        net.verify()?;
        Ok(net)
    }

    fn add_namespace(&mut self, name: &str) -> Result<(), NemesisError> {
        tools::ip(&["netns", "add", name], None).map_err(|e| match e {
            NemesisError::Tool { command, detail } => NemesisError::Tool {
                command,
                detail: format!("{detail} (a leftover? run `ferrocheck cleanup`)"),
            },
            other => other,
        })?;
        self.made.push(name.to_owned());
        Ok(())
    }

    fn build(&mut self) -> Result<(), NemesisError> {
        let hub = self.hub.clone();
        self.add_namespace(&hub)?;
        let h = Some(hub.as_str());
        tools::ip(&["link", "add", BRIDGE, "type", "bridge"], h)?;
        tools::ip(&["link", "set", BRIDGE, "up"], h)?;
        let mut members = vec![("vc".to_owned(), self.client.clone(), CLIENT_ADDR)];
        for (i, n) in self.nodes.iter().enumerate() {
            members.push((format!("v{}", i + 1), n.namespace.clone(), n.addr));
        }
        for (port, ns, addr) in members {
            self.add_namespace(&ns)?;
            let n = Some(ns.as_str());
            tools::ip(
                &[
                    "link",
                    "add",
                    &port,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    MEMBER_DEVICE,
                    "netns",
                    &ns,
                ],
                h,
            )?;
            tools::ip(&["link", "set", &port, "master", BRIDGE], h)?;
            tools::ip(&["link", "set", &port, "up"], h)?;
            tools::ip(&["link", "set", "lo", "up"], n)?;
            let cidr = format!("{addr}/24");
            tools::ip(&["addr", "add", &cidr, "dev", MEMBER_DEVICE], n)?;
            tools::ip(&["link", "set", MEMBER_DEVICE, "up"], n)?;
        }
        Ok(())
    }

    /// Checks that the network is still closed: from the client namespace and from each node's,
    /// every node address is reached directly over the member's own veth, and the hub's bridge
    /// has only this run's ports. Errors mean "refuse to send anything".
    pub fn verify(&self) -> Result<(), NemesisError> {
        let addrs: Vec<Ipv4Addr> = self.nodes.iter().map(|n| n.addr).collect();
        verify_routes(&self.client, MEMBER_DEVICE, &addrs)?;
        for n in &self.nodes {
            verify_routes(&n.namespace, MEMBER_DEVICE, &addrs)?;
        }
        let ports = tools::ip(&["-o", "link", "show", "master", BRIDGE], Some(&self.hub))?;
        let expected: Vec<String> = std::iter::once("vc".to_owned())
            .chain((1..=self.nodes.len()).map(|i| format!("v{i}")))
            .collect();
        for line in ports.lines() {
            let name = line
                .split(':')
                .nth(1)
                .map(|s| s.trim().split('@').next().unwrap_or(""))
                .unwrap_or("");
            if !expected.iter().any(|e| e == name) {
                return Err(NemesisError::UnsafeRoute(format!(
                    "bridge {BRIDGE} in {} has a port {name:?} this run did not make; refusing \
                     to run",
                    self.hub
                )));
            }
        }
        Ok(())
    }

    /// The run id.
    pub fn run(&self) -> &str {
        &self.run
    }

    /// The nodes, in the order given to [`Network::create`].
    pub fn nodes(&self) -> &[NetNode] {
        &self.nodes
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Result<&NetNode, NemesisError> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| NemesisError::UnknownNode(name.to_owned()))
    }

    /// The clients' namespace.
    pub fn client_namespace(&self) -> &str {
        &self.client
    }

    /// A command for `program` that will run inside node `node`'s namespace.
    pub fn command_in(&self, node: &str, program: &str) -> Result<Command, NemesisError> {
        let mut cmd = Command::new(program);
        in_namespace(&mut cmd, &self.node(node)?.namespace)?;
        Ok(cmd)
    }

    /// Verifies the routes, then moves the calling thread into the client namespace. Call it on
    /// the thread that then builds the tokio runtime: the runtime's threads inherit it. Dropping
    /// the returned value returns the calling thread (only) to where it was.
    pub fn enter_client(&self) -> Result<EnteredNamespace, NemesisError> {
        self.verify()?;
        enter(&self.client)
    }

    /// Removes exactly the namespaces this network made (devices and rules go with them). Safe
    /// to call more than once.
    pub fn destroy(&mut self) -> Result<(), NemesisError> {
        let mut first_error = None;
        while let Some(ns) = self.made.pop() {
            if let Err(e) = delete_namespace(&ns) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        if let Err(e) = self.destroy() {
            eprintln!("ferrocheck: removing network of run {}: {e}", self.run);
        }
    }
}
