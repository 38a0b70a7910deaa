//! The web UI's files, embedded in the binary from the repository's `ui/`.
//!
//! Debug builds read the folder from disk (so the UI can be edited without
//! rebuilding); release builds carry the files inside the binary.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(rust_embed::RustEmbed)]
#[folder = "../../ui/"]
#[exclude = "node_modules/*"]
#[exclude = "tests/*"]
#[exclude = "*.test.js"]
#[exclude = "package.json"]
#[exclude = "package-lock.json"]
struct Ui;

/// Serves `GET /<path>`: `index.html` for `/`, 404 for what is not there.
pub async fn serve(request: Request) -> Response {
    let path = request.uri().path().trim_start_matches('/');
    let path = if path.is_empty() || path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path.to_owned()
    };
    let Some(file) = Ui::get(&path) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    // A strong validator from the content hash: the UI revalidates cheaply
    // (`no-cache`) and always sees the version this daemon serves.
    let etag = format!(
        "\"{}\"",
        file.metadata
            .sha256_hash()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let matches = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Response::new(Body::from(file.data.into_owned()))
    };
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&content_type(&path, file.metadata.mimetype())) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The MIME type, with `charset=utf-8` for text so no browser guesses.
fn content_type(path: &str, guessed: &str) -> String {
    // mime_guess knows `.mjs` and `.js` as JavaScript; modules must not be
    // served as anything else or the browser refuses them (nosniff).
    let base = if path.ends_with(".js") || path.ends_with(".mjs") {
        "text/javascript"
    } else {
        guessed
    };
    let textual = base.starts_with("text/")
        || base == "application/json"
        || base == "image/svg+xml"
        || base == "application/manifest+json";
    if textual && !base.contains("charset") {
        format!("{base}; charset=utf-8")
    } else {
        base.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_are_explicit() {
        assert_eq!(
            content_type("a.js", "application/javascript"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("a.png", "image/png"), "image/png");
        assert_eq!(content_type("a.css", "text/css"), "text/css; charset=utf-8");
    }

    #[test]
    fn index_html_is_embedded() {
        assert!(Ui::get("index.html").is_some());
    }
}
