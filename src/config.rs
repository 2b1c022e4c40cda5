//! Configuration: defaults, overlaid by a TOML file (`--config`), overlaid by `DAVIT_*`
//! environment variables, overlaid by command-line flags. Validated once at start-up.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8008";
pub const DEFAULT_DATA_DIR: &str = "davit-data";
pub const DATABASE_FILE: &str = "davit.sqlite3";

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Directory holding the SQLite database (`davit.sqlite3`).
    pub data_dir: PathBuf,
    /// URL prefix when served behind a reverse proxy under a sub-path, e.g. "/cal".
    pub base_path: String,
    /// The external scheme, host and port (e.g. "https://cal.example.org") used to print links
    /// such as public feed URLs; empty = `http://` + `listen`. See [`Config::public_base`].
    pub public_url: String,
    /// Largest request body accepted, in bytes (larger ones get 413).
    pub max_body_bytes: u64,
    /// Realm announced in `WWW-Authenticate`.
    pub realm: String,
    /// Seconds a verified password stays cached, so a sync burst costs one argon2 hash.
    pub auth_cache_seconds: u64,
    /// Days a deletion stays in a collection's sync log; older sync tokens then get
    /// `DAV:valid-sync-token` and their clients resync in full (RFC 6578 §3.2).
    pub sync_retention_days: u64,
    /// Name of the organization created on first start.
    pub initial_organization: String,
    /// Username of the owner account created on first start.
    pub initial_owner: String,
    /// tracing filter, e.g. "info" or "davit=debug".
    pub log: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: DEFAULT_LISTEN.parse().expect("valid default address"),
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            base_path: "/".into(),
            public_url: String::new(),
            max_body_bytes: 16 * 1024 * 1024,
            realm: "davit".into(),
            auth_cache_seconds: 300,
            sync_retention_days: 180,
            initial_organization: "My Organization".into(),
            initial_owner: "admin".into(),
            log: "info".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid value for {key}: {message}")]
    Value { key: &'static str, message: String },
}

impl Config {
    /// Loads the file (if any) and applies environment overrides; `env` is injectable for tests.
    pub fn load(file: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.into(), source })?;
                toml::from_str(&text)
                    .map_err(|e| ConfigError::Parse { path: path.into(), message: e.to_string() })?
            }
            None => Config::default(),
        };
        config.apply_env(env)?;
        config.validate()?;
        Ok(config)
    }

    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn num(key: &'static str, v: String) -> Result<u64, ConfigError> {
            v.trim()
                .parse()
                .map_err(|_| ConfigError::Value { key, message: format!("{v:?} is not a number") })
        }
        if let Some(v) = env("DAVIT_LISTEN") {
            self.listen = v.parse().map_err(|_| ConfigError::Value {
                key: "DAVIT_LISTEN",
                message: format!("{v:?} is not ADDR:PORT"),
            })?;
        }
        if let Some(v) = env("DAVIT_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = env("DAVIT_BASE_PATH") {
            self.base_path = v;
        }
        if let Some(v) = env("DAVIT_PUBLIC_URL") {
            self.public_url = v;
        }
        if let Some(v) = env("DAVIT_MAX_BODY_BYTES") {
            self.max_body_bytes = num("DAVIT_MAX_BODY_BYTES", v)?;
        }
        if let Some(v) = env("DAVIT_SYNC_RETENTION_DAYS") {
            self.sync_retention_days = num("DAVIT_SYNC_RETENTION_DAYS", v)?;
        }
        if let Some(v) = env("DAVIT_REALM") {
            self.realm = v;
        }
        if let Some(v) = env("DAVIT_AUTH_CACHE_SECONDS") {
            self.auth_cache_seconds = num("DAVIT_AUTH_CACHE_SECONDS", v)?;
        }
        if let Some(v) = env("DAVIT_INITIAL_ORGANIZATION") {
            self.initial_organization = v;
        }
        if let Some(v) = env("DAVIT_INITIAL_OWNER") {
            self.initial_owner = v;
        }
        if let Some(v) = env("DAVIT_LOG") {
            self.log = v;
        }
        Ok(())
    }

    /// Normalises `base_path` to "/" or "/prefix" (no trailing slash) and checks values.
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        let trimmed = self.base_path.trim().trim_matches('/');
        if trimmed.split('/').any(|s| s == ".." || s == ".") || trimmed.contains(['?', '#', '%']) {
            return Err(ConfigError::Value {
                key: "base_path",
                message: "must be a plain path like /dav-server".into(),
            });
        }
        self.base_path = if trimmed.is_empty() { String::new() } else { format!("/{trimmed}") };
        let public = self.public_url.trim().trim_end_matches('/');
        let scheme_ok = public.starts_with("http://") || public.starts_with("https://");
        let host = public.split_once("://").map(|(_, rest)| rest).unwrap_or_default();
        if !public.is_empty()
            && (!scheme_ok
                || host.is_empty()
                || public.contains(|c: char| c.is_whitespace() || "?#".contains(c)))
        {
            return Err(ConfigError::Value {
                key: "public_url",
                message: format!("{:?} is not like https://cal.example.org", self.public_url),
            });
        }
        self.public_url = public.to_owned();
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::Value {
                key: "max_body_bytes",
                message: "must be at least 1024".into(),
            });
        }
        if self.realm.contains('"') {
            return Err(ConfigError::Value { key: "realm", message: "must not contain quotes".into() });
        }
        Ok(())
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join(DATABASE_FILE)
    }

    /// Scheme, host and port under which clients reach the server, without a trailing slash
    /// and without `base_path`: `public_url`, or else `http://` + `listen`.
    pub fn public_base(&self) -> String {
        if self.public_url.is_empty() {
            format!("http://{}", self.listen)
        } else {
            self.public_url.trim_end_matches('/').to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| pairs.iter().find(|(key, _)| *key == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn defaults_listen_on_loopback() {
        let c = Config::load(None, &env_of(&[])).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.base_path, "");
        assert_eq!(c.database_path(), Path::new("davit-data/davit.sqlite3"));
        assert_eq!(c.public_base(), "http://127.0.0.1:8008");
    }

    #[test]
    fn public_url_is_checked_and_normalised() {
        let c = Config::load(None, &env_of(&[("DAVIT_PUBLIC_URL", "https://cal.example.org/")])).unwrap();
        assert_eq!(c.public_base(), "https://cal.example.org");
        for bad in ["cal.example.org", "ftp://x", "https://", "https://a b", "https://x/?q"] {
            let mut c = Config { public_url: bad.into(), ..Config::default() };
            assert!(c.validate().is_err(), "{bad}");
        }
        let v6 = Config { listen: "[::1]:9000".parse().unwrap(), ..Config::default() };
        assert_eq!(v6.public_base(), "http://[::1]:9000");
    }

    #[test]
    fn environment_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("davit.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\nbase_path = \"/cal/\"\nrealm = \"r\"\n").unwrap();
        let c = Config::load(Some(&file), &env_of(&[("DAVIT_LISTEN", "127.0.0.1:9100")])).unwrap();
        assert_eq!(c.listen.port(), 9100);
        assert_eq!(c.base_path, "/cal");
        assert_eq!(c.realm, "r");
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(Config::load(None, &env_of(&[("DAVIT_LISTEN", "nope")])).is_err());
        assert!(Config::load(None, &env_of(&[("DAVIT_BASE_PATH", "/a/../b")])).is_err());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "no_such_key = 1\n").unwrap();
        assert!(matches!(Config::load(Some(&file), &env_of(&[])), Err(ConfigError::Parse { .. })));
    }

    #[test]
    fn example_file_documents_every_key_with_its_default() {
        let example = include_str!("../config.example.toml");
        let parsed: Config = toml::from_str(example).expect("config.example.toml parses");
        let default = Config::default();
        assert_eq!(parsed.listen, default.listen);
        assert_eq!(parsed.max_body_bytes, default.max_body_bytes);
        assert_eq!(parsed.public_url, default.public_url);
        for key in [
            "listen",
            "data_dir",
            "base_path",
            "public_url",
            "max_body_bytes",
            "realm",
            "auth_cache_seconds",
            "sync_retention_days",
            "initial_organization",
            "initial_owner",
            "log",
        ] {
            assert!(example.contains(&format!("\n{key} = ")), "{key} missing from config.example.toml");
        }
    }
}
