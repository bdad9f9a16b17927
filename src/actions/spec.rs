//! `[actions.NAME]` entries of `actions.toml`: the raw form as written and
//! the validated [`ActionSpec`] the host runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::ActionKind;
use super::grants::{
    FileGrant, Grants, RedisGrant, SqliteGrant, absolute, origin_of, redis_command_supported,
};
use crate::clock::parse_duration;
use crate::config::parse_size;

/// One declared action, validated.
#[derive(Debug, Clone)]
pub struct ActionSpec {
    pub name: String,
    pub kind: ActionKind,
    pub description: String,
    /// The component file.
    pub plugin: PathBuf,
    /// Wall-clock limit for the whole run, host calls included.
    pub timeout: Duration,
    /// Linear memory limit of the plugin.
    pub memory: usize,
    /// Cap on what the plugin may print or log.
    pub output: usize,
    /// Working directory of the programs it runs.
    pub workdir: PathBuf,
    /// Environment of the programs it runs (nothing else is passed).
    pub env: Vec<(String, String)>,
    /// The action's own settings, handed to the plugin as JSON.
    pub config: serde_json::Value,
    /// Request parameters the action takes, each with its allowed values.
    pub parameters: BTreeMap<String, Vec<String>>,
    pub grants: Grants,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAction {
    kind: Spanned<String>,
    plugin: Spanned<String>,
    #[serde(default)]
    description: String,
    timeout: Option<Spanned<String>>,
    memory: Option<Spanned<String>>,
    output: Option<Spanned<String>>,
    workdir: Option<Spanned<String>>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    config: Option<toml::Table>,
    #[serde(default)]
    parameters: BTreeMap<String, Spanned<Vec<String>>>,
    #[serde(default)]
    grants: RawGrants,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGrants {
    #[serde(default)]
    files: Vec<RawFileGrant>,
    redis: Option<RawRedisGrant>,
    sqlite: Option<RawSqliteGrant>,
    #[serde(default)]
    commands: Vec<Spanned<Vec<String>>>,
    #[serde(default)]
    http: Vec<Spanned<String>>,
    #[serde(default)]
    services: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFileGrant {
    path: Spanned<String>,
    access: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRedisGrant {
    commands: Vec<Spanned<String>>,
    keys: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSqliteGrant {
    path: Spanned<String>,
    #[serde(default)]
    write: bool,
    backups: Option<Spanned<String>>,
}

/// A validation error at a byte span of the source.
pub(crate) type SpanError = (std::ops::Range<usize>, String);

/// Default limits, chosen for a Raspberry Pi running a bot beside pitstop.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_MEMORY: usize = 32 << 20;
pub const DEFAULT_OUTPUT: usize = 64 << 10;

impl RawAction {
    /// Validates one entry. `base` is the configuration's folder and
    /// `plugin_dir` where plugins named without a path are looked up.
    pub(crate) fn resolve(
        self,
        name: &str,
        base: &Path,
        plugin_dir: &Path,
    ) -> Result<ActionSpec, SpanError> {
        if !is_action_name(name) {
            return Err((
                self.kind.span(),
                format!("`{name}` is not a valid action name: use letters, digits, `_` and `-`"),
            ));
        }
        let kind = match self.kind.get_ref().as_str() {
            "maintenance" => ActionKind::Maintenance,
            "deploy" => ActionKind::Deploy,
            other => {
                return Err((
                    self.kind.span(),
                    format!("`{other}` is not a kind: use `maintenance` or `deploy`"),
                ));
            }
        };
        let plugin_text = self.plugin.get_ref();
        if plugin_text.trim().is_empty() {
            return Err((self.plugin.span(), "must name a plugin".into()));
        }
        let plugin = if plugin_text.ends_with(".wasm") || plugin_text.contains('/') {
            absolute(base, plugin_text)
        } else {
            plugin_dir.join(format!("{plugin_text}.wasm"))
        };
        let timeout = match &self.timeout {
            None => DEFAULT_TIMEOUT,
            Some(v) => match parse_duration(v.get_ref()) {
                Ok(d) if d >= Duration::from_millis(10) && d <= Duration::from_secs(6 * 3600) => d,
                Ok(_) => return Err((v.span(), "must be between 10ms and 6h".into())),
                Err(m) => return Err((v.span(), m)),
            },
        };
        let size =
            |value: &Option<Spanned<String>>, default: usize, min: usize, max: usize| match value {
                None => Ok(default),
                Some(v) => parse_size(v.get_ref())
                    .filter(|n| (min..=max).contains(n))
                    .ok_or_else(|| {
                        (
                            v.span(),
                            format!(
                                "write a size between {} KiB and {} MiB, like `32MiB`",
                                min >> 10,
                                max >> 20
                            ),
                        )
                    }),
            };
        let memory = size(&self.memory, DEFAULT_MEMORY, 1 << 20, 4 << 30)?;
        let output = size(&self.output, DEFAULT_OUTPUT, 1 << 10, 64 << 20)?;
        let workdir = self
            .workdir
            .as_ref()
            .map_or_else(|| base.to_path_buf(), |w| absolute(base, w.get_ref()));
        for key in self.env.keys() {
            if key.is_empty() || key.contains('=') {
                return Err((
                    self.kind.span(),
                    format!("`env` has an invalid variable name `{key}`"),
                ));
            }
        }
        let env = self.env.into_iter().collect();
        let config = match self.config {
            Some(table) => serde_json::to_value(table)
                .map_err(|e| (self.kind.span(), format!("`config`: {e}")))?,
            None => serde_json::json!({}),
        };
        let mut parameters = BTreeMap::new();
        for (param, values) in self.parameters {
            if values.get_ref().is_empty() {
                return Err((
                    values.span(),
                    format!("parameter `{param}` needs at least one allowed value"),
                ));
            }
            parameters.insert(param, values.into_inner());
        }

        let raw = self.grants;
        let mut files = Vec::new();
        for f in raw.files {
            let write = match f.access.get_ref().as_str() {
                "read-only" => false,
                "read-write" => true,
                other => {
                    return Err((
                        f.access.span(),
                        format!("`{other}` is not an access: use `read-only` or `read-write`"),
                    ));
                }
            };
            if f.path.get_ref().trim().is_empty() {
                return Err((f.path.span(), "must not be empty".into()));
            }
            let path = absolute(base, f.path.get_ref());
            if path == Path::new("/") {
                return Err((
                    f.path.span(),
                    "granting the whole filesystem is refused".into(),
                ));
            }
            files.push(FileGrant { path, write });
        }
        let redis = match raw.redis {
            None => None,
            Some(r) => {
                let mut commands = Vec::new();
                for c in r.commands {
                    let name = c.get_ref().to_ascii_uppercase();
                    if !redis_command_supported(&name) {
                        return Err((
                            c.span(),
                            format!(
                                "`{name}` cannot be granted: pitstop cannot check which keys it touches"
                            ),
                        ));
                    }
                    commands.push(name);
                }
                let keys = r.keys.into_iter().map(Spanned::into_inner).collect();
                Some(RedisGrant { commands, keys })
            }
        };
        let sqlite = raw.sqlite.map(|s| SqliteGrant {
            path: absolute(base, s.path.get_ref()),
            write: s.write,
            backups: s.backups.map(|b| absolute(base, b.get_ref())),
        });
        let mut commands = Vec::new();
        for c in raw.commands {
            let argv = c.get_ref();
            if argv.is_empty() || argv[0].trim().is_empty() {
                return Err((c.span(), "a command needs a program".into()));
            }
            for element in argv {
                if let Some(param) = element.strip_prefix('{').and_then(|e| e.strip_suffix('}'))
                    && !parameters.contains_key(param)
                {
                    return Err((
                        c.span(),
                        format!("`{{{param}}}` names no declared parameter"),
                    ));
                }
            }
            commands.push(c.into_inner());
        }
        let mut http = Vec::new();
        for h in raw.http {
            let origin = origin_of(h.get_ref()).map_err(|m| (h.span(), m))?;
            http.push(origin);
        }
        Ok(ActionSpec {
            name: name.to_string(),
            kind,
            description: self.description,
            plugin,
            timeout,
            memory,
            output,
            workdir,
            env,
            config,
            parameters,
            grants: Grants {
                files,
                redis,
                sqlite,
                commands,
                http,
                services: raw.services,
            },
        })
    }
}

fn is_action_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}
