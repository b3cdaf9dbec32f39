//! Runs a composite action's steps the way a GitHub runner does, close enough to test
//! action.yml for real: inputs with their defaults, `${{ }}` expressions the action uses,
//! each `run:` step in `bash --noprofile --norc -eo pipefail`, and the runner's files
//! (GITHUB_OUTPUT per step, GITHUB_PATH and GITHUB_ENV carried to later steps and actions,
//! GITHUB_STEP_SUMMARY). Unknown expressions and step features panic, so a change to
//! action.yml that this runner cannot follow fails loudly instead of passing untested.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use tempfile::TempDir;

/// One job: its runner files live as long as it does, across several uses of the action.
pub struct GithubJob {
    pub runner_temp: TempDir,
    /// RUNNER_TOOL_CACHE: outside the job's temp dir, as on a runner.
    pub tool_cache: TempDir,
    env: Vec<(String, String)>,
    path: OsString,
}

/// What a use of the action did.
#[derive(Debug)]
pub struct ActionRun {
    pub success: bool,
    pub outputs: HashMap<String, String>,
    /// Everything the steps printed, stdout and stderr, in step order.
    pub log: String,
}

impl GithubJob {
    /// `env`: the job's environment (GITHUB_* …); `path`: its PATH.
    pub fn new(env: &[(String, String)], path: OsString) -> GithubJob {
        let runner_temp = tempfile::tempdir().expect("tempdir");
        let tool_cache = tempfile::tempdir().expect("tempdir");
        let file = |name: &str| {
            let p = runner_temp.path().join(name);
            std::fs::write(&p, "").expect("runner file");
            p.display().to_string()
        };
        let mut env: Vec<(String, String)> = env.to_vec();
        env.push(("GITHUB_PATH".into(), file("github_path")));
        env.push(("GITHUB_ENV".into(), file("github_env")));
        env.push(("GITHUB_STEP_SUMMARY".into(), file("step_summary.md")));
        env.push((
            "RUNNER_TEMP".into(),
            runner_temp.path().display().to_string(),
        ));
        env.push((
            "RUNNER_TOOL_CACHE".into(),
            tool_cache.path().display().to_string(),
        ));
        GithubJob {
            runner_temp,
            tool_cache,
            env,
            path,
        }
    }

    /// Shares another job's RUNNER_TOOL_CACHE, as later jobs on the same runner do.
    pub fn with_tool_cache(mut self, dir: &Path) -> GithubJob {
        self.env
            .push(("RUNNER_TOOL_CACHE".into(), dir.display().to_string()));
        self
    }

    pub fn summary(&self) -> String {
        std::fs::read_to_string(self.runner_temp.path().join("step_summary.md")).unwrap_or_default()
    }

    /// `uses: ./` with `with: inputs`, from the action in `action_dir`.
    pub fn run_action(&self, action_dir: &Path, inputs: &[(&str, &str)]) -> ActionRun {
        let text = std::fs::read_to_string(action_dir.join("action.yml")).expect("action.yml");
        let action: Value = serde_yaml_ng::from_str(&text).expect("action.yml is YAML");
        assert_eq!(action["runs"]["using"], "composite", "a composite action");

        let declared = action["inputs"].as_object().expect("inputs");
        let mut values: HashMap<String, String> = HashMap::new();
        for (name, spec) in declared {
            let default = spec["default"].as_str().unwrap_or_default();
            values.insert(name.clone(), default.to_owned());
        }
        for (name, value) in inputs {
            assert!(
                declared.contains_key(*name),
                "action.yml declares no input {name:?}"
            );
            values.insert((*name).to_owned(), (*value).to_owned());
        }

        let mut step_outputs: HashMap<String, HashMap<String, String>> = HashMap::new();
        let mut log = String::new();
        let mut success = true;
        for (n, step) in action["runs"]["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .enumerate()
        {
            for key in step.as_object().expect("a step").keys() {
                assert!(
                    ["name", "id", "shell", "env", "run"].contains(&key.as_str()),
                    "step {n}: this runner does not do {key:?}"
                );
            }
            assert_eq!(step["shell"], "bash", "step {n} runs in bash");
            let ctx = Context {
                inputs: &values,
                steps: &step_outputs,
                action_path: action_dir,
            };
            let script = ctx.eval(step["run"].as_str().expect("a run step"));
            let script_file = self.runner_temp.path().join(format!("step-{n}.sh"));
            std::fs::write(&script_file, script).expect("script");
            let output_file = self.runner_temp.path().join(format!("output-{n}"));
            std::fs::write(&output_file, "").expect("output file");

            let mut cmd = Command::new("bash");
            cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
                .arg(&script_file)
                .env_clear()
                .envs(self.env.iter().cloned())
                .env("PATH", self.job_path())
                .env("GITHUB_ACTION_PATH", action_dir)
                .env("GITHUB_OUTPUT", &output_file)
                .current_dir(self.runner_temp.path())
                .stdin(Stdio::null());
            for (k, v) in self.job_env() {
                cmd.env(k, v);
            }
            if let Some(env) = step["env"].as_object() {
                for (k, v) in env {
                    cmd.env(k, ctx.eval(&scalar(v)));
                }
            }
            let out = cmd.output().expect("bash runs");
            log.push_str(&String::from_utf8_lossy(&out.stdout));
            log.push_str(&String::from_utf8_lossy(&out.stderr));
            if let Some(id) = step["id"].as_str() {
                step_outputs.insert(
                    id.to_owned(),
                    parse_key_values(&std::fs::read_to_string(&output_file).unwrap_or_default()),
                );
            }
            if !out.status.success() {
                success = false;
                break;
            }
        }

        let ctx = Context {
            inputs: &values,
            steps: &step_outputs,
            action_path: action_dir,
        };
        let outputs = action["outputs"]
            .as_object()
            .map(|outputs| {
                outputs
                    .iter()
                    .map(|(name, spec)| {
                        (
                            name.clone(),
                            ctx.eval(spec["value"].as_str().expect("an output value")),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        ActionRun {
            success,
            outputs,
            log,
        }
    }

    /// PATH with what steps added to GITHUB_PATH in front, latest first.
    fn job_path(&self) -> OsString {
        let added = std::fs::read_to_string(self.runner_temp.path().join("github_path"))
            .unwrap_or_default();
        let mut dirs: Vec<PathBuf> = added.lines().rev().map(PathBuf::from).collect();
        dirs.extend(std::env::split_paths(&self.path));
        std::env::join_paths(dirs).expect("PATH joins")
    }

    /// What steps wrote to GITHUB_ENV.
    fn job_env(&self) -> HashMap<String, String> {
        parse_key_values(
            &std::fs::read_to_string(self.runner_temp.path().join("github_env"))
                .unwrap_or_default(),
        )
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `name=value` lines and `name<<DELIMITER` … `DELIMITER` blocks, as the runner reads them.
fn parse_key_values(text: &str) -> HashMap<String, String> {
    let mut map = HashMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let value: Vec<&str> = lines.by_ref().take_while(|l| *l != delimiter).collect();
            map.insert(name.to_owned(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            map.insert(name.to_owned(), value.to_owned());
        }
    }
    map
}

struct Context<'a> {
    inputs: &'a HashMap<String, String>,
    steps: &'a HashMap<String, HashMap<String, String>>,
    action_path: &'a Path,
}

impl Context<'_> {
    /// Replaces every `${{ expr }}` in `text`.
    fn eval(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find("}}")
                .map(|e| start + e)
                .unwrap_or_else(|| panic!("unclosed expression in {text:?}"));
            out.push_str(&self.value(rest[start + 3..end].trim()));
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }

    fn value(&self, expr: &str) -> String {
        let parts: Vec<&str> = expr.split('.').collect();
        match parts.as_slice() {
            ["inputs", name] => self
                .inputs
                .get(*name)
                .unwrap_or_else(|| panic!("no input {name}"))
                .clone(),
            ["github", "action_path"] => self.action_path.display().to_string(),
            ["steps", id, "outputs", name] => self
                .steps
                .get(*id)
                .and_then(|o| o.get(*name))
                .cloned()
                .unwrap_or_default(),
            _ => panic!("this runner does not evaluate ${{{{ {expr} }}}}"),
        }
    }
}
