//! Shell: Who may act for an app: its own API key (`X-API-Key`, or `Authorization: Bearer` or
//! `Basic`: `model::credential`), or the admin key (`X-Admin-Key`) for any app. Shared by every
//! per-app resource, so the rule is written once.

use crate::apps::app::{AppId, AppRecord};
use crate::apps::credential::credential;
use crate::apps::registry::Registry;
use crate::batch::fault_injection::DebugFlags;
use crate::http::envelope::{header, require_admin, Ctx};
use crate::http::error::ApiError;
use crate::ingest::intake::{Origin, Sender};
use crate::model::entry::Source;
use worker::Request;

/// The app named in the path (`/…/:app_id`), if the caller may act for it.
pub async fn named_app(req: &Request, ctx: &Ctx, app_id: &str) -> Result<AppId, ApiError> {
    let id = AppId::parse(app_id)?;
    if header(req, "x-admin-key").is_some() {
        require_admin(req, &ctx.config)?;
    } else {
        let app = key_app(req, ctx).await?;
        if app != id {
            return Err(ApiError::AppMismatch(format!(
                "this API key belongs to another app than {app_id:?}"
            )));
        }
    }
    Ok(id)
}

/// The app a request without one in its path acts for: the key's own app, or with the admin key
/// the app `named` (the `app_id` parameter, required then). A key naming another app is refused.
pub async fn caller_app(req: &Request, ctx: &Ctx, named: Option<&str>) -> Result<AppId, ApiError> {
    if header(req, "x-admin-key").is_some() {
        require_admin(req, &ctx.config)?;
        let Some(named) = named else {
            return Err(ApiError::InvalidFilter(
                "app_id: required with the admin key (which app)".into(),
            ));
        };
        return Ok(AppId::parse(named)?);
    }
    let app = key_app(req, ctx).await?;
    if named.is_some_and(|n| n != app.as_str()) {
        return Err(ApiError::AppMismatch(
            "app_id: this API key acts for its own app only".into(),
        ));
    }
    Ok(app)
}

/// The app of the request's key.
pub async fn key_app(req: &Request, ctx: &Ctx) -> Result<AppId, ApiError> {
    Ok(client(req, ctx).await?.0.app_id)
}

/// The app record of the request's key, and the key (a secret to keep out of what is stored).
pub async fn client(req: &Request, ctx: &Ctx) -> Result<(AppRecord, String), ApiError> {
    let given = credential(
        header(req, "x-api-key").as_deref(),
        header(req, "authorization").as_deref(),
    );
    let (key, from) = match &given {
        Some(c) => (Some(c.key.as_str()), c.from),
        None => (None, "X-API-Key (or Authorization: Bearer or Basic)"),
    };
    let app = Registry::new(&ctx.env)?.authenticate(key, from).await?;
    Ok((app, given.map(|c| c.key).unwrap_or_default()))
}

/// The app a request logs for, by its key (none for the trusted `LoggerService`).
pub struct Caller {
    pub app: AppRecord,
    key: Option<String>,
}

impl Caller {
    pub async fn of(req: &Request, ctx: &Ctx) -> Result<Caller, ApiError> {
        let (app, key) = client(req, ctx).await?;
        Ok(Caller {
            app,
            key: Some(key),
        })
    }

    /// The caller of a key given another way (`from`: `X-Log-Key`, RPC).
    pub async fn by_header(ctx: &Ctx, key: &str, from: &str) -> Result<Caller, ApiError> {
        let app = Registry::new(&ctx.env)?
            .authenticate(Some(key), from)
            .await?;
        Ok(Caller {
            app,
            key: Some(key.to_string()),
        })
    }

    /// The caller of the trusted `LoggerService`: the app it names, which must exist and not
    /// be being deleted.
    pub async fn trusted(ctx: &Ctx, app_id: &AppId) -> Result<Caller, ApiError> {
        match Registry::new(&ctx.env)?.get(app_id).await? {
            Some(app) if app.deleting_since.is_none() => Ok(Caller { app, key: None }),
            _ => Err(ApiError::AppNotFound(app_id.as_str().to_string())),
        }
    }

    /// The sender of entries for the ingest use case: the caller's app, with its key and the
    /// admin key as secrets no stored entry may hold.
    pub fn sender<'a>(
        &'a self,
        ctx: &'a Ctx,
        source: Source,
        origin: Origin,
        flags: DebugFlags,
    ) -> Sender<'a> {
        let mut secrets: Vec<&str> = self.key.as_deref().into_iter().collect();
        secrets.extend(ctx.config.admin_api_key.as_deref());
        Sender {
            app: &self.app.app_id,
            secrets,
            source,
            origin,
            flags,
        }
    }
}
