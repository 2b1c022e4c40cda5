//! Public calendar feeds: a calendar published read-only, without credentials, at
//! `{base}/feeds/{token}.ics`, where the token is the only secret (see [`token`]).
//!
//! The management actions live here so that the CLI (`davit feed …`) and the management API
//! share one code path: [`enable`], [`disable`], [`regenerate`]. Only the token's hash is
//! stored, so a feed URL can be shown once, when it is made; whoever needs it again makes a
//! new one (and the old one stops working). The API must check [`may_manage`] first.
//!
//! [`render`] holds the privacy rules and the assembly of the VCALENDAR, [`handler`] the HTTP
//! side (conditional requests, gzip, streaming).

pub mod cache;
pub mod handler;
pub mod render;
pub mod token;

use crate::acl::{Privilege, Subject, effective_privileges};
use crate::config::Config;
use crate::store::{Collection, CollectionKind, FeedSettings, HomeKind, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("no calendar {0} (expected OWNER/CALENDAR, e.g. alice/calendar)")]
    NoSuchCalendar(String),
    #[error("{0} is not a calendar; only calendars can be published")]
    NotACalendar(String),
    #[error("{0} is not published")]
    NotPublished(String),
    #[error(transparent)]
    Random(#[from] token::RandomError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
}

/// Whether `subject` may publish, unpublish or re-key the calendar: its owner, whoever holds
/// *can modify and share* on it, or a manager of an organization calendar (the `share`
/// privilege). A failed look-up of the access facts denies.
pub fn may_manage(store: &dyn Store, subject: &Subject, collection: &Collection) -> bool {
    crate::org::target_for(store, subject, collection)
        .is_ok_and(|target| effective_privileges(subject, target).contains(Privilege::Share))
}

/// Publishes the calendar with `settings` under a new token and returns the token. A calendar
/// already published gets the new settings and a new token; its previous URL stops working.
pub fn enable(
    store: &dyn Store,
    collection: &Collection,
    settings: &FeedSettings,
) -> Result<String, FeedError> {
    if collection.kind != CollectionKind::Calendar {
        return Err(FeedError::NotACalendar(collection.segment.clone()));
    }
    let token = token::generate()?;
    store.set_feed(collection.id, &token::token_hash(&token), settings)?;
    Ok(token)
}

/// Stops publishing; the URL answers 404 from the next request on. Returns whether the
/// calendar was published.
pub fn disable(store: &dyn Store, collection: &Collection) -> Result<bool, FeedError> {
    Ok(store.remove_feed(collection.id)?)
}

/// Replaces the token of a published calendar, keeping its settings; the old URL is dead at
/// once. Returns the new token.
pub fn regenerate(store: &dyn Store, collection: &Collection) -> Result<String, FeedError> {
    let settings =
        store.feed_of(collection.id)?.ok_or_else(|| FeedError::NotPublished(collection.segment.clone()))?;
    enable(store, collection, &settings)
}

/// The calendar named `OWNER/CALENDAR` (URL segments, as in `/dav/calendars/OWNER/CALENDAR/`).
pub fn find_calendar(store: &dyn Store, path: &str) -> Result<Collection, FeedError> {
    let missing = || FeedError::NoSuchCalendar(path.to_owned());
    let (owner, segment) = path.trim_matches('/').split_once('/').ok_or_else(missing)?;
    if owner.is_empty() || segment.is_empty() || segment.contains('/') {
        return Err(missing());
    }
    let principal = store.principal_by_slug(owner)?.ok_or_else(missing)?;
    let home = store.home(principal.id, HomeKind::Calendar)?.ok_or_else(missing)?;
    let collection = store.child_collection(home.id, segment)?.ok_or_else(missing)?;
    if collection.kind != CollectionKind::Calendar {
        return Err(FeedError::NotACalendar(path.to_owned()));
    }
    Ok(collection)
}

/// The feed's `http(s)://` URL, from the configured public URL and base path.
pub fn feed_url(config: &Config, token: &str) -> String {
    format!("{}{}/feeds/{token}.ics", config.public_base(), config.base_path)
}

/// The same URL as `webcal://`, which calendar apps open as a subscription.
pub fn webcal_url(config: &Config, token: &str) -> String {
    let url = feed_url(config, token);
    let rest = url.split_once("://").map(|(_, rest)| rest).unwrap_or(&url);
    format!("webcal://{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let mut config = Config { public_url: "https://cal.example.org/".into(), ..Config::default() };
        config.base_path = "/groupware/".into();
        config.validate().unwrap();
        assert_eq!(feed_url(&config, "T0k"), "https://cal.example.org/groupware/feeds/T0k.ics");
        assert_eq!(webcal_url(&config, "T0k"), "webcal://cal.example.org/groupware/feeds/T0k.ics");
        let mut plain = Config::default();
        plain.validate().unwrap();
        assert_eq!(feed_url(&plain, "x"), "http://127.0.0.1:8008/feeds/x.ics");
        assert_eq!(webcal_url(&plain, "x"), "webcal://127.0.0.1:8008/feeds/x.ics");
    }
}
