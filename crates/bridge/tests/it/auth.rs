//! The auth room against the simulated Coder over real HTTP on 127.0.0.1.
//! The "browser" is an HTTP client that follows the authorize redirect to
//! our loopback callback; every test keeps its files in a temp dir.

mod clients;
mod common;
mod refresh;
mod sdk_server;
mod signin;
mod steering;
mod storage;
