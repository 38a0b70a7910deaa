//! Which configured agent a request comes from (`cursor`, `claude-code`, …):
//! the name its client token was issued to. Typed so an agent's id cannot be
//! confused with the client's self-declared name or a tool's; it serialises
//! as the bare string, so no answer or record changes shape.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

/// A configured agent's id. Inserted into a request's extensions by
/// [`crate::server::guard::require_client_token`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AgentId(String);

impl AgentId {
    /// The scope of a policy override for every agent, where the activity
    /// records who a change applies to.
    pub const EVERY_AGENT: &'static str = "*";

    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// [`AgentId::EVERY_AGENT`].
    pub fn every_agent() -> Self {
        Self::new(Self::EVERY_AGENT)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl Deref for AgentId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for AgentId {
    fn from(id: &str) -> Self {
        Self::new(id)
    }
}

impl From<String> for AgentId {
    fn from(id: String) -> Self {
        Self(id)
    }
}

impl From<AgentId> for String {
    fn from(id: AgentId) -> Self {
        id.0
    }
}

impl PartialEq<str> for AgentId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for AgentId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<AgentId> for String {
    fn eq(&self, other: &AgentId) -> bool {
        *self == other.0
    }
}

impl PartialEq<AgentId> for &str {
    fn eq(&self, other: &AgentId) -> bool {
        *self == other.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_the_bare_name() {
        let id = AgentId::from("cursor");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"cursor\"");
        assert_eq!(serde_json::from_str::<AgentId>("\"cursor\"").unwrap(), id);
        assert_eq!(id, "cursor");
        assert_eq!(id.to_string(), "cursor");
    }
}
