//! `lww_kv` (not built yet).

use super::resp::Frame;
use super::{Node, Store};
use std::sync::Arc;

/// Not built yet.
pub struct LwwKv;

impl LwwKv {
    /// Not built yet.
    pub fn open(_node: Arc<Node>) -> anyhow::Result<LwwKv> {
        anyhow::bail!("this store is not built yet")
    }
}

#[async_trait::async_trait]
impl Store for LwwKv {
    async fn handle(&self, name: &str, _args: &[Option<String>]) -> Frame {
        super::unknown_command(name)
    }
}
