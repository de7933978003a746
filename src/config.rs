//! Configuration: TOML text to a validated [`Config`].
//!
//! Every key is optional and has a production default. A key or section the
//! daemon does not know is an error that names it, so a typo can never
//! silently fall back to a default (a weaker limit, another directory).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::verify::lockout::LockoutConfig;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// LMDB environment and (by default) the pepper file live here.
    pub state_dir: PathBuf,
    /// cPanel account data: `resellers`, `users/<u>`, `suspended/<u>`.
    pub accounts_dir: PathBuf,
    pub control_socket: PathBuf,
    /// verify(user, token, ip, function) for local web services; mode 0660.
    pub verify_socket: PathBuf,
    /// Group given the verify socket (its members may verify); the
    /// daemon's own group when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_socket_group: Option<String>,
    /// Defaults to `<state_dir>/pepper`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pepper_file: Option<PathBuf>,
    /// Function → privilege table; the built-in table when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub functions_file: Option<PathBuf>,
    /// Extra known privileges (plugins), added to the built-in ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acls_file: Option<PathBuf>,
    pub log: LogTarget,
    /// Where syslog lines go (`log = "syslog"`).
    pub syslog_socket: PathBuf,
    /// cPanel's accounting log: one line per token change, if set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accounting_log: Option<PathBuf>,
    /// `api_token_list` marks tokens expiring within this many days.
    pub expiry_warning_days: u32,
    pub argon2: Argon2Config,
    pub limits: Limits,
    pub lockout: LockoutConfig,
    /// The HTTPS front (`apitokend-web`).
    pub web: crate::web::config::WebConfig,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogTarget {
    Syslog,
    Stderr,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Argon2Config {
    /// Memory in KiB.
    pub m_cost: u32,
    pub t_cost: u32,
    pub p_cost: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Per socket; root has as many control connections of its own.
    pub max_connections: usize,
    /// Control connections one non-root uid may hold at once.
    pub max_connections_per_uid: usize,
    pub max_request_bytes: usize,
    pub idle_timeout_secs: u64,
    /// Tokens one owner may hold; `api_token_create` refuses past it.
    pub max_tokens_per_user: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            state_dir: PathBuf::from("/var/cpanel/apitokend"),
            accounts_dir: PathBuf::from("/var/cpanel"),
            control_socket: PathBuf::from("/run/apitokend/control.sock"),
            verify_socket: PathBuf::from("/run/apitokend/verify.sock"),
            verify_socket_group: None,
            pepper_file: None,
            functions_file: None,
            acls_file: None,
            log: LogTarget::Syslog,
            syslog_socket: PathBuf::from("/dev/log"),
            accounting_log: None,
            expiry_warning_days: 7,
            argon2: Argon2Config::default(),
            limits: Limits::default(),
            lockout: LockoutConfig::default(),
            web: crate::web::config::WebConfig::default(),
        }
    }
}

impl Default for Argon2Config {
    fn default() -> Self {
        // OWASP's Argon2id recommendation; about 25 ms on our servers.
        Argon2Config {
            m_cost: 19_456,
            t_cost: 2,
            p_cost: 1,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            max_connections_per_uid: 16,
            max_request_bytes: apitokend_proto::DEFAULT_MAX_LINE,
            idle_timeout_secs: 60,
            max_tokens_per_user: 10_000,
        }
    }
}

/// Why a configuration was refused; the message names the file and key.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads and validates `path`. A relative `functions_file` or
    /// `acls_file` is relative to the directory holding `path` (the shipped
    /// file names the tables beside it, in /etc/apitokend or a checkout).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let dir = std::path::absolute(&dir)
            .map_err(|e| ConfigError(format!("cannot resolve {}: {e}", dir.display())))?;
        Config::parse_in(&text, Some(&dir))
            .map_err(|e| ConfigError(format!("{}: {}", path.display(), e.0)))
    }

    /// Parses and validates configuration text that has no file (every
    /// path must be absolute).
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse_in(text, None)
    }

    fn parse_in(text: &str, dir: Option<&Path>) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        if let Some(dir) = dir {
            for p in [&mut config.functions_file, &mut config.acls_file]
                .into_iter()
                .flatten()
            {
                if p.is_relative() {
                    *p = dir.join(&*p);
                }
            }
        }
        config.validate()?;
        Ok(config)
    }

    pub fn pepper_path(&self) -> PathBuf {
        self.pepper_file
            .clone()
            .unwrap_or_else(|| self.state_dir.join("pepper"))
    }

    /// The effective configuration as TOML (for `--check-config`).
    pub fn to_toml(&self) -> String {
        let mut shown = self.clone();
        shown.pepper_file = Some(self.pepper_path());
        toml::to_string(&shown).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let err = |m: &str| Err(ConfigError(m.to_owned()));
        for (key, p) in [
            ("state_dir", &self.state_dir),
            ("accounts_dir", &self.accounts_dir),
            ("control_socket", &self.control_socket),
            ("verify_socket", &self.verify_socket),
            ("syslog_socket", &self.syslog_socket),
        ] {
            if !p.is_absolute() {
                return Err(ConfigError(format!("{key} must be an absolute path")));
            }
        }
        for (key, p) in [
            ("pepper_file", &self.pepper_file),
            ("functions_file", &self.functions_file),
            ("acls_file", &self.acls_file),
            ("accounting_log", &self.accounting_log),
        ] {
            if p.as_ref().is_some_and(|p| !p.is_absolute()) {
                return Err(ConfigError(format!(
                    "{key} must be an absolute path (functions_file and acls_file may be \
                     relative to the configuration file)"
                )));
            }
        }
        if self.control_socket == self.verify_socket {
            return err("control_socket and verify_socket must differ");
        }
        if self
            .verify_socket_group
            .as_ref()
            .is_some_and(|g| g.is_empty() || g.contains(['/', ':', '\0']))
        {
            return err("verify_socket_group must be a group name");
        }
        if self.argon2.t_cost == 0 || self.argon2.p_cost == 0 {
            return err("argon2.t_cost and argon2.p_cost must be at least 1");
        }
        if self.argon2.m_cost < 8 * self.argon2.p_cost {
            return err("argon2.m_cost must be at least 8 * p_cost KiB");
        }
        if self.limits.max_connections == 0 {
            return err("limits.max_connections must be at least 1");
        }
        if self.limits.max_connections_per_uid == 0 {
            return err("limits.max_connections_per_uid must be at least 1");
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.limits.max_request_bytes) {
            return err("limits.max_request_bytes must be between 1024 and 16777216");
        }
        if self.limits.idle_timeout_secs == 0 {
            return err("limits.idle_timeout_secs must be at least 1");
        }
        if !(1..=1_000_000).contains(&self.limits.max_tokens_per_user) {
            return err("limits.max_tokens_per_user must be between 1 and 1000000");
        }
        if self.lockout.max_failures > 0
            && (self.lockout.window_secs == 0 || self.lockout.cooldown_secs == 0)
        {
            return err("lockout.window_secs and lockout.cooldown_secs must be at least 1");
        }
        if !(32..=128).contains(&self.lockout.ipv6_prefix) {
            return err("lockout.ipv6_prefix must be between 32 and 128");
        }
        if !(100..=10_000_000).contains(&self.lockout.max_tracked) {
            return err("lockout.max_tracked must be between 100 and 10000000");
        }
        if self.expiry_warning_days > 3650 {
            return err("expiry_warning_days must be at most 3650");
        }
        self.web.validate().map_err(ConfigError)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_all_defaults() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn unknown_key_is_named() {
        let e = Config::parse("stat_dir = \"/x\"\n").unwrap_err().0;
        assert!(e.contains("stat_dir"), "{e}");
        let e = Config::parse("[limits]\nmax_conections = 3\n")
            .unwrap_err()
            .0;
        assert!(e.contains("max_conections"), "{e}");
        let e = Config::parse("[limit]\n").unwrap_err().0;
        assert!(e.contains("limit"), "{e}");
    }

    #[test]
    fn wrong_type_and_bad_values_refused() {
        assert!(Config::parse("expiry_warning_days = \"x\"").is_err());
        assert!(Config::parse("log = \"file\"").is_err());
        assert!(Config::parse("state_dir = \"relative\"").is_err());
        assert!(Config::parse("[limits]\nmax_connections = 0").is_err());
        assert!(Config::parse("[argon2]\nt_cost = 0").is_err());
    }

    #[test]
    fn partial_sections_keep_other_defaults() {
        let c = Config::parse("[limits]\nidle_timeout_secs = 5\n").unwrap();
        assert_eq!(c.limits.idle_timeout_secs, 5);
        assert_eq!(c.limits.max_connections, 1024);
        assert_eq!(
            c.pepper_path(),
            PathBuf::from("/var/cpanel/apitokend/pepper")
        );
    }

    #[test]
    fn data_files_are_relative_to_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("apitokend.toml");
        std::fs::write(
            &cfg,
            "functions_file = \"functions.conf\"\nacls_file = \"/abs/acls.conf\"\n",
        )
        .unwrap();
        let c = Config::load(&cfg).unwrap();
        assert_eq!(c.functions_file, Some(dir.path().join("functions.conf")));
        assert_eq!(c.acls_file, Some(PathBuf::from("/abs/acls.conf")));
        // Without a file there is nothing to be relative to.
        assert!(Config::parse("functions_file = \"functions.conf\"").is_err());
        // Other paths stay absolute-only.
        std::fs::write(&cfg, "state_dir = \"state\"\n").unwrap();
        assert!(Config::load(&cfg).is_err());
    }

    #[test]
    fn effective_config_round_trips() {
        let c = Config::parse("log = \"stderr\"\n").unwrap();
        let again = Config::parse(&c.to_toml()).unwrap();
        assert_eq!(again.log, LogTarget::Stderr);
        assert_eq!(again.pepper_path(), c.pepper_path());
    }
}
