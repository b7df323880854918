//! `quorum_kv` (not built yet).

use super::resp::Frame;
use super::{Node, Store};
use std::sync::Arc;

/// Not built yet.
pub struct QuorumKv;

impl QuorumKv {
    /// Not built yet.
    pub fn open(_node: Arc<Node>) -> anyhow::Result<QuorumKv> {
        anyhow::bail!("this store is not built yet")
    }
}

#[async_trait::async_trait]
impl Store for QuorumKv {
    async fn handle(&self, name: &str, _args: &[Option<String>]) -> Frame {
        super::unknown_command(name)
    }
}
