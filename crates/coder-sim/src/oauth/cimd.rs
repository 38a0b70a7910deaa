//! Client ID Metadata Documents (SEP-991, draft-ietf-oauth-client-id-
//! metadata-document): a client whose `client_id` is the URL of a JSON
//! document describing it, accepted without registration.
//!
//! Not a Coder feature: on only with [`crate::SimConfig::client_metadata_documents`].
//! The simulator hosts the documents itself (at `/sim/client-metadata/…`,
//! see [`crate::Sim::host_client_metadata`]) and resolves only those, from
//! memory, so it never fetches an arbitrary URL. A real server requires
//! https; loopback http is accepted here because the simulator is loopback.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::header;
use serde::Deserialize;

use crate::config::AppSpec;
use crate::state::{Shared, route_not_found};
use crate::store::App;

pub(crate) const DOCUMENT_PATH: &str = "/sim/client-metadata/";

/// Documents the simulator serves, by name.
#[derive(Debug, Default)]
pub(crate) struct Documents(Mutex<BTreeMap<String, String>>);

impl Documents {
    pub(crate) fn put(&self, name: &str, body: String) {
        self.lock().insert(name.to_owned(), body);
    }

    fn get(&self, name: &str) -> Option<String> {
        self.lock().get(name).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `GET /sim/client-metadata/{name}`.
pub(super) async fn serve(State(shared): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    match shared.documents.get(&name) {
        Some(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        None => route_not_found(),
    }
}

#[derive(Deserialize)]
struct Document {
    client_id: String,
    #[serde(default)]
    client_name: Option<String>,
    redirect_uris: Vec<String>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
}

/// The app a URL `client_id` stands for, when the mode is on and the URL
/// names a document this simulator hosts: `None` when `client_id` is not
/// such a URL (an ordinary unknown client), `Some(Err)` when the document
/// is missing or invalid. A valid document becomes a public app.
pub(crate) fn resolve(shared: &Shared, client_id: &str) -> Option<Result<App, String>> {
    if !shared.config.client_metadata_documents {
        return None;
    }
    let prefix = format!("{}{DOCUMENT_PATH}", shared.access());
    let name = client_id.strip_prefix(&prefix)?;
    Some(validate(shared, client_id, name))
}

fn validate(shared: &Shared, client_id: &str, name: &str) -> Result<App, String> {
    let body = shared
        .documents
        .get(name)
        .ok_or_else(|| format!("the client metadata document {client_id} cannot be fetched"))?;
    let document: Document = serde_json::from_str(&body)
        .map_err(|e| format!("the client metadata document is not valid: {e}"))?;
    if document.client_id != client_id {
        return Err("the client metadata document names another client_id".into());
    }
    if document.client_secret.is_some()
        || document
            .token_endpoint_auth_method
            .as_deref()
            .is_some_and(|m| m != "none")
    {
        return Err("a client metadata document client must be public (no shared secret)".into());
    }
    if document.redirect_uris.is_empty() {
        return Err("the client metadata document lists no redirect_uris".into());
    }
    let spec = AppSpec {
        name: document
            .client_name
            .unwrap_or_else(|| "Client metadata document".into()),
        client_id: client_id.to_owned(),
        client_secret: None,
        redirect_uris: document.redirect_uris,
    };
    shared.store.put_app(&spec);
    shared
        .store
        .app(client_id)
        .ok_or_else(|| "the client could not be recorded".to_owned())
}
