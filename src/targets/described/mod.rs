//! Targets described by a file (`targets/*.toml`): a user's own server, started as real
//! processes from the command the file gives, reached over RESP or HTTP with JSON.
//!
//! [`resolve`] turns `--target` into a registry entry: a path to a file, a file in `./targets/`,
//! a built-in Rust target, or a built-in file embedded in the binary (`targets/redis.toml`).
//! [`DescribedTarget`] starts one process per node with the placeholders filled in, through the
//! same machinery as the built-in servers ([`ServerProcess`], the run's
//! [`NodePlacement`](super::NodePlacement), the
//! toy stores' port choice), so partitions, pauses, kills (restarted on the same data folder)
//! and clock skew reach it the way they reach the toy stores.

pub mod file;
pub mod http;
pub mod resp;

use super::clients::NodeClients;
use super::real::RealOptions;
use super::registry::TargetEntry;
use super::server_process::{find_binary, log_tail, ServerProcess};
use super::{Client, ClientFactory, NodeInfo, Target, TargetOptions};
use crate::toml_file::{looks_like_path, Source};
use anyhow::Context;
use async_trait::async_trait;
use file::{Protocol, Ready, TargetFile};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Target files shipped in the binary: name and text.
pub const BUILTIN: &[(&str, &str)] = &[("redis", include_str!("../../../targets/redis.toml"))];

/// How long one client call may take before it is `info`.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// Lines of a node's log shown when it fails.
const LOG_TAIL: usize = 15;

/// Reads the target file at `path`.
pub fn load_path(path: &Path) -> anyhow::Result<TargetFile> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        crate::error::usage(format!("cannot read target file {}: {e}", path.display()))
    })?;
    let dir = path
        .parent()
        .map(|d| std::path::absolute(d).unwrap_or_else(|_| d.to_owned()))
        .unwrap_or_default();
    let src = Source {
        origin: path.display().to_string(),
        text,
    };
    TargetFile::parse(&src, dir).map_err(|e| crate::error::usage(e.to_string()))
}

/// The built-in target file called `name`, parsed.
pub fn builtin(name: &str) -> Option<anyhow::Result<TargetFile>> {
    let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name)?;
    let src = Source {
        origin: format!("built-in target {name}"),
        text: text.to_string(),
    };
    let dir = std::env::current_dir().unwrap_or_default();
    Some(TargetFile::parse(&src, dir).map_err(|e| crate::error::usage(e.to_string())))
}

/// The target files in `./targets/`, parsed (a broken one as its error).
pub fn local_files() -> Vec<(PathBuf, anyhow::Result<TargetFile>)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir("targets")
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let t = load_path(&p);
            (p, t)
        })
        .collect()
}

/// What `--target NAME` stands for: a registry entry and, for a file, the file. Looked up as a
/// path (`x.toml`, `dir/x`), then `./targets/NAME.toml`, then the built-in Rust targets, then
/// the built-in files.
pub fn resolve(name: &str) -> anyhow::Result<(&'static TargetEntry, Option<Arc<TargetFile>>)> {
    let local = Path::new("targets").join(format!("{name}.toml"));
    let file = if looks_like_path(name) {
        Some(load_path(Path::new(name))?)
    } else if local.is_file() {
        Some(load_path(&local)?)
    } else if let Ok(e) = super::registry::entry(name) {
        return Ok((e, None));
    } else {
        builtin(name).transpose()?
    };
    let Some(file) = file else {
        let mut known: Vec<String> = super::registry::TARGETS
            .iter()
            .map(|e| e.name.to_string())
            .collect();
        known.extend(BUILTIN.iter().map(|(n, _)| n.to_string()));
        known.extend(
            local_files()
                .into_iter()
                .map(|(p, _)| p.display().to_string()),
        );
        return Err(crate::error::usage(format!(
            "unknown target {name:?}; known: {} (see `ferrocheck list`), or the path of a target file",
            known.join(", ")
        )));
    };
    Ok((entry_for(&file), Some(Arc::new(file))))
}

/// For a target file whose nodes speak the Maelstrom protocol: its program, arguments and
/// node count, to run as `--bin` does (`None` for anything else, errors included: the normal
/// path reports those).
pub fn maelstrom_command(name: &str) -> Option<(PathBuf, Vec<String>, usize)> {
    let (_, file) = resolve(name).ok()?;
    let file = file.filter(|f| f.protocol == Protocol::Maelstrom)?;
    let fill = |w: &String| {
        file::expand(w, |p| match p {
            "target_dir" => Some(file.dir.display().to_string()),
            "ferrocheck" => std::env::current_exe()
                .ok()
                .map(|e| e.display().to_string()),
            _ => None,
        })
    };
    let words: Vec<String> = file.command.iter().map(fill).collect();
    let (program, rest) = words.split_first()?;
    Some((PathBuf::from(program), rest.to_vec(), file.nodes))
}

/// A registry entry standing for a target file: it lives as long as the process (one per run).
pub fn entry_for(file: &TargetFile) -> &'static TargetEntry {
    let leak = |s: &str| -> &'static str { Box::leak(s.to_string().into_boxed_str()) };
    Box::leak(Box::new(TargetEntry {
        name: leak(&file.name),
        about: leak(&file.about),
        workload: leak(&file.workload),
        build,
    }))
}

/// Builds the target that `real.described` describes.
fn build(opts: TargetOptions, real: &RealOptions) -> Box<dyn Target> {
    Box::new(DescribedTarget::new(real.described.clone(), opts, real))
}

/// One node process and what it was started with.
#[derive(Debug)]
struct Node {
    name: String,
    addr: SocketAddr,
    args: Vec<String>,
    log: PathBuf,
    process: Option<ServerProcess>,
}

/// A cluster of a user's server, as its target file says.
pub struct DescribedTarget {
    file: Option<Arc<TargetFile>>,
    opts: TargetOptions,
    program: Option<PathBuf>,
    redis_server: Option<PathBuf>,
    nodes: Vec<Node>,
}

impl DescribedTarget {
    /// The target `file` describes, not started yet (`None`: every use says no file was given).
    pub fn new(file: Option<Arc<TargetFile>>, opts: TargetOptions, real: &RealOptions) -> Self {
        DescribedTarget {
            file,
            opts,
            program: None,
            redis_server: real.redis_server.clone(),
            nodes: Vec::new(),
        }
    }

    fn file(&self) -> anyhow::Result<&Arc<TargetFile>> {
        self.file
            .as_ref()
            .context("no target file was loaded for this target")
    }

    fn count(&self) -> usize {
        let default = self.file.as_ref().map_or(1, |f| f.nodes);
        self.opts.nodes.unwrap_or(default).max(1)
    }

    /// The program to run: `--redis-server` for `redis-server`, a path as given, else PATH.
    fn find_program(&self, file: &TargetFile) -> anyhow::Result<PathBuf> {
        let program = &file.command[0];
        if program == "{ferrocheck}" {
            return Ok(self.opts.node_binary.clone());
        }
        if program == "redis-server" && self.redis_server.is_some() {
            return find_binary(program, self.redis_server.as_deref(), "", "--redis-server");
        }
        let hint = format!(
            "{program} (the command of target {} in {}) not found: {}",
            file.name,
            file.origin,
            file.install
                .as_deref()
                .unwrap_or("install it, or fix `command` in the file")
        );
        if program.contains('/') {
            let p = PathBuf::from(program);
            if p.is_file() {
                return Ok(p);
            }
            return Err(crate::error::usage(hint));
        }
        find_binary(program, None, &hint, "--target")
            .map_err(|e| crate::error::usage(e.to_string()))
    }

    /// Starts node `i` from its recorded arguments and waits until it is ready.
    async fn start(&mut self, i: usize) -> anyhow::Result<()> {
        let file = self.file()?.clone();
        let program = self.program.clone().context("the target is not set up")?;
        let placement = self.opts.placement.clone();
        let node = &mut self.nodes[i];
        let name = node.name.clone();
        let process =
            ServerProcess::spawn_with(
                &name,
                &program,
                &node.args,
                &node.log,
                |cmd| match placement.as_deref() {
                    Some(p) => p.prepare(&name, cmd),
                    None => Ok(()),
                },
            )?;
        node.process = Some(process);
        let vars = self.vars(i);
        wait_ready(&file, &mut self.nodes[i], &vars).await
    }

    /// The placeholder values of node `i`.
    fn vars(&self, i: usize) -> Vars {
        let node = &self.nodes[i];
        let peers = self
            .nodes
            .iter()
            .filter(|n| n.name != node.name)
            .map(|n| {
                let via = self
                    .opts
                    .placement
                    .as_ref()
                    .and_then(|p| p.peer_addr(&node.name, &n.name));
                via.unwrap_or(n.addr).to_string()
            })
            .collect::<Vec<_>>()
            .join(",");
        let dir = self
            .file
            .as_ref()
            .map(|f| f.dir.clone())
            .unwrap_or_default();
        Vars {
            node: node.name.clone(),
            addr: node.addr,
            peers,
            data_dir: self.opts.work_dir.join(&node.name).join("data"),
            index: i,
            nodes: self.nodes.len(),
            target_dir: dir,
            ferrocheck: self.opts.node_binary.clone(),
        }
    }

    fn index(&self, name: &str) -> anyhow::Result<usize> {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .with_context(|| {
                let known: Vec<_> = self.nodes.iter().map(|n| n.name.as_str()).collect();
                format!("no node named {name}; nodes are {}", known.join(", "))
            })
    }
}

/// Placeholder values for one node.
#[derive(Clone, Debug)]
pub struct Vars {
    node: String,
    addr: SocketAddr,
    peers: String,
    data_dir: PathBuf,
    index: usize,
    nodes: usize,
    target_dir: PathBuf,
    ferrocheck: PathBuf,
}

impl Vars {
    /// The value of placeholder `p`.
    pub fn get(&self, p: &str) -> Option<String> {
        Some(match p {
            "node" => self.node.clone(),
            "host" => self.addr.ip().to_string(),
            "port" => self.addr.port().to_string(),
            "peers" => self.peers.clone(),
            "data_dir" => self.data_dir.display().to_string(),
            "index" => self.index.to_string(),
            "nodes" => self.nodes.to_string(),
            "target_dir" => self.target_dir.display().to_string(),
            "ferrocheck" => self.ferrocheck.display().to_string(),
            _ => return None,
        })
    }

    /// `words` with every placeholder filled in.
    pub fn expand(&self, words: &[String]) -> Vec<String> {
        words
            .iter()
            .map(|w| file::expand(w, |p| self.get(p)))
            .collect()
    }
}

/// Waits until `node` is ready as `file.ready` says, or says why not (with its log's tail).
async fn wait_ready(file: &TargetFile, node: &mut Node, vars: &Vars) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        if let Some(status) = node.process.as_mut().and_then(ServerProcess::exited) {
            node.process = None;
            anyhow::bail!(
                "node {} of target {} exited while starting ({status}); last lines of {}:\n{}",
                node.name,
                file.name,
                node.log.display(),
                log_tail(&node.log, LOG_TAIL)
            );
        }
        let ready = match &file.ready {
            Ready::Tcp => tokio::time::timeout(
                Duration::from_millis(500),
                tokio::net::TcpStream::connect(node.addr),
            )
            .await
            .is_ok_and(|r| r.is_ok()),
            Ready::Ping => match file.protocol {
                Protocol::Resp => resp::ping(node.addr).await,
                Protocol::HttpJson => http::ping(file, node.addr).await,
                Protocol::Maelstrom => true,
            },
            Ready::Command(cmd) => probe(&vars.expand(cmd)).await,
        };
        if ready {
            return Ok(());
        }
        if start.elapsed() > file.ready_timeout {
            anyhow::bail!(
                "node {} of target {} was not ready on {} within {:?} (ready = {:?}); last lines of {}:\n{}",
                node.name,
                file.name,
                node.addr,
                file.ready_timeout,
                file.ready,
                node.log.display(),
                log_tail(&node.log, LOG_TAIL)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// True when the `ready` command exits with status 0 within two seconds.
async fn probe(cmd: &[String]) -> bool {
    let Some((program, args)) = cmd.split_first() else {
        return false;
    };
    let run = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .status();
    matches!(
        tokio::time::timeout(Duration::from_secs(2), run).await,
        Ok(Ok(s)) if s.success()
    )
}

#[async_trait]
impl Target for DescribedTarget {
    fn name(&self) -> &str {
        self.file.as_ref().map_or("file", |f| f.name.as_str())
    }

    async fn setup(&mut self) -> anyhow::Result<()> {
        let file = self.file()?.clone();
        if file.protocol == Protocol::Maelstrom {
            return Err(crate::error::usage(format!(
                "target {} speaks the Maelstrom protocol: run it with `ferrocheck test --target {}` and a Maelstrom workload (-w lin-kv)",
                file.name, file.origin
            )));
        }
        self.program = Some(self.find_program(&file)?);
        let count = self.count();
        self.nodes = super::server_process::node_addrs(&self.opts, count)?
            .into_iter()
            .enumerate()
            .map(|(i, addr)| {
                let name = super::node_name(i);
                Ok(Node {
                    addr,
                    log: self.opts.work_dir.join(&name).join("node.log"),
                    name,
                    args: Vec::new(),
                    process: None,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        for i in 0..count {
            let vars = self.vars(i);
            std::fs::create_dir_all(&vars.data_dir)
                .with_context(|| format!("cannot create {}", vars.data_dir.display()))?;
            self.nodes[i].args = vars.expand(&file.command[1..]);
        }
        for i in 0..count {
            if let Err(e) = self.start(i).await {
                let _ = self.teardown().await;
                return Err(e);
            }
        }
        Ok(())
    }

    fn planned_nodes(&self) -> Vec<String> {
        super::node_names(self.count())
    }

    fn supports_placement(&self) -> bool {
        true
    }

    fn clients(&self) -> anyhow::Result<Arc<dyn ClientFactory>> {
        let file = self.file()?.clone();
        let nodes = self
            .nodes
            .iter()
            .map(|n| (n.name.clone(), n.addr))
            .collect();
        let name = file.name.clone();
        let open = move |node: &str, addr| -> anyhow::Result<Box<dyn Client>> {
            Ok(match file.protocol {
                Protocol::Resp => Box::new(resp::TemplateClient::new(
                    file.clone(),
                    node.to_string(),
                    addr,
                    CALL_TIMEOUT,
                )),
                Protocol::HttpJson => {
                    Box::new(http::HttpClient::new(file.clone(), addr, CALL_TIMEOUT)?)
                }
                Protocol::Maelstrom => anyhow::bail!("a maelstrom target has no client of its own"),
            })
        };
        Ok(NodeClients::new(&name, nodes, open)?.shared())
    }

    fn nodes(&self) -> Vec<NodeInfo> {
        self.nodes
            .iter()
            .map(|n| NodeInfo {
                name: n.name.clone(),
                addr: n.addr,
                pid: n.process.as_ref().and_then(ServerProcess::pid),
                log: n.log.clone(),
            })
            .collect()
    }

    fn exited(&mut self) -> Vec<(String, String)> {
        self.nodes
            .iter_mut()
            .filter_map(|n| {
                let why = n.process.as_mut()?.take_exit()?;
                Some((n.name.clone(), why))
            })
            .collect()
    }

    async fn teardown(&mut self) -> anyhow::Result<()> {
        for n in &mut self.nodes {
            if let Some(mut p) = n.process.take() {
                p.kill();
            }
        }
        Ok(())
    }

    async fn primary(&mut self) -> anyhow::Result<Option<String>> {
        Ok(self.file.as_ref().and_then(|f| f.primary.clone()))
    }

    async fn kill_node(&mut self, name: &str) -> anyhow::Result<()> {
        let i = self.index(name)?;
        if let Some(mut p) = self.nodes[i].process.take() {
            p.kill();
        }
        Ok(())
    }

    async fn start_node(&mut self, name: &str) -> anyhow::Result<()> {
        let i = self.index(name)?;
        if self.nodes[i].process.is_some() {
            return Ok(());
        }
        self.start(i).await
    }
}

/// The target files `ferrocheck list` shows: built-in ones, then those in `./targets/`.
pub fn list() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = BUILTIN
        .iter()
        .filter_map(|(n, _)| builtin(n)?.ok())
        .map(|f| {
            let line = format!("{} [targets/{}.toml, built in]", f.about, f.name);
            (f.name, line)
        })
        .collect();
    for (path, file) in local_files() {
        out.push(match file {
            Ok(f) => (f.name, format!("{} [{}]", f.about, path.display())),
            Err(e) => (path.display().to_string(), format!("(broken: {e})")),
        });
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The first TOML block of the README after `after`.
    pub fn readme_block(after: &str) -> String {
        let readme = include_str!("../../../README.md");
        let from = readme.find(after).expect("README section");
        let start = readme[from..].find("```toml\n").expect("a toml block") + from + 8;
        let end = readme[start..].find("```").expect("end of block") + start;
        readme[start..end].to_string()
    }

    #[test]
    fn the_readme_example_is_a_valid_target_file() {
        let src = Source {
            origin: "README.md".into(),
            text: readme_block("A complete target file"),
        };
        let f = TargetFile::parse(&src, PathBuf::from(".")).unwrap();
        assert_eq!(f.protocol, Protocol::HttpJson);
        assert_eq!(f.ops(), ["cas", "ping", "read", "write"]);
    }

    #[test]
    fn builtin_files_parse_and_resolve() {
        for (name, _) in BUILTIN {
            let f = builtin(name).unwrap().unwrap();
            assert_eq!(&f.name, name);
        }
        let (e, f) = resolve("redis").unwrap();
        assert_eq!(e.name, "redis");
        assert!(f.is_some());
        let (e, f) = resolve("lin-kv").unwrap();
        assert_eq!(e.name, "lin-kv");
        assert!(f.is_none());
        let err = resolve("nope").unwrap_err().to_string();
        assert!(err.contains("lin-kv") && err.contains("redis"), "{err}");
        let err = resolve("/nonexistent/x.toml").unwrap_err().to_string();
        assert!(err.contains("cannot read target file"), "{err}");
    }
}
