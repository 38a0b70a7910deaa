//! The bridge core's integration tests, one binary: each module checks one
//! room or one promise against real parts (the simulated Coder over HTTP on
//! 127.0.0.1, real rmcp clients, files in temp folders); `support` holds the
//! rigs they share. `HARDEN_CALLS` and `PROPTEST_CASES` scale the load and
//! the property tests up for longer runs.

mod support;

mod activity_store;
mod activity_unwritable;
mod attack_surface;
mod auth;
mod bounded_input;
mod clients_files;
mod clients_golden;
mod clients_tokens;
mod consent_queue;
mod fidelity;
mod load_with_faults;
mod pause;
mod policy_rules;
mod properties;
mod relay_daemon;
mod secrets_never_leak;
mod status_activity;
mod unknown_tool;
mod web_api;
mod web_router;
