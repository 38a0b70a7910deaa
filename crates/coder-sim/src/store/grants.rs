//! Codes, token pairs, refresh rotation and revocation.

use std::time::Duration;

use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    CODE_LIFETIME, CodeGrant, CodeGrantRequest, IssuedToken, OAuthLink, RefreshError,
    RefreshRecord, Store, coder_secret, hash, new_key, split_coder_secret,
};

impl Store {
    pub fn issue_code(&self, grant: CodeGrantRequest) -> String {
        let (formatted, prefix, secret_hash) = coder_secret();
        let grant = CodeGrant {
            app_id: grant.app_id,
            user_id: grant.user_id,
            redirect_uri: grant.redirect_uri,
            code_challenge: grant.code_challenge,
            resource: grant.resource,
            expires_at: OffsetDateTime::now_utc() + CODE_LIFETIME,
        };
        self.lock().codes.insert(prefix, (secret_hash, grant));
        formatted
    }

    /// Codes are single-use: any attempt consumes the code.
    pub fn take_code(&self, code: &str) -> Option<CodeGrant> {
        let (prefix, secret) = split_coder_secret(code)?;
        let (secret_hash, grant) = self.lock().codes.remove(prefix)?;
        (secret_hash == hash(secret) && grant.expires_at > OffsetDateTime::now_utc())
            .then_some(grant)
    }

    /// Issues an access + refresh token pair. With `replace`, every earlier
    /// token of this user for this app is deleted first (Coder keeps one live
    /// key per user and app after a code exchange).
    pub fn issue_token(
        &self,
        app_id: &str,
        user_id: Uuid,
        audience: Option<String>,
        lifetimes: (Duration, Duration),
        replace: bool,
    ) -> IssuedToken {
        let mut data = self.lock();
        if replace {
            data.keys.retain(|_, k| {
                !(k.user_id == user_id && k.oauth.as_ref().is_some_and(|o| o.app_id == app_id))
            });
            data.refresh
                .retain(|_, r| !(r.user_id == user_id && r.app_id == app_id));
        }
        let link = OAuthLink {
            app_id: app_id.to_owned(),
            audience: audience.clone(),
        };
        let (access_token, key_id, key) = new_key(user_id, lifetimes.0, Some(link));
        let expires_at = key.expires_at;
        data.keys.insert(key_id.clone(), key);
        let (refresh_token, prefix, refresh_hash) = coder_secret();
        data.refresh.insert(
            prefix,
            RefreshRecord {
                hash: refresh_hash,
                key_id,
                app_id: app_id.to_owned(),
                user_id,
                audience,
                expires_at: OffsetDateTime::now_utc() + lifetimes.1,
            },
        );
        IssuedToken {
            access_token,
            refresh_token,
            expires_at,
        }
    }

    /// Consumes a refresh token: no grace period, and the access key it was
    /// paired with is deleted, as in coderd. A `resource` that differs from
    /// the original audience is refused before anything is consumed.
    /// Returns the user and audience for the new token.
    pub fn consume_refresh(
        &self,
        token: &str,
        app_id: &str,
        resource: Option<&str>,
    ) -> Result<(Uuid, Option<String>), RefreshError> {
        let (prefix, secret) = split_coder_secret(token).ok_or(RefreshError::InvalidGrant)?;
        let mut data = self.lock();
        let record = data.refresh.get(prefix).ok_or(RefreshError::InvalidGrant)?;
        if record.hash != hash(secret) || record.app_id != app_id {
            return Err(RefreshError::InvalidGrant);
        }
        if let Some(resource) = resource
            && !record
                .audience
                .as_deref()
                .is_some_and(|aud| crate::state::same_resource(aud, resource))
        {
            return Err(RefreshError::InvalidTarget);
        }
        let record = data
            .refresh
            .remove(prefix)
            .ok_or(RefreshError::InvalidGrant)?;
        data.keys.remove(&record.key_id);
        if record.expires_at <= OffsetDateTime::now_utc() {
            return Err(RefreshError::InvalidGrant);
        }
        Ok((record.user_id, record.audience))
    }

    /// RFC 7009 revocation of an access or refresh token issued to `app_id`.
    pub fn revoke(&self, token: &str, app_id: &str) -> bool {
        let mut data = self.lock();
        if let Some((prefix, secret)) = split_coder_secret(token) {
            let Some(record) = data.refresh.get(prefix) else {
                return false;
            };
            if record.hash != hash(secret) || record.app_id != app_id {
                return false;
            }
            if let Some(record) = data.refresh.remove(prefix) {
                data.keys.remove(&record.key_id);
            }
            return true;
        }
        let Some((id, secret)) = token.split_once('-') else {
            return false;
        };
        let owned = data.keys.get(id).is_some_and(|k| {
            k.secret_hash == hash(secret) && k.oauth.as_ref().is_some_and(|o| o.app_id == app_id)
        });
        if owned {
            data.keys.remove(id);
            data.refresh.retain(|_, r| r.key_id != id);
        }
        owned
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;

    fn app_request(method: &str) -> AppRequest {
        AppRequest {
            name: "t".into(),
            redirect_uris: vec!["http://127.0.0.1/cb".into()],
            auth_method: method.into(),
            grant_types: vec!["authorization_code".into()],
            response_types: vec!["code".into()],
            scope: None,
        }
    }

    #[test]
    fn refresh_is_single_use_and_kills_old_key() {
        let store = Store::new(&SimConfig::default());
        let user = store.demo_user();
        let app = store
            .create_app(app_request("client_secret_post"), false)
            .app;
        let lifetimes = (Duration::from_secs(60), Duration::from_secs(60));
        let issued = store.issue_token(&app.client_id, user.id, None, lifetimes, true);
        assert!(store.authenticate(&issued.access_token).is_ok());
        assert!(
            store
                .consume_refresh(&issued.refresh_token, &app.client_id, None)
                .is_ok()
        );
        assert_eq!(
            store.consume_refresh(&issued.refresh_token, &app.client_id, None),
            Err(RefreshError::InvalidGrant)
        );
        assert!(store.authenticate(&issued.access_token).is_err());
    }

    #[test]
    fn secrets_have_coder_shape() {
        let s = coder_secret_string();
        let (prefix, secret) = split_coder_secret(&s).expect("shape");
        assert_eq!((prefix.len(), secret.len()), (10, 40));
        let store = Store::new(&SimConfig::default());
        let public = store.create_app(app_request("none"), true);
        assert!(public.client_secret.is_none() && public.app.is_public());
        assert!(public.registration_access_token.is_some());
    }
}
