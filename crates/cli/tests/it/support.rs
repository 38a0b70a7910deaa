//! What the CLI's test modules share: the binary under test, free ports,
//! bounded waits and child processes that never outlive a test.

use std::process::Child;
use std::time::Duration;

/// The `coder-bridge` binary this test run built.
pub const BIN: &str = env!("CARGO_BIN_EXE_coder-bridge");

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Every test step is bounded: a hang is a failure, not a stuck suite.
pub async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// Kills (and reaps) a process the test started when dropped.
pub struct Reaper(pub Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `check` holds, looking every few milliseconds, for at most
/// `limit`: a test that waits for something waits exactly as long as it
/// takes, and a condition that never comes fails with `what`.
pub async fn eventually(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
