//! The status tells the user when calls are relayed but not recorded: with
//! the activity database write-locked by another process, `activity_problem`
//! names the cause and the file while a real agent's calls keep working;
//! once the lock is gone the problem clears.

use std::time::Duration;

use bridge::activity::ActivityConfig;
use bridge::supervisor::{Bridge, BridgeHandle};
use coder_sim::{Sim, SimConfig};
use rmcp::model::CallToolRequestParams;

use crate::support::signed_in;

async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("test step timed out")
}

async fn wait_for_problem(bridge: &BridgeHandle, present: bool) -> Option<String> {
    within(async {
        loop {
            let problem = bridge.status().await.activity_problem;
            if problem.is_some() == present {
                return problem;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_locked_activity_database_shows_in_the_status_until_it_clears() {
    let home = tempfile::tempdir().expect("temp home");
    let sim = Sim::start(SimConfig::default()).await.expect("sim starts");
    let data = home.path().join("data");
    let mut options = signed_in::options(home.path(), &sim);
    options.activity = ActivityConfig {
        busy_timeout: Duration::from_millis(100),
        retry_interval: Duration::from_millis(200),
        ..ActivityConfig::default()
    };
    let bridge = within(Bridge::start(options)).await.expect("bridge starts");
    assert_eq!(bridge.status().await.activity_problem, None);
    let agent = signed_in::agent(&bridge, home.path()).await;

    let blocker = rusqlite::Connection::open(data.join(bridge::activity::FILE_NAME))
        .expect("second connection");
    blocker
        .execute_batch("BEGIN EXCLUSIVE")
        .expect("take the write lock");
    for _ in 0..3 {
        let result =
            within(agent.call_tool(CallToolRequestParams::new("coder_get_authenticated_user")))
                .await
                .expect("the relay keeps working");
        assert_ne!(result.is_error, Some(true), "{result:?}");
    }
    let problem = wait_for_problem(&bridge, true)
        .await
        .expect("a problem is shown");
    assert!(
        problem.contains(bridge::activity::FILE_NAME),
        "names the file: {problem}"
    );
    assert!(
        problem.contains("locked") || problem.contains("busy"),
        "names the cause: {problem}"
    );

    blocker.execute_batch("ROLLBACK").expect("release the lock");
    drop(blocker);
    assert_eq!(wait_for_problem(&bridge, false).await, None);

    within(agent.cancel()).await.ok();
    within(bridge.shutdown()).await;
    sim.shutdown().await;
}
