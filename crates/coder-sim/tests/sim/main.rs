//! Integration tests: every simulator rule driven over real HTTP on port 0.

mod authoring;
mod binary;
mod common;
mod faults;
mod mcp;
mod oauth;
mod registration;
mod tokens;
