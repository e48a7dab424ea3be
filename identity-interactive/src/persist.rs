//! The persistent token cache of the user credentials (feature `persistent`): after every
//! sign-in and silent refresh the tokens are written in the MSAL schema; a later process with
//! the account's [`AuthenticationRecord`](crate::AuthenticationRecord) is served from them
//! (cached access token, else the refresh token) without prompting.

#[cfg(feature = "persistent")]
mod enabled {
    use identity_cache::persistent::schema::TokenEvent;
    use identity_cache::persistent::{CachePair, TokenCachePersistenceOptions};
    use identity_core::env::Env;
    use identity_core::protocol::entra::TokenResponse;
    use identity_core::{AccessToken, Result, Secret};
    use std::time::SystemTime;

    /// The two caches (non-CAE, CAE) of one credential and the authority they belong to.
    #[derive(Debug)]
    pub(crate) struct Persistence {
        caches: CachePair,
    }

    impl Persistence {
        /// Opens both caches; `authority` is `https://host`.
        pub(crate) fn open(
            name: &'static str,
            options: &TokenCachePersistenceOptions,
            env: &dyn Env,
            authority: &str,
        ) -> Result<Self> {
            Ok(Self {
                caches: CachePair::open(name, options, env, authority)?,
            })
        }

        /// A stored access token of the account for these scopes, valid for 5 more minutes.
        pub(crate) fn access_token(
            &self,
            cae: bool,
            home_account_id: &str,
            client_id: &str,
            realm: &str,
            scopes: &[String],
            now: SystemTime,
        ) -> Option<AccessToken> {
            match self.caches.cache(cae).read() {
                Ok(c) => c.find_access_token(
                    Some(home_account_id),
                    self.caches.environment(),
                    client_id,
                    realm,
                    scopes,
                    now,
                ),
                Err(e) => {
                    tracing::warn!("the persistent token cache could not be read: {e}");
                    None
                }
            }
        }

        /// The stored refresh token of the account for this client (or its family).
        pub(crate) fn refresh_token(
            &self,
            cae: bool,
            home_account_id: &str,
            client_id: &str,
        ) -> Option<Secret> {
            match self.caches.cache(cae).read() {
                Ok(c) => c
                    .find_refresh_token(home_account_id, self.caches.environment(), client_id)
                    .map(|(_, e)| Secret::from(e.secret.clone())),
                Err(e) => {
                    tracing::warn!("the persistent token cache could not be read: {e}");
                    None
                }
            }
        }

        /// Writes the tokens of `response`. A failure is logged, not returned: the caller
        /// still gets its token.
        #[allow(clippy::too_many_arguments)]
        pub(crate) fn store(
            &self,
            cae: bool,
            client_id: &str,
            realm: &str,
            scopes: &[String],
            response: &TokenResponse,
            now: SystemTime,
            grant: &str,
        ) {
            let event = TokenEvent::new(
                self.caches.environment(),
                client_id,
                realm,
                scopes,
                response,
                now,
            )
            .with_grant(grant);
            if let Err(e) = self.caches.cache(cae).modify(|c| {
                c.purge_expired(now);
                c.add(&event)
            }) {
                tracing::warn!("the tokens could not be written to the persistent cache: {e}");
            }
        }
    }
}

#[cfg(feature = "persistent")]
pub(crate) use enabled::Persistence;

/// Without the `persistent` feature no persistence can exist.
#[cfg(not(feature = "persistent"))]
#[derive(Debug)]
pub(crate) enum Persistence {}
