//! Settings resolved in one place: flag, then environment, then the config file's profile.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::fsutil::write_atomic;

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
    pub ca_cert: Option<PathBuf>,
}

/// The settings every command works from.
#[derive(Clone, Debug)]
pub struct Settings {
    pub profile: String,
    pub config_path: PathBuf,
    pub url: Option<Sourced<String>>,
    pub api_key: Option<Sourced<Secret>>,
    /// Extra CA certificates (PEM file) for an https:// server: `--ca-cert` / `MW_CA_CERT`.
    pub ca_cert: Option<PathBuf>,
    /// Why the config file could not be read, when it could not (the deploy commands warn
    /// instead of failing).
    pub config_problem: Option<String>,
    /// A warning to print once: the config file holds a key and is open to other users.
    pub config_exposed: Option<String>,
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
        let config_exposed = exposure(&config_path, &file);
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
            ca_cert: inputs.ca_cert,
            config_problem,
            config_exposed,
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

/// Writes the config file atomically with mode 0600 ([`write_atomic`]): a crash never leaves a
/// half-written file and the key is never readable by others, not even for an instant. A
/// directory created for it is private too (0700).
pub fn save(path: &Path, file: &ConfigFile) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let text = toml::to_string_pretty(file).context("cannot serialise the config")?;
    write_atomic(path, text.as_bytes(), 0o600)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// A warning when the config file holds a key and other users may read or change it (a file
/// written by hand or copied keeps the umask's 0644); `None` when it is private or holds no key.
fn exposure(path: &Path, file: &ConfigFile) -> Option<String> {
    let holds_key = file
        .profiles
        .values()
        .any(|p| p.api_key.as_deref().is_some_and(|k| !k.trim().is_empty()));
    if !holds_key {
        return None;
    }
    exposed_mode(path).map(|mode| {
        format!(
            "{path} holds an API key and other users can read or change it (mode {mode:04o}); \
             make it private: chmod 600 {path}",
            path = path.display()
        )
    })
}

/// The file's permission bits when its group or others have any of them.
#[cfg(unix)]
fn exposed_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path).ok()?.permissions().mode() & 0o7777;
    (mode & 0o077 != 0).then_some(mode)
}

#[cfg(not(unix))]
fn exposed_mode(_path: &Path) -> Option<u32> {
    None
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
            ca_cert: None,
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

    #[cfg(unix)]
    #[test]
    fn a_key_open_to_others_is_reported_once_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.toml");
        let chmod = |mode: u32| {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod")
        };
        fs::write(&path, "[profiles.ci]\nurl = \"http://mw\"\n").expect("writes");
        chmod(0o644);
        assert_eq!(
            Settings::resolve(inputs(dir.path())).config_exposed,
            None,
            "no key"
        );

        fs::write(&path, "[profiles.ci]\napi_key = \"mwk_secret_key_1234\"\n").expect("writes");
        for mode in [0o644, 0o640, 0o604, 0o620] {
            chmod(mode);
            let warning = Settings::resolve(inputs(dir.path()))
                .config_exposed
                .expect("warned");
            assert!(
                warning.contains(&format!("chmod 600 {}", path.display()))
                    && warning.contains(&format!("{mode:04o}")),
                "{warning}"
            );
            assert!(!warning.contains("mwk_secret"), "{warning}");
        }
        chmod(0o600);
        assert_eq!(Settings::resolve(inputs(dir.path())).config_exposed, None);
        chmod(0o400);
        assert_eq!(Settings::resolve(inputs(dir.path())).config_exposed, None);
    }

    #[test]
    fn secrets_are_redacted() {
        let key = Secret::new("mwk_abcdefghijklmnopqrstuvwxyz");
        assert_eq!(format!("{key}"), "mwk_abcd… (redacted)");
        assert!(!format!("{key:?}").contains("efgh"));
        assert_eq!(Secret::new("short").redacted(), "(redacted)");
    }
}
