//! Records what `kubectl calico-migrate version` reports besides the package version: the git
//! commit the binary was built from and when it was built.
//!
//! - Commit: `CALICO_MIGRATE_GIT_COMMIT` when set (for packagers building from a source tarball
//!   who know the commit), else `git rev-parse HEAD` of this package's own checkout, else
//!   `unknown`. A source tree that is not a git checkout, or sits inside someone else's checkout,
//!   says `unknown` instead of borrowing a commit that is not its own.
//! - Build date: `SOURCE_DATE_EPOCH` when set (reproducible builds), else now; RFC 3339, UTC.
//!
//! The script reruns when this checkout's HEAD moves (a commit, a checkout, a reset), not on every
//! source edit, so the date is that of the first build at a commit.

use std::path::{Path, PathBuf};
use std::process::Command;

const UNKNOWN: &str = "unknown";

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let commit = std::env::var("CALICO_MIGRATE_GIT_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| git_commit(&manifest_dir))
        .unwrap_or_else(|| UNKNOWN.to_string());
    let date = build_date(std::env::var("SOURCE_DATE_EPOCH").ok().as_deref());

    println!("cargo:rustc-env=CALICO_MIGRATE_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=CALICO_MIGRATE_BUILD_DATE={date}");
    println!("cargo:rerun-if-env-changed=CALICO_MIGRATE_GIT_COMMIT");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo:rerun-if-changed=build.rs");
    for file in head_files(&manifest_dir) {
        println!("cargo:rerun-if-changed={}", file.display());
    }
}

// `pub(crate)` items are also tested by tests/version.rs, which includes this file.

/// The commit checked out in `dir`, when `dir` is the top of a git checkout.
pub(crate) fn git_commit(dir: &Path) -> Option<String> {
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    if !same_dir(Path::new(&top), dir) {
        return None;
    }
    let commit = git(dir, &["rev-parse", "--verify", "HEAD"])?;
    let is_hex = commit.len() >= 40 && commit.chars().all(|c| c.is_ascii_hexdigit());
    is_hex.then_some(commit)
}

/// The files git rewrites whenever the checkout's HEAD moves: HEAD itself, its reflog, and the
/// branch it points to. Only existing files: cargo reruns the script every time for a missing one.
fn head_files(dir: &Path) -> Vec<PathBuf> {
    if git_commit(dir).is_none() {
        return Vec::new();
    }
    let mut names = vec!["HEAD".to_string(), "logs/HEAD".to_string()];
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        names.push(branch);
    }
    names
        .iter()
        .filter_map(|name| git(dir, &["rev-parse", "--git-path", name]))
        .map(|path| dir.join(path))
        .filter(|path| path.is_file())
        .collect()
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// RFC 3339 in UTC, to the second: from `SOURCE_DATE_EPOCH` when it holds a number of seconds,
/// else the current time.
pub(crate) fn build_date(source_date_epoch: Option<&str>) -> String {
    let now = || jiff::Timestamp::now().as_second();
    let seconds = source_date_epoch
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or_else(now);
    match jiff::Timestamp::from_second(seconds) {
        Ok(time) => time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => UNKNOWN.to_string(),
    }
}
