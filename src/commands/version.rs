//! `version` and `--version`: which release this is, the git commit it was built from, and when.
//!
//! The commit and date come from `build.rs`; a build outside a git checkout says `unknown`.
//! krew's manifest carries `v` + [`VERSION`] as its `spec.version`; the values live in
//! [`crate::build_info`].

use serde::Serialize;

use crate::build_info::{BUILD_DATE, GIT_COMMIT, LONG_VERSION, VERSION};
use crate::console::Console;
use crate::error::Error;

/// `version -o json|yaml`, named as `kubectl version` names its client fields.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    pub version: &'static str,
    pub git_commit: &'static str,
    pub build_date: &'static str,
    /// `os/arch` in the names kubectl and krew use (`linux/amd64`, `darwin/arm64`).
    pub platform: String,
}

impl VersionInfo {
    pub fn current() -> VersionInfo {
        VersionInfo {
            version: VERSION,
            git_commit: GIT_COMMIT,
            build_date: BUILD_DATE,
            platform: platform(std::env::consts::OS, std::env::consts::ARCH),
        }
    }
}

pub fn run(console: &Console) -> Result<(), Error> {
    let info = VersionInfo::current();
    console.result(format_args!(
        "kubectl-calico_migrate {LONG_VERSION}\nplatform: {}",
        info.platform
    ))?;
    console.data(&info)?;
    Ok(())
}

/// Rust's names for the operating system and architecture, in Go's spelling, which kubectl and
/// krew's platform selectors use.
fn platform(os: &str, arch: &str) -> String {
    let arch = match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    let os = match os {
        "macos" => "darwin",
        other => other,
    };
    format!("{os}/{arch}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_use_go_names() {
        assert_eq!(platform("linux", "x86_64"), "linux/amd64");
        assert_eq!(platform("linux", "aarch64"), "linux/arm64");
        assert_eq!(platform("macos", "aarch64"), "darwin/arm64");
        assert_eq!(platform("windows", "x86_64"), "windows/amd64");
    }
}
