//! Per-provider fields that `ci_env` does not read, from each provider's documented variables.
//! One module per provider (or family of providers sharing variables); each cites its page.

mod azure;
mod bitbucket;
mod buildkite;
mod circleci;
mod codebuild;
mod drone;
mod github;
mod gitlab;
mod jenkins;
mod teamcity;
mod travis;

use ci_env::CiProvider;

use super::{CiFacts, Field};

/// Reads the environment: non-empty values only.
pub(super) struct Vars<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
}

impl Vars<'_> {
    pub fn get(&self, key: &str) -> Option<String> {
        (self.get)(key)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// The variable as a field whose source is the variable.
    pub fn field(&self, key: &str) -> Option<Field> {
        self.get(key).map(|v| Field::new(v, format!("env {key}")))
    }

    /// The first of `keys` that is set.
    pub fn first(&self, keys: &[&str]) -> Option<Field> {
        keys.iter().find_map(|k| self.field(k))
    }

    /// A unix timestamp (seconds, or milliseconds when `millis`) as an RFC 3339 field.
    pub fn unix_time(&self, key: &str, millis: bool) -> Option<Field> {
        let value = self.get(key)?;
        super::unix_to_rfc3339(&value, millis).map(|t| Field::new(t, format!("env {key}")))
    }

    /// Joins the values that are set, for job keys.
    pub fn key(&self, keys: &[&str]) -> Option<String> {
        let parts: Vec<String> = keys.iter().filter_map(|k| self.get(k)).collect();
        (!parts.is_empty()).then(|| parts.join("/"))
    }
}

/// A CI's exit status (0 is success) as a status word; none when the variable is not a
/// number, rather than a failure nobody had.
pub(super) fn exit_code_status(vars: &Vars, key: &str) -> Option<Field> {
    let code = vars.get(key)?;
    let word = if code.parse::<i64>().ok()? == 0 {
        "success"
    } else {
        "failure"
    };
    Some(Field::new(word, format!("env {key}={code}")))
}

/// Fills in what `ci_env` lacks; a provider replaces `ci_env`'s fields only where it has a
/// better one (e.g. GitLab's job id and job URL, since mwctl runs inside a job).
pub(super) fn add_extras(
    facts: &mut CiFacts,
    provider: CiProvider,
    get: &dyn Fn(&str) -> Option<String>,
) {
    let vars = Vars { get };
    match provider {
        CiProvider::GithubActions | CiProvider::GiteaActions | CiProvider::ForgejoActions => {
            github::extras(facts, &vars)
        }
        CiProvider::Gitlab => gitlab::extras(facts, &vars),
        CiProvider::CircleCI => circleci::extras(facts, &vars),
        CiProvider::Jenkins => jenkins::extras(facts, &vars),
        CiProvider::Buildkite => buildkite::extras(facts, &vars),
        CiProvider::Bitbucket => bitbucket::extras(facts, &vars),
        CiProvider::Azure => azure::extras(facts, &vars),
        CiProvider::Drone => drone::drone(facts, &vars),
        CiProvider::Woodpecker => drone::woodpecker(facts, &vars),
        CiProvider::AwsCodebuild => codebuild::extras(facts, &vars),
        CiProvider::TeamCity => teamcity::extras(facts, &vars),
        CiProvider::TravisCI => travis::extras(facts, &vars),
        _ => {}
    }
}

/// For the providers' tests: the extras a set of variables yields.
#[cfg(test)]
pub(super) fn extras_for(provider: CiProvider, vars: &[(&str, &str)]) -> CiFacts {
    let vars: std::collections::HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let get = move |k: &str| vars.get(k).cloned();
    let mut facts = CiFacts::default();
    add_extras(&mut facts, provider, &get);
    facts
}

/// For the providers' tests: a field's value.
#[cfg(test)]
pub(super) fn value(f: &Option<Field>) -> Option<&str> {
    f.as_ref().map(|f| f.value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_variable_that_is_not_one_says_nothing() {
        for (provider, var, given, want) in [
            (
                CiProvider::TravisCI,
                "TRAVIS_TEST_RESULT",
                "0",
                Some("success"),
            ),
            (
                CiProvider::TravisCI,
                "TRAVIS_TEST_RESULT",
                "1",
                Some("failure"),
            ),
            (CiProvider::TravisCI, "TRAVIS_TEST_RESULT", "soon", None),
            (
                CiProvider::Bitbucket,
                "BITBUCKET_EXIT_CODE",
                "137",
                Some("failure"),
            ),
            (CiProvider::Bitbucket, "BITBUCKET_EXIT_CODE", "n/a", None),
            (
                CiProvider::Buildkite,
                "BUILDKITE_COMMAND_EXIT_STATUS",
                "x",
                None,
            ),
            (
                CiProvider::AwsCodebuild,
                "CODEBUILD_BUILD_SUCCEEDING",
                "1",
                Some("success"),
            ),
            (
                CiProvider::AwsCodebuild,
                "CODEBUILD_BUILD_SUCCEEDING",
                "0",
                Some("failure"),
            ),
            (
                CiProvider::AwsCodebuild,
                "CODEBUILD_BUILD_SUCCEEDING",
                "maybe",
                None,
            ),
        ] {
            let facts = extras_for(provider, &[(var, given)]);
            assert_eq!(value(&facts.status), want, "{var}={given}");
        }
    }
}
