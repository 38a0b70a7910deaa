//! What several test modules build on: real bridges and daemons in temp
//! folders, signed in to the simulated Coder, and the logs they write.

use std::time::Duration;

pub mod gated_daemon;
pub mod logs;
pub mod rig;
pub mod signed_in;

/// Every test step is bounded: a hang is a failure, not a stuck suite.
pub async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// How often a waiting test looks again.
const POLL: Duration = Duration::from_millis(20);

/// Waits until `check` gives a value, looking every few milliseconds, for
/// at most ten seconds: a test that waits for something waits exactly as
/// long as it takes, and a condition that never comes fails with `what`.
/// (`(condition).then_some(())` for a plain condition.)
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// [`eventually`] for a test without a runtime.
pub fn eventually_blocking(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(POLL);
    }
}
