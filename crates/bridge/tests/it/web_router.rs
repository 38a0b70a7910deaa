//! The routers' middleware without a socket: each request goes straight into
//! the `Router` (`tower::ServiceExt::oneshot`), so what a layer answers is
//! seen alone, with no client, proxy or connection in between.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::routing::post;
use bridge::server::guard::{Allowed, check_host_and_origin};
use bridge::supervisor::{Bridge, BridgeHandle};
use coder_sim::{Sim, SimConfig};
use serde_json::Value;
use tower::ServiceExt as _;

use crate::support::{bounded, signed_in};

const PORT: u16 = 7331;

/// The local MCP endpoint's guard in front of a handler that says "ok".
fn guarded() -> Router {
    Router::new()
        .route("/mcp", post(|| async { "ok" }))
        .layer(from_fn_with_state(
            Allowed::loopback(PORT),
            check_host_and_origin,
        ))
}

fn request(method: &str, path: &str, host: Option<&str>, origin: Option<&str>) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(host) = host {
        builder = builder.header(header::HOST, host);
    }
    if let Some(origin) = origin {
        builder = builder.header(header::ORIGIN, origin);
    }
    builder.body(Body::empty()).expect("request")
}

async fn answer(router: Router, request: Request<Body>) -> (StatusCode, header::HeaderMap, Value) {
    let response = router.oneshot(request).await.expect("infallible");
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.expect("body");
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (parts.status, parts.headers, value)
}

#[tokio::test]
async fn the_guard_admits_our_loopback_host_and_origin_only() {
    let ours = format!("127.0.0.1:{PORT}");
    let admitted: &[(Option<&str>, Option<&str>)] = &[
        (Some(&ours), None),
        (Some("localhost:7331"), None),
        (Some("[::1]:7331"), None),
        (Some(" LOCALHOST:7331 "), None),
        (Some(&ours), Some("http://127.0.0.1:7331")),
        (Some(&ours), Some("http://localhost:7331/")),
    ];
    for &(host, origin) in admitted {
        let (status, _, body) = answer(guarded(), request("POST", "/mcp", host, origin)).await;
        assert_eq!(status, StatusCode::OK, "{host:?} {origin:?}: {body}");
        assert_eq!(body, "ok");
    }
    let refused: &[(Option<&str>, Option<&str>, &str)] = &[
        (None, None, "Host"),
        (Some("127.0.0.1:8080"), None, "Host"),
        (Some("127.0.0.1"), None, "Host"),
        // DNS rebinding: a name of the attacker's that resolves to 127.0.0.1.
        (Some("rebind.example:7331"), None, "Host"),
        (Some(&ours), Some("https://evil.example"), "origins"),
        (Some(&ours), Some("null"), "origins"),
        (Some(&ours), Some("http://127.0.0.1:8080"), "origins"),
        (Some(&ours), Some("https://127.0.0.1:7331"), "origins"),
    ];
    for &(host, origin, says) in refused {
        let (status, _, body) = answer(guarded(), request("POST", "/mcp", host, origin)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{host:?} {origin:?}: {body}");
        let code = body["error"]["code"].as_str().expect("code");
        let expected = if says == "Host" {
            "forbidden_host"
        } else {
            "forbidden_origin"
        };
        assert_eq!(code, expected, "{body}");
        let message = body["error"]["message"].as_str().expect("message");
        assert!(message.contains(says), "{host:?} {origin:?}: {message}");
    }
}

/// A signed-in bridge; the requests below never touch its socket.
struct Web {
    _sim: Sim,
    bridge: BridgeHandle,
    control_token: String,
    _home: tempfile::TempDir,
}

impl Web {
    async fn start() -> Self {
        let sim = bounded("sim", Sim::start(SimConfig::default()))
            .await
            .expect("sim starts");
        let home = tempfile::tempdir().expect("temp home");
        let bridge = bounded(
            "bridge",
            Bridge::start(signed_in::options(home.path(), &sim)),
        )
        .await
        .expect("bridge starts");
        let control_token = bridge::web::read_control_token(&signed_in::config_dir(home.path()))
            .expect("control token written")
            .expose()
            .to_owned();
        Self {
            _sim: sim,
            bridge,
            control_token,
            _home: home,
        }
    }

    /// The web routes behind the guard the daemon puts in front of every
    /// route it serves.
    fn router(&self) -> Router {
        bridge::web::router(self.bridge.clone()).layer(from_fn_with_state(
            Allowed::loopback(self.bridge.local_addr().port()),
            check_host_and_origin,
        ))
    }

    fn host(&self) -> String {
        self.bridge.local_addr().to_string()
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, header::HeaderMap, Value) {
        answer(self.router(), request).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_web_answer_carries_the_security_headers() {
    let web = Web::start().await;
    let host = web.host();
    let mut authorised = request("GET", "/api/status", Some(&host), None);
    authorised.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Bearer {}", web.control_token)
            .parse()
            .expect("header"),
    );
    for (what, request) in [
        ("the page", request("GET", "/", Some(&host), None)),
        ("an API answer", authorised),
        (
            "a refusal",
            request("GET", "/api/status", Some(&host), None),
        ),
        (
            "a foreign Host",
            request("GET", "/", Some("evil.example"), None),
        ),
    ] {
        let (status, headers, _) = web.send(request).await;
        let get = |name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        };
        assert_eq!(
            get(header::CONTENT_SECURITY_POLICY),
            bridge::web::CONTENT_SECURITY_POLICY,
            "{what} ({status})"
        );
        assert_eq!(get(header::X_CONTENT_TYPE_OPTIONS), "nosniff", "{what}");
        assert_eq!(get(header::REFERRER_POLICY), "no-referrer", "{what}");
        assert_eq!(get(header::X_FRAME_OPTIONS), "DENY", "{what}");
        if what != "the page" && what != "a foreign Host" {
            assert_eq!(get(header::CACHE_CONTROL), "no-store", "{what}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_refuses_a_foreign_host_or_origin_in_the_api_shape() {
    let web = Web::start().await;
    let host = web.host();
    let (status, _, body) = web
        .send(request("GET", "/api/status", Some("rebind.example"), None))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "forbidden_host", "{body}");
    let (status, _, body) = web
        .send(request(
            "GET",
            "/",
            Some(&host),
            Some("https://evil.example"),
        ))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "forbidden_origin", "{body}");
    // The ticket exchange is behind the same check.
    let (status, _, _) = web
        .send(request(
            "GET",
            "/auth?ticket=x",
            Some("rebind.example"),
            None,
        ))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_asks_who_is_calling_before_it_reads_the_body() {
    let web = Web::start().await;
    let host = web.host();
    let form = |token: Option<&str>| {
        let mut builder = Request::builder()
            .method("PUT")
            .uri("/api/policy")
            .header(header::HOST, &host)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        builder
            .body(Body::from("tool=x&mode=allow"))
            .expect("request")
    };
    // No caller: 401 and nothing about the body.
    let (status, _, body) = web.send(form(None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, _, body) = web.send(form(Some("not-the-token"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // A caller, but a body a cross-site form could send: 415.
    let (status, _, body) = web.send(form(Some(&web.control_token))).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert_eq!(body["error"]["code"], "unsupported_media_type");
}
