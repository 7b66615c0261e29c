//! `--version` and `version -o json|yaml`: the package version, the git commit and the build
//! date, and `unknown` for a build outside a git checkout.

mod common;

use std::path::Path;
use std::process::Command;

use common::{json_output, stderr, stdout};

#[allow(dead_code)]
#[path = "../build.rs"]
mod build_script;

fn plugin() -> assert_cmd::Command {
    common::plugin(Path::new("/nonexistent"))
}

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git {args:?}: {}", stderr(&output));
    stdout(&output).trim().to_string()
}

#[test]
fn version_reports_the_release_the_commit_and_the_build_date() {
    let output = plugin().args(["version", "-o", "json"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let info = json_output(&output);
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    let platform = info["platform"].as_str().unwrap();
    if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        assert_eq!(platform, "linux/amd64");
    }

    // The test runs from this checkout, so the binary was built from its HEAD.
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let expected_commit = build_script::git_commit(manifest_dir).unwrap_or("unknown".into());
    assert_eq!(info["gitCommit"], expected_commit.as_str());

    let built: jiff::Timestamp = info["buildDate"]
        .as_str()
        .unwrap()
        .parse()
        .expect("buildDate is RFC 3339");
    assert!(
        built <= jiff::Timestamp::now(),
        "built in the future: {built}"
    );

    let version = plugin().arg("--version").output().unwrap();
    assert!(version.status.success());
    let line = format!(
        "kubectl-calico_migrate {} (commit {}, built {})\n",
        info["version"].as_str().unwrap(),
        info["gitCommit"].as_str().unwrap(),
        info["buildDate"].as_str().unwrap()
    );
    assert_eq!(stdout(&version), line);

    let text = plugin().arg("version").output().unwrap();
    assert_eq!(stdout(&text), format!("{line}platform: {platform}\n"));

    let yaml = plugin().args(["version", "-o", "yaml"]).output().unwrap();
    let yaml: serde_json::Value = serde_saphyr::from_str(&stdout(&yaml)).unwrap();
    assert_eq!(yaml, info);
}

#[test]
fn a_build_outside_git_says_unknown_commit() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(build_script::git_commit(dir.path()), None);

    // A source tree unpacked inside someone else's checkout must not borrow their commit.
    git(dir.path(), &["init", "-q"]);
    git(
        dir.path(),
        &["commit", "-q", "--allow-empty", "-m", "theirs"],
    );
    let nested = dir.path().join("kubectl-calico-migrate-0.1.0");
    std::fs::create_dir(&nested).unwrap();
    assert_eq!(build_script::git_commit(&nested), None);

    let head = git(dir.path(), &["rev-parse", "HEAD"]);
    assert_eq!(build_script::git_commit(dir.path()), Some(head));
}

#[test]
fn the_build_date_follows_source_date_epoch() {
    assert_eq!(
        build_script::build_date(Some("1700000000")),
        "2023-11-14T22:13:20Z"
    );
    assert_eq!(build_script::build_date(Some("0")), "1970-01-01T00:00:00Z");
    for unset in [None, Some("not a number")] {
        let now: jiff::Timestamp = build_script::build_date(unset).parse().unwrap();
        let age = jiff::Timestamp::now().duration_since(now);
        assert!(age.as_secs() < 60, "{unset:?} gave {now}");
    }
}
