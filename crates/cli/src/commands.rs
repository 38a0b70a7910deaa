//! One file per command; each exposes `Args` and `run`.

pub mod activity;
pub mod agents;
pub mod config;
pub mod configure;
pub mod consent;
pub mod demo;
pub mod login;
pub mod logout;
pub mod open;
pub mod policy;
pub mod serve;
pub mod status;
pub mod stdio;
pub mod unconfigure;
