//! The library's error kinds: what a caller (the CLI) needs to tell apart to pick an exit code.
//!
//! Functions inside the library return `anyhow::Result` with context; an error that is the
//! user's to fix (a bad name, a bad option, a fault the target cannot take) carries an
//! [`Error`] at its root, which [`kind`] finds again. Anything else is a failure of the harness.

/// Why an operation of the library could not be done.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input from the user (an unknown name, an option out of range); the message says
    /// what to pass instead.
    #[error("{0}")]
    Usage(String),
    /// A valid request this target, nemesis or machine cannot carry out; the message says why.
    #[error("{0}")]
    Unsupported(String),
    /// Anything else went wrong.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// The three kinds of [`Error`], for picking an exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// [`Error::Usage`].
    Usage,
    /// [`Error::Unsupported`].
    Unsupported,
    /// [`Error::Failed`], or an error without an [`Error`] at its root.
    Failed,
}

/// Makes an [`Error::Usage`] as an `anyhow::Error`.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    Error::Usage(message.into()).into()
}

/// Makes an [`Error::Unsupported`] as an `anyhow::Error`.
pub fn unsupported(message: impl Into<String>) -> anyhow::Error {
    Error::Unsupported(message.into()).into()
}

/// The kind of `e`: the first [`Error`] in its chain decides, else [`Kind::Failed`].
pub fn kind(e: &anyhow::Error) -> Kind {
    for cause in e.chain() {
        match cause.downcast_ref::<Error>() {
            Some(Error::Usage(_)) => return Kind::Usage,
            Some(Error::Unsupported(_)) => return Kind::Unsupported,
            Some(Error::Failed(_)) => return Kind::Failed,
            None => {}
        }
    }
    Kind::Failed
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn kind_finds_the_root_under_context() {
        let e = Err::<(), _>(usage("bad --keys"))
            .context("validating")
            .unwrap_err();
        assert_eq!(kind(&e), Kind::Usage);
        assert_eq!(kind(&unsupported("no clock")), Kind::Unsupported);
        assert_eq!(kind(&anyhow::anyhow!("disk full")), Kind::Failed);
    }
}
