//! What this binary is: its release, the git commit it was built from and when (`build.rs`
//! provides the last two; a build outside a git checkout says `unknown`). Both the command line
//! (`--version`) and the `version` command print them.

/// The release version, as in Cargo.toml (krew's `spec.version` is this with a leading `v`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The full git commit the binary was built from, or `unknown`.
pub const GIT_COMMIT: &str = env!("CALICO_MIGRATE_GIT_COMMIT");
/// When the binary was built (RFC 3339, UTC), or `unknown`.
pub const BUILD_DATE: &str = env!("CALICO_MIGRATE_BUILD_DATE");
/// What `--version` prints after the program name.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("CALICO_MIGRATE_GIT_COMMIT"),
    ", built ",
    env!("CALICO_MIGRATE_BUILD_DATE"),
    ")"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_long_version_names_version_commit_and_date() {
        assert!(LONG_VERSION.starts_with(VERSION));
        assert!(LONG_VERSION.contains(&format!("commit {GIT_COMMIT}")));
        assert!(LONG_VERSION.contains(&format!("built {BUILD_DATE}")));
    }
}
