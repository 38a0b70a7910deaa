//! Agent config writers: one table row per agent (config path per OS, servers
//! key, entry shape), with idempotent, comment-preserving upsert and remove.

pub(crate) mod files;
