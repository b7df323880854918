//! [`NodeClients`]: the [`ClientFactory`] of a target whose clients each talk to one node's
//! address. It holds the nodes' names and addresses as they were after setup (a restarted node
//! keeps its address), so opening a client needs nothing from the target itself.

use super::{Client, ClientFactory};
use async_trait::async_trait;
use std::net::SocketAddr;
use std::sync::Arc;

/// Opens a client of the node with this name and client address.
type Open = dyn Fn(&str, SocketAddr) -> anyhow::Result<Box<dyn Client>> + Send + Sync;

/// Clients spread over a fixed list of nodes: process `p` talks to node `p % n`.
pub struct NodeClients {
    nodes: Vec<(String, SocketAddr)>,
    open: Box<Open>,
    node_reads: bool,
}

impl NodeClients {
    /// Clients of `nodes`, each opened by `open`; an error naming `target` when there are no
    /// nodes (it is not set up).
    pub fn new(
        target: &str,
        nodes: Vec<(String, SocketAddr)>,
        open: impl Fn(&str, SocketAddr) -> anyhow::Result<Box<dyn Client>> + Send + Sync + 'static,
    ) -> anyhow::Result<NodeClients> {
        if nodes.is_empty() {
            anyhow::bail!("the {target} target is not set up: call setup first");
        }
        Ok(NodeClients {
            nodes,
            open: Box::new(open),
            node_reads: false,
        })
    }

    /// Also opens a client of each node alone ([`ClientFactory::node_client`]): for nodes
    /// that are replicas of one store.
    pub fn with_node_reads(mut self) -> NodeClients {
        self.node_reads = true;
        self
    }

    /// Shared, as the controller holds it.
    pub fn shared(self) -> Arc<dyn ClientFactory> {
        Arc::new(self)
    }
}

#[async_trait]
impl ClientFactory for NodeClients {
    async fn client(&self, process: u64) -> anyhow::Result<Box<dyn Client>> {
        let (name, addr) = &self.nodes[(process % self.nodes.len() as u64) as usize];
        (self.open)(name, *addr)
    }

    async fn node_client(
        &self,
        node: &str,
        _process: u64,
    ) -> anyhow::Result<Option<Box<dyn Client>>> {
        if !self.node_reads {
            return Ok(None);
        }
        match self.nodes.iter().find(|(name, _)| name == node) {
            Some((name, addr)) => (self.open)(name, *addr).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::{Outcome, Request};

    /// A client that answers every request with its node's name.
    struct Named(String);

    #[async_trait]
    impl Client for Named {
        async fn invoke(&mut self, _req: &Request) -> Outcome {
            Outcome::Ok(crate::history::Value::Str(self.0.clone()))
        }
    }

    fn nodes(n: usize) -> Vec<(String, SocketAddr)> {
        (1..=n)
            .map(|i| {
                (
                    format!("n{i}"),
                    SocketAddr::from(([127, 0, 0, 1], 7000 + i as u16)),
                )
            })
            .collect()
    }

    async fn name_of(client: anyhow::Result<Box<dyn Client>>) -> Outcome {
        let req = Request {
            f: "read".into(),
            key: None,
            value: crate::history::Value::Nil,
        };
        client.unwrap().invoke(&req).await
    }

    #[tokio::test]
    async fn processes_spread_over_the_nodes_and_node_reads_are_opt_in() {
        let open = |name: &str, _: SocketAddr| Ok(Box::new(Named(name.into())) as Box<dyn Client>);
        let plain = NodeClients::new("t", nodes(3), open).unwrap();
        let n = |s: &str| Outcome::Ok(crate::history::Value::Str(s.into()));
        assert_eq!(name_of(plain.client(4).await).await, n("n2"));
        assert_eq!(name_of(plain.client(2).await).await, n("n3"));
        assert!(plain.node_client("n1", 0).await.unwrap().is_none());
        let reads = NodeClients::new("t", nodes(3), open)
            .unwrap()
            .with_node_reads();
        let n3 = reads.node_client("n3", 0).await.unwrap();
        assert_eq!(
            name_of(n3.ok_or_else(|| anyhow::anyhow!("none"))).await,
            n("n3")
        );
        assert!(reads.node_client("n9", 0).await.unwrap().is_none());
        let err = NodeClients::new("t", Vec::new(), open).err().unwrap();
        assert!(err.to_string().contains("not set up"));
    }
}
