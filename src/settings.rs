//! Settings resolved in one place: flag, then environment, then the config file's profile.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// An API key. Never printed: `Debug` and `Display` redact it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(key: impl Into<String>) -> Secret {
        Secret(key.into().trim().to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Enough of the key to recognise it next to `mwctl keys list`'s prefix.
    pub fn redacted(&self) -> String {
        let shown: String = self.0.chars().take(8).collect();
        if self.0.chars().count() > 12 {
            format!("{shown}… (redacted)")
        } else {
            "(redacted)".to_owned()
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Where a setting's value came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "name")]
pub enum Source {
    Flag(&'static str),
    Env(&'static str),
    File(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(name) => write!(f, "flag {name}"),
            Source::Env(name) => write!(f, "env {name}"),
            Source::File(profile) => write!(f, "config profile {profile:?}"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Sourced<T> {
    pub value: T,
    pub source: Source,
}

/// The config file: named profiles of server URL and key.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ConfigFile {
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

pub const DEFAULT_PROFILE: &str = "default";

/// Whether a global value was given as a flag or through its environment variable
/// (clap merges the two; `main` reads which from its matches).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Given {
    Flag,
    Env,
}

/// What `main` hands over for resolution.
pub struct Inputs {
    pub url: Option<(String, Given)>,
    pub api_key: Option<(String, Given)>,
    pub profile: Option<String>,
    pub config: Option<PathBuf>,
}

/// The settings every command works from.
#[derive(Clone, Debug)]
pub struct Settings {
    pub profile: String,
    pub config_path: PathBuf,
    pub url: Option<Sourced<String>>,
    pub api_key: Option<Sourced<Secret>>,
    /// Why the config file could not be read, when it could not (the deploy commands warn
    /// instead of failing).
    pub config_problem: Option<String>,
}

impl Settings {
    /// Flag beats environment beats the file. A broken config file is remembered in
    /// `config_problem` rather than failing here, so each command decides how much it matters.
    pub fn resolve(inputs: Inputs) -> Settings {
        let config_path = inputs.config.unwrap_or_else(default_config_path);
        let profile = inputs.profile.unwrap_or_else(|| DEFAULT_PROFILE.to_owned());
        let (file, config_problem) = match load(&config_path) {
            Ok(file) => (file.unwrap_or_default(), None),
            Err(e) => (ConfigFile::default(), Some(format!("{e:#}"))),
        };
        let stored = file.profiles.get(&profile).cloned().unwrap_or_default();
        let from_file = |value: Option<String>| {
            value.filter(|v| !v.trim().is_empty()).map(|value| Sourced {
                value,
                source: Source::File(profile.clone()),
            })
        };
        let url = match inputs.url {
            Some((value, given)) if !value.trim().is_empty() => Some(Sourced {
                value,
                source: source_of(given, "--url", "MW_URL"),
            }),
            _ => from_file(stored.url),
        };
        let api_key = match inputs.api_key {
            Some((value, given)) if !value.trim().is_empty() => Some(Sourced {
                value: Secret::new(value),
                source: source_of(given, "--api-key", "MW_API_KEY"),
            }),
            _ => from_file(stored.api_key).map(|s| Sourced {
                value: Secret::new(s.value),
                source: s.source,
            }),
        };
        Settings {
            profile,
            config_path,
            url,
            api_key,
            config_problem,
        }
    }

    /// The server URL, or an error listing every way to give one.
    pub fn require_url(&self) -> anyhow::Result<&str> {
        if let Some(url) = &self.url {
            return Ok(&url.value);
        }
        let mut msg =
            String::from("no server URL: pass --url, set MW_URL, or run `mwctl login --url URL`");
        self.append_config_problem(&mut msg);
        bail!(msg)
    }

    /// The API key, or an error listing every way to give one.
    pub fn require_key(&self) -> anyhow::Result<&Secret> {
        if let Some(key) = &self.api_key {
            return Ok(&key.value);
        }
        let mut msg = format!(
            "no API key: set MW_API_KEY, pass --api-key, or run `mwctl login` (profile {:?})",
            self.profile
        );
        self.append_config_problem(&mut msg);
        bail!(msg)
    }

    fn append_config_problem(&self, msg: &mut String) {
        if let Some(problem) = &self.config_problem {
            msg.push_str(&format!("\n(the config file could not be read: {problem})"));
        }
    }
}

fn source_of(given: Given, flag: &'static str, env: &'static str) -> Source {
    match given {
        Given::Flag => Source::Flag(flag),
        Given::Env => Source::Env(env),
    }
}

/// `<config dir>/mwctl/config.toml` (e.g. ~/.config/mwctl/config.toml on Linux).
pub fn default_config_path() -> PathBuf {
    dirs::config_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("mwctl")
        .join("config.toml")
}

/// Reads the config file; `None` when it does not exist.
pub fn load(path: &Path) -> anyhow::Result<Option<ConfigFile>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let file = toml::from_str(&text).with_context(|| {
        format!(
            "{} is not a valid mwctl config; fix it or delete it and run `mwctl login`",
            path.display()
        )
    })?;
    Ok(Some(file))
}

/// Writes the config file atomically (temp file, mode 0600, rename), so a crash never leaves a
/// half-written file and the key is never readable by others, not even for an instant.
pub fn save(path: &Path, file: &ConfigFile) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let text = toml::to_string_pretty(file).context("cannot serialise the config")?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("config.toml"),
        std::process::id()
    ));
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let write = || -> std::io::Result<()> {
        let mut f = options.open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        anyhow::Error::new(e).context(format!("cannot write {}", path.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(dir: &Path) -> Inputs {
        Inputs {
            url: None,
            api_key: None,
            profile: None,
            config: Some(dir.join("config.toml")),
        }
    }

    #[test]
    fn flag_and_env_beat_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut file = ConfigFile::default();
        file.profiles.insert(
            "default".into(),
            Profile {
                url: Some("http://file".into()),
                api_key: Some("mwk_file_key_123456".into()),
            },
        );
        save(&dir.path().join("config.toml"), &file).expect("saves");

        let s = Settings::resolve(inputs(dir.path()));
        assert_eq!(
            s.url.as_ref().map(|u| u.value.as_str()),
            Some("http://file")
        );
        assert_eq!(
            s.url.map(|u| u.source),
            Some(Source::File("default".into()))
        );

        let mut i = inputs(dir.path());
        i.url = Some(("http://env".into(), Given::Env));
        i.api_key = Some(("mwk_flag".into(), Given::Flag));
        let s = Settings::resolve(i);
        assert_eq!(s.url.map(|u| u.source), Some(Source::Env("MW_URL")));
        let key = s.api_key.expect("key");
        assert_eq!(key.value.expose(), "mwk_flag");
        assert_eq!(key.source, Source::Flag("--api-key"));
    }

    #[test]
    fn missing_settings_say_how_to_fix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Settings::resolve(inputs(dir.path()));
        let err = s.require_key().expect_err("no key").to_string();
        assert!(
            err.contains("MW_API_KEY") && err.contains("mwctl login"),
            "{err}"
        );
        let err = s.require_url().expect_err("no url").to_string();
        assert!(err.contains("--url") && err.contains("MW_URL"), "{err}");
    }

    #[test]
    fn broken_file_is_reported_not_fatal() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("config.toml"), "profiles = 3").expect("writes");
        let s = Settings::resolve(inputs(dir.path()));
        assert!(s.config_problem.is_some());
        let err = s.require_url().expect_err("no url").to_string();
        assert!(err.contains("could not be read"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn saved_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("config.toml");
        save(&path, &ConfigFile::default()).expect("saves");
        let mode = fs::metadata(&path).expect("exists").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn secrets_are_redacted() {
        let key = Secret::new("mwk_abcdefghijklmnopqrstuvwxyz");
        assert_eq!(format!("{key}"), "mwk_abcd… (redacted)");
        assert!(!format!("{key:?}").contains("efgh"));
        assert_eq!(Secret::new("short").redacted(), "(redacted)");
    }
}
