//! Fetching the tool list again on purpose: for the Policy page (which shows
//! what Coder serves now) and after Coder refused a request's headers.

use std::sync::{Arc, atomic::Ordering};

use rmcp::model::ListToolsResult;

use super::{Relay, RelayError, TOOL_INFO_TIMEOUT, connection::Conn};

impl Relay {
    /// The tool list fetched again now, whatever is cached (the policy page
    /// shows what Coder serves at this moment).
    pub async fn refresh_tools(&self) -> Result<Arc<ListToolsResult>, RelayError> {
        self.inner.shared.invalidate_tools();
        self.list_tools().await
    }

    /// Fetches the tool list on `conn` (which also renews rmcp's copy of the
    /// schemas it builds `Mcp-Param-*` headers from) and caches it.
    pub(super) async fn refetch_tools(&self, conn: &Conn) {
        self.inner.shared.invalidate_tools();
        let generation = self.inner.shared.tools_generation.load(Ordering::Acquire);
        match tokio::time::timeout(TOOL_INFO_TIMEOUT, conn.peer().list_all_tools()).await {
            Ok(Ok(tools)) => {
                if self.inner.shared.tools_generation.load(Ordering::Acquire) == generation {
                    self.inner
                        .shared
                        .cache_tools(Arc::new(ListToolsResult::with_all_items(tools)));
                }
            }
            Ok(Err(e)) => tracing::debug!("refreshing the tool list failed: {e}"),
            Err(_) => tracing::debug!("refreshing the tool list timed out"),
        }
    }
}
