//! What `up --local` runs for `api.auth`: for `cognito` the local issuer (and the state file
//! `deployer token` reads), for `jwt` the configured issuer's keys; the authorizer the gateway
//! uses; the startup lines and the frontend's `VITE_AUTH_*` variables.

use std::sync::Arc;

use anyhow::Context as _;

use crate::config::{AuthProvider, Config};
use crate::frontend_env::{self, LocalAuth};
use crate::progress::Progress;
use oncely_local::auth::Authorizer;
use oncely_local::hosts::AllowedHosts;
use oncely_local::issuer::{Issuer, LOCAL_CLIENT_ID};
use oncely_local::session::{self, Session, SessionFile};

/// The running auth of a local stack; dropping it stops the issuer and removes the state file.
pub struct LocalAuthRuntime {
    pub authorizer: Arc<Authorizer>,
    issuer: Option<Issuer>,
    _session: Option<SessionFile>,
}

/// Starts the auth of `config` (`None` without `api.auth`). `api` is the local API's endpoint.
pub async fn start(
    config: &Config,
    api: &str,
    hosts: &AllowedHosts,
    progress: &Progress,
) -> anyhow::Result<Option<LocalAuthRuntime>> {
    let Some(settings) = &config.api.auth else {
        return Ok(None);
    };
    match &settings.provider {
        AuthProvider::Cognito => {
            let origins = config.api.cors.as_ref().map(|c| c.allow_origins.clone());
            let issuer = Issuer::start(LOCAL_CLIENT_ID, origins, hosts.clone())
                .await
                .context("starting the local issuer")?;
            let authorizer = Arc::new(Authorizer::local(settings, &issuer));
            let session = session::write(
                &config.name(),
                &Session {
                    pid: std::process::id(),
                    issuer: issuer.url().to_string(),
                    client_id: issuer.client_id().to_string(),
                    api: api.to_string(),
                },
            )
            .with_context(|| format!("writing {}", session::path(&config.name()).display()))?;
            Ok(Some(LocalAuthRuntime {
                authorizer,
                issuer: Some(issuer),
                _session: Some(session),
            }))
        }
        AuthProvider::Jwt { issuer, audience } => {
            let step = progress.step(format!("reading the keys of issuer {issuer}"));
            let authorizer = Authorizer::discover(settings, issuer, audience)
                .await
                .with_context(|| {
                    format!("`api.auth.jwt.issuer` {issuer} must be reachable for `up --local` to check tokens")
                })?;
            step.done("ready");
            Ok(Some(LocalAuthRuntime {
                authorizer: Arc::new(authorizer),
                issuer: None,
                _session: None,
            }))
        }
    }
}

/// Writes `VITE_AUTH_MODE`/`VITE_AUTH_ISSUER` for the frontend and prints the auth startup line.
pub fn announce(config: &Config, auth: Option<&LocalAuthRuntime>, progress: &Progress) -> anyhow::Result<()> {
    let Some(auth) = auth else {
        return frontend_env::write_local_auth(config, LocalAuth::None, progress);
    };
    let a = &auth.authorizer;
    let public: Vec<String> = config
        .api
        .auth
        .iter()
        .flat_map(|s| s.public_routes.iter().map(ToString::to_string))
        .collect();
    let public = if public.is_empty() {
        "none".to_string()
    } else {
        public.join(", ")
    };
    match &auth.issuer {
        Some(issuer) => {
            frontend_env::write_local_auth(config, LocalAuth::Local { issuer: issuer.url() }, progress)?;
            println!(
                "Auth: local issuer {} (audience {}; public routes: {public}). \
                A token: cargo run -- token --sub alice",
                issuer.url(),
                issuer.client_id()
            );
        }
        None => {
            frontend_env::write_local_auth(config, LocalAuth::Jwt { issuer: a.issuer() }, progress)?;
            println!(
                "Auth: JWT issuer {} (audience {}; public routes: {public})",
                a.issuer(),
                a.audience().join(", ")
            );
        }
    }
    Ok(())
}
