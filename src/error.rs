//! The top-level error: every failure a command can end with, its next step, and exit code.

use std::process::ExitCode;

use crate::etcd::EtcdError;
use crate::kdd::KubeError;

/// Exit code of a failed command.
pub const EXIT_FAILED: u8 = 1;
/// Exit code of a usage error (clap uses it too).
pub const EXIT_USAGE: u8 = 2;
/// Exit code of `verify` when the datastores differ.
pub const EXIT_DIFFERENCES: u8 = 3;
/// Exit code after Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Etcd(#[from] EtcdError),
    #[error(transparent)]
    Kube(#[from] KubeError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// `verify` found differences (exit code 3); the report says which.
    #[error("{0}")]
    Differences(String),
    /// Flags that cannot work together (exit code 2, like clap's own usage errors).
    #[error("{0}")]
    Usage(String),
    /// A failure explained in full by its message, with the next step.
    #[error("{message}")]
    Failed {
        message: String,
        hint: Option<String>,
    },
    /// Everything that stops a command before it changes anything, listed together, each with
    /// its fix.
    #[error("{}", render_blockers(.doing, .blockers))]
    Blocked {
        doing: String,
        blockers: Vec<Blocker>,
    },
}

/// A problem that stops the migration, and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Blocker {
    pub problem: String,
    pub fix: String,
}

impl Blocker {
    pub fn new(problem: impl Into<String>, fix: impl Into<String>) -> Blocker {
        Blocker {
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

impl From<Error> for Blocker {
    fn from(error: Error) -> Blocker {
        let fix = error.hint().unwrap_or_else(|| "see the message".into());
        Blocker::new(error.to_string(), fix)
    }
}

fn render_blockers(doing: &str, blockers: &[Blocker]) -> String {
    let mut text = format!("{doing}: {} problems:", blockers.len());
    for (index, blocker) in blockers.iter().enumerate() {
        text.push_str(&format!(
            "\n  {}. {}\n     fix: {}",
            index + 1,
            blocker.problem,
            blocker.fix
        ));
    }
    text
}

impl Error {
    /// One error for everything that stops `doing` (one blocker reads as a plain failure).
    pub fn blocked(doing: impl Into<String>, mut blockers: Vec<Blocker>) -> Error {
        if blockers.len() == 1 {
            let blocker = blockers.remove(0);
            return Error::failed(
                format!("{}: {}", doing.into(), blocker.problem),
                blocker.fix,
            );
        }
        Error::Blocked {
            doing: doing.into(),
            blockers,
        }
    }

    pub fn failed(message: impl Into<String>, hint: impl Into<String>) -> Error {
        Error::Failed {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }

    /// The same failure with `note` (what it left as it was) put before its next step.
    pub fn noting(self, note: &str) -> Error {
        if self.is_broken_pipe() {
            return self;
        }
        let hint = match self.hint() {
            Some(hint) => format!("{note}; {hint}"),
            None => note.to_string(),
        };
        Error::Failed {
            message: self.to_string(),
            hint: Some(hint),
        }
    }

    /// What the user should do next.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Etcd(e) => e.hint(),
            Error::Kube(e) => e.hint(),
            Error::Io { .. } => None,
            Error::Usage(_) => Some("see --help".into()),
            Error::Differences(_) => Some(
                "see the differences above; `kubectl calico-migrate import -f FILE` writes what is missing (with --overwrite, what differs)".into(),
            ),
            Error::Failed { hint, .. } => hint.clone(),
            Error::Blocked { .. } => Some("nothing was changed; fix the problems above and run the command again".into()),
        }
    }

    /// Writing to a closed pipe (`... | head`) is how the reader says it has enough.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            _ if self.is_broken_pipe() => ExitCode::SUCCESS,
            Error::Usage(_) => ExitCode::from(EXIT_USAGE),
            Error::Differences(_) => ExitCode::from(EXIT_DIFFERENCES),
            _ => ExitCode::from(EXIT_FAILED),
        }
    }

    /// The causes below the message, for the reporter.
    pub fn causes(&self) -> Vec<String> {
        let mut causes = Vec::new();
        let mut current = std::error::Error::source(self);
        // `transparent` variants re-expose their inner error's source; skip what the
        // message already says.
        while let Some(cause) = current {
            let text = cause.to_string();
            if !self.to_string().contains(&text) {
                causes.push(text);
            }
            current = cause.source();
        }
        causes
    }
}

impl From<std::io::Error> for Error {
    fn from(source: std::io::Error) -> Error {
        Error::Io {
            context: "writing output".into(),
            source,
        }
    }
}
