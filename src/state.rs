//! Application state built once in `main` (or by a test) and shared as `Arc<AppState>`.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::{Authenticator, BackoffPolicy};
use crate::config::Config;
use crate::dav::paths::Hrefs;
use crate::feeds::cache::RenderedFeeds;
use crate::store::Store;

pub struct AppState {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub auth: Authenticator,
    pub hrefs: Hrefs,
    /// Rendered public feeds, served again while their entity tag holds.
    pub feeds: Arc<RenderedFeeds>,
}

impl AppState {
    pub fn new(config: Config, store: Arc<dyn Store>) -> Self {
        let auth =
            Authenticator::new(Duration::from_secs(config.auth_cache_seconds), BackoffPolicy::default());
        let hrefs = Hrefs::new(&config.base_path);
        AppState { config, store, auth, hrefs, feeds: Arc::default() }
    }
}
