//! Exit codes, in one place. Documented in the README and in `--help`.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | a threshold failed (the run itself worked) |
//! | 2 | usage or input error: bad flag, scenario, config or run directory |
//! | 3 | AWS or remote error: credentials, permissions, throttling that never cleared |
//! | 4 | internal error: a bug |
//! | 5 | a shard could not start by its plan's start instant (`run --start-at`) and refused |

use std::fmt;
use std::process::ExitCode;

/// What the process exits with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0
    Ok,
    /// 1
    ThresholdFailed,
    /// 2
    Input,
    /// 3
    Remote,
    /// 4
    Internal,
    /// 5
    LateStart,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(match e {
            Exit::Ok => 0,
            Exit::ThresholdFailed => 1,
            Exit::Input => 2,
            Exit::Remote => 3,
            Exit::Internal => 4,
            Exit::LateStart => 5,
        })
    }
}

/// An error tagged with the exit code it should produce. It reads as the error it tags and
/// keeps that error's causes as its own, so `{:#}` prints the same chain with or without
/// the tag.
#[derive(Debug)]
pub struct Coded {
    /// The exit code.
    pub exit: Exit,
    /// What went wrong.
    error: anyhow::Error,
}

impl Coded {
    /// Tags `error` with `exit`.
    pub fn new(exit: Exit, error: anyhow::Error) -> Self {
        Self { exit, error }
    }
}

impl fmt::Display for Coded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for Coded {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

/// Tags an error with an exit code, keeping its cause chain.
pub trait WithExit<T> {
    /// Tags the error as an input error (exit 2).
    fn input(self) -> anyhow::Result<T>;
    /// Tags the error as an AWS or remote error (exit 3).
    fn remote(self) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> WithExit<T> for Result<T, E> {
    fn input(self) -> anyhow::Result<T> {
        self.map_err(|e| Coded::new(Exit::Input, e.into()).into())
    }

    fn remote(self) -> anyhow::Result<T> {
        self.map_err(|e| Coded::new(Exit::Remote, e.into()).into())
    }
}

/// The error and its causes on one line, `outer: inner: root`, as `{:#}` prints them but
/// without repeating a cause whose text the message before it already ends with (an error
/// such as `path: cause` that also hands out `cause` as its source).
pub fn chain_text(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let message = cause.to_string();
        if text.is_empty() {
            text = message;
        } else if !text.ends_with(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
    }
    text
}

/// The exit code for an error: the first tag found in its chain; errors from reading run
/// directories are input errors; anything untagged is a bug.
pub fn classify(err: &anyhow::Error) -> Exit {
    for cause in err.chain() {
        if let Some(coded) = cause.downcast_ref::<Coded>() {
            return coded.exit;
        }
        // Reading a run directory, or reading or writing a file the user named (an
        // unwritable `--out`), is the user's to fix, not a bug.
        if cause
            .downcast_ref::<stormwatch_model::ModelError>()
            .is_some()
            || cause.downcast_ref::<std::io::Error>().is_some()
        {
            return Exit::Input;
        }
    }
    Exit::Internal
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn tags_survive_added_context() {
        let e: anyhow::Result<()> = Err(std::io::Error::other("boom")).input();
        let e = e.context("reading scenario").unwrap_err();
        assert_eq!(classify(&e), Exit::Input);
        assert_eq!(format!("{e:#}"), "reading scenario: boom");
        let e: anyhow::Result<()> = Err(std::io::Error::other("denied")).remote();
        assert_eq!(classify(&e.unwrap_err()), Exit::Remote);
        let e: anyhow::Error = anyhow::anyhow!("plain");
        assert_eq!(classify(&e), Exit::Internal);
    }

    #[test]
    fn tags_keep_the_cause_chain() {
        let e: anyhow::Result<()> = Err(anyhow::anyhow!("root").context("middle")).input();
        let e = e.context("outer").unwrap_err();
        let chain: Vec<String> = e.chain().map(ToString::to_string).collect();
        assert_eq!(chain, ["outer", "middle", "root"]);
        assert_eq!(chain_text(&e), "outer: middle: root");
    }

    #[test]
    fn chain_text_skips_a_cause_its_message_already_quotes() {
        let io = std::io::Error::other("denied");
        let e = stormwatch_model::ModelError::io("runs/x", io);
        let e = anyhow::Error::new(e).context("reading the run");
        assert_eq!(format!("{e:#}"), "reading the run: runs/x: denied: denied");
        assert_eq!(chain_text(&e), "reading the run: runs/x: denied");
    }
}
