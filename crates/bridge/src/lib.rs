//! Coder Bridge core: everything the tray app, the CLI and the daemon share.
//!
//! One process owns the user's Coder session and serves every local agent.
//! The rooms below follow `docs/ARCHITECTURE.md`; each owns its state and talks to
//! the others through typed handles and channels, never through globals.

pub mod digest;
pub mod env;
pub mod epoch;
pub mod error_code;
pub mod events;
pub mod face;
pub mod gate;
pub mod logging;
pub mod paths;
pub mod private_files;
pub mod secret;

pub mod access;
pub mod activity;
pub mod agent_id;
pub mod app;
pub mod auth;
pub mod client_tokens;
pub mod clients;
pub mod consent;
#[cfg(feature = "demo")]
pub mod demo;
pub mod policy;
pub mod relay;
pub mod server;
pub mod settings;
pub mod supervisor;
pub mod web;
