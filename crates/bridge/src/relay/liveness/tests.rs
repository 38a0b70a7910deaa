//! The prober against real sockets: one nobody accepts on (a paused
//! server), one that refuses, one that answers.

use super::*;

use axum::{Router, routing::get};

fn quick() -> LivenessOptions {
    LivenessOptions {
        enabled: true,
        suspect_after: Duration::from_millis(200),
        probe_timeout: Duration::from_millis(300),
        probe_every: Duration::from_millis(100),
        probe_every_down: Duration::from_millis(50),
        failures_to_declare: 2,
    }
}

/// A listening socket nobody accepts on: the kernel completes every
/// handshake into the backlog and nothing ever answers — what a client
/// sees of a SIGSTOPped server.
fn frozen() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind")
}

/// Starts answering on `listener` (the server resumes): connections
/// already waiting in the backlog are served too.
fn resume(listener: std::net::TcpListener) {
    listener.set_nonblocking(true).expect("nonblocking");
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    let app = Router::new().route("/api/v2/buildinfo", get(|| async { "{}" }));
    tokio::spawn(async move { axum::serve(listener, app).await });
}

fn watch(listener: &std::net::TcpListener) -> (Arc<Liveness>, Arc<Mutex<Vec<bool>>>) {
    let liveness = Liveness::new(quick(), CancellationToken::new());
    let addr = listener.local_addr().expect("addr");
    liveness.set_deployment(&Url::parse(&format!("http://{addr}")).expect("url"));
    let changes: Arc<Mutex<Vec<bool>>> = Arc::default();
    let seen = changes.clone();
    liveness.ensure_prober(move |h| lock(&seen).push(h.outage.is_some()));
    (liveness, changes)
}

async fn bounded<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("bounded")
}

#[tokio::test]
async fn a_frozen_deployment_is_declared_and_its_resume_seen_at_once() {
    let listener = frozen();
    let (liveness, changes) = watch(&listener);
    let started = Instant::now();
    let waiting = liveness.track();
    let outage = bounded(liveness.went_down()).await;
    let declared = started.elapsed();
    // Not before the request waited, and only after two unanswered probes.
    assert!(
        declared >= Duration::from_millis(200 + 300 + 300),
        "{declared:?}"
    );
    assert!(declared < Duration::from_secs(3), "{declared:?}");
    let text = outage.describe();
    assert!(text.contains("is not responding (since "), "{text}");
    assert!(text.contains("no answer within"), "{text}");
    assert!(text.contains(&listener.local_addr().expect("addr").to_string()));
    assert!(
        outage
            .interrupted()
            .to_string()
            .contains("may or may not have run")
    );

    // A new request is refused within a probe time-out, not held.
    let asked = Instant::now();
    assert!(bounded(liveness.admit()).await.is_err());
    assert!(
        asked.elapsed() < Duration::from_millis(900),
        "{:?}",
        asked.elapsed()
    );

    resume(listener);
    let resumed = Instant::now();
    bounded(liveness.admit())
        .await
        .expect("admitted after the resume");
    assert!(
        resumed.elapsed() < Duration::from_secs(1),
        "{:?}",
        resumed.elapsed()
    );
    let health = liveness.health();
    assert_eq!(health.outage, None);
    assert_eq!(health.outages, 1);
    assert_eq!(*lock(&changes), vec![true, false]);
    drop(waiting);
}

/// The status turns healthy again on its own, with no request asking.
#[tokio::test]
async fn a_recovery_is_seen_without_any_request() {
    let listener = frozen();
    let (liveness, changes) = watch(&listener);
    let waiting = liveness.track();
    bounded(liveness.went_down()).await;
    drop(waiting);
    resume(listener);
    let resumed = Instant::now();
    let mut rx = liveness.health.subscribe();
    bounded(rx.wait_for(|h| h.outage.is_none()))
        .await
        .expect("health published");
    assert!(
        resumed.elapsed() < Duration::from_secs(1),
        "{:?}",
        resumed.elapsed()
    );
    assert_eq!(*lock(&changes), vec![true, false]);
}

#[tokio::test]
async fn a_long_request_to_a_live_deployment_is_not_failed() {
    let listener = frozen();
    let addr = listener.local_addr().expect("addr");
    resume(listener);
    let liveness = Liveness::new(quick(), CancellationToken::new());
    liveness.set_deployment(&Url::parse(&format!("http://{addr}/")).expect("url"));
    liveness.ensure_prober(|_| {});
    let _waiting = liveness.track();
    let down = tokio::time::timeout(Duration::from_millis(1500), liveness.went_down()).await;
    assert!(down.is_err(), "declared down: {down:?}");
    let health = liveness.health();
    assert!(health.probes >= 3, "it was checked: {health:?}");
    assert_eq!(health.outages, 0);
}

#[tokio::test]
async fn refused_connections_are_an_outage_and_nothing_is_probed_when_idle() {
    let port = frozen().local_addr().expect("addr").port();
    let liveness = Liveness::new(quick(), CancellationToken::new());
    liveness.set_deployment(&Url::parse(&format!("http://127.0.0.1:{port}/")).expect("url"));
    liveness.ensure_prober(|_| {});
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        liveness.health().probes,
        0,
        "nothing waited, nothing probed"
    );

    let waiting = liveness.track();
    let outage = bounded(liveness.went_down()).await;
    assert!(outage.reason.contains("refused"), "{outage:?}");
    drop(waiting);
    // Refused answers at once, so a new request fails fast.
    let asked = Instant::now();
    let refused = bounded(liveness.admit()).await.expect_err("still down");
    assert!(
        asked.elapsed() < Duration::from_millis(300),
        "{:?}",
        asked.elapsed()
    );
    assert!(
        refused.unavailable().to_string().contains("not responding"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn switched_off_it_never_declares_anything() {
    let listener = frozen();
    let liveness = Liveness::new(
        LivenessOptions {
            enabled: false,
            ..quick()
        },
        CancellationToken::new(),
    );
    let addr = listener.local_addr().expect("addr");
    liveness.set_deployment(&Url::parse(&format!("http://{addr}/")).expect("url"));
    liveness.ensure_prober(|_| {});
    let _waiting = liveness.track();
    let down = tokio::time::timeout(Duration::from_millis(1200), liveness.went_down()).await;
    assert!(down.is_err());
    assert_eq!(liveness.health().probes, 0);
}

/// Quick requests that overlap, so something always waits but nothing
/// waits long: no probe is sent.
#[tokio::test]
async fn a_steady_stream_of_quick_requests_is_not_probed() {
    let listener = frozen();
    let (liveness, _) = watch(&listener);
    let mut previous = liveness.track();
    for _ in 0..16 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let next = liveness.track();
        drop(std::mem::replace(&mut previous, next));
    }
    drop(previous);
    assert_eq!(liveness.health().probes, 0);
}
