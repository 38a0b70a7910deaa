//! The two well-known documents, exactly as coderd serves them (any suffix
//! path answers the same document).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::state::Shared;

const SCOPES: &[&str] = &["all", "application_connect"];

/// RFC 9728. `resource` is the access URL, not the MCP URL (coder/coder#19717).
pub(super) async fn protected_resource(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let resource = shared
        .faults
        .tampering()
        .resource
        .unwrap_or_else(|| shared.access());
    Json(json!({
        "resource": resource,
        "authorization_servers": [shared.access()],
        "scopes_supported": SCOPES,
        "bearer_methods_supported": ["header", "query"],
    }))
}

/// RFC 8414. `registration_endpoint` appears only while DCR is enabled.
pub(super) async fn authorization_server(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let issuer = shared
        .faults
        .tampering()
        .issuer
        .unwrap_or_else(|| shared.access());
    let mut metadata = json!({
        "issuer": issuer,
        "authorization_endpoint": shared.endpoint("/oauth2/authorize"),
        "token_endpoint": shared.endpoint("/oauth2/tokens"),
        "revocation_endpoint": shared.endpoint("/oauth2/revoke"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": SCOPES,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    });
    if shared.config.public_clients
        && let Some(methods) = metadata["token_endpoint_auth_methods_supported"].as_array_mut()
    {
        methods.push(json!("none"));
    }
    if shared.config.iss_parameter
        && let Some(object) = metadata.as_object_mut()
    {
        object.insert(
            "authorization_response_iss_parameter_supported".into(),
            json!(true),
        );
    }
    if shared.config.client_metadata_documents
        && let Some(object) = metadata.as_object_mut()
    {
        object.insert("client_id_metadata_document_supported".into(), json!(true));
    }
    if shared.faults.dcr_enabled()
        && let Some(object) = metadata.as_object_mut()
    {
        object.insert(
            "registration_endpoint".into(),
            json!(shared.endpoint("/oauth2/register")),
        );
    }
    Json(metadata)
}
