//! Integration tests: every simulator rule driven over real HTTP on port 0;
//! `support` holds the helpers they share.

mod support;

mod authoring;
mod binary;
mod faults;
mod mcp;
mod oauth;
mod registration;
mod tokens;
